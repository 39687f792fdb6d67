"""The layers of DESIGN.md, held by import-linter's contracts in pyproject.toml.

The suite runs ``lint-imports`` itself, so CI fails on a crossed line with the
offending import named; and a new module must be placed in the layers, or it
would sit outside every rule unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _top_level_modules() -> set[str]:
    package = ROOT / "connector"
    return {f"connector.{p.stem}" for p in package.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__")
            or (p.is_dir() and (p / "__init__.py").exists())}


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_contract_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_module_has_a_layer_and_the_sandbox_forbids_it() -> None:
    contracts = _contracts()
    layered = {name.strip() for layer in contracts["layers"]["layers"]
               for name in layer.replace(":", "|").split("|")}
    modules = _top_level_modules() - {"connector.sandbox"}
    assert modules - layered == set(), "place new modules in the `layers` contract"
    assert modules - set(contracts["sandbox-apart"]["forbidden_modules"]) == set(), \
        "add new modules to the `sandbox-apart` contract's forbidden_modules too"


@pytest.mark.parametrize(("module", "line", "named"), [
    ("adapters/salesforce.py", "from connector.sandbox.salesforce import oauth",
     "connector.adapters.salesforce -> connector.sandbox.salesforce.oauth"),
    ("adapters/hubspot.py", "from connector.matching.keys import fold",
     "connector.adapters.hubspot -> connector.matching.keys"),
    ("mapping/validate.py", "from connector.adapters.base import CrmOwner",
     "connector.mapping.validate -> connector.adapters.base"),
    ("sandbox/faults.py", "from connector.records import Lead",
     "connector.sandbox.faults -> connector.records"),
    ("pipeline.py", "from connector.sandbox.hubspot import HubSpotSandbox",
     "connector.pipeline -> connector.sandbox.hubspot"),
])
def test_a_crossed_line_fails_naming_the_import(tmp_path: Path, module: str, line: str,
                                                named: str) -> None:
    """The same contracts over a copy of the package with one forbidden import added."""
    shutil.copytree(ROOT / "connector", tmp_path / "connector",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "connector" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n",
                      encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _lint(tmp_path, env)
    assert result.returncode == 1, result.stdout
    assert named in result.stdout
    # and it is the copy that was read, not the installed package
    assert "BROKEN" in result.stdout

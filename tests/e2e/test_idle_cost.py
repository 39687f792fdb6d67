"""What an idle cycle costs, counted at the sandbox: a run that finds nothing to do
asks the CRM for its feeds' first pages in one composite request, after a login and
one composite of describes -- and a daemon, which keeps its adapter, only the first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector import config as configuration
from connector.wiring import open_crm, run_once
from tests.conftest import crm_world, import_leads, lead_row, routed


@pytest.fixture
def loaded(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    path, sandbox, _ = crm_world(request, "salesforce", tmp_path, monkeypatch)
    config = configuration.load(path)
    import_leads(config, tmp_path / "leads.csv", [lead_row(i) for i in range(1, 60)])
    assert run_once(config).status == "ok"
    return config, sandbox


def idle(config: Any, sandbox: Any, crm: Any = None) -> int:
    before = sandbox.request_count
    summary = run_once(config, crm=crm)
    assert summary.status == "ok", summary.error
    assert summary.counts["read"] == 0 and summary.counts["fed_back"] == 0
    return sandbox.request_count - before


def test_an_idle_sync_once_costs_three_calls(loaded: tuple[Any, Any]) -> None:
    config, sandbox = loaded
    assert idle(config, sandbox) == 3  # login, describes, feeds
    assert idle(config, sandbox) == 3  # and again: nothing is re-read after the load


def test_an_idle_daemon_cycle_costs_one_call(loaded: tuple[Any, Any]) -> None:
    config, sandbox = loaded
    with open_crm(config) as crm:  # as the scheduler holds it
        assert idle(config, sandbox, crm) == 3
        assert idle(config, sandbox, crm) == 1
        assert idle(config, sandbox, crm) == 1


def test_a_hubspot_run_lists_archived_contacts_once(
        request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Removals and the candidate index both need the archived contacts (the list API
    has no "since"): one listing serves both feeds of a run that hands leads off."""
    from bench.proxy import CountingProxy

    path, sandbox, _ = crm_world(request, "hubspot", tmp_path, monkeypatch)
    config = configuration.load(path)
    import_leads(config, tmp_path / "leads.csv", [lead_row(i) for i in range(1, 5)])
    assert run_once(config).status == "ok"
    import_leads(config, tmp_path / "more.csv", [lead_row(i) for i in range(5, 7)])
    with CountingProxy(sandbox.address) as proxy:
        proxy.reset()
        assert run_once(routed(config, proxy.address)).counts["created"] == 2
        calls = proxy.reset()
    # archived contacts once, archived companies once
    assert calls.get("GET hubspot list") == 2, calls

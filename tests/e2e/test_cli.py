"""The `leadsync` command as a user runs it, on the embedded defaults."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from tests.conftest import config_text, lead_row, write_csv

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder like a fresh checkout: the shipped config (embedded sandbox on a free port)."""
    csv_path = write_csv(tmp_path / "leads.csv",
                         [lead_row(i) for i in range(8)] + [lead_row(8, last_name="")]
                         + [lead_row(9, email="broken@")])
    text = config_text(tmp_path, state_url="sqlite:///state/leadsync.db",
                       marketing_url="sqlite:///state/marketing.db",
                       route_to=f"127.0.0.1:{free_port()}", embedded=True, seed=str(csv_path))
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    return tmp_path


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "check", "import", "sync", "status", "sandbox"):
        assert command in result.output


def test_sync_once_then_status_json(demo: Path) -> None:
    result = runner.invoke(app, ["sync", "--once"])
    assert result.exit_code == 0, result.output
    assert "9 leads read, 9 qualified, 8 created, 0 updated, 0 unchanged, 1 refused, " \
           "0 statuses fed back" in result.output  # our own status writes are echoes
    assert "REQUIRED_FIELD_MISSING" in result.output and "LastName" in result.output
    assert (demo / "state" / "leadsync.db").exists()
    assert (demo / "embedded-org.json").exists()  # the sandbox org outlives the run

    again = runner.invoke(app, ["sync", "--once"])
    assert "0 leads read" in again.output and "0 created" in again.output

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.output)
    latest, first = data["runs"]
    assert {k: first[k] for k in ("read", "qualified", "created", "updated", "refused",
                                  "fed_back")} == {"read": 9, "qualified": 9, "created": 8,
                                                   "updated": 0, "refused": 1, "fed_back": 0}
    assert latest["created"] == 0 and latest["status"] == "ok"
    [letter] = data["dead_letters"]
    assert (letter["error_code"], letter["fields"]) == ("REQUIRED_FIELD_MISSING", ["LastName"])
    assert "sandbox" not in status.output.replace("sandbox-", "")  # no password anywhere


def test_status_table(demo: Path) -> None:
    runner.invoke(app, ["sync", "--once"])
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0
    assert "last runs" in result.output and "1 dead letters waiting" in result.output


def test_import_prints_refusals_by_line_and_field(demo: Path) -> None:
    path = write_csv(demo / "more.csv", [lead_row(20), lead_row(21, email="")])
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 new leads" in result.output
    assert "line 3" in result.output and "field email" in result.output


def test_dry_run_prints_payloads(demo: Path) -> None:
    result = runner.invoke(app, ["sync", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert '"action": "create"' in result.output and "(dry run)" in result.output
    # as the real run: 8 created, and the lead without a last name refused, predicted
    assert "8 would be created" in result.output and "1 refused" in result.output
    assert "REQUIRED_FIELD_MISSING" in result.output and "predicted" in result.output


def test_check_passes_on_the_demo_and_names_a_bad_mapping(demo: Path) -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # the shipped config is clean
    text = (demo / "config.toml").read_text().replace('lead_source = "LeadSource"',
                                                      'lead_source = "LeadSorce"')
    (demo / "config.toml").write_text(text)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"LeadSorce"' in ln)
    assert f"mapping.fields.lead_source (line {line})" in result.output
    assert "did you mean 'LeadSource'" in result.output


def test_malformed_config_exits_2_with_the_line(demo: Path) -> None:
    (demo / "config.toml").write_text("[state]\nurl = \n")
    result = runner.invoke(app, ["sync", "--once"])
    assert result.exit_code == 2
    assert "not valid TOML" in result.output and "line 2" in result.output


def test_init_writes_the_template_once(tmp_path: Path) -> None:
    target = tmp_path / "new" / "config.toml"
    assert runner.invoke(app, ["init", "--config", str(target)]).exit_code == 0
    assert target.read_text() == configuration.TEMPLATE.read_text()
    assert runner.invoke(app, ["init", "--config", str(target)]).exit_code == 1


def test_wrong_password_is_a_clear_login_error(demo: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    text = (demo / "config.toml").read_text().replace("embedded = true", "embedded = false")
    (demo / "config.toml").write_text(text)
    from connector.sandbox.salesforce import SalesforceSandbox

    route = next(ln.split('"')[1] for ln in text.splitlines() if ln.startswith("route_to"))
    host, port = route.split(":")
    sandbox = SalesforceSandbox()
    sandbox.start(host, int(port))
    monkeypatch.setenv("SF_PASSWORD", "wrong-secret")
    try:
        result = runner.invoke(app, ["check"])
    finally:
        sandbox.stop()
    assert result.exit_code == 1
    assert "INVALID_LOGIN" in result.output
    assert "wrong-secret" not in result.output


def test_log_json_is_one_object_per_line_and_one_line_per_batch(demo: Path) -> None:
    path = demo / "config.toml"
    path.write_text(path.read_text().replace("batch_size = 1000", "batch_size = 4"))
    result = runner.invoke(app, ["sync", "--once", "--log-json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records, result.stderr
    batches = [r for r in records if r["event"] == "batch handed off"]
    assert [b["read"] for b in batches] == [4, 4, 1]  # 9 leads: a line per batch, not per lead
    assert sum(b["created"] for b in batches) == 8 and sum(b["refused"] for b in batches) == 1
    assert all("timestamp" in r and "level" in r for r in records)


def test_check_writes_nothing_to_the_marketing_store(demo: Path) -> None:
    assert runner.invoke(app, ["check"]).exit_code == 0
    from connector.adapters.marketing_store import EmbeddedMarketingStore

    store = EmbeddedMarketingStore(f"sqlite:///{demo}/state/marketing.db")
    assert store.is_empty()  # the seed is loaded by the first sync, not by a check
    store.close()


def test_the_sandbox_org_takes_the_lead_statuses_config_adds(demo: Path) -> None:
    path = demo / "config.toml"
    text = path.read_text().replace(
        '"Closed - Not Converted" = "recycle"',
        '"Closed - Not Converted" = "recycle"\n"Could Not Reach" = "could_not_reach"')
    path.write_text(text)
    refused = runner.invoke(app, ["check"])
    assert refused.exit_code == 1
    assert "'Could Not Reach' is not a value of Lead.Status" in refused.output
    path.write_text(text.replace("[crm.salesforce.sandbox]\n",
                                 '[crm.salesforce.sandbox]\nlead_statuses = ["Could Not Reach"]\n'))
    accepted = runner.invoke(app, ["check"])
    assert accepted.exit_code == 0, accepted.output

"""The `leadsync` command as a user runs it, on the embedded defaults."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.configs import free_port
from connector import config as configuration
from connector.cli import app
from tests.conftest import config_text, lead_row, write_csv

runner = CliRunner()



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


def test_every_stderr_line_is_json_under_log_json(demo: Path) -> None:
    """--verbose lets the libraries' lines through (alembic's, urllib3's unless a client
    library quietened it): JSON like ours, and each batch's line carries the progress."""
    path = demo / "config.toml"
    path.write_text(path.read_text().replace("batch_size = 1000", "batch_size = 4"))
    result = runner.invoke(app, ["sync", "--once", "--log-json", "--verbose"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every line
    assert [r for r in records if "logger" in r]  # a library's lines (alembic, urllib3…)
    batches = [r for r in records if r["event"] == "batch handed off"]
    assert [(b["batch"], b["read"], b["run_read"], b["expected"]) for b in batches] == [
        (1, 4, 4, 9), (2, 4, 8, 9), (3, 1, 9, 9)]
    assert all(b["per_second"] > 0 for b in batches) and batches[-1]["seconds_left"] == 0


def test_no_bar_off_a_terminal_but_a_progress_line_per_batch(demo: Path) -> None:
    """CliRunner's stderr is no terminal (as a pipe, a cron mail, a journal): no bar
    drawn, the text log's batch lines say how far the run is."""
    path = demo / "config.toml"
    path.write_text(path.read_text().replace("batch_size = 1000", "batch_size = 4"))
    result = runner.invoke(app, ["sync", "--once"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "batch handed off" in line]
    assert len(lines) == 3
    assert all(f"batch={n}" in line for n, line in enumerate(lines, 1))
    assert "run_read=4" in lines[0] and "expected=9" in lines[0] and "run_read=9" in lines[2]
    assert "━" not in result.stderr and "\r" not in result.stderr  # no bar, no redraws


def test_the_pipeline_tells_its_progress_each_step_and_batch(demo: Path) -> None:
    from connector.progress import Tally
    from connector.wiring import run_once

    class Recorder:
        def __init__(self) -> None:
            self.steps: list[str] = []
            self.expected: list[int | None] = []
            self.tallies: list[Tally] = []

        def step(self, name: str) -> None:
            self.steps.append(name)

        def expect(self, leads: int | None) -> None:
            self.expected.append(leads)

        def batch(self, tally: Tally) -> None:
            self.tallies.append(tally)

    path = demo / "config.toml"
    path.write_text(path.read_text().replace("batch_size = 1000", "batch_size = 4"))
    seen = Recorder()
    summary = run_once(configuration.load(path), progress=seen)
    assert seen.expected == [9]
    assert [(t.batches, t.read, t.written, t.refused) for t in seen.tallies] == [
        (1, 4, 4, 0), (2, 8, 8, 0), (3, 9, 8, 1)]
    assert seen.tallies[-1].read == summary.counts["read"]
    assert seen.steps[0] == "reading the CRM's changes"
    assert [s for s in seen.steps if s.startswith("batch 3")] == [
        "batch 3: qualifying", "batch 3: matching", "batch 3: routing", "batch 3: writing"]


def fits(output: str, width: int = 80) -> list[str]:
    """The lines of ``output`` longer than ``width`` or holding a word cut short."""
    return [line for line in output.splitlines() if len(line) > width or "…" in line]


def test_status_fits_80_columns_with_the_start_and_dry_run_whole(demo: Path) -> None:
    assert runner.invoke(app, ["sync", "--once"]).exit_code == 0
    assert runner.invoke(app, ["sync", "--dry-run"]).exit_code == 0
    narrow = runner.invoke(app, ["status"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    assert fits(narrow.output) == [], narrow.output
    lines = narrow.output.splitlines()
    header = next(line for line in lines if line.startswith("run"))
    assert header.split() == ["run", "started", "status", "read", "qualified", "created",
                              "updated", "refused", "fed", "back"]
    dry, real = (line for line in lines if " ok " in line)
    starts = [run["started_at"][5:16].replace("T", " ") for run in json.loads(
        runner.invoke(app, ["status", "--json"]).output)["runs"]]
    assert dry.split()[:5] == ["2", *starts[0].split(), "ok", "0"]  # the real run took all
    assert real.split()[:5] == ["1", *starts[1].split(), "ok", "9"]
    assert lines[lines.index(dry) + 1].split() == ["dry", "run"]
    # the dead letter's line is broken between words, never within one
    piped = runner.invoke(app, ["status"])  # no $COLUMNS, no terminal: lines left whole
    [letter] = [line for line in piped.output.splitlines() if "REQUIRED_FIELD_MISSING" in line]
    assert len(letter) > 80 and narrow.output.split() == piped.output.split()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_a_year_of_runs_fits_too(width: int) -> None:
    """Run 35,040 (a year every 15 minutes), an interrupted run, a 12,000-lead first load:
    the starts go on two lines before anything is cut."""
    from rich.console import Console

    from connector.cli import _runs_table

    def run(number: int, status: str, read: int, dry: bool = False) -> dict[str, object]:
        return {"id": number, "started_at": "2027-12-07T15:02:11+00:00", "status": status,
                "dry_run": dry, "read": read, "qualified": read, "created": read,
                "updated": 0, "refused": 12, "fed_back": 1234, "conflicts": 0}

    screen = Console(width=width, record=True, file=io.StringIO())
    screen.print(_runs_table([run(35040, "interrupted", 12000), run(35039, "ok", 5, True),
                              run(1, "abandoned", 0)], width))
    shown = screen.export_text()
    assert fits(shown, width) == [], shown
    assert "35040" in shown and "interrupted" in shown and "12000" in shown
    assert "12-07" in shown and "15:02" in shown and "dry run" in shown
    assert ("12-07 15:02" in shown) == (width > 80)


def test_the_commands_own_messages_are_json_lines_under_log_json(demo: Path) -> None:
    """What `sync` tells the operator on stderr ("another run holds the lock", a daemon
    that cannot start) is a log line too: under --log-json, JSON like the rest."""
    from connector.state import StateStore

    assert runner.invoke(app, ["sync", "--once"]).exit_code == 0
    other = StateStore(f"sqlite:///{demo}/state/leadsync.db")
    try:
        with other.run_lock():
            skipped = runner.invoke(app, ["sync", "--once", "--log-json"])
    finally:
        other.close()
    assert skipped.exit_code == 3, skipped.output
    [told] = [json.loads(line) for line in skipped.stderr.splitlines()]
    assert told["level"] == "warning" and "holds the pipeline lock" in told["event"]
    path = demo / "config.toml"
    path.write_text(path.read_text().replace("embedded = true", "embedded = false"))
    daemon = runner.invoke(app, ["sync", "--log-json"])  # SF_PASSWORD is not set
    assert daemon.exit_code == 1, daemon.output
    [told] = [json.loads(line) for line in daemon.stderr.splitlines()]
    assert told["level"] == "error" and "SF_PASSWORD is not set" in told["event"]
    plain = runner.invoke(app, ["sync"])  # without --log-json: text again, no traceback
    assert plain.exit_code == 1 and "SF_PASSWORD is not set" in plain.stderr
    assert not plain.stderr.startswith("{") and "Traceback" not in plain.stderr


def test_the_service_unit_runs_the_daemon_and_keeps_config_errors_down(
        tmp_path: Path) -> None:
    """examples/leadsync.service: its ExecStart is a command line this CLI takes, and the
    exit code it does not restart on is the one a broken config.toml gives."""
    import shlex

    unit = configuration.TEMPLATE.parents[1] / "examples" / "leadsync.service"
    settings: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["simple"] and settings["Restart"] == ["on-failure"]
    assert settings["KillSignal"] == ["SIGTERM"] and settings["TimeoutStopSec"] == ["10min"]
    assert settings["User"] == ["leadsync"] and "EnvironmentFile" in settings
    program, *args = shlex.split(settings["ExecStart"][0])
    assert program.endswith("/leadsync") and args[:2] == ["sync", "--log-json"]
    broken = tmp_path / "config.toml"
    broken.write_text("[state]\nurl = \n", encoding="utf-8")
    args[args.index("--config") + 1] = str(broken)
    result = runner.invoke(app, args)
    assert result.exit_code == int(settings["RestartPreventExitStatus"][0]) == 2
    assert json.loads(result.stderr)["level"] == "error"  # in the journal, JSON too


def test_the_operations_page_gives_every_commands_exit_codes() -> None:
    import typer.main

    page = (configuration.TEMPLATE.parents[1] / "docs" / "operations.md").read_text(
        encoding="utf-8")
    table = page.split("## Exit codes", 1)[1]
    cli = typer.main.get_command(app)
    names = [name for name, command in cli.commands.items()  # type: ignore[attr-defined]
             if not hasattr(command, "commands")]
    names += [f"rep {name}" for name in cli.commands["rep"].commands]  # type: ignore[attr-defined]
    missing = [name for name in names if f"`{name}" not in table]
    assert missing == [], f"docs/operations.md: no exit codes for {missing}"

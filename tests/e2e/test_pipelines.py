"""Two pipelines in one config.toml, Salesforce and HubSpot from one marketing store:
`sync --once` runs both, each into its own CRM and state; the daemon runs both on
their schedules and serves /healthz and /metrics, scraped here as Prometheus would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session
from typer.testing import CliRunner

from bench.configs import as_pipeline
from connector import config as configuration
from connector.cli import app
from connector.health import health, overall
from connector.state import StateStore, SyncRun, utcnow
from tests.conftest import HUBSPOT_EXAMPLE, config_text, console_port, import_leads, lead_row

OWN = ("crm", "mapping", "routing", "scoring")
"""The sections of the HubSpot example the HubSpot pipeline gives as its own."""


def hubspot_sections(address: str) -> str:
    """examples/config-hubspot.toml's CRM, mapping, routing and scoring sections as
    [pipelines.hs.…] tables, pointed at this test's sandbox."""
    text = HUBSPOT_EXAMPLE.read_text(encoding="utf-8").replace(
        'route_to = "127.0.0.1:8452"', f'route_to = "{address}"').replace(
        "embedded = true", "embedded = false")
    return as_pipeline(text, "hs", OWN)


@pytest.fixture
def two(tmp_path: Path, salesforce_sandbox: Any, hubspot_sandbox: Any,
        monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any, Any]:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db",
                       route_to=salesforce_sandbox.address)
    path = tmp_path / "config.toml"
    path.write_text(text + "\n[pipelines.sf]\n\n" + hubspot_sections(hubspot_sandbox.address),
                    encoding="utf-8")
    return path, salesforce_sandbox, hubspot_sandbox


def test_sync_once_runs_every_pipeline_into_its_own_crm_and_state(
        two: tuple[Path, Any, Any], tmp_path: Path) -> None:
    path, sf, hs = two
    pipelines = configuration.load_all(path)
    assert list(pipelines) == ["sf", "hs"]
    import_leads(pipelines["sf"], tmp_path / "leads.csv", [lead_row(n) for n in range(1, 4)])
    ran = CliRunner().invoke(app, ["sync", "--once", "--config", str(path)])
    assert ran.exit_code == 0, ran.output
    assert "pipeline sf" in ran.output and "pipeline hs" in ran.output
    emails = sorted(lead_row(n)["email"] for n in range(1, 4))
    assert sorted(r["Email"] for r in sf.records("Lead")) == emails
    assert sorted(r["properties"]["email"] for r in hs.records("contacts")) == emails
    assert (tmp_path / "s-sf.db").exists() and (tmp_path / "s-hs.db").exists()

    unsaid = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert unsaid.exit_code == 2 and "'sf', 'hs': say which with --pipeline" in unsaid.output
    shown = CliRunner().invoke(app, ["--pipeline", "hs", "status", "--json", "--config",
                                     str(path)])
    assert shown.exit_code == 0, shown.output
    [run] = json.loads(shown.output)["runs"]
    assert (run["status"], run["created"]) == ("ok", 3)
    again = CliRunner().invoke(app, ["--pipeline", "sf", "sync", "--once", "--config",
                                     str(path)])
    assert again.exit_code == 0 and "pipeline sf\n" not in again.output  # one: no heading


def test_the_daemon_serves_health_and_metrics_for_every_pipeline(
        two: tuple[Path, Any, Any], tmp_path: Path) -> None:
    path, _, _ = two
    port = console_port(path)
    pipelines = configuration.load_all(path)
    import_leads(pipelines["sf"], tmp_path / "leads.csv", [lead_row(n) for n in range(1, 6)])
    daemon = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--log-json",
                               "--config", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                found = requests.get(base + "/healthz", timeout=5)
                if found.json()["status"] == "ok":
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and daemon.poll() is None
            time.sleep(0.3)
        assert found.status_code == 200
        states = found.json()["pipelines"]
        assert {name: h["status"] for name, h in states.items()} == {"sf": "ok", "hs": "ok"}
        assert states["sf"]["schedule"] == "every 15 min"
        scraped = requests.get(base + "/metrics", timeout=10)
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped.text)
               for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    for name in ("sf", "hs"):
        assert value("leadsync_runs_total", pipeline=name, outcome="ok") == 1
        assert value("leadsync_records_total", pipeline=name, outcome="created") == 5
        assert value("leadsync_records_total", pipeline=name, outcome="refused") == 0
        assert value("leadsync_dead_letters", pipeline=name) == 0
        assert value("leadsync_run_in_progress", pipeline=name) == 0
        assert value("leadsync_run_duration_seconds_count", pipeline=name) == 1
        assert value("leadsync_batch_duration_seconds_count", pipeline=name) >= 1
        assert value("leadsync_state_readable", pipeline=name) == 1
    # the CRMs' own figures, as their last response said (the sandboxes send them)
    assert value("leadsync_crm_api_calls_remaining", pipeline="sf", crm="salesforce") > 0
    assert value("leadsync_crm_api_calls_remaining", pipeline="hs", crm="hubspot") > 0
    # every line the daemon wrote is JSON, each run's lines name their pipeline
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {line.get("pipeline") for line in lines if line["event"] == "run finished"} == {
        "sf", "hs"}


def test_health_is_ok_degraded_failed_or_starting_by_the_runs(tmp_path: Path) -> None:
    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace(
        'url = "sqlite:///state/leadsync.db"', f'url = "sqlite:///{tmp_path}/s.db"')
    config = configuration.parse(text, tmp_path / "config.toml")  # every 15 minutes
    now = utcnow()
    assert (health(config, now).status, health(config, now).why) == ("starting", "no run yet")

    def runs(*made: tuple[str, timedelta]) -> None:
        store = StateStore(config.resolve_url(config.state.url))
        with Session(store.engine) as session:
            for status, ago in made:
                session.add(SyncRun(started_at=now - ago - timedelta(seconds=30),
                                    finished_at=now - ago, status=status,
                                    error="CRM said no" if status == "failed" else None))
            session.commit()
        store.close()

    runs(("ok", timedelta(minutes=16)))
    assert (health(config, now).status, overall([health(config, now)])) == ("ok", ("ok", 200))
    runs(("failed", timedelta(minutes=1)))  # the last run failed, a success 16 min ago
    found = health(config, now)
    assert (found.status, found.why) == ("degraded", "the last run failed: CRM said no")
    # an hour and more without a run that went through (4 × 15 min + 5 min): failed
    assert health(config, now + timedelta(minutes=50)).status == "failed"
    assert overall([health(config, now), health(config, now + timedelta(minutes=50))]) == (
        "failed", 503)


def test_a_first_run_going_is_starting_and_a_crontabs_weekend_is_no_gap(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace(
        'url = "sqlite:///state/leadsync.db"', f'url = "sqlite:///{tmp_path}/s.db"').replace(
        "every_minutes = 15", 'cron = "*/15 7-19 * * mon-fri"')
    config = configuration.parse(text, tmp_path / "config.toml")
    friday = datetime(2027, 3, 5, 19, 45, 30, tzinfo=UTC)  # the week's last run ended

    def run(status: str, started: datetime, finished: datetime | None) -> None:
        store = StateStore(config.resolve_url(config.state.url))
        with Session(store.engine) as session:
            session.add(SyncRun(started_at=started, finished_at=finished, status=status))
            session.commit()
        store.close()

    run("running", friday - timedelta(minutes=1), None)  # a first backfill, still going
    found = health(config, friday + timedelta(hours=3))
    assert (found.status, found.why) == ("starting", "the first run is going")
    run("ok", friday - timedelta(seconds=30), friday)
    # Sunday noon: no run was due since Friday 19:45; Monday 08:10: 07:00 … 08:00 were
    assert health(config, datetime(2027, 3, 7, 12, 0, tzinfo=UTC)).status == "ok"
    monday = health(config, datetime(2027, 3, 8, 8, 10, tzinfo=UTC))
    assert (monday.status, monday.why) == (
        "failed", "no run went through since 2027-03-05 19:45 UTC: 5 or more scheduled "
                  "runs since")  # 07:00, 07:15, … : counted up to five
    assert health(config, datetime(2027, 3, 8, 7, 40, tzinfo=UTC)).status == "degraded"


def test_check_migrate_and_import_take_every_pipeline(two: tuple[Path, Any, Any],
                                                      tmp_path: Path) -> None:
    path, _, _ = two
    checked = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "(pipeline sf): configuration valid" in checked.output
    assert "(pipeline hs): configuration valid" in checked.output
    rows = tmp_path / "leads.csv"
    from tests.conftest import write_csv

    write_csv(rows, [lead_row(1)])
    imported = CliRunner().invoke(app, ["import", str(rows), "--config", str(path)])
    assert imported.exit_code == 0 and "1 new leads" in imported.output, imported.output
    migrated = CliRunner().invoke(app, ["migrate", "--config", str(path)])
    assert migrated.exit_code == 0, migrated.output
    lines = [line for line in migrated.output.splitlines() if "nothing to do" in line]
    # two state databases and the marketing store they share: three, not four
    assert len(lines) == 3 and sum("s-sf.db" in line for line in lines) == 1
    state_sql = CliRunner().invoke(app, ["migrate", "--sql", "--only", "state", "--config",
                                         str(path)])
    assert state_sql.exit_code == 0 and "m.db" not in state_sql.output


def test_a_stopped_run_is_no_failure_and_a_crontab_that_never_runs_is_refused(
        tmp_path: Path) -> None:
    from connector.errors import ConfigError

    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace(
        'url = "sqlite:///state/leadsync.db"', f'url = "sqlite:///{tmp_path}/s.db"')
    with pytest.raises(ConfigError, match="this crontab line never runs"):
        configuration.parse(text.replace("every_minutes = 15", 'cron = "0 0 30 2 *"'),
                            tmp_path / "config.toml")
    config = configuration.parse(text, tmp_path / "config.toml")
    now = utcnow()
    store = StateStore(config.resolve_url(config.state.url))
    with Session(store.engine) as session:
        session.add(SyncRun(started_at=now - timedelta(minutes=20),
                            finished_at=now - timedelta(minutes=19), status="ok"))
        session.commit()
        session.add(SyncRun(started_at=now - timedelta(minutes=2), finished_at=now,
                            status="stopped", error="stopped by SIGTERM after a whole batch"))
        session.commit()
        session.add(SyncRun(started_at=now - timedelta(minutes=1), finished_at=now,
                            status="stopped", error="stopped by the time limit of 20 min "
                            "([workers] time_limit_minutes) after a whole batch"))
        session.commit()
    store.close()
    assert health(config, now).status == "ok"  # a restart, a time limit: not degraded


def test_each_pipeline_takes_its_own_leads_from_the_shared_store(
        two: tuple[Path, Any, Any], tmp_path: Path) -> None:
    """Salesforce for the United States, HubSpot for the rest, from one marketing store:
    each lead reaches one CRM, and only that CRM's verdicts reach it."""
    path, sf, hs = two
    with path.open("a", encoding="utf-8") as more:
        more.write('\n[pipelines.sf.select]\nfield = "country"\nvalues = ["United States", '
                   '"US"]\n\n[pipelines.hs.select]\nfield = "country"\nvalues = ["United '
                   'States", "US"]\nother = true\n')
    pipelines = configuration.load_all(path)
    rows = [lead_row(1), lead_row(2), lead_row(3, country="Germany", state="",
                                                city="Berlin", phone="+49 30 1234567")]
    import_leads(pipelines["sf"], tmp_path / "leads.csv", rows)
    ran = CliRunner().invoke(app, ["sync", "--once", "--config", str(path)])
    assert ran.exit_code == 0, ran.output
    assert sorted(r["Email"] for r in sf.records("Lead")) == sorted(
        r["email"] for r in rows[:2])
    assert [r["properties"]["email"] for r in hs.records("contacts")] == [rows[2]["email"]]

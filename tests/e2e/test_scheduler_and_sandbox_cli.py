"""`leadsync sync` on a schedule, and `leadsync sandbox` served on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from hubspot import HubSpot
from simple_salesforce import Salesforce

from bench.configs import free_port
from connector.scheduler import schedule
from connector.state import StateStore
from connector.transport import make_session
from tests.conftest import import_leads, lead_row


def test_scheduled_job_runs_the_cycle_and_never_overlaps(make_config: Any,
                                                          tmp_path: Path) -> None:
    config = make_config()

    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2)])
    done = threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.add_listener(lambda _event: done.set(), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    job = schedule(scheduler, config)
    assert job.trigger.interval == timedelta(minutes=config.schedule.every_minutes)
    assert (job.max_instances, job.coalesce) == (1, True)
    scheduler.start()
    try:
        assert done.wait(30), "the first scheduled run did not finish"
    finally:
        scheduler.shutdown()
    state = StateStore(config.resolve_url(config.state.url))
    [run] = state.runs()
    state.close()
    assert (run.status, run.created) == ("ok", 2)


def test_a_standby_says_so_once_then_takes_over(db_url: str, make_config: Any,
                                                tmp_path: Path) -> None:
    """Another instance holds the pipeline lock: this one logs that it stands by, once
    and at info (not an error every tick), and again when it takes over."""
    from structlog.testing import capture_logs

    from connector.scheduler import _job

    config = make_config(state_url=db_url, marketing_url=db_url)
    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2)])
    other = StateStore(config.resolve_url(config.state.url))  # the active instance
    memory: set[tuple[str, str]] = set()
    with capture_logs() as ticks, other.run_lock():
        for _ in range(3):
            _job(config, standing_by=memory)
    said = [(e["log_level"], e["event"]) for e in ticks if e["log_level"] != "debug"]
    assert said == [("info", "standing by: another instance holds the pipeline lock; "
                             "this one runs when the lock is free")]  # once, in 3 ticks
    with capture_logs() as ticks:  # the lock is free: this instance runs, and says so
        _job(config, standing_by=memory)
        _job(config, standing_by=memory)
    took = [e for e in ticks if e["event"].startswith("took over")]
    assert [(e["log_level"], e["status"]) for e in took] == [("info", "ok")]
    assert not [e for e in ticks if e["log_level"] == "error"]
    [second, first] = other.runs()
    other.close()
    assert (first.status, first.created, second.status) == ("ok", 2, "ok")
    assert took[0]["run"] == first.id


def test_the_daemon_under_log_json_prints_json_lines_only(make_config: Any,
                                                          tmp_path: Path) -> None:
    """`leadsync sync --log-json` as systemd runs it: APScheduler's lines and every other
    library's (--verbose lets them all through) are JSON objects like leadsync's own."""
    import json

    config = make_config()
    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2)])
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--log-json",
                             "--verbose", "--config", str(config.source)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SF_PASSWORD": "sandbox"})
    watchdog = threading.Timer(60, proc.kill)  # a daemon that never runs fails, not hangs
    watchdog.start()
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if '"run finished"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        lines += proc.communicate(timeout=30)[1].splitlines()
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0, "".join(lines)
    records = [json.loads(line) for line in lines]  # every line on stderr
    loggers = {r.get("logger", "leadsync").split(".")[0] for r in records}
    assert {"apscheduler", "leadsync"} <= loggers, loggers
    assert [r["status"] for r in records if r["event"] == "run finished"] == ["ok"]



def test_sandbox_command_serves_until_terminated_and_keeps_its_org(tmp_path: Path) -> None:
    port, hub_port = free_port(), free_port()
    org = tmp_path / "org.json"
    command = [sys.executable, "-m", "connector.cli", "sandbox", "--salesforce-port", str(port),
               "--state", str(org), "--hubspot-port", str(hub_port),
               "--hubspot-state", str(tmp_path / "portal.json")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                        session=make_session(f"127.0.0.1:{port}"))
        sf.Lead.create({"LastName": "Hand", "Company": "Tried By"})
        assert f"127.0.0.1:{hub_port}" in proc.stdout.readline()
        hub = HubSpot(access_token="sandbox-token", host=f"http://127.0.0.1:{hub_port}")
        hub.crm.contacts.basic_api.create({"properties": {"email": "hand@tried.example"}})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert "Hand" in org.read_text()
    assert "hand@tried.example" in (tmp_path / "portal.json").read_text()


def test_sandbox_command_takes_limits_and_faults(tmp_path: Path) -> None:
    from simple_salesforce.exceptions import SalesforceRefusedRequest

    port = free_port()
    command = [sys.executable, "-m", "connector.cli", "sandbox", "--salesforce-port", str(port),
               "--hubspot-port", str(free_port()),
               "--state", str(tmp_path / "org.json"), "--daily-api-allocation", "2",
               "--latency", "0.01"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        assert proc.stdout is not None and str(port) in proc.stdout.readline()
        sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                        session=make_session(f"127.0.0.1:{port}"))
        sf.query("SELECT Id FROM Lead")
        sf.query("SELECT Id FROM Lead")
        with pytest.raises(SalesforceRefusedRequest) as caught:
            sf.query("SELECT Id FROM Lead")
        assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    bad = subprocess.run([sys.executable, "-m", "connector.cli", "sandbox", "--error-rate", "2"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "error_rate" in bad.stderr

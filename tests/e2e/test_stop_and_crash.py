"""Stop and crash, as an operator meets them: SIGTERM (what systemd sends) and a
first Ctrl-C end the run after its batch, with cursors saved and exit 0; a second
signal stops at once (exit 130, run "interrupted"); a run whose process was
killed is marked abandoned by the next start; a run skipped because another holds
the lock exits 3; a PostgreSQL run whose lock session died stops before writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connector import config as configuration
from connector.pipeline import Pipeline
from connector.records import Write, WriteResult
from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing, run_once
from tests.conftest import PG_URL, config_text, import_leads, lead_row

LEADS = 400


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SalesforceSandbox]:
    """A sandbox answering in 40 ms: a run of 400 leads in batches of 20 takes seconds."""
    with SalesforceSandbox(state_path=tmp_path / "org.json",
                           faults=Faults(latency=0.04)) as sandbox:
        yield sandbox


def write_config(tmp_path: Path, sandbox: Any, state_url: str | None = None) -> Path:
    path = tmp_path / "config.toml"
    text_ = config_text(tmp_path, state_url=state_url or f"sqlite:///{tmp_path}/state.db",
                        marketing_url=f"sqlite:///{tmp_path}/marketing.db",
                        route_to=sandbox.address)
    path.write_text(text_.replace("batch_size = 1000", "batch_size = 20"), encoding="utf-8")
    config = configuration.load(path)
    import_leads(config, tmp_path / "leads.csv", [lead_row(i) for i in range(LEADS)])
    return path


def start(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--once",
                             "--config", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "SF_PASSWORD": "sandbox", "COLUMNS": "200"})


def wait_for_leads(sandbox: SalesforceSandbox, at_least: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(sandbox.records("Lead")) < at_least:
        assert time.monotonic() < deadline, "the run wrote nothing in time"
        time.sleep(0.05)


def runs(path: Path) -> list[Any]:
    config = configuration.load(path)
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return state.runs(20)
    finally:
        state.close()


def test_sigterm_finishes_the_batch_saves_cursors_and_exits_0(
        tmp_path: Path, slow: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, slow)
    proc = start(path)
    wait_for_leads(slow, 1)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert time.monotonic() - began < 20  # one batch, not the whole run (400 leads: ~20 batches)
    assert "stopped by SIGTERM" in output
    [run] = runs(path)
    assert run.status == "stopped" and run.created < LEADS
    written = len(slow.records("Lead"))
    assert written % 20 == 0  # whole batches only
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    rest = run_once(configuration.load(path))
    assert rest.status == "ok" and rest.counts["created"] == LEADS - written
    assert len(slow.records("Lead")) == LEADS  # every lead once: the cursor was saved


def test_a_second_signal_stops_at_once_and_says_so(tmp_path: Path,
                                                   slow: SalesforceSandbox) -> None:
    path = write_config(tmp_path, slow)
    proc = start(path)
    wait_for_leads(slow, 20)
    slow.faults = Faults(latency=1.0)  # the second batch now takes seconds, however busy
    time.sleep(0.3)                    # the machine is: both signals land inside it
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two signals at once are one: the OS does not queue them
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert runs(path)[0].status == "interrupted"


def test_a_killed_run_is_marked_abandoned_by_the_next_start(
        tmp_path: Path, slow: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, slow)
    proc = start(path)
    wait_for_leads(slow, 1)
    proc.kill()
    proc.wait(timeout=10)
    [dead] = runs(path)
    assert dead.status == "running" and dead.pid == proc.pid
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    after = run_once(configuration.load(path))
    assert after.status == "ok"
    dead = next(r for r in runs(path) if r.id == dead.id)
    assert dead.status == "abandoned" and f"pid {proc.pid}" in (dead.error or "")
    assert len(slow.records("Lead")) == LEADS  # and nothing twice


def test_a_run_skipped_for_the_lock_exits_3(tmp_path: Path, slow: SalesforceSandbox) -> None:
    path = write_config(tmp_path, slow)
    config = configuration.load(path)
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with state.run_lock():
            proc = start(path)
            output, _ = proc.communicate(timeout=30)
    finally:
        state.close()
    assert proc.returncode == 3, output
    assert "holds the pipeline lock" in output


class CutsTheLock:
    """The real adapter; after its first write, the lock's database session is cut
    (as a proxy dropping that TCP connection would)."""

    def __init__(self, real: Any) -> None:
        self.real, self.name, self.cut = real, real.name, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upsert(self, object_name: str, key_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        results = self.real.upsert(object_name, key_field, records)
        if not self.cut:
            admin = create_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(text("select pg_terminate_backend(pid) from pg_locks "
                                  "where locktype = 'advisory' and pid <> pg_backend_pid()"))
            admin.dispose()
            self.cut = True
        return results


@pytest.mark.postgres
def test_a_postgresql_run_whose_lock_session_died_stops_before_its_next_write(
        tmp_path: Path, slow: SalesforceSandbox, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    path = write_config(tmp_path, slow, state_url=pg_url)
    slow.faults = None
    config = configuration.load(path)
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with state.run_lock() as lock, open_marketing(config) as marketing, \
                open_crm(config) as crm:
            summary = Pipeline(config, state, marketing, CutsTheLock(crm), lock=lock).run()
    finally:
        state.close()
    assert summary.status == "failed" and "lock was lost" in (summary.error or "")
    assert summary.counts["created"] == 20  # the first batch only
    assert len(slow.records("Lead")) == 20


def test_a_run_ended_by_any_other_base_exception_is_recorded_interrupted(
        tmp_path: Path, salesforce_sandbox: SalesforceSandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SystemExit (or a task queue's own stop) raised inside a run: not "ok"."""
    from connector.stopping import Stop

    class Exiting(Stop):
        @property
        def requested(self) -> str | None:
            raise SystemExit("worker shutting down")

    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    path = write_config(tmp_path, salesforce_sandbox)
    with pytest.raises(SystemExit):
        run_once(configuration.load(path), stop=Exiting())
    [run] = runs(path)
    assert (run.status, run.error) == ("interrupted", "worker shutting down")

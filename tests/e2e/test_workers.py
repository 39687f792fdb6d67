"""Pipelines spread over several instances of the daemon sharing PostgreSQL: each
instance schedules every pipeline, and each pipeline's lock (an advisory lock in its
own state database) lets one instance run it while the others stand by. A worker
killed with SIGKILL mid-run releases the lock with its connection; another worker
takes the pipeline on its next tick and finishes it: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.configs import as_pipeline
from bench.kill import ROOT, drop_schema, import_rows, pg_schema_url, rows, write_config
from connector import config as configuration
from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore
from tests.conftest import require_postgres

LEADS = 400


def runs_of(config: configuration.Config) -> list[object]:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return state.runs(100)
    finally:
        state.close()


def two_orgs_config(tmp_path: Path, org_a: SalesforceSandbox, org_b: SalesforceSandbox,
                    schemas: dict[str, tuple[str, str]], schedule: str,
                    extra: str = "") -> Path:
    """bench.kill's config.toml (batches of 20) as pipelines a and b, each with its own
    org (b's [crm] section) and its own PostgreSQL schema; ``schedule`` in place of
    the shipped one, ``extra`` (a [workers] table) before the pipelines."""
    path = write_config(tmp_path, org_a.address, schemas["a"][1], batch_size=20)
    text = path.read_text(encoding="utf-8").replace("every_minutes = 15", schedule)
    org_b_crm = as_pipeline(text.replace(org_a.address, org_b.address), "b", ("crm",))
    path.write_text(text + extra + f'''
[pipelines.a.state]
url = "{schemas['a'][1]}"

[pipelines.b.state]
url = "{schemas['b'][1]}"
''' + org_b_crm, encoding="utf-8")
    return path


def each_lead_and_task_once(*orgs: SalesforceSandbox) -> None:
    """Every lead in each org once, with exactly one follow-up task."""
    for org in orgs:
        leads = org.records("Lead")
        keys = Counter(r.get("Leadsync_Id__c") for r in leads)
        assert len(leads) == LEADS and max(keys.values()) == 1
        tasks = Counter(t.get("WhoId") for t in org.records("Task"))
        assert all(tasks[r["Id"]] == 1 for r in leads)
        assert sum(tasks.values()) == LEADS


def calm(lines: list[dict[str, object]], name: str) -> None:
    """A worker's JSON log: no error, and each pipeline's "standing by" said once, not
    every tick."""
    assert not [line for line in lines if line["level"] == "error"], name
    said = Counter(line["pipeline"] for line in lines
                   if str(line["event"]).startswith("standing by:"))
    assert all(times == 1 for times in said.values()), name


def wait_for(what: str, check: object, seconds: float) -> object:
    """``check()``'s first true answer, asked every quarter second."""
    deadline = time.monotonic() + seconds
    while not (found := check()):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        time.sleep(0.25)
    return found


@pytest.mark.postgres
def test_two_pipelines_over_three_workers_survive_a_killed_worker(tmp_path: Path) -> None:
    require_postgres()
    schemas = {name: pg_schema_url() for name in ("a", "b")}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with SalesforceSandbox(state_path=tmp_path / "a.json",
                               faults=Faults(latency=0.02)) as org_a, \
                SalesforceSandbox(state_path=tmp_path / "b.json",
                                  faults=Faults(latency=0.02)) as org_b:
            path = two_orgs_config(tmp_path, org_a, org_b, schemas, 'cron = "* * * * *"')
            pipelines = configuration.load_all(path)
            import_rows(pipelines["a"], tmp_path / "leads.csv", rows(0, LEADS))
            env = {**os.environ, "SF_PASSWORD": "sandbox"}
            for n in range(3):
                log = (tmp_path / f"worker{n}.log").open("wb")
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "connector.cli", "sync", "--log-json", "--config",
                     str(path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env))

            def running(name: str) -> object:
                return next((run for run in runs_of(pipelines[name])
                             if run.status == "running"), None)  # type: ignore[attr-defined]

            victim = wait_for("pipeline a's first run", lambda: running("a"), 60).pid  # type: ignore[attr-defined]
            assert victim in {w.pid for w in workers}
            os.kill(victim, signal.SIGKILL)  # mid-run: its batches are not all written

            def finished(name: str, org: SalesforceSandbox) -> bool:
                done = [r for r in runs_of(pipelines[name])
                        if r.status == "ok" and r.pid != victim]  # type: ignore[attr-defined]
                return bool(done) and len(org.records("Lead")) >= LEADS

            # the other workers' next tick (a minute at most) takes it over
            wait_for("pipeline a picked up and finished", lambda: finished("a", org_a), 150)
            wait_for("pipeline b finished", lambda: finished("b", org_b), 150)
            each_lead_and_task_once(org_a, org_b)
            history = runs_of(pipelines["a"])
            assert [r.status for r in history if r.pid == victim] == [  # type: ignore[attr-defined]
                "abandoned"]
            takers = {r.pid for r in history if r.status == "ok"}  # type: ignore[attr-defined]
            assert takers and victim not in takers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
        for schema, _ in schemas.values():
            drop_schema(schema)
    import json

    for n, worker in enumerate(workers):
        if worker.pid == victim:
            continue
        calm([json.loads(line) for line in
              (tmp_path / f"worker{n}.log").read_text().splitlines() if line.strip()],
             f"worker{n}")

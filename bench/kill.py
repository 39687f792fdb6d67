"""kill -9 at random points, then count what was lost or doubled.

`leadsync sync --once` runs as a real subprocess against a Salesforce sandbox
served by this process (slowed by injected latency, so a run spans seconds), and
is killed with SIGKILL after a random delay, again and again, while new leads keep
arriving. A last run goes to the end. Then the org is read back:

- duplicates: records sharing a leadsync key or an email;
- missing leads: marketing leads (all of them qualify) with no record;
- missing / doubled tasks: records without their follow-up task, or with two;
- runs left running: runs still "running" after the last run started.

`python -m bench.kill` measures it on SQLite and PostgreSQL state and records the
figures; tests/e2e/test_kill.py runs a short campaign of the same harness in CI.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import quote

from sqlalchemy import create_engine, text

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore

PG_URL = os.environ.get("LEADSYNC_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["email", "first_name", "last_name", "company", "title", "phone", "country", "state",
           "city", "lead_source", "activities"]


@dataclass
class KillReport:
    backend: str
    kill_points: int = 0
    rounds: int = 0
    leads: int = 0
    records: int = 0
    duplicates: int = 0
    missing_leads: int = 0
    missing_tasks: int = 0
    doubled_tasks: int = 0
    runs_left_running: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.missing_leads or self.missing_tasks
                    or self.doubled_tasks or self.runs_left_running)


def rows(start: int, count: int) -> list[dict[str, str]]:
    """Leads that all qualify (a form fill and a pricing visit), some sharing a company."""
    return [{"email": f"kill{n}@firm{n % 13}.example", "first_name": f"Kim{n}",
             "last_name": f"Lau{n}", "company": f"Firm {n % 13} Ltd", "title": "VP Sales",
             "phone": f"+1 415 555 {n % 10000:04d}", "country": "United States", "state": "CA",
             "city": "San Francisco", "lead_source": "Web",
             "activities": "form_fill|2026-11-02T10:00:00Z|Contact sales;"
                           "page_visit|2026-11-02T09:55:00Z|/pricing"}
            for n in range(start, start + count)]


def import_rows(config: configuration.Config, path: Path, batch: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(batch)
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        store.import_file(path)
    finally:
        store.close()


def write_config(workdir: Path, address: str, state_url: str, batch_size: int) -> Path:
    text_ = configuration.TEMPLATE.read_text(encoding="utf-8")
    for old, new in {
        'url = "sqlite:///state/leadsync.db"': f'url = "{state_url}"',
        'url = "sqlite:///state/marketing.db"': f'url = "sqlite:///{workdir}/marketing.db"',
        'seed = "examples/leads.csv"': "",
        'route_to = "127.0.0.1:8451"': f'route_to = "{address}"',
        "embedded = true": "embedded = false",
        "batch_size = 1000": f"batch_size = {batch_size}",
    }.items():
        assert old in text_, old
        text_ = text_.replace(old, new)
    path = workdir / "config.toml"
    path.write_text(text_, encoding="utf-8")
    return path


def sync_process(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--once",
                             "--config", str(path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "SF_PASSWORD": "sandbox"})


def campaign(workdir: Path, *, backend: str, state_url: str, kills: int, seed: int = 7,
             first_leads: int = 300, more_per_round: int = 40, batch_size: int = 20,
             latency: float = 0.02, max_delay: float = 2.5) -> KillReport:
    """Kill ``kills`` runs at random points, finish, and count what went wrong."""
    chance = random.Random(seed)
    report = KillReport(backend)
    began = time.monotonic()
    with SalesforceSandbox(state_path=workdir / "org.json",
                           faults=Faults(latency=latency)) as sandbox:
        path = write_config(workdir, sandbox.address, state_url, batch_size)
        config = configuration.load(path)
        import_rows(config, workdir / "first.csv", rows(0, first_leads))
        report.leads = first_leads
        while report.kill_points < kills:
            report.rounds += 1
            if report.rounds % 3 == 0:  # marketing goes on between runs
                import_rows(config, workdir / f"more{report.rounds}.csv",
                            rows(report.leads, more_per_round))
                report.leads += more_per_round
            proc = sync_process(path)
            time.sleep(chance.uniform(0.3, max_delay))  # startup takes ~1 s of it
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                report.kill_points += 1
            proc.wait()
            if report.rounds > kills * 4:
                report.notes.append("runs kept finishing before the kill; fewer kill points")
                break
        for _ in range(3):  # to the end; a second run finds nothing left
            finished = sync_process(path)
            finished.wait(timeout=600)
            if finished.returncode == 0:
                break
        report.notes.append(f"last run exited {finished.returncode}")
        measure(report, sandbox, config)
    report.seconds = time.monotonic() - began
    return report


def measure(report: KillReport, sandbox: SalesforceSandbox,
            config: configuration.Config) -> None:
    leads = sandbox.records("Lead")
    report.records = len(leads)
    keys = Counter(r.get("Leadsync_Id__c") for r in leads)
    emails = Counter((r.get("Email") or "").lower() for r in leads)
    report.duplicates = (sum(n - 1 for k, n in keys.items() if k and n > 1)
                         + sum(n - 1 for e, n in emails.items() if e and n > 1))
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        wanted = {lead.id for lead in store.read_changes(None)}
    finally:
        store.close()
    report.missing_leads = len(wanted - {k for k in keys if k})
    tasks = Counter(t.get("WhoId") for t in sandbox.records("Task"))
    report.missing_tasks = sum(1 for r in leads if tasks.get(r["Id"], 0) == 0)
    report.doubled_tasks = sum(1 for r in leads if tasks.get(r["Id"], 0) > 1)
    state = StateStore(config.resolve_url(config.state.url))
    try:
        report.runs_left_running = sum(1 for run in state.runs(10_000)
                                       if run.status == "running")
    finally:
        state.close()


def pg_schema_url() -> tuple[str, str]:
    schema = f"kill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))
    admin.dispose()


def run_both(kills: int, **kwargs: object) -> list[KillReport]:
    reports = []
    with TemporaryDirectory() as tmp:
        work = Path(tmp) / "sqlite"
        work.mkdir()
        reports.append(campaign(work, backend="sqlite", state_url=f"sqlite:///{work}/state.db",
                                kills=kills, **kwargs))  # type: ignore[arg-type]
        schema, url = pg_schema_url()
        try:
            work = Path(tmp) / "postgresql"
            work.mkdir()
            reports.append(campaign(work, backend="postgresql", state_url=url, kills=kills,
                                    **kwargs))  # type: ignore[arg-type]
        finally:
            drop_schema(schema)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30, help="kill points per backend")
    args = parser.parse_args()
    from bench.results import record

    reports = run_both(args.kills)
    head = ("| state | kill points | rounds | leads | records | duplicates | missing leads | "
            "missing tasks | doubled tasks | runs left running | s |")
    lines = ["## kill -9 at random points (`bench/kill.py`)", "",
             "`leadsync sync --once` as a subprocess against the Salesforce sandbox (20 ms "
             "latency per call, batches of 20), killed with SIGKILL after a random 0.3–2.5 s "
             "(startup included) again and again while new leads arrive every third round; "
             "then one run to the end and the org read back.", "", head,
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in reports:
        lines.append(f"| {r.backend} | {r.kill_points} | {r.rounds} | {r.leads} | {r.records} | "
                     f"{r.duplicates} | {r.missing_leads} | {r.missing_tasks} | "
                     f"{r.doubled_tasks} | {r.runs_left_running} | {r.seconds:.0f} |")
    notes = sorted({n for r in reports for n in r.notes})
    lines += ["", *(f"- {n}" for n in notes), "",
              f"Command: `.venv/bin/python -m bench.kill --kills {args.kills}`"]
    print("\n".join(lines))
    total = lambda name: sum(getattr(r, name) for r in reports)  # noqa: E731
    record("kill", "\n".join(lines), {
        "kill_points": total("kill_points"),
        "kill_duplicates": total("duplicates"),
        "kill_missing_leads": total("missing_leads"),
        "kill_missing_tasks": total("missing_tasks"),
        "kill_doubled_tasks": total("doubled_tasks"),
        "kill_runs_left_running": total("runs_left_running"),
    })


if __name__ == "__main__":
    main()

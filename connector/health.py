"""Each pipeline's health and figures, read from its state database: `/healthz` and
the stored half of `/metrics` (``connector.metrics`` holds what only the running
process sees).

A pipeline is **ok** when its last finished run went through and its last successful
run is at most two intervals of its schedule old (plus five minutes for the run
itself); **failed** when no run has gone through for four intervals (or none ever, and
runs were tried); **degraded** in between: the last run failed or stopped at the API
reserve, or a run was missed. A pipeline that never ran yet is **starting**.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, col, select

from connector.config import Config
from connector.errors import LeadsyncError
from connector.sla.store import SlaClock
from connector.state import RUN_COUNTS, DeadLetter, SyncRun, TaskOwed, utcnow

SLACK = timedelta(minutes=5)
"""A run's own time: a pipeline is not late the moment its interval has passed."""
RUN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STALE = timedelta(minutes=15)
"""A "running" run silent this long is a process that died (the next start marks it
abandoned): it holds no lock."""
RECENT_RUNS = 50
"""The runs looked at for the last success (a pipeline failing longer is failed)."""


@dataclass(frozen=True)
class Health:
    pipeline: str
    status: str  # ok | degraded | failed | starting
    why: str
    schedule: str
    interval_seconds: float
    last_run: dict[str, Any] | None
    last_success_at: str | None
    last_success_age_seconds: float | None


def health(config: Config, now: datetime | None = None) -> Health:
    """One pipeline's health from its state database (never raises: a database that
    cannot be read is a failed pipeline, saying why)."""
    from connector.wiring import open_state

    now = now or utcnow()
    interval = config.schedule.interval(now)
    plan = {"pipeline": config.pipeline, "schedule": config.schedule.describe(),
            "interval_seconds": interval.total_seconds()}
    try:
        store = open_state(config)
        try:
            runs = [run for run in store.runs(RECENT_RUNS) if not run.dry_run]
        finally:
            store.close()
    except LeadsyncError as exc:
        return Health(**plan, status="failed", why=str(exc), last_run=None,
                      last_success_at=None, last_success_age_seconds=None)
    if not runs:
        return Health(**plan, status="starting", why="no run yet", last_run=None,
                      last_success_at=None, last_success_age_seconds=None)
    finished = next((run for run in runs if run.status != "running"), None)
    success = next((run for run in runs if run.status == "ok"), None)
    when = (success.finished_at or success.started_at) if success else None
    age = now - when if when else None
    if age is None or age > 4 * interval + SLACK:
        status = "failed"
        why = (f"no run went through in the last {len(runs)} runs" if age is None else
               f"the last run that went through was {_span(age)} ago, four runs' time "
               f"is {_span(4 * interval)}")
    elif finished is not None and finished.status != "ok":
        status, why = "degraded", f"the last run {finished.status}: {finished.error or ''}"
    elif age > 2 * interval + SLACK:
        status, why = "degraded", (f"the last run that went through was {_span(age)} ago; "
                                   f"runs are due every {_span(interval)}")
    else:
        status, why = "ok", f"last run went through {_span(age)} ago"
    return Health(**plan, status=status, why=why.strip().rstrip(":"),
                  last_run=runs[0].as_dict(),
                  last_success_at=when.isoformat() if when else None,
                  last_success_age_seconds=round(age.total_seconds(), 1) if age else None)


def overall(found: list[Health]) -> tuple[str, int]:
    """The worst pipeline's status, and the HTTP status a load balancer acts on: 503
    when a pipeline failed, else 200."""
    rank = ["ok", "starting", "degraded", "failed"]
    worst = max((h.status for h in found), key=rank.index, default="ok")
    return worst, 503 if worst == "failed" else 200


def as_dict(found: list[Health]) -> dict[str, Any]:
    worst, _ = overall(found)
    return {"status": worst, "pipelines": {h.pipeline: asdict(h) for h in found}}


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


class StateCollector(Collector):
    """Every pipeline's stored figures at each scrape, labelled with its name."""

    def __init__(self, pipelines: dict[str, Config]) -> None:
        self.pipelines = pipelines

    def collect(self) -> Iterator[Any]:
        from connector.wiring import open_state

        runs = CounterMetricFamily("leadsync_runs", "Sync runs by outcome (dry runs left "
                                   "out).", labels=["pipeline", "outcome"])
        records = CounterMetricFamily("leadsync_records", "Leads by what runs did with "
                                      "them.", labels=["pipeline", "outcome"])
        letters = GaugeMetricFamily("leadsync_dead_letters", "Leads the CRM refused, "
                                    "waiting.", labels=["pipeline"])
        owed = GaugeMetricFamily("leadsync_tasks_owed", "Follow-up tasks owed to reps "
                                 "(the next run makes them).", labels=["pipeline"])
        breached = GaugeMetricFamily("leadsync_sla_clocks_breached", "SLA clocks breached "
                                     "and still open.", labels=["pipeline"])
        running = GaugeMetricFamily("leadsync_run_in_progress", "1 while a run holds the "
                                    "pipeline lock.", labels=["pipeline"])
        success = GaugeMetricFamily("leadsync_last_success_timestamp_seconds", "When the "
                                    "last run that went through ended.", labels=["pipeline"])
        durations = HistogramMetricFamily("leadsync_run_duration_seconds", "Seconds each "
                                          "finished run took.", labels=["pipeline"])
        up = GaugeMetricFamily("leadsync_state_readable", "1 when the pipeline's state "
                               "database could be read.", labels=["pipeline"])
        for name, config in self.pipelines.items():
            try:
                store = open_state(config)
            except LeadsyncError:
                up.add_metric([name], 0)
                continue
            try:
                figures = _figures(store.engine, config.crm.adapter)
            finally:
                store.close()
            up.add_metric([name], 1)
            for outcome, n in figures["runs"].items():
                runs.add_metric([name, outcome], n)
            for outcome, n in figures["records"].items():
                records.add_metric([name, outcome], n)
            letters.add_metric([name], figures["letters"])
            owed.add_metric([name], figures["owed"])
            breached.add_metric([name], figures["breached"])
            running.add_metric([name], figures["running"])
            if figures["success"] is not None:
                success.add_metric([name], figures["success"])
            durations.add_metric([name], figures["buckets"], figures["sum"])
        yield from (runs, records, letters, owed, breached, running, success, durations,
                    up)


def _figures(engine: Any, crm: str) -> dict[str, Any]:
    with Session(engine) as session:
        by_status = dict(session.exec(  # type: ignore[call-overload]
            select(SyncRun.status, func.count()).where(col(SyncRun.dry_run).is_(False))
            .group_by(SyncRun.status)).all())
        sums = session.exec(select(*[func.coalesce(func.sum(getattr(SyncRun, k)), 0)
                                     for k in RUN_COUNTS])
                            .where(col(SyncRun.dry_run).is_(False))).one()
        letters = session.exec(select(func.count()).select_from(DeadLetter).where(
            col(DeadLetter.resolved_at).is_(None))).one()
        owed = session.exec(select(func.count()).select_from(TaskOwed).where(
            TaskOwed.crm == crm, col(TaskOwed.made_at).is_(None))).one()
        breached = session.exec(select(func.count()).select_from(SlaClock).where(
            SlaClock.crm == crm, col(SlaClock.closed).is_(False),
            col(SlaClock.breached_at).is_not(None))).one()
        alive = session.exec(select(func.count()).select_from(SyncRun).where(
            SyncRun.status == "running", func.coalesce(
                SyncRun.heartbeat_at, SyncRun.started_at) >= utcnow() - STALE)).one()
        last = session.exec(select(func.max(SyncRun.finished_at)).where(
            SyncRun.status == "ok", col(SyncRun.dry_run).is_(False))).one()
        spans = session.exec(select(SyncRun.started_at, SyncRun.finished_at).where(
            col(SyncRun.finished_at).is_not(None), col(SyncRun.dry_run).is_(False))).all()
    seconds = [(end - start).total_seconds() for start, end in spans]
    buckets = [(str(bound), sum(1 for s in seconds if s <= bound)) for bound in RUN_BUCKETS]
    buckets.append(("+Inf", len(seconds)))
    if isinstance(last, str):  # SQLite's max() gives the stored text back
        last = datetime.fromisoformat(last)
    return {"runs": by_status, "records": dict(zip(RUN_COUNTS, sums, strict=True)),
            "letters": letters, "owed": owed, "breached": breached,
            "running": int(alive > 0),
            "success": last.timestamp() if last is not None else None,
            "buckets": buckets, "sum": sum(seconds)}

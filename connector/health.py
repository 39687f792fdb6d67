"""Each pipeline's health and figures, read from its state database: `/healthz` and
the stored half of `/metrics` (``connector.metrics`` holds what only the running
process sees).

Counted in the runs its schedule called for since its last run that went through
(five minutes after each, for the run itself; a crontab's nights and weekends call
for none): **ok** when its last finished run went through and fewer than two were
due since; **degraded** when the last run failed or stopped at the API reserve, or
two or three were due; **failed** when four were (or none ever went through). A
pipeline whose first run has not finished is **starting**.
"""

from __future__ import annotations

import threading
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
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from connector.config import Config
from connector.errors import LeadsyncError
from connector.sla.store import SlaClock
from connector.state import RUN_COUNTS, DeadLetter, MatchReview, SyncRun, TaskOwed, utcnow

SLACK = timedelta(minutes=5)
"""A run's own time: a pipeline is not late the moment its interval has passed."""
DEGRADED_AFTER, FAILED_AFTER, COUNTED = 2, 4, 5
"""Scheduled runs since the last that went through: degraded, then failed."""
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


def health(config: Config, now: datetime | None = None, store: Any = None) -> Health:
    """One pipeline's health from its state database (``store``, else opened here);
    never raises: a database that cannot be read is a failed pipeline, saying why."""
    from connector.wiring import open_state

    now = now or utcnow()
    schedule = config.schedule
    plan = {"pipeline": config.pipeline, "schedule": schedule.describe(),
            "interval_seconds": schedule.interval(now).total_seconds()}
    try:
        opened = store or open_state(config)
        try:
            runs = [run for run in opened.runs(RECENT_RUNS) if not run.dry_run]
        finally:
            if store is None:
                opened.close()
    except LeadsyncError as exc:
        return Health(**plan, status="failed", why=str(exc), last_run=None,
                      last_success_at=None, last_success_age_seconds=None)
    finished = [run for run in runs if run.status != "running"]
    if not finished:  # none yet, or the first still going (a first backfill takes long)
        return Health(**plan, status="starting", why="the first run is going" if runs
                      else "no run yet", last_run=runs[0].as_dict() if runs else None,
                      last_success_at=None, last_success_age_seconds=None)
    success = next((run for run in runs if run.status == "ok"), None)
    when = (success.finished_at or success.started_at) if success else None
    missed = schedule.due_between(when, now - SLACK, COUNTED) if when else None
    if missed is None or missed >= FAILED_AFTER:
        status = "failed"
        why = (f"no run went through in the last {len(runs)} runs" if missed is None else
               f"no run went through since {when:%Y-%m-%d %H:%M} UTC: {missed}"
               f"{' or more' if missed >= COUNTED else ''} scheduled runs since")
    elif finished[0].status != "ok" and not _asked_to_stop(finished[0]):
        status = "degraded"
        why = f"the last run {finished[0].status}: {finished[0].error or ''}"
    elif missed >= DEGRADED_AFTER:
        status = "degraded"
        why = f"the last run that went through was {missed} scheduled runs ago"
    else:
        status, why = "ok", f"last run went through {_span(now - when)} ago"
    return Health(**plan, status=status, why=why.strip().rstrip(":"),
                  last_run=runs[0].as_dict(),
                  last_success_at=when.isoformat() if when else None,
                  last_success_age_seconds=round((now - when).total_seconds(), 1)
                  if when else None)


def _asked_to_stop(run: Any) -> bool:
    """A run a signal stopped after a whole batch (systemctl stop, a restart), or a
    worker's time limit ([workers] time_limit_minutes): nothing went wrong, the next run
    goes on from there."""
    return run.status == "stopped" and (run.error or "").startswith(
        ("stopped by SIG", "stopped by the time limit"))


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


class Stores:
    """One state store per pipeline, opened on first use and kept for the life of a
    server: a page view or a scrape does not make an engine (nor check its schema)."""

    def __init__(self, pipelines: dict[str, Config]) -> None:
        self.pipelines = pipelines
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Any:
        """The pipeline's store; LeadsyncError when it cannot be opened (tried again
        at the next call: a database that comes back is found)."""
        from connector.wiring import open_state

        with self._lock:
            if name not in self._open:
                self._open[name] = open_state(self.pipelines[name])
            return self._open[name]

    def close(self) -> None:
        with self._lock:
            for store in self._open.values():
                store.close()
            self._open.clear()


class StateCollector(Collector):
    """Every pipeline's stored figures at each scrape, labelled with its name."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def collect(self) -> Iterator[Any]:
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
        for name, config in self.stores.pipelines.items():
            try:
                figures = figures_of(self.stores(name).engine, config.crm.adapter)
            except (LeadsyncError, SQLAlchemyError):
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            for outcome, n in figures["runs"].items():
                if outcome != "running":  # it falls back when the run ends: no counter
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


def figures_of(engine: Any, crm: str) -> dict[str, Any]:
    """A pipeline's stored figures: counts by SQL, not rows read to count them."""
    with Session(engine) as session:
        by_status = dict(session.exec(  # type: ignore[call-overload]
            select(SyncRun.status, func.count()).where(col(SyncRun.dry_run).is_(False))
            .group_by(SyncRun.status)).all())
        sums = session.exec(select(*[func.coalesce(func.sum(getattr(SyncRun, k)), 0)
                                     for k in RUN_COUNTS])
                            .where(col(SyncRun.dry_run).is_(False))).one()
        letters = session.exec(select(func.count()).select_from(DeadLetter).where(
            col(DeadLetter.resolved_at).is_(None))).one()
        reviews = session.exec(select(func.count()).select_from(MatchReview).where(
            MatchReview.status == "pending")).one()
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
    return {"runs": by_status, "records": dict(zip(RUN_COUNTS, sums, strict=True)),
            "letters": letters, "reviews": reviews, "owed": owed, "breached": breached,
            "running": int(alive > 0),
            "success": last.timestamp() if last is not None else None,
            "buckets": buckets, "sum": sum(seconds)}

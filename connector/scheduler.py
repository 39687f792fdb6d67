"""APScheduler wiring: each pipeline's cycle on its schedule, never two at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.adapters.base import CrmAdapter
from connector.config import Config, by_name
from connector.errors import LeadsyncError
from connector.pipeline import RunSummary
from connector.state import RunLocked
from connector.stopping import NEVER, Stop
from connector.wiring import open_crm, run_once

log = structlog.get_logger("leadsync.scheduler")


STANDING_BY: set[tuple[str, str]] = set()
"""(pipeline, state database) this process stands by for: another instance holds the
lock. Each pipeline's ticks run one at a time, so each key has one writer."""


Send = Callable[[Config], None]
"""Hands a pipeline's tick to someone else to run (`leadsync worker`, through [workers])."""


def _job(config: Config, stop: Stop = NEVER, crm: CrmAdapter | None = None,
         standing_by: set[tuple[str, str]] = STANDING_BY) -> RunSummary | None:
    """One tick. Another instance holding the pipeline lock is the normal state of a
    standby: it is said once, at info, and again when this one takes over, not as an
    error every tick. The run's summary, or None when there was none to finish."""
    if stop.requested:
        return None
    where = (config.pipeline, config.resolve_url(config.state.url))
    try:
        summary = run_once(config, stop=stop, crm=crm)
    except RunLocked:
        if where in standing_by:
            log.debug("standing by", pipeline=config.pipeline)
        else:
            standing_by.add(where)
            log.info("standing by: another instance holds the pipeline lock; this one "
                     "runs when the lock is free", pipeline=config.pipeline)
        return None
    except LeadsyncError as exc:  # the next tick tries again; the run record says why
        log.error("sync failed", pipeline=config.pipeline, error=str(exc))
        return None
    if where in standing_by:
        standing_by.discard(where)
        log.info("took over: the pipeline lock was free and this instance ran",
                 pipeline=config.pipeline, run=summary.run_id, status=summary.status)
    return summary


def schedule(scheduler: BaseScheduler, config: Config, stop: Stop = NEVER,
             crm: CrmAdapter | None = None, send: Send | None = None) -> Job:
    """A pipeline's sync job: first run now, then on its interval or crontab line; a
    slow run is never doubled (and the pipeline lock keeps other instances out).
    ``send``: each tick is handed to it instead of run here."""
    job, args = (_job, [config, stop, crm]) if send is None else (send, [config])
    return scheduler.add_job(job, config.schedule.trigger(), args=args,
                             next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                             id=f"sync:{config.pipeline}", name=config.pipeline,
                             misfire_grace_time=60)


class _SlowRunIsNoWarning(logging.Filter):
    """APScheduler warns on every tick that falls inside a run still going ("skipped:
    maximum number of running instances reached"): that is the rule (a slow run is
    never doubled), not a warning. Debug, shown with --verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" not in str(record.msg):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


QUIET = _SlowRunIsNoWarning()


def run_forever(pipelines: Config | dict[str, Config], stop: Stop = NEVER,
                send: Send | None = None) -> None:
    """Run every pipeline on its schedule until ``stop`` is asked (SIGTERM, Ctrl-C):
    the runs in progress end after their batch, no new run starts, and the process
    exits. Pipelines run side by side, each on a worker thread of its own.
    ``send``: the cycles run elsewhere ([workers]: `leadsync worker`); each tick only
    hands its pipeline to it, and no CRM is opened here."""
    pipelines = by_name(pipelines)
    logging.getLogger("apscheduler.scheduler").addFilter(QUIET)  # once however often
    scheduler = BlockingScheduler(timezone=UTC, executors={
        "default": ThreadPoolExecutor(max_workers=max(1, len(pipelines)))})
    with ExitStack() as crms:
        for config in pipelines.values():
            # one login and one describe per object per pipeline, not one a cycle
            crm = crms.enter_context(open_crm(config)) if send is None else None
            schedule(scheduler, config, stop, crm, send)
            log.info("scheduler started", pipeline=config.pipeline,
                     schedule=config.schedule.describe(),
                     **({} if send is None else {"runs_on": str(send)}))
        watcher = threading.Thread(target=_stop_when_asked, args=(scheduler, stop,
                                                                  send is not None),
                                   daemon=True)
        watcher.start()
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            log.info("scheduler stopped")


def _stop_when_asked(scheduler: BaseScheduler, stop: Stop, sends: bool = False) -> None:
    while not stop.wait(1.0):
        pass
    log.info("stopping: no more ticks are sent; the workers' runs go on" if sends else
             "stopping: the run in progress ends after its batch", signal=stop.requested)
    scheduler.shutdown(wait=True)

"""APScheduler wiring: run the cycle every N minutes, never two at once."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.config import Config
from connector.errors import LeadsyncError
from connector.wiring import run_once

log = structlog.get_logger("leadsync.scheduler")


def _job(config: Config) -> None:
    try:
        run_once(config)
    except LeadsyncError as exc:  # the next tick tries again; the run record says why
        log.error("sync failed", error=str(exc))


def schedule(scheduler: BaseScheduler, config: Config) -> Job:
    """One sync job: first run now, then every N minutes; a slow run is never doubled."""
    return scheduler.add_job(_job, "interval", args=[config],
                             minutes=config.schedule.every_minutes,
                             next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                             id="sync", misfire_grace_time=60)


def run_forever(config: Config) -> None:
    scheduler = BlockingScheduler(timezone=UTC)
    schedule(scheduler, config)
    log.info("scheduler started", every_minutes=config.schedule.every_minutes)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")

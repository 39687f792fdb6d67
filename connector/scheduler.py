"""APScheduler wiring: run the cycle every N minutes, never two at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import structlog
from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.adapters.base import CrmAdapter
from connector.config import Config
from connector.errors import LeadsyncError
from connector.stopping import NEVER, Stop
from connector.wiring import open_crm, run_once

log = structlog.get_logger("leadsync.scheduler")


def _job(config: Config, stop: Stop = NEVER, crm: CrmAdapter | None = None) -> None:
    if stop.requested:
        return
    try:
        run_once(config, stop=stop, crm=crm)
    except LeadsyncError as exc:  # the next tick tries again; the run record says why
        log.error("sync failed", error=str(exc))


def schedule(scheduler: BaseScheduler, config: Config, stop: Stop = NEVER,
             crm: CrmAdapter | None = None) -> Job:
    """One sync job: first run now, then every N minutes; a slow run is never doubled."""
    return scheduler.add_job(_job, "interval", args=[config, stop, crm],
                             minutes=config.schedule.every_minutes,
                             next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                             id="sync", misfire_grace_time=60)


def run_forever(config: Config, stop: Stop = NEVER) -> None:
    """Run on the schedule until ``stop`` is asked (SIGTERM, Ctrl-C): the run in
    progress ends after its batch, no new run starts, and the process exits."""
    scheduler = BlockingScheduler(timezone=UTC)
    with open_crm(config) as crm:  # one login and one describe per object, not one a cycle
        schedule(scheduler, config, stop, crm)
        log.info("scheduler started", every_minutes=config.schedule.every_minutes)
        watcher = threading.Thread(target=_stop_when_asked, args=(scheduler, stop),
                                   daemon=True)
        watcher.start()
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            log.info("scheduler stopped")


def _stop_when_asked(scheduler: BaseScheduler, stop: Stop) -> None:
    while not stop.wait(1.0):
        pass
    log.info("stopping: the run in progress ends after its batch", signal=stop.requested)
    scheduler.shutdown(wait=True)

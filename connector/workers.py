"""Each pipeline's cycle as a task on a queue: `leadsync sync` sends it, `leadsync worker`
runs it (the ``dramatiq`` extra; docs/operations.md, "Beyond one machine").

With [workers] broker set, the daemon keeps the schedule and, on each pipeline's tick,
sends one message, "run pipeline NAME of config.toml PATH", to a queue on RabbitMQ or
Redis through Dramatiq. `leadsync worker` processes, on any machine, take the messages
and run that cycle as `sync --once --pipeline NAME` does: the same wiring, the same
pipeline lock, so two messages for one pipeline never run at once (the second stands
by and says so once, at info). A message is acknowledged when its cycle has ended: one
held by a worker that dies (kill -9, a lost machine) goes back to the queue and on to
another worker, which marks the dead run abandoned and goes on from its last whole
batch.

Dramatiq's settings, and why:

- No automatic retries (``max_retries=0``): a failed cycle is recorded as failed and the
  next tick runs the pipeline again; a retry with backoff would run it on top of the
  schedule. A message whose cycle raised (a bug) waits in the dead-letter queue
  (QUEUE.XQ, a week).
- Neither TimeLimit nor ShutdownNotifications: both raise an exception inside the
  running thread wherever it is (a write, a cursor being saved), and the run could not
  record how it ended. A stop is asked politely, as SIGTERM asks `sync`: a run past
  ``time_limit_minutes``, or in a worker told to stop, ends after its batch, and its
  pipeline is sent again for the next free worker to go on.
- A worker takes no more messages than it has threads (prefetch): a message held
  behind a long run on one worker would keep its pipeline from an idle one.
- A tick's message that no worker took before the next tick is dropped: the next
  message covers it, as the daemon drops a missed start rather than queueing it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import structlog
from sqlalchemy.exc import ArgumentError

from connector.config import Config, SettingError, WorkersConfig, by_name, secret
from connector.db import redacted
from connector.logs import scrub
from connector.scheduler import _job
from connector.stopping import Stop
from connector.wiring import open_crm

log = structlog.get_logger("leadsync.workers")

ACTOR = "leadsync_cycle"
"""The one actor every message names; the pipeline is its argument."""
REDIS_HEARTBEAT_S = 15.0
"""Dramatiq's Redis broker counts a worker as dead after a minute without a call from it,
and its consumers call only while a thread is free: a worker whose threads all run long
cycles would have its messages handed to others mid-run. It says it is alive this often."""
REDIS_MAINTENANCE = 10_000
"""Calls in a million that also put dead workers' messages back on the queue (Dramatiq's
default is 1,000): with a few idle workers, a minute or so after the heartbeat timeout
rather than several."""
STOP_WAIT_MS = 24 * 3600 * 1000
"""How long SIGTERM waits for the runs in progress to end after their batch: as long as
that takes (systemd's TimeoutStopSec decides, as for `sync`)."""


def broker_url(settings: WorkersConfig) -> str:
    """[workers] broker with the password of ``password_env`` put in: for connecting
    only, never for a message or a log line."""
    assert settings.broker is not None
    if settings.password_env is None:
        return settings.broker
    password = secret(settings.password_env, what="workers.password_env").get_secret_value()
    parts = urlsplit(settings.broker)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(
        netloc=f"{parts.username or ''}:{quote(password, safe='')}@{host}"))


def open_broker(settings: WorkersConfig) -> Any:
    """A Dramatiq broker for [workers] broker (nothing is connected yet)."""
    from dramatiq.middleware import CurrentMessage, Retries

    middleware = [Retries(max_retries=0), CurrentMessage()]
    if settings.kind == "RabbitMQ":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # confirmed publishes: a tick's message the server did not take is an error
        return RabbitmqBroker(url=broker_url(settings), confirm_delivery=True,
                              middleware=middleware)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=broker_url(settings), middleware=middleware,
                       maintenance_chance=REDIS_MAINTENANCE)


def close_broker(broker: Any) -> None:
    broker.close()
    client = getattr(broker, "client", None)  # Redis: its pool outlives close()
    if client is not None:
        client.connection_pool.disconnect()


def broker_errors() -> tuple[type[BaseException], ...]:
    """What reaching the broker raises: Dramatiq's own (pika's are wrapped), Redis'."""
    from dramatiq.errors import DramatiqError

    try:
        from redis.exceptions import RedisError
    except ImportError:  # dramatiq[rabbitmq] alone
        return DramatiqError, OSError
    return DramatiqError, RedisError, OSError


def shown(settings: WorkersConfig) -> str:
    """The broker's URL for a log line or a message: its password hidden."""
    try:
        return redacted(settings.broker or "")
    except ArgumentError:  # not SQLAlchemy's idea of a URL: hide all before the host
        return scrub(settings.broker or "")


def reach(broker: Any, config: Config) -> None:
    """Connect and declare the queue, or an error naming workers.broker (the URL shown
    without its password): at start, where a broker out of reach is worth an exit."""
    settings = config.workers
    try:
        if settings.kind == "RabbitMQ":
            broker.declare_queue(settings.queue, ensure=True)
        else:
            broker.client.ping()
    except broker_errors() as exc:
        detail = (f"cannot reach {settings.kind} at {shown(settings)}: "
                  f"{scrub(str(exc))}")
        raise SettingError(f"{config.where('workers', 'broker')}: {detail}",
                           str(config.source) if config.source else None,
                           key="workers.broker", detail=detail) from None


def fingerprint(config: Config) -> str:
    """A short fingerprint of config.toml: a worker told of a file unlike its own says so."""
    if config.source is None:
        return ""
    try:
        return hashlib.sha256(Path(config.source).read_bytes()).hexdigest()[:12]
    except OSError:
        return ""


def due_until(config: Config, now: datetime) -> datetime:
    """When the next tick comes: a message no worker took by then is the next one's."""
    if config.schedule.cron is None:
        return now + timedelta(minutes=config.schedule.every_minutes)
    fire = config.schedule.trigger().get_next_fire_time(None, now + timedelta(seconds=1))
    return fire or now + timedelta(days=31)


def message(config: Config, *, due: datetime | None, sums: str) -> Any:
    """The message of a pipeline's cycle. ``due``: dropped when taken after it (a hand-back
    has none: it goes on with a run that was cut, whenever a worker is free)."""
    from dramatiq import Message

    return Message(queue_name=config.workers.queue, actor_name=ACTOR, args=(), options={},
                   kwargs={"pipeline": config.pipeline,
                           "config": str(Path(config.source).resolve()) if config.source
                           else "", "digest": sums,
                           "due": due.timestamp() if due is not None else None})


@contextmanager
def _connected(settings: WorkersConfig) -> Iterator[Any]:
    broker = open_broker(settings)
    try:
        yield broker
    finally:
        close_broker(broker)


class Sender:
    """The daemon's side ([workers] broker set): each tick sends its pipeline's message.

    RabbitMQ: a connection a send, as an idle one would miss the server's heartbeats
    between ticks and be dropped. Redis: one broker for the daemon's life, as each new
    one is a new worker id in Dramatiq's heartbeats, for the workers to clean up."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.workers
        broker_url(self.settings)  # a password_env that is not set: now, not at a tick
        self.sums = fingerprint(config)
        self.kept = open_broker(self.settings) if self.settings.kind == "Redis" else None

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        if self.kept is not None:
            yield self.kept
            return
        with _connected(self.settings) as broker:
            yield broker

    def close(self) -> None:
        if self.kept is not None:
            close_broker(self.kept)

    def check(self) -> None:
        """The broker reachable and the queue there, or SettingError naming workers.broker."""
        with self._connected() as broker:
            reach(broker, self.config)

    def __str__(self) -> str:
        return f"the workers of {self.settings.kind} queue {self.settings.queue!r} at " \
               f"{shown(self.settings)}"

    def __call__(self, config: Config) -> None:
        """One tick: the message sent, or an error line (the next tick tries again)."""
        sent = message(config, due=due_until(config, datetime.now(UTC)), sums=self.sums)
        try:
            with self._connected() as broker:
                broker.enqueue(sent)
        except broker_errors() as exc:
            log.error("could not send the cycle to the workers; the next tick tries again",
                      pipeline=config.pipeline, broker=shown(self.settings),
                      error=scrub(str(exc)))
            return
        log.info("cycle sent to the workers", pipeline=config.pipeline,
                 queue=self.settings.queue, message=sent.message_id)


class Cycles:
    """The actor's body in `leadsync worker`: the pipeline a message names, run here."""

    def __init__(self, pipelines: dict[str, Config], stop: Stop, broker: Any,
                 crms: dict[str, Any]) -> None:
        first = next(iter(pipelines.values()))
        self.pipelines, self.stop, self.broker, self.crms = pipelines, stop, broker, crms
        self.settings = first.workers
        self.sums = fingerprint(first)
        self.standing_by: set[tuple[str, str]] = set()
        self.told: set[str] = set()
        self.running: set[Stop] = set()
        self.lock = threading.Lock()

    def run(self, pipeline: str, config: str = "", digest: str = "",
            due: float | None = None) -> None:
        from dramatiq.middleware import CurrentMessage

        current = CurrentMessage.get_current_message()
        cfg = self.pipelines.get(pipeline)
        if cfg is None:  # kept in the dead-letter queue for whoever mixed two deployments
            log.error("a cycle of a pipeline this worker's config.toml does not hold; the "
                      "message goes to the dead-letter queue", pipeline=pipeline,
                      sent_from=config, pipelines=sorted(self.pipelines),
                      dead_letters=f"{self.settings.queue}.XQ")
            if current is not None:
                current.fail()
            return
        with structlog.contextvars.bound_contextvars(pipeline=pipeline):
            self._differs(digest, config)
            if due is not None and time.time() > due:
                log.info("dropped: the next tick came before a worker was free for this "
                         "one; its message runs the cycle")
                return
            if getattr(current, "redelivered", False):  # RabbitMQ says so; Redis does not
                log.info("redelivered: a worker took this cycle and ended before it did "
                         "(killed, stopped, or its connection lost); running it here")
            if self.stop.requested:  # taken just as this worker was told to stop
                self.hand_back(cfg, why=self.stop.requested)
                return
            with self._run_stop() as stop:
                summary = _job(cfg, stop, self.crms.get(pipeline), self.standing_by)
            if summary is not None and summary.status == "stopped" and summary.signal:
                self.hand_back(cfg, why=summary.signal)

    def _differs(self, sums: str, path: str) -> None:
        if sums and self.sums and sums != self.sums and sums not in self.told:
            self.told.add(sums)
            log.warning("the scheduler sent this from a config.toml unlike this worker's "
                        "(each runs with its own file): restart the workers after changing "
                        "it", sent_from=path, theirs=sums, ours=self.sums)

    def hand_back(self, config: Config, *, why: str) -> None:
        """A run cut short politely (a stop, the time limit) goes on elsewhere now, not at
        the next tick: its pipeline is sent again."""
        try:
            self.broker.enqueue(message(config, due=None, sums=self.sums))
        except broker_errors() as exc:
            log.warning("could not send the pipeline back to the queue; the next tick "
                        "goes on with it", why=why, error=scrub(str(exc)))
            return
        log.info("handed back: the run stopped after its batch; its pipeline is sent "
                 "again for the next free worker to go on", why=why)

    @contextmanager
    def _run_stop(self) -> Iterator[Stop]:
        """A run's own stop: asked by the worker's stop or by the time limit."""
        stop = Stop()
        minutes = self.settings.time_limit_minutes
        timer = threading.Timer(minutes * 60, stop.ask, [
            f"the time limit of {minutes:g} min ([workers] time_limit_minutes)"])
        timer.daemon = True
        with self.lock:
            self.running.add(stop)
        if self.stop.requested:
            stop.ask(self.stop.requested)
        timer.start()
        try:
            yield stop
        finally:
            timer.cancel()
            with self.lock:
                self.running.discard(stop)

    def stop_all(self, reason: str) -> None:
        with self.lock:
            for stop in self.running:
                stop.ask(reason)


def dramatiq_actor(cycles: Cycles, broker: Any) -> Any:
    """The one actor, its body ``cycles.run``, with no automatic retries (see above)."""
    import dramatiq

    return dramatiq.Actor(cycles.run, broker=broker, actor_name=ACTOR,
                          queue_name=cycles.settings.queue, priority=0,
                          options={"max_retries": 0})


def work(pipelines: Config | dict[str, Config], stop: Stop, *, threads: int) -> None:
    """`leadsync worker`: take the cycles of [workers] queue until ``stop`` is asked
    (SIGTERM, Ctrl-C); the runs in progress then end after their batch, are handed back
    to the queue, and this returns. Up to ``threads`` cycles side by side."""
    import dramatiq

    pipelines = by_name(pipelines)
    first = next(iter(pipelines.values()))
    settings = first.workers
    with ExitStack() as stack:
        broker = open_broker(settings)
        stack.callback(close_broker, broker)
        crms: dict[str, Any] = {}
        cycles = Cycles(pipelines, stop, broker, crms)
        dramatiq_actor(cycles, broker)
        reach(broker, first)
        # as the daemon: one login and one describe per object per pipeline, not a cycle's
        crms.update((name, stack.enter_context(open_crm(cfg)))
                    for name, cfg in pipelines.items())
        worker = dramatiq.Worker(broker, worker_threads=threads)
        worker.queue_prefetch = threads  # before start(): its consumers take it then
        worker.start()
        log.info("worker started", broker=shown(settings),
                 queue=settings.queue, threads=threads, pipelines=sorted(pipelines))
        beat = time.monotonic()
        while not stop.wait(1.0):
            if settings.kind == "Redis" and time.monotonic() - beat >= REDIS_HEARTBEAT_S:
                beat = time.monotonic()
                try:
                    broker.do_qsize(settings.queue)  # any call is a heartbeat
                except broker_errors() as exc:
                    log.debug("heartbeat not sent", error=scrub(str(exc)))
        cycles.stop_all(stop.requested or "the worker's stop")
        log.info("stopping: the runs in progress end after their batch",
                 signal=stop.requested)
        worker.stop(timeout=STOP_WAIT_MS)
        log.info("worker stopped")

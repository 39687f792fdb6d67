"""Routing's state: pool counters, rep load, away periods and every assignment made.

The tables sit on the state store's metadata (``StateModel``), so they live in
the same database as runs and links and ``StateStore`` creates them too once
this module is imported; ``RoutingStore`` creates them itself as well.

Concurrency: every batch runs in one transaction that starts by updating one
lock row. On PostgreSQL that update takes the row lock, held to commit, so a
second instance's batch waits and then reads the counters the first one
wrote (READ COMMITTED reads the newest committed rows per statement). On
SQLite the update, being the transaction's first statement, takes the
database's write lock at once (as BEGIN IMMEDIATE would) and other writers
wait on the busy timeout. Either way batches are serial, so two instances can
neither hand out the same turn twice, nor both take a rep's last lead under a
cap, nor route one lead twice. A batch holds the lock for milliseconds: the
decisions are computed in memory between one read and one write, and a store
whose own batch was the last one (the lock row's version tells) skips the read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, bindparam, delete, insert, select, update
from sqlalchemy import Text as SAText
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field

from connector.db import UTCDateTime, make_engine
from connector.migrations import STATE, prepare
from connector.routing.pool import Away, Ledger
from connector.state import StateModel

LOCK = "routing"
CHUNK = 500


class RoutingLock(StateModel, table=True):
    """One row whose update serialises routing batches across processes."""

    __tablename__ = "routing_lock"
    name: str = Field(primary_key=True)
    version: int = 0


class RoutingPool(StateModel, table=True):
    """One pool's smooth weighted round-robin: each rep's current weight and tally.

    One row per pool (JSON ``{rep id: [current, assigned]}``) rather than one per
    rep: a batch moves every eligible rep's weight in each pool it touches, and
    writing a few pool rows per batch instead of hundreds of rep rows is what keeps
    a batch's transaction, and so the lock, short."""

    __tablename__ = "routing_pool"
    pool: str = Field(primary_key=True)
    rotation: str = Field(default="{}", sa_column=Column(SAText, nullable=False))


class RoutingLoad(StateModel, table=True):
    """Leads each rep got in one period of their local calendar, for the caps.

    One row per period (JSON ``{rep id: count}``), for the same reason as pools."""

    __tablename__ = "routing_load"
    period: str = Field(primary_key=True)
    """"d2026-11-25" (a day) or "w2026-W48" (an ISO week)."""
    counts: str = Field(default="{}", sa_column=Column(SAText, nullable=False))


class RoutingAway(StateModel, table=True):
    """An away period set from the command line (`leadsync rep away`)."""

    __tablename__ = "routing_away"
    id: int | None = Field(default=None, primary_key=True)
    rep_id: str = Field(index=True)
    start: date | None = None
    until: date
    reason: str = ""
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RoutingAssignment(StateModel, table=True):
    """Every owner a lead was given, and why: the audit trail `explain` reads."""

    __tablename__ = "routing_assignment"
    __table_args__ = (Index("ix_routing_assignment_lead", "lead_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: str
    owner_id: str | None = None
    rule: str
    """account | territory | fallback | none."""
    territory: str | None = None
    pool: str | None = None
    reason: str = Field(sa_column=Column(SAText, nullable=False))
    warning: str | None = Field(default=None, sa_column=Column(SAText, nullable=True))
    rerouted_from: str | None = None
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


POOLS = RoutingPool.__table__  # type: ignore[attr-defined]
LOAD = RoutingLoad.__table__  # type: ignore[attr-defined]
AWAY = RoutingAway.__table__  # type: ignore[attr-defined]
HISTORY = RoutingAssignment.__table__  # type: ignore[attr-defined]
LOCKS = RoutingLock.__table__  # type: ignore[attr-defined]
HISTORY_COLUMNS = ("lead_id", "owner_id", "rule", "territory", "pool", "reason", "warning",
                   "rerouted_from", "at")


@dataclass(frozen=True, slots=True)
class Current:
    """A lead's latest assignment."""

    lead_id: str
    owner_id: str | None
    rule: str
    territory: str | None
    pool: str | None
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Cached:
    """The counters as this store's last committed batch left them."""

    version: int
    ledger: Ledger
    periods: frozenset[str]
    today: date


class Batch:
    """One locked routing transaction: read the ledger, decide in memory, save once."""

    def __init__(self, conn: Connection, version: int, cached: Cached | None) -> None:
        self.conn = conn
        self.version = version
        """The lock row's version this batch set: one more than the last batch's."""
        self._cached = cached
        self._loaded: Ledger | None = None
        self.periods: frozenset[str] = frozenset()
        self.today: date | None = None

    def ledger(self, periods: Iterable[str], today: date) -> Ledger:
        """The counters for these cap periods, every rotation, and away periods not over
        by ``today`` (UTC; a day of slack covers every time zone).

        When the previous batch on this database was this store's own (the lock's
        version moved by one since), the counters it saved are still the truth and are
        reused rather than read again: a cycle's batches then cost one read, not one
        each. Any other writer (another instance, `leadsync rep away`) moves the
        version, and the next batch reads afresh."""
        self.periods, self.today = frozenset(periods), today
        cached = self._cached
        if (cached is not None and cached.version == self.version - 1
                and self.periods <= cached.periods and cached.today == today):
            ledger = cached.ledger.copy()
            self._loaded = ledger.copy()
            return ledger
        conn = self.conn
        ledger = Ledger()
        for row in conn.execute(select(POOLS.c.pool, POOLS.c.rotation)):
            for rep_id, (current, assigned) in json.loads(row.rotation).items():
                ledger.rotation[(row.pool, rep_id)] = current
                ledger.assigned[(row.pool, rep_id)] = assigned
        wanted = sorted(self.periods)
        if wanted:
            query = select(LOAD.c.period, LOAD.c.counts).where(LOAD.c.period.in_(wanted))
            for row in conn.execute(query):
                for rep_id, count in json.loads(row.counts).items():
                    ledger.load[(rep_id, row.period)] = count
        query = select(AWAY.c.rep_id, AWAY.c.start, AWAY.c.until, AWAY.c.reason).where(
            AWAY.c.until >= today - timedelta(days=1))
        for row in conn.execute(query):
            ledger.away.setdefault(row.rep_id, []).append(
                Away(row.rep_id, row.until, row.start, row.reason))
        self._loaded = ledger.copy()
        return ledger

    def current(self, lead_ids: Iterable[str]) -> dict[str, Current]:
        """The latest assignment of each lead that has one."""
        wanted = list(dict.fromkeys(lead_ids))
        found: dict[str, Current] = {}
        h = HISTORY.c
        for start in range(0, len(wanted), CHUNK):
            query = (select(h.lead_id, h.owner_id, h.rule, h.territory, h.pool, h.reason, h.at)
                     .where(h.lead_id.in_(wanted[start:start + CHUNK])).order_by(h.id))
            for row in self.conn.execute(query):
                found[row.lead_id] = Current(*row)
        return found

    def save(self, ledger: Ledger, history: Sequence[dict[str, Any]]) -> None:
        """Write the pools and periods whose counters moved since ``ledger()``, and the
        new history rows."""
        before = self._loaded or Ledger()
        moved_pools = {key[0] for key in ledger.rotation
                       if ledger.rotation[key] != before.rotation.get(key)
                       or ledger.assigned.get(key) != before.assigned.get(key)}
        if moved_pools:
            pools: dict[str, dict[str, list[int]]] = {}
            for (pool, rep_id), current in ledger.rotation.items():
                if pool in moved_pools:
                    pools.setdefault(pool, {})[rep_id] = [
                        current, ledger.assigned.get((pool, rep_id), 0)]
            known = {pool for pool, _ in before.rotation}
            self._put(POOLS, "pool", "rotation", {
                pool: json.dumps(value, sort_keys=True) for pool, value in pools.items()}, known)
        moved_periods = {key[1] for key, count in ledger.load.items()
                         if before.load.get(key) != count}
        if moved_periods:
            counts: dict[str, dict[str, int]] = {}
            for (rep_id, period), count in ledger.load.items():
                if period in moved_periods:
                    counts.setdefault(period, {})[rep_id] = count
            known = {period for _, period in before.load}
            self._put(LOAD, "period", "counts", {
                period: json.dumps(value, sort_keys=True) for period, value in counts.items()},
                known)
        if history:
            self._insert_history(history)
        self._loaded = ledger.copy()

    def _insert_history(self, rows: Sequence[dict[str, Any]]) -> None:
        """One executemany straight to the driver: a batch writes a row per lead, and
        SQLAlchemy's per-row parameter processing cost more than the rules that chose
        the owners. The only type to convert is ``at``, to naive UTC as ``UTCDateTime``
        stores it."""
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {HISTORY.name} ({', '.join(HISTORY_COLUMNS)}) "
               f"VALUES ({', '.join([mark] * len(HISTORY_COLUMNS))})")
        values = []
        for row in rows:
            at = row["at"]
            if at.tzinfo is None:
                raise ValueError(f"naive datetime {at!r}: routing stores only aware UTC times")
            values.append((*(row[c] for c in HISTORY_COLUMNS[:-1]),
                           at.astimezone(UTC).replace(tzinfo=None)))
        self.conn.exec_driver_sql(sql, values)

    def _put(self, table: Any, key: str, column: str, values: dict[str, str],
             known: set[str]) -> None:
        """Insert new rows, update known ones: under the lock nobody else writes them."""
        inserts = [{key: k, column: v} for k, v in values.items() if k not in known]
        updates = [{"k": k, "v": v} for k, v in values.items() if k in known]
        if inserts:
            self.conn.execute(insert(table), inserts)
        if updates:
            self.conn.execute(update(table).where(table.c[key] == bindparam("k"))
                              .values({column: bindparam("v")}), updates)


class RoutingStore:
    """Routing's tables in the state database, and the lock that serialises batches."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self._cached: Cached | None = None
        prepare(engine, STATE)
        with engine.connect() as conn:
            if conn.execute(select(LOCKS.c.name).where(LOCKS.c.name == LOCK)).first() is None:
                try:
                    conn.execute(insert(LOCKS).values(name=LOCK, version=0))
                    conn.commit()
                except IntegrityError:  # another instance created it first
                    conn.rollback()

    @classmethod
    def from_url(cls, url: str) -> RoutingStore:
        return cls(make_engine(url), owns_engine=True)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    @contextmanager
    def batch(self, *, dry_run: bool = False) -> Iterator[Batch]:
        """A locked transaction; committed at the end unless ``dry_run`` (then rolled back,
        so a dry run decides exactly as a real one would and moves nothing)."""
        with self.engine.connect() as conn:
            version = self._bump(conn)
            batch = Batch(conn, version, self._cached)
            try:
                yield batch
            except BaseException:
                conn.rollback()
                self._cached = None
                raise
            if dry_run:
                conn.rollback()  # the version goes back too: the cache stays valid
                return
            conn.commit()
            if batch._loaded is not None and batch.today is not None:
                self._cached = Cached(version, batch._loaded, batch.periods, batch.today)

    @staticmethod
    def _bump(conn: Connection) -> int:
        """Take the routing lock (held to the end of the transaction) and move its version."""
        conn.execute(update(LOCKS).where(LOCKS.c.name == LOCK)
                     .values(version=LOCKS.c.version + 1))
        return int(conn.execute(select(LOCKS.c.version).where(LOCKS.c.name == LOCK))
                   .scalar_one())

    # away periods -------------------------------------------------------------------
    def set_away(self, rep_id: str, until: date, *, start: date | None = None,
                 reason: str = "", at: datetime) -> None:
        with self.engine.begin() as conn:
            self._bump(conn)  # batches cached before this must read the new period
            conn.execute(insert(AWAY).values(rep_id=rep_id, start=start, until=until,
                                             reason=reason, set_at=at))

    def clear_away(self, rep_id: str) -> int:
        """Forget every away period set for the rep from the command line."""
        with self.engine.begin() as conn:
            self._bump(conn)
            return conn.execute(delete(AWAY).where(AWAY.c.rep_id == rep_id)).rowcount

    def away(self, *, since: date | None = None) -> list[Away]:
        """Away periods set from the command line, those not over before ``since``."""
        query = select(AWAY.c.rep_id, AWAY.c.until, AWAY.c.start, AWAY.c.reason)
        if since is not None:
            query = query.where(AWAY.c.until >= since)
        with self.engine.connect() as conn:
            return [Away(*row) for row in conn.execute(query.order_by(AWAY.c.id))]

    # reading ------------------------------------------------------------------------
    def history(self, lead_id: str) -> list[RoutingAssignment]:
        """Every assignment of the lead, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(HISTORY).where(HISTORY.c.lead_id == lead_id)
                                .order_by(HISTORY.c.id))
            return [RoutingAssignment(**row._mapping) for row in rows]

    def current(self, lead_ids: Iterable[str]) -> dict[str, Current]:
        """The latest assignment of each lead that has one, read without the lock: for
        the reason a mapped ``routing_reason`` field holds, not for deciding."""
        with self.engine.connect() as conn:
            return Batch(conn, 0, None).current(lead_ids)

    def loads(self, periods: Iterable[str]) -> dict[tuple[str, str], int]:
        """(rep id, period) → leads, for these periods."""
        wanted = sorted(set(periods))
        with self.engine.connect() as conn:
            rows = conn.execute(select(LOAD.c.period, LOAD.c.counts)
                                .where(LOAD.c.period.in_(wanted)))
            return {(rep_id, row.period): count for row in rows
                    for rep_id, count in json.loads(row.counts).items()}

    def rotation(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(pool, rep id) → (current weight, leads assigned), for tests and `rep list`."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(POOLS.c.pool, POOLS.c.rotation))
            return {(row.pool, rep_id): (current, assigned) for row in rows
                    for rep_id, (current, assigned) in json.loads(row.rotation).items()}


__all__ = ["Batch", "Current", "RoutingAssignment", "RoutingAway", "RoutingLoad",
           "RoutingPool", "RoutingStore"]

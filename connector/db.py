"""Database plumbing shared by the state store and the embedded marketing store.

SQLite by default, PostgreSQL by URL. Timestamps are stored as naive UTC and
handed back timezone-aware, because SQLite keeps no zone and a cursor that
compares naive with aware datetimes is a cursor that loses records.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Session, col, create_engine, select


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: leadsync stores only aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


IDS_PER_QUERY = 500
"""Primary keys per ``IN`` list (SQLite allows 32,766 parameters; PostgreSQL 65,535)."""


def rows_by_id(session: Session, model: Any, ids: Iterable[Any]) -> dict[Any, Any]:
    """Rows of a table by primary key (``model.id``), a query per 500 ids: a
    ``session.get`` per row costs a round trip and an autoflush each."""
    wanted = sorted(set(ids))
    found: dict[Any, Any] = {}
    for start in range(0, len(wanted), IDS_PER_QUERY):
        chunk = wanted[start:start + IDS_PER_QUERY]
        found.update((row.id, row) for row in session.exec(
            select(model).where(col(model.id).in_(chunk))))
    return found


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def make_engine(url: str) -> Engine:
    """The engine for ``url``: one per database for the life of the process (the
    daemon's runs, the console's pages), not one per store opened. SQLAlchemy keeps
    compiled statements per engine's dialect for as long as the process lives: an
    engine a run made some 1.5 MB more each run (bench/soak.py). Closing a store
    empties the engine's pool, so no connection outlives it; an in-memory database is
    its own engine each time (it is gone with its last connection)."""
    if url.startswith("sqlite://") and url.rstrip("/") in ("sqlite:", "sqlite:///:memory:"):
        return _new_engine(url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _new_engine(url)
        return engine


def _new_engine(url: str) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file if needed."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # psycopg 3 is what we install; SQLAlchemy's bare "postgresql" means psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(parsed, pool_pre_ping=True)


def read_only_engine(url: str) -> Engine:
    """An engine on ``url`` that cannot write: SQLite's ``query_only``, a PostgreSQL
    session whose transactions are read-only. A write below would refuse with the
    database's own error, not land. Not kept: the caller disposes it."""
    engine = _new_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:  # after _pragmas: in order
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA query_only = ON" if sqlite
                       else "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        if not sqlite:
            dbapi_conn.commit()

    return engine


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (a resolved one: ``Config.resolve_url``); None for
    another database or one in memory."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def add_new_columns(metadata: MetaData, connection: Connection) -> list[str]:
    """Columns of ``metadata`` an existing table lacks, added in place; returns them
    as ``table.column``.

    What leadsync did at every start before its schema had migrations, kept for
    adopting such a database (``connector.migrations``): only additive changes
    are made (a column with its default), so its links and cursors are kept.
    """
    added = []
    for name, sql in new_column_ddl(metadata, connection):
        connection.execute(text(sql))
        added.append(name)
    return added


def new_column_ddl(metadata: MetaData, connection: Connection) -> list[tuple[str, str]]:
    """``(table.column, ALTER TABLE statement)`` for each column ``add_new_columns`` adds."""
    inspector = inspect(connection)
    statements = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            default = getattr(column.default, "arg", None)
            kind = column.type.compile(dialect=connection.dialect)
            sql = f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
            if isinstance(default, bool):
                sql += f" DEFAULT {'TRUE' if default else 'FALSE'} NOT NULL"
            elif isinstance(default, (int, float)):
                sql += f" DEFAULT {default} NOT NULL"
            elif isinstance(default, str):
                sql += " DEFAULT '" + default.replace("'", "''") + "' NOT NULL"
            statements.append((f"{table.name}.{column.name}", sql))
    return statements


class HeldLock:
    """A named lock as held (or not): true while held; ``alive()`` asks whether it
    still is. A PostgreSQL advisory lock lives as long as its session: if that
    connection dies (a cut TCP link, a server restart), the lock is gone and
    another instance may take it, so a run asks before each write."""

    def __init__(self, held: bool, probe: Any = None) -> None:
        self.held = held
        self._probe = probe

    def __bool__(self) -> bool:
        return self.held

    def alive(self) -> bool:
        if not self.held or self._probe is None:
            return self.held
        try:
            return bool(self._probe())
        except Exception:  # any driver error: the session, and so the lock, is gone
            return False


@contextmanager
def named_lock(engine: Engine, name: str, *, wait: bool) -> Iterator[HeldLock]:
    """A lock named ``name`` shared by every process using this database.

    PostgreSQL: a session advisory lock, released by the server even if the
    process dies. SQLite lives on one machine: an OS lock on a file beside the
    database. Yields whether the lock is held: False only when ``wait`` is off
    and another process has it. In-memory databases need no lock.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # advisory locks are the database's: two stores in two schemas of one database
            # (two pipelines, two deployments) each need their own (public keeps the key
            # of earlier versions, so old and new instances still exclude each other)
            schema = conn.execute(text("select current_schema()")).scalar()
            scope = name if schema in (None, "public") else f"{schema}:{name}"
            key = int.from_bytes(hashlib.sha256(f"leadsync:{scope}".encode()).digest()[:8],
                                 "big", signed=True)
            if wait:
                conn.execute(text("select pg_advisory_lock(:k)"), {"k": key})
                held = True
            else:
                held = bool(conn.execute(text("select pg_try_advisory_lock(:k)"),
                                         {"k": key}).scalar())
            conn.commit()

            def probe() -> bool:  # is this session still the one holding the lock?
                found = conn.execute(text(
                    "select count(*) from pg_locks where locktype = 'advisory' and granted "
                    "and pid = pg_backend_pid() and ((classid::bigint << 32) | objid::bigint)"
                    " = (:k)::bigint"), {"k": key}).scalar()
                conn.commit()
                return bool(found)

            try:
                yield HeldLock(held, probe)
            finally:
                if held:
                    with suppress(Exception):  # a dead session released it already
                        conn.execute(text("select pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield HeldLock(True)
        return
    with Path(f"{database}.{name}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield HeldLock(False)
            return
        try:
            yield HeldLock(True)  # an OS lock on this machine: gone only with the process
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)

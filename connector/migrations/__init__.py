"""Schema migrations: the state database and the embedded marketing store, upgradable.

Each store is an Alembic environment of its own in this package (``state/``,
``marketing/``: an ``env.py`` and ``versions/``), configured here in code, so an
installed leadsync needs no alembic.ini. Each keeps its revision in its own
table (``alembic_version_state``, ``alembic_version_marketing``): the two stores
may share one database (one PostgreSQL for both) and are upgraded each on its own.

When a store opens its database (``prepare``) it finds one of three things:

- nothing of the store: a new database, made by the migrations from the first
  revision to head, so a new install runs with one command. The migrations and
  not ``create_all``: one way to a schema, so what every install runs is what
  the upgrade tests run, and a fresh database cannot differ from an upgraded one;
- the store at head: used as it is;
- anything else: an older revision, a database from before migrations (tables,
  no version table), or a revision this leadsync does not know (a newer one
  upgraded it). That is ``SchemaOutOfDate``, naming ``leadsync migrate``:
  nothing changes a schema behind the admin's back, in the middle of a schedule,
  while another instance may be running on the same database.

``upgrade`` (``leadsync migrate``) takes a database to head; one from before
migrations is adopted first: what ``add_new_columns`` would have added is added,
the tables an older leadsync had not made yet are made, and it is stamped as the
first revision, the schema released before migrations existed.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeDecorator

from connector.config import SettingError
from connector.db import add_new_columns, make_engine, named_lock, new_column_ddl, redacted

HERE = Path(__file__).resolve().parent
log = structlog.get_logger("leadsync.migrations")


@dataclass(frozen=True)
class Schema:
    """One store's migrations: where its scripts are, which table holds its revision."""

    name: str
    what: str
    """How messages name the database: "state database", "marketing store"."""
    setting: str
    """The config.toml key of its URL."""
    location: Path = field(default=HERE)
    """The folder holding ``<name>/env.py`` and ``<name>/versions/`` (tests use a copy)."""

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    @property
    def folder(self) -> Path:
        return self.location / self.name

    def config(self, **attributes: Any) -> AlembicConfig:
        """Alembic's configuration, in code: ``attributes`` reach env.py (the connection,
        the metadata to compare with)."""
        cfg = AlembicConfig(output_buffer=attributes.pop("output", None))
        cfg.set_main_option("script_location", str(self.folder))
        cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        cfg.attributes.update(schema=self, **attributes)
        return cfg

    @property
    def scripts(self) -> ScriptDirectory:
        return _scripts(self)

    def head(self) -> str:
        head = self.scripts.get_current_head()
        assert head is not None, f"no revisions in {self.folder}"
        return head

    def baseline(self) -> str:
        """The first revision: the schema as released before migrations existed."""
        base = self.scripts.get_base()
        assert base is not None, f"no revisions in {self.folder}"
        return base

    def baseline_schema(self) -> MetaData:
        """The first revision's tables, as that revision defines them (frozen there)."""
        module = self.scripts.get_revision(self.baseline()).module  # type: ignore[union-attr]
        return module.schema()  # type: ignore[no-any-return]

    def knows(self, revision: str) -> bool:
        return any(script.revision == revision for script in self.scripts.walk_revisions())


@cache
def _scripts(schema: Schema) -> ScriptDirectory:
    """Read once a process: the revision files do not change under a running leadsync."""
    return ScriptDirectory.from_config(schema.config())


STATE = Schema("state", "state database", "state.url")
MARKETING = Schema("marketing", "marketing store", "marketing.url")


class SchemaOutOfDate(SettingError):
    """The database's schema is not the one this leadsync needs: ``leadsync migrate``
    (or a newer leadsync) is the way on. A setting error, as a database that cannot
    be opened is: it names the setting, and ``leadsync check`` reports it as one."""

    def __init__(self, schema: Schema, message: str) -> None:
        super().__init__(message, key=schema.setting, detail=message)
        self.schema = schema


@dataclass(frozen=True)
class Found:
    """What a database holds of one store."""

    revision: str | None
    """Its revision, None without a version table."""
    tables: frozenset[str]
    """The store's first-revision tables present (the mark of a database from before)."""

    @property
    def new(self) -> bool:
        return self.revision is None and not self.tables


def found(connection: Connection, schema: Schema) -> Found:
    context = MigrationContext.configure(connection,
                                         opts={"version_table": schema.version_table})
    present = set(inspect(connection).get_table_names())
    return Found(context.get_current_revision(),
                 frozenset(present & set(schema.baseline_schema().tables)))


def _cut_off(connection: Connection, schema: Schema, have: Found) -> bool:
    """A new database whose making was cut off (kill -9 at the first start: SQLite's
    driver runs DDL outside the transaction, so the tables made so far stay): no
    revision, some of the first revision's tables but not all, and not a row in them.
    A database from before migrations has them all, and is adopted, never dropped."""
    if have.revision is not None or not have.tables \
            or have.tables >= set(schema.baseline_schema().tables):
        return False
    return all(connection.exec_driver_sql(f'SELECT 1 FROM "{name}" LIMIT 1').first() is None
               for name in have.tables)


def out_of_date(schema: Schema, url: str, have: Found) -> SchemaOutOfDate | None:
    """Why a store cannot use this database as it is, or None when it can."""
    where = f"the {schema.what} {redacted(url)}"
    head = schema.head()
    if have.revision == head or have.new:
        return None
    if have.revision is None:
        onward = f" and upgrade it to {head}" if head != schema.baseline() else ""
        return SchemaOutOfDate(schema, f"{where} was made by a leadsync from before schema "
                                       f"migrations: run `leadsync migrate` to adopt it{onward} "
                                       "(back the database up first)")
    if not schema.knows(have.revision):
        return SchemaOutOfDate(schema, f"{where} is at schema revision {have.revision}, which "
                                       "this leadsync does not know: a newer leadsync upgraded "
                                       f"it (this one's newest is {head}); run that version")
    return SchemaOutOfDate(schema, f"{where} is at schema revision {have.revision}, behind "
                                   f"this leadsync's {head}: run `leadsync migrate` (back the "
                                   "database up first)")


ALEMBIC = threading.RLock()
"""Alembic's commands install module-level proxies (``alembic.context``, ``alembic.op``)
and remove them after: two at once in one process (the daemon's pipelines opening new
databases on their own threads) undo each other's. One at a time."""
_READY: WeakKeyDictionary[Engine, set[Schema]] = WeakKeyDictionary()
"""Engines whose database was found at head, per store: asked once, not at every open
(the routing, SLA and index stores open the state database's engine again)."""


def prepare(engine: Engine, schema: Schema) -> None:
    """A store opening its database: a new one is made (through the migrations), one at
    head is used, any other raises ``SchemaOutOfDate``. Several instances starting at
    once on a new database make it once (a lock)."""
    ready = _READY.setdefault(engine, set())
    if schema in ready:
        return
    with named_lock(engine, "ddl", wait=True), engine.begin() as connection:
        have = found(connection, schema)
        if _cut_off(connection, schema, have):  # made again from the start
            log.warning("a new database's making was cut off; made again", what=schema.what)
            for name in [t.name for t in reversed(schema.baseline_schema().sorted_tables)
                         if t.name in have.tables] + [schema.version_table]:
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
            have = found(connection, schema)
        if have.new:
            with ALEMBIC:
                command.upgrade(schema.config(connection=connection), "head")
        elif (problem := out_of_date(schema, str(engine.url), have)) is not None:
            raise problem
    ready.add(schema)


def forget(engine: Engine) -> None:
    """The database behind ``engine`` changed (dropped, migrated): ask it again."""
    _READY.pop(engine, None)


def drop(engine: Engine, schema: Schema, metadata: MetaData) -> None:
    """For tests: the store's tables and its version table gone, as a new database."""
    metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {schema.version_table}")
    forget(engine)


@dataclass(frozen=True)
class Migrated:
    """What ``upgrade`` did to one store's database, as ``leadsync migrate`` says it."""

    schema: Schema
    database: str
    """The URL, password hidden."""
    before: str | None
    """The revision found; None for a new database or one from before migrations."""
    after: str
    how: str
    """created | adopted | upgraded | current"""
    added: tuple[str, ...] = ()
    """Adopting: what an older leadsync had not made yet ("table sla_clock",
    "column link.protected")."""
    sql: str | None = None
    """With ``sql=True``: the statements, not run."""

    def __str__(self) -> str:
        where = f"{self.schema.what} {self.database}"
        verb = "would be " if self.sql is not None else ""
        if self.how == "current":
            return f"{where}: at {self.after} (head), nothing to do"
        if self.how == "created":
            return f"{where}: new, {verb}created at {self.after} (head)"
        if self.how == "adopted":
            extra = f", adding {', '.join(self.added)}" if self.added else ""
            baseline = self.schema.baseline()
            onward = f", then upgraded {baseline} → {self.after} (head)" \
                if self.after != baseline else " (head)"
            return (f"{where}: made before schema migrations, {verb}adopted as "
                    f"{baseline}{extra}{onward}")
        return f"{where}: {verb}upgraded {self.before} → {self.after} (head)"


def upgrade(url: str, schema: Schema, *, sql: bool = False) -> Migrated:
    """Take ``url``'s database to head (``leadsync migrate``); at head already, nothing.

    ``sql``: change nothing and return the statements a DBA would run instead. A
    database from before migrations is read for what it lacks, so the statements
    fit that database.
    """
    engine = make_engine(url)
    try:
        with ALEMBIC, named_lock(engine, "ddl", wait=True), engine.begin() as connection:
            have = found(connection, schema)
            if have.revision is not None and not schema.knows(have.revision):
                newer = out_of_date(schema, url, have)  # a newer leadsync's: never downgraded
                assert newer is not None
                raise newer
            head = schema.head()
            done = partial(Migrated, schema, redacted(url), have.revision, head)
            if have.revision == head:
                return done("current")
            if sql:
                return _offline(connection, schema, have, done)
            if have.new:
                command.upgrade(schema.config(connection=connection), "head")
                return done("created")
            if have.revision is None:
                added = adopt(connection, schema)
                command.upgrade(schema.config(connection=connection), "head")
                return done("adopted", added=tuple(added))
            command.upgrade(schema.config(connection=connection), "head")
            return done("upgraded")
    finally:
        forget(engine)
        engine.dispose()


def adopt(connection: Connection, schema: Schema) -> list[str]:
    """A database from before migrations, made the first revision: its missing tables
    created, its missing columns added (as the stop-gap did at every start), stamped."""
    baseline = schema.baseline_schema()
    present = set(inspect(connection).get_table_names())
    missing = [t for t in baseline.sorted_tables if t.name not in present]
    added = add_new_columns(baseline, connection)
    baseline.create_all(connection, tables=missing)
    command.stamp(schema.config(connection=connection), schema.baseline())
    return [f"table {t.name}" for t in missing] + [f"column {name}" for name in added]


def _offline(connection: Connection, schema: Schema, have: Found,
             done: Callable[..., Migrated]) -> Migrated:
    """``leadsync migrate --sql``: the statements, rendered for this database's dialect."""
    output = io.StringIO()
    dialect = connection.dialect

    def offline() -> AlembicConfig:
        return schema.config(output=output, dialect_name=dialect.name)

    if have.new:
        command.upgrade(offline(), "head", sql=True)
        return done("created", sql=output.getvalue())
    if have.revision is None:
        baseline = schema.baseline_schema()
        present = set(inspect(connection).get_table_names())
        missing = [t for t in baseline.sorted_tables if t.name not in present]
        columns = new_column_ddl(baseline, connection)
        output.write(f"-- adopting a {schema.what} made before schema migrations\n\n")
        for _, statement in columns:
            output.write(f"{statement};\n\n")
        for table in missing:
            output.write(f"{str(CreateTable(table).compile(dialect=dialect)).strip()};\n\n")
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                output.write(f"{CreateIndex(index).compile(dialect=dialect)};\n\n")
        command.stamp(offline(), schema.baseline(), sql=True)
        if schema.head() != schema.baseline():
            command.upgrade(offline(), f"{schema.baseline()}:head", sql=True)
        added = [f"table {t.name}" for t in missing] + [f"column {n}" for n, _ in columns]
        return done("adopted", added=tuple(added), sql=output.getvalue())
    command.upgrade(offline(), f"{have.revision}:head", sql=True)
    return done("upgraded", sql=output.getvalue())


# --- for env.py, and for whoever changes a model ------------------------------------------------

def run_env() -> None:
    """What each store's env.py runs: the migrations on the connection the caller
    handed over (``prepare``, ``upgrade``), or offline for ``--sql``."""
    from alembic import context

    cfg = context.config
    schema: Schema = cfg.attributes["schema"]
    options: dict[str, Any] = {
        "version_table": schema.version_table,
        "target_metadata": cfg.attributes.get("target_metadata"),
        "include_name": _only(schema),
        "compare_type": True,
        "render_as_batch": True,  # SQLite alters a table by copying it: autogenerate says so
        "render_item": _frozen_type,
    }
    if context.is_offline_mode():
        context.configure(dialect_name=cfg.attributes["dialect_name"], literal_binds=True,
                          **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    with _connection(cfg) as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


@contextmanager
def _connection(cfg: AlembicConfig) -> Iterator[Connection]:
    given = cfg.attributes.get("connection")
    if given is not None:
        yield given
        return
    url = cfg.get_main_option("sqlalchemy.url")  # the alembic command line, with an ini
    if not url:
        raise RuntimeError("no connection: run migrations through `leadsync migrate`")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _frozen_type(kind: str, value: Any, autogen: Any) -> str | bool:
    """A revision names SQLAlchemy's own types, never leadsync's or SQLModel's: the
    column of ``UTCDateTime`` is a ``DateTime``, of ``AutoString`` a ``String``, and
    the revision stays right when those classes change or go."""
    if kind == "type" and isinstance(value, TypeDecorator):
        return f"sa.{value.impl_instance!r}"
    return False


def _only(schema: Schema) -> Callable[[str | None, str, Any], bool]:
    """Autogenerate looks at this store's tables: not at version tables, nor at the
    other store's when both share a database."""
    others = {name for other in (STATE, MARKETING) if other.name != schema.name
              for name in other.baseline_schema().tables}

    def include(name: str | None, kind: str, parents: Any) -> bool:
        if kind != "table" or name is None:
            return True
        return not name.startswith("alembic_version") and name not in others

    return include


def differences(connection: Connection, schema: Schema, metadata: MetaData) -> list[Any]:
    """What ``metadata`` (the models) has that the database does not, in autogenerate's
    terms; empty when the revisions describe the models. A model changed without a
    revision shows up here (tests/state/test_migrations.py)."""
    context = MigrationContext.configure(connection, opts={
        "version_table": schema.version_table, "compare_type": True,
        "include_name": _only(schema), "target_metadata": metadata})
    return list(compare_metadata(context, metadata))


def new_revision(schema: Schema, message: str, metadata: MetaData) -> Path:
    """Write the next revision: what ``metadata`` has that head lacks, as autogenerate
    sees it on a scratch SQLite database at head. Read it before committing it:
    autogenerate takes a rename for a drop and an add, and knows nothing of data."""
    head = schema.head()
    rev_id = f"{int(head) + 1:04d}" if head.isdigit() else None
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/scratch.db")
        try:
            with ALEMBIC, engine.begin() as connection:
                command.upgrade(schema.config(connection=connection), "head")
                script = command.revision(
                    schema.config(connection=connection, target_metadata=metadata),
                    message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    _scripts.cache_clear()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)

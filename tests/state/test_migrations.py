"""Schema migrations on SQLite and PostgreSQL: from the first released schema up.

"Released" is leadsync 48a6a93, the last version without migrations; its tables,
as its own ``create_tables`` made them, are the DDL in ``fixtures/`` (dumped
from SQLite and by pg_dump). A database is compared with another by what
SQLAlchemy's inspector reads back: tables, columns, keys, indexes.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Column, MetaData, String, inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from bench.kill import drop_schema, pg_schema_url
from connector import migrations
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.cli import app
from connector.db import make_engine, redacted
from connector.migrations import MARKETING, STATE, Schema, SchemaOutOfDate
from connector.state import StateStore
from connector.wiring import models, open_state

FIXTURES = Path(__file__).with_name("fixtures")
WRITE_ONE = ('.venv/bin/python -c "from connector.wiring import write_revision; '
             "print(write_revision('{store}', 'what changed'))\"")


# --- helpers ----------------------------------------------------------------------------------

@pytest.fixture
def other_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database of ``db_url``'s kind (PostgreSQL: a schema of its own)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/other.db"
        return
    schema, url = pg_schema_url()
    yield url
    drop_schema(schema)


def shape(url: str) -> dict[str, Any]:
    """Every table but the version tables, as the inspector reads it (columns unordered:
    a column added to an old table comes last, and that is no difference)."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {name: {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"])
                              for c in inspector.get_columns(name)),
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(name)),
            "unique": sorted(tuple(u["column_names"])
                             for u in inspector.get_unique_constraints(name)),
            "foreign keys": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                    tuple(f["referred_columns"]))
                                   for f in inspector.get_foreign_keys(name)),
        } for name in sorted(inspector.get_table_names()) if not name.startswith("alembic_")}
    finally:
        engine.dispose()


def revision(url: str, schema: Schema) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return migrations.found(conn, schema).revision
    finally:
        engine.dispose()


def columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def run_sql(url: str, sql: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.connection.driver_connection.executescript(sql)  # type: ignore[union-attr]
            else:
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def before_migrations(url: str, schema: Schema) -> None:
    """The store's tables as the released leadsync made them: no version table."""
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    run_sql(url, (FIXTURES / f"before-migrations-{schema.name}.{dialect}.sql").read_text())


def models_made(url: str, schema: Schema) -> dict[str, Any]:
    """What ``create_all`` of today's models makes: the schema the code expects."""
    engine = make_engine(url)
    try:
        models(schema).create_all(engine)
    finally:
        engine.dispose()
    return shape(url)


def at_revision(url: str, schema: Schema, rev: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(schema.config(connection=conn), rev)
    finally:
        engine.dispose()


def with_password(url: str) -> str:
    """A PostgreSQL URL carrying a password (trust authentication lets it in all the
    same), to see it hidden; a SQLite URL as it is."""
    if url.startswith("sqlite"):
        return url
    return make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)


NOTE_REVISION = '''"""link.note: a throwaway revision, for the upgrade path.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("note", sa.String(), nullable=True))
        batch.create_index("ix_link_note", ["note"])


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_index("ix_link_note")
        batch.drop_column("note")
'''


@pytest.fixture
def newer(tmp_path: Path) -> Schema:
    """The state migrations of a leadsync one revision newer: a copy with 0002 added."""
    shutil.copytree(STATE.folder, tmp_path / "newer" / "state",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "newer" / "state" / "versions" / "0002_link_note.py").write_text(NOTE_REVISION)
    return Schema("state", "state database", "state.url", location=tmp_path / "newer")


# --- a new database -----------------------------------------------------------------------------

@pytest.mark.parametrize("schema", [STATE, MARKETING], ids=["state", "marketing"])
def test_a_new_database_is_made_by_the_migrations_as_the_models_say(
        db_url: str, other_url: str, schema: Schema) -> None:
    store = (StateStore if schema is STATE else EmbeddedMarketingStore)(db_url)
    store.close()
    assert revision(db_url, schema) == schema.head()
    assert shape(db_url) == models_made(other_url, schema)


def test_the_first_revision_is_the_released_schema(db_url: str, other_url: str) -> None:
    """Revision 0001, made from nothing, is table for table what the release made."""
    for schema in (STATE, MARKETING):
        at_revision(db_url, schema, schema.baseline())
        before_migrations(other_url, schema)
    assert shape(db_url) == shape(other_url)


@pytest.mark.parametrize("schema", [STATE, MARKETING], ids=["state", "marketing"])
@pytest.mark.parametrize("start", ["at the first revision", "before migrations"])
def test_the_released_schema_upgraded_to_head_is_a_new_database(
        db_url: str, other_url: str, schema: Schema, start: str) -> None:
    if start == "before migrations":
        before_migrations(db_url, schema)
    else:
        at_revision(db_url, schema, schema.baseline())
    done = migrations.upgrade(db_url, schema)
    assert (done.how, done.after) == ("adopted" if start == "before migrations" else
                                      "upgraded" if schema.head() != schema.baseline()
                                      else "current", schema.head())
    assert revision(db_url, schema) == schema.head()
    assert shape(db_url) == models_made(other_url, schema)


def test_several_instances_starting_at_once_make_it_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            StateStore(db_url).close()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert revision(db_url, STATE) == STATE.head()


def test_both_stores_in_one_database_keep_their_own_revision(db_url: str) -> None:
    StateStore(db_url).close()
    EmbeddedMarketingStore(db_url).close()
    engine = make_engine(db_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert {"alembic_version_state", "alembic_version_marketing", "link",
                "mk_lead"} <= names
        with engine.connect() as conn:  # neither store takes the other's tables for its own
            for schema in (STATE, MARKETING):
                assert migrations.differences(conn, schema, models(schema)) == []
    finally:
        engine.dispose()


# --- a database from before migrations ----------------------------------------------------------

def test_a_database_from_before_migrations_is_refused_then_adopted_with_its_data(
        db_url: str, other_url: str) -> None:
    """An older release still: no SLA clocks yet, no ``link.protected``; as the stop-gap
    did at every start, ``leadsync migrate`` adds them, and keeps what was there."""
    before_migrations(db_url, STATE)
    run_sql(db_url, "DROP TABLE sla_clock; ALTER TABLE link DROP COLUMN protected;"
                    "INSERT INTO link (marketing_id, crm, crm_object, crm_id, external_id, "
                    "converted, field_hashes, created_at, updated_at) VALUES ('7', 'salesforce',"
                    " 'Lead', '00Q7', '7', false, '{}', '2026-11-01 00:00:00', "
                    "'2026-11-01 00:00:00')")
    url = with_password(db_url)
    with pytest.raises(SchemaOutOfDate) as refused:
        StateStore(url)
    message = str(refused.value)
    assert "from before schema migrations" in message and "`leadsync migrate`" in message
    assert "s3cret-pw" not in message
    assert redacted(url) in message
    assert revision(db_url, STATE) is None  # refused means untouched

    done = migrations.upgrade(url, STATE)
    assert done.how == "adopted" and done.before is None and done.after == STATE.head()
    assert set(done.added) == {"table sla_clock", "column link.protected"}
    assert "made before schema migrations, adopted as 0001" in str(done)
    assert "s3cret-pw" not in str(done)

    store = StateStore(db_url)
    link = store.links("salesforce", "Lead", ["7"])["7"]
    assert (link.crm_id, link.protected) == ("00Q7", False)
    store.close()
    assert shape(db_url) == models_made(other_url, STATE)


def test_adopting_says_what_it_would_do_with_sql_and_does_nothing(db_url: str) -> None:
    before_migrations(db_url, STATE)
    run_sql(db_url, "ALTER TABLE link DROP COLUMN protected")
    done = migrations.upgrade(db_url, STATE, sql=True)
    assert done.how == "adopted" and done.sql is not None
    assert 'ALTER TABLE "link" ADD COLUMN "protected"' in done.sql
    assert "INSERT INTO alembic_version_state" in done.sql
    assert revision(db_url, STATE) is None
    assert "protected" not in columns(db_url, "link")


# --- a database behind the code ---------------------------------------------------------------

def test_a_database_behind_head_is_a_clear_error_then_upgraded_once(
        db_url: str, newer: Schema) -> None:
    StateStore(db_url).close()  # made by this leadsync: 0001
    url = with_password(db_url)
    engine = make_engine(url)
    with pytest.raises(SchemaOutOfDate) as behind:
        migrations.prepare(engine, newer)
    engine.dispose()
    message = str(behind.value)
    assert "is at schema revision 0001, behind this leadsync's 0002" in message
    assert "`leadsync migrate`" in message and redacted(url) in message
    assert "s3cret-pw" not in message and behind.value.key == "state.url"

    planned = migrations.upgrade(url, newer, sql=True)
    assert planned.sql is not None and "UPDATE alembic_version_state" in planned.sql
    assert "note" in planned.sql and revision(db_url, newer) == "0001"

    done = migrations.upgrade(url, newer)
    assert (done.how, done.before, done.after) == ("upgraded", "0001", "0002")
    assert str(done).endswith("upgraded 0001 → 0002 (head)")
    again = migrations.upgrade(url, newer)
    assert (again.how, again.before, again.after) == ("current", "0002", "0002")
    assert str(again).endswith("at 0002 (head), nothing to do")

    engine = make_engine(db_url)
    migrations.prepare(engine, newer)  # at head now: opens
    assert "ix_link_note" in {i["name"] for i in inspect(engine).get_indexes("link")}
    engine.dispose()


def test_a_database_from_before_migrations_is_adopted_then_upgraded(
        db_url: str, newer: Schema) -> None:
    before_migrations(db_url, STATE)
    done = migrations.upgrade(db_url, newer)
    assert (done.how, done.after) == ("adopted", "0002")
    assert str(done).endswith("adopted as 0001, then upgraded 0001 → 0002 (head)")
    assert "note" in columns(db_url, "link")


def test_a_database_a_newer_leadsync_upgraded_is_refused_not_downgraded(db_url: str,
                                                                           newer: Schema) -> None:
    migrations.upgrade(db_url, newer)  # 0002, which this leadsync does not know
    with pytest.raises(SchemaOutOfDate, match="which this leadsync does not know"):
        StateStore(db_url)
    with pytest.raises(SchemaOutOfDate, match="run that version"):
        migrations.upgrade(db_url, STATE)
    assert revision(db_url, STATE) == "0002"


# --- the command ---------------------------------------------------------------------------------

def test_leadsync_migrate_from_the_error_to_a_run(db_url: str, make_config: Any) -> None:
    """The admin's way: the run refuses naming the setting and the command; the command
    adopts both stores and says so; twice is nothing; the run goes on."""
    config = make_config(state_url=db_url, marketing_url=db_url)
    for schema in (STATE, MARKETING):
        before_migrations(db_url, schema)
    path = str(config.source)
    runner = CliRunner()

    refused = runner.invoke(app, ["sync", "--once", "-c", path])
    assert refused.exit_code == 1
    assert f"state.url (line {config.line('state', 'url')}): the state database" \
        in refused.output
    assert "`leadsync migrate`" in refused.output

    first = runner.invoke(app, ["migrate", "-c", path])
    assert first.exit_code == 0, first.output
    assert first.output.count("made before schema migrations, adopted as 0001") == 2
    assert "state database" in first.output and "marketing store" in first.output
    second = runner.invoke(app, ["migrate", "-c", path])
    assert second.exit_code == 0 and second.output.count("nothing to do") == 2

    ran = runner.invoke(app, ["sync", "--once", "-c", path])
    assert ran.exit_code == 0, ran.output
    open_state(config).close()


def test_leadsync_migrate_sql_prints_sql_only(make_config: Any) -> None:
    config = make_config()
    result = CliRunner().invoke(app, ["migrate", "--sql", "-c", str(config.source)])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE link" in result.output and "CREATE TABLE mk_lead" in result.output
    assert all(line.startswith("-- ") for line in result.output.splitlines()
               if "would be created" in line)
    assert revision(config.resolve_url(config.state.url), STATE) is None


# --- the models and the revisions --------------------------------------------------------------

@pytest.mark.parametrize("schema", [STATE, MARKETING], ids=["state", "marketing"])
def test_every_model_change_has_its_revision(db_url: str, schema: Schema) -> None:
    """A model changed (a column, a table, an index, a type) without a revision: the
    database the migrations make is not the one the code expects. Write one:
    the command in the failure message, then read what it wrote."""
    migrations.upgrade(db_url, schema)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = migrations.differences(conn, schema, models(schema))
    finally:
        engine.dispose()
    assert diff == [], (f"the {schema.what}'s models differ from its migrations' head: "
                        f"write a revision with {WRITE_ONE.format(store=schema.name)}\n{diff}")


def test_the_model_check_sees_a_new_column(db_url: str) -> None:
    changed = MetaData()
    for table in models(STATE).tables.values():
        table.to_metadata(changed)
    changed.tables["link"].append_column(Column("note", String(), nullable=True))
    migrations.upgrade(db_url, STATE)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = migrations.differences(conn, STATE, changed)
    engine.dispose()
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "note")]


def test_a_revision_written_for_a_model_change_brings_a_database_to_it(
        db_url: str, tmp_path: Path) -> None:
    """The maintainer's path: autogenerate writes 0002 (SQLAlchemy's own types, batch
    mode for SQLite), and it takes a database at 0001 to the changed models."""
    shutil.copytree(STATE.folder, tmp_path / "copy" / "state",
                    ignore=shutil.ignore_patterns("__pycache__"))
    copy = Schema("state", "state database", "state.url", location=tmp_path / "copy")
    changed = MetaData()
    for table in models(STATE).tables.values():
        table.to_metadata(changed)
    changed.tables["link"].append_column(Column("note", models(STATE).tables["link"]
                                                .c.crm_status.type, nullable=True))
    changed.tables["link"].append_column(Column("seen_at", models(STATE).tables["link"]
                                                .c.deleted_at.type, nullable=True))
    written = migrations.new_revision(copy, "link note and seen_at", changed)
    source = written.read_text()
    assert written.name == "0002_link_note_and_seen_at.py"
    assert "batch_alter_table" in source and "sa.String()" in source
    assert "sa.DateTime()" in source and "AutoString" not in source
    assert "UTCDateTime" not in source

    StateStore(db_url).close()
    assert migrations.upgrade(db_url, copy).after == "0002"
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert migrations.differences(conn, copy, changed) == []
    engine.dispose()


def test_new_databases_made_on_several_threads_at_once(tmp_path: Path) -> None:
    """The daemon's pipelines open their new state databases on threads of their own:
    Alembic's module-level proxies must not be undone by a neighbour's run."""
    from concurrent.futures import ThreadPoolExecutor

    from connector.state import StateStore

    def make(n: int) -> None:
        StateStore(f"sqlite:///{tmp_path}/pipeline-{n}.db").close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, range(16)))


def test_a_new_database_whose_making_was_cut_off_is_made_again(db_url: str) -> None:
    """kill -9 at the very first start: some of the tables, empty, no revision (SQLite's
    driver runs DDL outside the transaction). Made again, not taken for a database from
    before migrations (bench/kill.py met it); with a row in it, it is one, and refused."""
    engine = make_engine(db_url)
    try:
        first = STATE.baseline_schema().sorted_tables[:3]
        STATE.baseline_schema().create_all(engine, tables=first)
    finally:
        engine.dispose()
    StateStore(db_url).close()
    assert revision(db_url, STATE) == STATE.head()
    assert shape(db_url) == models_made(db_url, STATE)


def test_a_cut_off_looking_database_with_a_row_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        link = STATE.baseline_schema().tables["link"]
        STATE.baseline_schema().create_all(engine, tables=[link])
        with engine.begin() as conn:
            conn.execute(link.insert().values(
                marketing_id="7", crm="salesforce", crm_object="Lead", crm_id="00Q7",
                external_id="7", converted=False, field_hashes="{}",
                created_at=datetime(2026, 11, 1), updated_at=datetime(2026, 11, 1)))
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="from before schema migrations"):
        StateStore(db_url)

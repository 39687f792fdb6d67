"""The state store on SQLite and PostgreSQL: runs, cursors, links, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import RecordError
from connector.records import Cursor
from connector.state import Event, Link, RunLocked, StateStore
from tests.conftest import require_postgres

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_run_lifecycle_and_counts(db_url: str) -> None:
    store = StateStore(db_url)
    run = store.start_run()
    store.finish_run(run, {"read": 5, "qualified": 3, "created": 2, "refused": 1}, status="ok")
    second = store.start_run(dry_run=True)
    store.finish_run(second, {}, status="failed", error="Salesforce 503")
    runs = store.runs()
    assert [r.id for r in runs] == [second, run]
    assert runs[1].counts() == {"read": 5, "qualified": 3, "matched": 0, "held": 0,
                                "created": 2, "updated": 0,
                                "unchanged": 0, "refused": 1, "not_written": 0, "fed_back": 0,
                                "conflicts": 0}
    assert runs[0].dry_run and runs[0].error == "Salesforce 503"
    assert runs[1].started_at.tzinfo is not None
    store.close()


def test_cursor_round_trip_keeps_zone_and_boundary(db_url: str) -> None:
    store = StateStore(db_url)
    assert store.cursor("marketing:leads") is None
    cursor = Cursor(T0 + timedelta(microseconds=1500), frozenset({"7", "9"}))
    store.set_cursor("marketing:leads", cursor)
    store.set_cursor("marketing:leads", cursor.advance(T0 + timedelta(microseconds=1500), "10"))
    again = StateStore(db_url).cursor("marketing:leads")
    assert again == Cursor(cursor.value, frozenset({"7", "9", "10"}))
    store.close()


def test_links_by_marketing_and_external_id(db_url: str) -> None:
    store = StateStore(db_url)
    store.save_links([Link(marketing_id=str(i), crm="salesforce", crm_object="Lead",
                           crm_id=f"00Q{i}", external_id=str(i), created_at=T0, updated_at=T0)
                      for i in range(1200)])
    found = store.links("salesforce", "Lead", [str(i) for i in range(0, 1200, 2)])
    assert len(found) == 600 and found["4"].crm_id == "00Q4"
    link = found["4"]
    link.crm_status = "Working - Contacted"
    store.save_links([link])
    by_key = store.links_by_external_id("salesforce", "Lead", ["4", "nope"])
    assert list(by_key) == ["4"] and by_key["4"].crm_status == "Working - Contacted"
    assert store.links("hubspot", "Lead", ["4"]) == {}
    store.close()


def test_dead_letter_kept_with_reason_then_resolved(db_url: str) -> None:
    store = StateStore(db_url)
    run = store.start_run()
    error = RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                        ["LastName"])
    for _ in range(2):
        store.add_dead_letter(run, marketing_id="42", crm="salesforce", crm_object="Lead",
                              errors=[error], payload={"Email": "a@b.example"})
    [letter] = store.dead_letters()
    assert (letter.error_code, letter.errors(), letter.attempts) == (
        "REQUIRED_FIELD_MISSING", ["LastName"], 2)
    assert json.loads(letter.payload) == {"Email": "a@b.example"}
    assert store.resolve_dead_letters("salesforce", "Lead", ["42"]) == 1
    assert store.dead_letters() == []
    assert len(store.dead_letters(include_resolved=True)) == 1
    store.close()


def test_events_per_run(db_url: str) -> None:
    store = StateStore(db_url)
    run = store.start_run()
    store.record_events(run, [Event("1", "created", "Lead 00Q1"), Event("2", "refused", "x")])
    assert [e.kind for e in store.events(run)] == ["created", "refused"]
    assert [e.marketing_id for e in store.events(run, "refused")] == ["2"]
    store.close()


def test_run_lock_is_exclusive_across_stores(db_url: str) -> None:
    import pytest

    from connector.state import RunLocked

    first, second = StateStore(db_url), StateStore(db_url)
    with first.run_lock():
        with pytest.raises(RunLocked, match="another leadsync run"), second.run_lock():
            pass
        with second.run_lock("other-pipeline"):  # a different lock name is independent
            pass
    with second.run_lock():  # released when the first run ended
        pass
    first.close()
    second.close()


def test_a_hand_back_re_arms_the_leads_task_row(db_url: str) -> None:
    """One task row a lead and record: the hand-off's task, made, then a hand-back's
    task owed again through the same row (so an older database's unique key holds)."""
    from connector.state import TaskOwed

    store = StateStore(db_url)
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

    def owed(occasion: str, body: str) -> TaskOwed:
        return TaskOwed(marketing_id="7", crm="salesforce", crm_object="Lead",
                        crm_id="00Q7", occasion=occasion, task=body, created_at=now)

    try:
        store.save_links([], [owed("", '{"subject": "first"}')])
        [row] = store.tasks_owed("salesforce")
        store.tasks_settled({row.id or 0: "00T1"}, {}, {})
        assert store.tasks_owed("salesforce") == []
        store.save_links([], [owed("", '{"subject": "first"}')])  # the same occasion again
        assert store.tasks_owed("salesforce") == []
        store.save_links([], [owed("back-202701080900", '{"subject": "back"}')])
        [again] = store.tasks_owed("salesforce")
        assert (again.id, again.occasion, again.task, again.task_id, again.made_at) == (
            row.id, "back-202701080900", '{"subject": "back"}', None, None)
    finally:
        store.close()


@pytest.mark.postgres
def test_two_schemas_of_one_database_each_have_their_own_run_lock() -> None:
    """Two pipelines (or two deployments) keeping their state in two schemas of one
    PostgreSQL database: advisory locks are the database's, so the lock is scoped by
    the schema, or one pipeline's run would keep the other standing by."""
    from bench.kill import drop_schema, pg_schema_url

    require_postgres()
    (one, one_url), (two, two_url) = pg_schema_url(), pg_schema_url()
    first, second, again = StateStore(one_url), StateStore(two_url), StateStore(one_url)
    try:
        # both held at once; the same schema's lock is still exclusive
        with first.run_lock(), second.run_lock(), pytest.raises(RunLocked), \
                again.run_lock():
            pass
    finally:
        for store in (first, second, again):
            store.close()
        drop_schema(one)
        drop_schema(two)


def test_a_runs_counts_are_kept_batch_by_batch(db_url: str) -> None:
    """A run whose process dies keeps what its finished batches did: its counts are
    saved with each heartbeat, and the next start marks it abandoned with them."""
    store = StateStore(db_url)
    run = store.start_run()
    store.heartbeat(run, {"read": 20, "qualified": 18, "created": 17})
    store.start_run()  # the next start finds the dead run (its process is gone)
    [_, dead] = store.runs(2)
    assert (dead.status, dead.read, dead.created) == ("abandoned", 20, 17)
    store.close()

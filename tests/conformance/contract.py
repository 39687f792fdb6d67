"""The CRM adapter contract, as a test base class every CRM adapter subclasses.

No ``Test`` prefix here: pytest collects only the subclasses, which supply
the fixtures (an adapter on its sandbox, valid and refused records, and a
way to change a status the way a sales rep would, through the CRM's client).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connector.adapters.base import CrmAdapter
from connector.records import Deletions, HandoffTask, Write


class CrmAdapterContract:
    adapter_name: ClassVar[str]
    crm_object: ClassVar[str]
    key_field: ClassVar[str]
    status_field: ClassVar[str]
    opening_status: ClassVar[str]
    """The status leadsync gives a lead it creates."""
    worked_status: ClassVar[str]
    """A status sales sets on a lead they are working."""
    owner_field: ClassVar[str]
    read_page_size: ClassVar[int]
    """Rows per page of the adapter's change reads against its sandbox."""

    # Subclasses provide these fixtures:
    #   adapter -> CrmAdapter on the sandbox (no waits between retries)
    #   record -> Callable[[int], dict]          a payload the CRM accepts
    #   refused_record -> dict                   a payload the CRM refuses
    #   set_status -> Callable[[str, str], None] change a record's status as sales would
    #   owner_id -> str                          an active sales user / owner
    #   faults -> Callable[[], None]             make the sandbox drop and fail calls (seeded)
    #   task_subjects -> Callable[[str], list[str]]  subjects of the tasks on a record
    #   delete -> Callable[[str], None]          a rep deletes a record (by id), through the client

    def test_is_a_crm_adapter(self, adapter: CrmAdapter) -> None:
        assert isinstance(adapter, CrmAdapter)
        assert adapter.name == self.adapter_name
        assert adapter.check() == []

    def test_describe_knows_the_key_field(self, adapter: CrmAdapter) -> None:
        schema = adapter.describe(self.crm_object)
        key = schema.field(self.key_field)
        assert key is not None and key.external_id
        assert schema.field(self.status_field) is not None

    def test_create_then_idempotent_reupsert(self, adapter: CrmAdapter,
                                             record: Callable[[int], dict]) -> None:
        opening = {self.status_field: self.opening_status}
        first = adapter.upsert(self.crm_object, self.key_field,
                               [Write("k1", record(1), opening)])
        assert [(r.key, r.ok, r.created) for r in first] == [("k1", True, True)]
        again = adapter.upsert(self.crm_object, self.key_field,
                               [Write("k1", record(1), opening, known=True)])
        assert [(r.ok, r.created, r.crm_id) for r in again] == [(True, False, first[0].crm_id)]
        found = adapter.read_by_keys(self.crm_object, self.key_field, ["k1", "k2"],
                                     [self.status_field])
        assert [(r.key, r.crm_id) for r in found] == [("k1", first[0].crm_id)]
        assert found[0].fields[self.status_field] == self.opening_status

    def test_partial_batch_failure_keeps_the_rest(self, adapter: CrmAdapter,
                                                  record: Callable[[int], dict],
                                                  refused_record: dict[str, Any]) -> None:
        results = adapter.upsert(self.crm_object, self.key_field,
                                 [Write("a", record(1)), Write("bad", refused_record),
                                  Write("c", record(3))])
        assert [(r.key, r.ok) for r in results] == [("a", True), ("bad", False), ("c", True)]
        [error] = results[1].errors
        assert error.code and error.message and error.fields

    def test_change_feed_is_inclusive_and_ordered(self, adapter: CrmAdapter,
                                                  record: Callable[[int], dict],
                                                  set_status: Callable[[str, str], None]) -> None:
        written = adapter.upsert(self.crm_object, self.key_field,
                                 [Write(f"f{i}", record(i)) for i in range(5)])
        changes = list(adapter.read_changes(self.crm_object, self.key_field,
                                            [self.status_field], None))
        assert [c.key for c in changes] == [f"f{i}" for i in range(5)]
        stamps = [c.modified_at for c in changes]
        assert stamps == sorted(stamps)
        assert list(adapter.read_changes(self.crm_object, self.key_field, [self.status_field],
                                         stamps[-1] + timedelta(seconds=1))) == []
        set_status(written[2].crm_id, self.worked_status)
        later = list(adapter.read_changes(self.crm_object, self.key_field, [self.status_field],
                                          stamps[-1]))
        # >= the cursor: what sits on the boundary comes again, then the change
        boundary = {c.key for c in changes if c.modified_at == stamps[-1]} - {"f2"}
        assert {c.key for c in later[:-1]} == boundary and later[-1].key == "f2"
        assert later[-1].fields[self.status_field] == self.worked_status

    def test_no_record_is_lost_across_page_boundaries(self, adapter: CrmAdapter,
                                                      record: Callable[[int], dict]) -> None:
        count = 2 * self.read_page_size + 7
        written = adapter.upsert(self.crm_object, self.key_field,
                                 [Write(f"p{i}", record(i)) for i in range(count)])
        assert all(r.ok for r in written)
        keys = [c.key for c in adapter.read_changes(self.crm_object, self.key_field,
                                                    [self.status_field], None)]
        assert sorted(keys) == sorted(f"p{i}" for i in range(count))  # each once, none lost
        found = adapter.read_by_keys(self.crm_object, self.key_field,
                                     [f"p{i}" for i in range(count)] + ["absent"], [])
        assert len(found) == count

    def test_owner_is_assigned_and_read_back(self, adapter: CrmAdapter,
                                             record: Callable[[int], dict],
                                             owner_id: str) -> None:
        [written] = adapter.upsert(self.crm_object, self.key_field,
                                   [Write("o1", {**record(1), self.owner_field: owner_id})])
        assert written.ok, written.errors
        [change] = [c for c in adapter.read_changes(self.crm_object, self.key_field,
                                                    [self.status_field], None) if c.key == "o1"]
        assert change.owner_id == owner_id

    def test_owners_list_active_and_deactivated_users(self, adapter: CrmAdapter,
                                                      owner_id: str) -> None:
        assert adapter.owner_field == self.owner_field  # what routing writes to
        owners = {o.id: o for o in adapter.owners()}
        assert owners[owner_id].active and owners[owner_id].name
        assert any(not o.active for o in owners.values())  # each sandbox has a leaver

    def test_creation_only_fields_never_overwrite_sales_work(
            self, adapter: CrmAdapter, record: Callable[[int], dict],
            set_status: Callable[[str, str], None]) -> None:
        opening = {self.status_field: self.opening_status}
        [first] = adapter.upsert(self.crm_object, self.key_field,
                                 [Write("c1", record(1), opening)])
        set_status(first.crm_id or "", self.worked_status)
        # our state lost the link: the lead comes again as unknown, with its opening status
        [again] = adapter.upsert(self.crm_object, self.key_field,
                                 [Write("c1", record(1), opening)])
        assert (again.ok, again.created, again.crm_id) == (True, False, first.crm_id)
        [found] = adapter.read_by_keys(self.crm_object, self.key_field, ["c1"],
                                       [self.status_field])
        assert found.fields[self.status_field] == self.worked_status

    def test_faults_are_survived_without_duplicates(self, adapter: CrmAdapter,
                                                     record: Callable[[int], dict],
                                                     faults: Callable[[], None]) -> None:
        faults()
        count = 3 * 100 + 11
        results = adapter.upsert(self.crm_object, self.key_field,
                                 [Write(f"x{i}", record(i)) for i in range(count)])
        assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:3]
        found = adapter.read_by_keys(self.crm_object, self.key_field,
                                     [f"x{i}" for i in range(count)], [])
        assert sorted(r.key or "" for r in found) == sorted(f"x{i}" for i in range(count))

    def test_handoff_tasks_are_attached_to_their_records(
            self, adapter: CrmAdapter, record: Callable[[int], dict],
            task_subjects: Callable[[str], list[str]]) -> None:
        written = adapter.upsert(self.crm_object, self.key_field,
                                 [Write(f"t{i}", record(i)) for i in range(3)])
        due = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        tasks = [HandoffTask(w.key, w.crm_id or "", f"Follow up {w.key}", "score 50", due)
                 for w in written]
        results = adapter.add_tasks(self.crm_object, tasks)
        assert [(r.key, r.ok) for r in results] == [("t0", True), ("t1", True), ("t2", True)]
        assert all(r.crm_id for r in results)
        assert task_subjects(written[1].crm_id or "") == ["Follow up t1"]

    def test_a_record_a_rep_deleted_is_read_as_removed(
            self, adapter: CrmAdapter, record: Callable[[int], dict],
            delete: Callable[[str], None]) -> None:
        """Deleted since: a removal with its key. An adapter that lists deletions
        apart from its changes (``deleted_every``) lists none when told this run does
        not look (``Deletions(listed=False)``); one that reads them with its changes
        says so with ``deleted_every = None``."""
        since = datetime.now(UTC) - timedelta(minutes=1)
        written = adapter.upsert(self.crm_object, self.key_field,
                                 [Write("gone1", record(1)), Write("kept1", record(2))])
        delete(written[0].crm_id or "")
        removed = list(adapter.read_removed(self.crm_object, self.key_field, since))
        assert [(r.crm_id, r.key) for r in removed] == [(written[0].crm_id, "gone1")]
        if adapter.deleted_every is not None:
            assert list(adapter.read_removed(self.crm_object, self.key_field, since,
                                             Deletions(None, listed=False))) == []

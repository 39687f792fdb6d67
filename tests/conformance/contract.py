"""The CRM adapter contract, as a test base class every CRM adapter subclasses.

No ``Test`` prefix here: pytest collects only the subclasses, which supply
the fixtures (an adapter on its sandbox, valid and refused records, and a
way to change a status the way a sales rep would, through the CRM's client).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from connector.adapters.base import CrmAdapter
from connector.records import Write


class CrmAdapterContract:
    adapter_name: ClassVar[str]
    crm_object: ClassVar[str]
    key_field: ClassVar[str]
    status_field: ClassVar[str]

    # Subclasses provide these fixtures:
    #   adapter -> CrmAdapter on the sandbox
    #   record -> Callable[[int], dict]          a payload the CRM accepts
    #   refused_record -> dict                   a payload the CRM refuses (missing required field)
    #   set_status -> Callable[[str, str], None] change a record's status as sales would

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
        first = adapter.upsert(self.crm_object, self.key_field, [Write("k1", record(1))])
        assert [(r.key, r.ok, r.created) for r in first] == [("k1", True, True)]
        again = adapter.upsert(self.crm_object, self.key_field, [Write("k1", record(1))])
        assert [(r.ok, r.created, r.crm_id) for r in again] == [(True, False, first[0].crm_id)]
        found = adapter.read_by_keys(self.crm_object, self.key_field, ["k1", "k2"],
                                     [self.status_field])
        assert [(r.key, r.crm_id) for r in found] == [("k1", first[0].crm_id)]
        assert found[0].fields[self.status_field]

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
        set_status(written[2].crm_id, "Working - Contacted")
        later = list(adapter.read_changes(self.crm_object, self.key_field, [self.status_field],
                                          stamps[-1]))
        assert [c.key for c in later] == ["f4", "f2"]  # >= the cursor: the boundary comes again
        assert later[-1].fields[self.status_field] == "Working - Contacted"

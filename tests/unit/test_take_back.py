"""Values read back from the CRM into marketing (``Mapper.to_marketing``): what a rep
changed is taken; what no rep changed is not."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.config import MappingConfig
from connector.mapping import Mapper
from connector.records import Lead
from connector.state import value_hash

MAPPER = Mapper(MappingConfig(fields={"email": "Email",
                                      "title": {"crm": "Title", "sync": "two_way"}}))
LEAD = Lead("2", {"email": "chris@northwind.example", "title": "CFO"},
            datetime(2026, 12, 1, tzinfo=UTC))
READ = datetime(2026, 12, 7, tzinfo=UTC)


def test_a_blank_never_known_to_hold_a_value_is_not_taken_back() -> None:
    """A record the lead was linked to late (a reviewer's "same", a merge) whose title
    was always blank: no rep cleared it, so marketing's title stays, with no conflict
    made up (the docs-only trial saw the blank win as the record's newer stamp)."""
    taken = MAPPER.to_marketing({"Title": None}, {}, LEAD, READ)
    assert (taken.updates, taken.conflicts) == ({}, [])


def test_a_blank_where_the_record_held_a_value_is_a_reps_clearing() -> None:
    taken = MAPPER.to_marketing({"Title": None}, {"Title": value_hash("CFO")}, LEAD, READ)
    assert taken.updates == {"title": None}


def test_a_value_never_known_is_taken_newest_first() -> None:
    taken = MAPPER.to_marketing({"Title": "CEO"}, {}, LEAD, READ)
    assert taken.updates == {"title": "CEO"}
    [conflict] = taken.conflicts
    assert (conflict.winner, conflict.marketing) == ("crm", "CFO")

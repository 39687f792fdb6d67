"""Feeding back: echoes dropped, real changes mapped, the rest reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.config import StatusMapping
from connector.feedback import stage_updates
from connector.records import Change, Deal
from connector.state import Link

T0 = datetime(2026, 11, 25, tzinfo=UTC)
MAP = StatusMapping(crm_field="Status", to_marketing={"Working - Contacted": "sales_accepted",
                                                      "Closed - Not Converted": "recycle"})


def link(key: str, status: str | None) -> Link:
    return Link(marketing_id=f"m{key}", crm="salesforce", crm_object="Lead", crm_id=f"00Q{key}",
                external_id=key, crm_status=status, created_at=T0, updated_at=T0)


def change(key: str | None, status: str | None, minutes: int = 0) -> Change:
    return Change(crm_id=f"00Q{key}", key=key, fields={"Status": status},
                  modified_at=T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(("known", "changes", "updates", "unmapped"), [
    ("Open - Not Contacted", [change("1", "Open - Not Contacted")], [], []),       # echo
    ("Open - Not Contacted", [change("1", "Working - Contacted")],
     [("m1", "sales_accepted", "Working - Contacted")], []),
    (None, [change("1", "Closed - Not Converted")],
     [("m1", "recycle", "Closed - Not Converted")], []),                          # never seen
    ("Open - Not Contacted", [change("1", "Nurture Later")], [], ["m1"]),            # unmapped
    ("Open - Not Contacted", [change("1", "Working - Contacted"),
                              change("1", "Closed - Not Converted", 1)],
     [("m1", "recycle", "Closed - Not Converted")], []),                          # latest wins
    ("Open - Not Contacted", [change("9", "Working - Contacted"),
                              change(None, "Working - Contacted")], [], []),       # not ours
    ("Open - Not Contacted", [change("1", None)], [], []),                          # no status
])
def test_stage_updates(known: str | None, changes: list[Change],
                       updates: list[tuple[str, str, str]], unmapped: list[str]) -> None:
    decided = stage_updates(changes, {"00Q1": [link("1", known)]}, MAP)
    assert [(u.marketing_id, u.stage, u.crm_status) for u, _ in decided.updates] == updates
    assert list(decided.unmapped_by_lead) == unmapped


def test_every_lead_linked_to_the_record_hears_its_verdict() -> None:
    """Two marketing leads (one person's two addresses) on one CRM record."""
    one, two = link("1", "Open - Not Contacted"), link("1", None)
    two.marketing_id = "m2"
    decided = stage_updates([change("1", "Working - Contacted")], {"00Q1": [one, two]}, MAP)
    assert [(u.marketing_id, u.stage) for u, _ in decided.updates] == [
        ("m1", "sales_accepted"), ("m2", "sales_accepted")]


def converted(key: str, stage: str, *, closed: bool, won: bool, amount: float | None = 5000.0,
              minutes: int = 0) -> Change:
    return Change(crm_id=f"00Q{key}", key=key, fields={"Status": "Closed - Converted"},
                  modified_at=T0 + timedelta(minutes=minutes), converted=True,
                  deal=Deal(f"006{key}", stage, amount, closed=closed, won=won))


@pytest.mark.parametrize(("known", "incoming", "expected"), [
    # an open opportunity: the lead's own status speaks ("Closed - Converted")
    ("Working - Contacted", converted("1", "Prospecting", closed=False, won=False),
     ("opportunity", "Closed - Converted", 5000.0)),
    # closed won / lost: the opportunity's outcome is the verdict, with its amount
    ("Closed - Converted", converted("1", "Closed Won", closed=True, won=True, amount=12500.0),
     ("won", "Closed Won", 12500.0)),
    ("Closed - Converted", converted("1", "Closed Lost", closed=True, won=False),
     ("lost", "Closed Lost", 5000.0)),
    # the same closed outcome read again (its lead changed, or the look-back) is an echo
    ("Closed Won", converted("1", "Closed Won", closed=True, won=True), None),
])
def test_a_converted_leads_opportunity_decides_won_and_lost(
        known: str, incoming: Change, expected: tuple[str, str, float] | None) -> None:
    mapping = StatusMapping(to_marketing={"Closed - Converted": "opportunity"})
    decided = stage_updates([incoming], {"00Q1": [link("1", known)]}, mapping)
    got = [(u.stage, u.crm_status, u.amount) for u, _ in decided.updates]
    assert got == ([expected] if expected else [])


def test_won_and_lost_stages_are_configurable_and_can_be_switched_off() -> None:
    mapping = StatusMapping(won="customer", lost="")  # TOML has no null
    won = stage_updates([converted("1", "Closed Won", closed=True, won=True)],
                        {"00Q1": [link("1", "x")]}, mapping)
    assert [u.stage for u, _ in won.updates] == ["customer"]
    lost = stage_updates([converted("1", "Closed Lost", closed=True, won=False)],
                         {"00Q1": [link("1", "x")]}, mapping)
    assert (lost.updates, lost.unmapped_by_lead) == ([], {})  # off: not fed back, no warning
    assert [link.marketing_id for link in lost.converted] == ["m1"]


def test_a_status_the_feed_read_before_the_historys_newest_step_is_not_fed_back_last() -> None:
    """The change feed is read at the start of a run, the field history seconds later:
    a rep who accepted, then disqualified in between, leaves the feed holding the
    accept. The history's order is the truth; the stale accept is not a third step."""
    from connector.records import StatusStep

    accepted, recycled = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    history = [StatusStep("00Q1", accepted, "Open - Not Contacted", "Working - Contacted"),
               StatusStep("00Q1", recycled, "Working - Contacted", "Closed - Not Converted")]
    feed = change("1", "Working - Contacted", 2)  # read between the two steps
    decided = stage_updates([feed], {"00Q1": [link("1", "Open - Not Contacted")]}, MAP,
                            steps={"00Q1": history})
    assert [(u.stage, u.at) for u, _ in decided.updates] == [
        ("sales_accepted", accepted), ("recycle", recycled)]
    behind = change("1", "Closed - Not Converted", 4)  # the feed newer: where it is now
    decided = stage_updates([behind], {"00Q1": [link("1", "Open - Not Contacted")]}, MAP,
                            steps={"00Q1": history[:1]})
    assert [u.stage for u, _ in decided.updates] == ["sales_accepted", "recycle"]

"""HubSpot adapter behaviour beyond the shared contract: the 10,000-result
search cap walked, people sales already has adopted by email, refusals pinned
on their record, searches paced and 429s waited out on an injected clock, the
daily reserve, deals read back for the closed loop, the feeds of a run served by
one search of changed contacts, and properties asked only when looked at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tenacity import RetryCallState, wait_fixed, wait_none
from tenacity.wait import wait_base

from connector.adapters.hubspot import HubSpotAdapter, classify
from connector.config import HubSpotConfig
from connector.errors import BatchInterrupted, FatalError, QuotaReserved, TransientError
from connector.records import HandoffTask, Write
from connector.retry import RetryPolicy, wait_retry_after
from connector.sandbox.hubspot import HubSpotSandbox

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class Time:
    """One fake time for the sandbox (datetime) and the adapter (monotonic, sleep)."""

    def __init__(self) -> None:
        self.now = T0
        self.slept = 0.0

    def clock(self) -> datetime:
        self.now += timedelta(milliseconds=1)  # every look moves time on a little
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def adapter_on(sandbox: HubSpotSandbox, time: Time | None = None, attempts: int = 6,
               **settings: Any) -> HubSpotAdapter:
    return HubSpotAdapter(HubSpotConfig(route_to=sandbox.address, **settings),
                          token="sandbox-token", retry=RetryPolicy(attempts=attempts),
                          wait=wait_none(), sleep=time.sleep if time else lambda s: None,
                          clock=time.monotonic if time else lambda: 0.0)


@pytest.fixture
def portal(hubspot_sandbox: HubSpotSandbox) -> Iterator[HubSpotSandbox]:
    yield hubspot_sandbox


def test_more_than_10000_changes_are_all_read_by_walking_the_window() -> None:
    contacts = [{"email": f"w{i}@walk.example", "leadsync_id": f"w{i}", "lastname": "W"}
                for i in range(10_050)]
    with HubSpotSandbox(seed={"contacts": contacts}, search_per_second=10_000) as sandbox:
        adapter = adapter_on(sandbox)
        keys = [c.key for c in adapter.read_changes("contacts", "leadsync_id",
                                                    ["hs_lead_status"], None)]
    assert len(keys) == 10_050 and len(set(keys)) == 10_050


def test_a_person_sales_already_has_is_adopted_not_duplicated(portal: HubSpotSandbox) -> None:
    existing = portal.create("contacts", {"email": "kim@acme.example", "lastname": "Kim",
                                          "hs_lead_status": "CONNECTED"})
    adapter = adapter_on(portal)
    results = adapter.upsert("contacts", "leadsync_id", [
        Write("m1", {"email": "kim@acme.example", "lastname": "Kim", "jobtitle": "CTO"},
              {"hs_lead_status": "NEW"}),
        Write("m2", {"email": "new@acme.example", "lastname": "New"},
              {"hs_lead_status": "NEW"})])
    assert [(r.key, r.ok, r.created) for r in results] == [("m1", True, False),
                                                           ("m2", True, True)]
    assert results[0].crm_id == str(existing["id"])
    kim = next(r for r in portal.records("contacts") if r["id"] == str(existing["id"]))
    assert kim["properties"]["leadsync_id"] == "m1"
    assert kim["properties"]["jobtitle"] == "CTO"
    assert kim["properties"]["hs_lead_status"] == "CONNECTED"  # sales' verdict kept
    assert len(portal.records("contacts")) == 2


def test_leads_the_index_holds_nothing_of_are_written_without_a_look_up(
        portal: HubSpotSandbox) -> None:
    """Writes the index vouches for (``unindexed_id``, ``unindexed_email``) skip both
    searches, by our id and by email: one upsert for three leads. A contact sales
    made with one of the addresses after the index was read still meets HubSpot's
    409, which names it: adopted, its status kept, no second."""
    adapter = adapter_on(portal)
    before = portal.request_count
    results = adapter.upsert("contacts", "leadsync_id", [
        Write(f"u{i}", {"email": f"u{i}@acme.example", "lastname": "U"}, unindexed_id=True,
              unindexed_email=True)
        for i in range(3)])
    assert all(r.ok and r.created for r in results)
    assert portal.request_count - before == 1
    late = portal.create("contacts", {"email": "late@acme.example", "lastname": "Late",
                                      "hs_lead_status": "CONNECTED"})
    results = adapter.upsert("contacts", "leadsync_id", [
        Write("v1", {"email": "v1@acme.example", "lastname": "V"}, unindexed_id=True,
              unindexed_email=True),
        Write("v2", {"email": "late@acme.example", "lastname": "Late", "jobtitle": "CFO"},
              {"hs_lead_status": "NEW"}, unindexed_id=True,
              unindexed_email=True)])
    assert [(r.key, r.ok, r.created) for r in results] == [("v1", True, True),
                                                           ("v2", True, False)]
    assert results[1].crm_id == str(late["id"])
    held = next(r for r in portal.records("contacts") if r["id"] == str(late["id"]))
    assert held["properties"]["leadsync_id"] == "v2"
    assert held["properties"]["hs_lead_status"] == "CONNECTED"
    assert sum(r["properties"].get("email") == "late@acme.example"
               for r in portal.records("contacts")) == 1


def test_a_refused_record_is_pinned_and_the_batch_goes_on(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    writes = [Write(f"r{i}", {"email": f"r{i}@acme.example", "lastname": "R"})
              for i in range(7)]
    writes[4] = Write("r4", {"email": "r4@acme.example", "hs_lead_status": "LUKEWARM"})
    results = adapter.upsert("contacts", "leadsync_id", writes)
    assert [r.ok for r in results] == [True] * 4 + [False] + [True] * 2
    [error] = results[4].errors
    assert error.code == "INVALID_OPTION" and error.fields == ["hs_lead_status"]
    assert "LUKEWARM" in error.message


def test_searches_are_paced_under_five_a_second_on_the_injected_clock() -> None:
    """Four in any one second (HubSpot refuses a sixth): a run's few searches go out at
    once, without waiting; a longer read waits for its oldest to leave the second."""
    time = Time()
    with HubSpotSandbox(clock=time.clock) as sandbox:  # HubSpot's 5 searches a second
        adapter = adapter_on(sandbox, time, attempts=1)  # a 429 would fail the test
        start = time.monotonic()
        for i in range(4):
            assert adapter.read_by_keys("contacts", "leadsync_id", [f"k{i}"], []) == []
        assert time.slept == 0
        for i in range(4, 12):
            assert adapter.read_by_keys("contacts", "leadsync_id", [f"k{i}"], []) == []
    assert time.monotonic() - start >= 2.0  # 12 searches, 4 a second


def test_a_429_is_waited_out_for_the_interval_hubspot_names() -> None:
    time = Time()
    with HubSpotSandbox(clock=time.clock, ten_second_limit=3) as sandbox:
        waits: list[float] = []

        class WaitOnTheFakeClock(wait_base):
            """The policy's wait (Retry-After honoured), spent on the fake clock."""

            def __call__(self, state: RetryCallState) -> float:
                seconds = wait_retry_after(wait_fixed(0.5), cap_s=60)(state)
                waits.append(seconds)
                time.sleep(seconds)
                return 0.0

        adapter = HubSpotAdapter(HubSpotConfig(route_to=sandbox.address),
                                 token="sandbox-token", retry=RetryPolicy(attempts=4),
                                 wait=WaitOnTheFakeClock(), sleep=time.sleep,
                                 clock=time.monotonic)
        results = adapter.upsert("contacts", "leadsync_id", [
            Write(f"t{i}", {"email": f"t{i}@acme.example"}) for i in range(350)])
    assert all(r.ok for r in results)
    assert waits and all(w == pytest.approx(10.0) for w in waits)  # the 10-second window


def test_the_daily_reserve_stops_before_the_next_call() -> None:
    with HubSpotSandbox(daily_limit=5_000, search_per_second=10_000) as portal:
        portal.set_daily_used(3_990)  # 1,010 left: a few calls above the reserve
        adapter = adapter_on(portal, api_reserve=1_000)
        with pytest.raises(BatchInterrupted) as caught:
            adapter.upsert("contacts", "leadsync_id", [
                Write(f"d{i}", {"email": f"d{i}@acme.example"}) for i in range(2_000)])
        held = {r["properties"]["leadsync_id"] for r in portal.records("contacts")}
    assert isinstance(caught.value.cause, QuotaReserved)
    assert "api_reserve" in str(caught.value)
    assert {r.key for r in caught.value.results} == held  # what was written is known
    assert 0 < len(held) < 2_000


def test_a_closed_deal_is_read_back_with_its_amount(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    [written] = adapter.upsert("contacts", "leadsync_id", [
        Write("z1", {"email": "z1@acme.example", "lastname": "Z"}, {"hs_lead_status": "NEW"})])
    cursor = max(c.modified_at for c in adapter.read_changes(
        "contacts", "leadsync_id", ["hs_lead_status"], None))
    deal = portal.create_deal(written.crm_id, stage="closedwon", amount=12500)
    changes = list(adapter.read_changes("contacts", "leadsync_id", ["hs_lead_status"],
                                        cursor + timedelta(milliseconds=1)))
    assert changes, "the deal's change must be reported on its contact"
    last = changes[-1]
    assert last.key == "z1" and last.deal is not None
    assert (last.deal.crm_id, last.deal.stage, last.deal.amount, last.deal.closed,
            last.deal.won) == (str(deal["id"]), "closedwon", 12500.0, True, True)


def test_a_contact_that_is_another_leads_is_not_taken_over(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    [first] = adapter.upsert("contacts", "leadsync_id", [
        Write("m1", {"email": "same@acme.example", "lastname": "One"})])
    [second] = adapter.upsert("contacts", "leadsync_id", [
        Write("m2", {"email": "same@acme.example", "lastname": "Two"})])
    assert first.ok and not second.ok
    assert second.errors[0].code == "CONFLICT" and "lead m1" in second.errors[0].message
    [contact] = portal.records("contacts")
    assert (contact["properties"]["leadsync_id"], contact["properties"]["lastname"]) == \
        ("m1", "One")


def test_a_task_create_that_landed_unanswered_is_not_made_twice(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    [lead] = adapter.upsert("contacts", "leadsync_id", [Write("k1", {"email": "k@a.example"})])
    portal.inject(fail_at={1: "drop_after"})
    with pytest.raises(TransientError):
        adapter.add_tasks("contacts", [HandoffTask("k1", lead.crm_id or "", "Call", "body",
                                                   T0)])
    assert len(portal.records("tasks")) == 1  # landed once; never sent again


def test_a_mapping_to_a_property_the_portal_lacks_fails_fast(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    before = portal.request_count
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("contacts", "leadsync_id", [
            Write(f"b{i}", {"email": f"b{i}@a.example", "favourite_colour": "teal"})
            for i in range(100)])
    assert isinstance(caught.value.cause, FatalError)
    assert "favourite_colour" in str(caught.value)
    assert portal.request_count - before <= 3  # a look-up and one upsert, no halving


def test_records_sharing_one_change_time_are_all_read() -> None:
    with HubSpotSandbox(clock=lambda: T0, search_per_second=10_000) as portal:
        adapter = adapter_on(portal)
        adapter.upsert("contacts", "leadsync_id", [
            Write(f"s{i}", {"email": f"s{i}@same.example"}) for i in range(450)])
        keys = [c.key for c in adapter.read_changes("contacts", "leadsync_id", [], None)]
        later = list(adapter.read_changes("contacts", "leadsync_id", [], T0))
    assert len(keys) == 450 and len(set(keys)) == 450  # > 2 pages on one millisecond
    assert len(later) == 450


def test_feeds_read_together_read_every_record_sharing_one_change_time() -> None:
    with HubSpotSandbox(clock=lambda: T0, search_per_second=10_000) as portal:
        adapter = adapter_on(portal)
        adapter.upsert("contacts", "leadsync_id", [
            Write(f"s{i}", {"email": f"s{i}@same.example"}) for i in range(450)])
        feeds = (adapter.read_removed("contacts", "leadsync_id", T0),
                 adapter.read_changes("contacts", "leadsync_id", [], T0),
                 adapter.read_people("contacts", "leadsync_id", ["contacts"], T0))
        removed, changes, people = (list(feed) for feed in feeds)
    assert removed == []
    assert len({c.key for c in changes}) == len(changes) == 450
    assert len({p.candidate.crm_id for p in people}) == len(people) == 450


def test_the_latest_deal_speaks_for_a_contact(portal: HubSpotSandbox) -> None:
    adapter = adapter_on(portal)
    [lead] = adapter.upsert("contacts", "leadsync_id", [Write("d1", {"email": "d@a.example"})])
    old = portal.create_deal(lead.crm_id, stage="closedlost", amount=100)
    new = portal.create_deal(lead.crm_id, stage="contractsent", amount=5000)
    cursor = max(c.modified_at for c in adapter.read_changes("contacts", "leadsync_id", [],
                                                             None))
    portal.update("deals", old["id"], {"amount": "150"})  # an edit to the old, lost deal
    changes = [c for c in adapter.read_changes("contacts", "leadsync_id", [], cursor)
               if c.key == "d1"]
    assert changes and all(c.deal is not None and c.deal.crm_id == str(new["id"])
                           for c in changes)
    assert not changes[-1].deal.closed  # type: ignore[union-attr]


@pytest.mark.parametrize(("status", "category", "policy", "codes", "outcome"), [
    (400, "VALIDATION_ERROR", None, {"INVALID_OPTION"}, "record"),
    (400, "VALIDATION_ERROR", None, {"INVALID_INTEGER"}, "record"),
    (400, "VALIDATION_ERROR", None, {"PROPERTY_DOESNT_EXIST"}, "fatal"),
    (409, "CONFLICT", None, set(), "conflict"),
    (401, "INVALID_AUTHENTICATION", None, set(), "fatal"),
    (403, "MISSING_SCOPES", None, set(), "fatal"),
    (429, "RATE_LIMITS", "TEN_SECONDLY_ROLLING", set(), "transient"),
    (429, "RATE_LIMITS", "SECONDLY", set(), "transient"),
    (429, "RATE_LIMITS", "DAILY", set(), "quota"),
    (423, None, None, set(), "transient"),
    (477, None, None, set(), "quota"),
    (502, None, None, set(), "transient"),
    (503, None, None, set(), "transient"),
    (404, "OBJECT_NOT_FOUND", None, set(), "fatal"),
])
def test_error_table(status: int, category: str | None, policy: str | None, codes: set[str],
                     outcome: str) -> None:
    assert classify(status, category, policy, frozenset(codes)) == outcome


def test_the_feeds_a_run_opens_together_share_one_search_of_changed_contacts() -> None:
    """Removals, sales' changes and the candidate index all read the contacts changed
    since the last run: one search serves the three, and each still gets exactly its
    own rows -- ours for the changes, every person for the index, merges for both
    the removals and the index."""
    time = Time()
    with HubSpotSandbox(clock=time.clock, search_per_second=10_000) as portal:
        adapter = adapter_on(portal, time)
        written = adapter.upsert("contacts", "leadsync_id", [
            Write(f"k{i}", {"email": f"k{i}@feeds.example", "lastname": f"K{i}",
                            "jobtitle": "CTO"}, {"hs_lead_status": "NEW"}) for i in range(4)])
        ids = {r.key: r.crm_id for r in written}
        since = time.clock()
        portal.update("contacts", ids["k0"], {"hs_lead_status": "IN_PROGRESS"})  # a verdict
        theirs = portal.create("contacts", {"email": "rep@feeds.example", "lastname": "Rep"})
        survivor = portal.merge("contacts", ids["k1"], ids["k2"])
        portal.archive("contacts", ids["k3"])

        before = portal.request_count
        removed = adapter.read_removed("contacts", "leadsync_id", since)  # as a run opens
        changes = adapter.read_changes("contacts", "leadsync_id", ["hs_lead_status"], since)
        people = adapter.read_people("contacts", "leadsync_id", ["contacts"], since)
        gone, changed, index = list(removed), list(changes), list(people)
        calls = portal.request_count - before

    # the archived listing, one contacts search, the deals search (a moved deal is a
    # verdict too); before: a search for merges, one for changes, one for the index
    assert calls == 3
    assert {(r.crm_id, r.key, r.merged_into) for r in gone} == {
        (ids["k3"], "k3", None), (ids["k1"], None, survivor["id"]),
        (ids["k2"], None, survivor["id"])}
    assert {(c.crm_id, c.key, c.fields.get("hs_lead_status")) for c in changed} == {
        (ids["k0"], "k0", "IN_PROGRESS"), (survivor["id"], "k1", "NEW")}
    assert all("jobtitle" not in c.fields for c in changed)  # the index's, not asked here
    kept = {p.candidate.crm_id for p in index if not p.removed}
    assert kept == {ids["k0"], theirs["id"], survivor["id"]}
    assert {p.candidate.crm_id: p.merged_into for p in index if p.removed} == {
        ids["k1"]: survivor["id"], ids["k2"]: survivor["id"], ids["k3"]: None}


def test_a_feed_opened_after_the_shared_read_searches_anew() -> None:
    """The next run's feeds are not served from the last run's rows, and a feed that was
    opened but dropped unread does not stretch the next search back to its start."""
    time = Time()
    with HubSpotSandbox(clock=time.clock, search_per_second=10_000) as portal:
        adapter = adapter_on(portal, time)
        [one] = adapter.upsert("contacts", "leadsync_id", [Write("n1", {"email": "n@a.example"})])
        adapter.upsert("contacts", "leadsync_id", [
            Write(f"o{i}", {"email": f"o{i}@old.example"}) for i in range(250)])
        stale = adapter.read_changes("contacts", "leadsync_id", [], T0)  # opened, never read
        del stale
        since = time.clock()
        first = list(adapter.read_changes("contacts", "leadsync_id", [], since))
        portal.update("contacts", one.crm_id, {"hs_lead_status": "CONNECTED"})
        before = portal.request_count
        later = list(adapter.read_changes("contacts", "leadsync_id", ["hs_lead_status"], since))
        calls = portal.request_count - before
    assert first == []
    assert [(c.key, c.fields["hs_lead_status"]) for c in later] == [("n1", "CONNECTED")]
    assert calls == 2  # one page of contacts (not the 250 older ones), one of deals


def test_properties_are_asked_when_a_field_is_first_looked_at_and_hourly_after() -> None:
    """A run parses the mapping at its start; only one that maps a lead looks at a
    field's options or length, so an idle run asks HubSpot nothing for them. A daemon
    keeps its adapter: a property an admin adds is seen within the hour."""
    time = Time()
    with HubSpotSandbox(clock=time.clock) as portal:
        adapter = adapter_on(portal, time)
        before = portal.request_count
        schema = adapter.describe("contacts")
        assert portal.request_count == before  # nothing asked yet
        field = schema.field("hs_lead_status")
        assert field is not None and "CONNECTED" in field.picklist
        assert portal.request_count == before + 1
        assert adapter.describe("contacts").field("email") is not None
        assert portal.request_count == before + 1  # within the hour: the same answer
        time.sleep(3601)
        assert adapter.describe("contacts").field("email") is not None
        assert portal.request_count == before + 2

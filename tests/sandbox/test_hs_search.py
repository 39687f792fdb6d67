"""CRM search through the real client: operators, sorts, paging, the 10,000 cap, indexes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hs_helpers import body, client, running, upsert_batch
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from sf_helpers import FakeClock

from connector.sandbox.hubspot import HubSpotSandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[HubSpotSandbox]:
    with running(clock=clock) as started:
        yield started


@pytest.fixture
def hs(sandbox: HubSpotSandbox, clock: FakeClock) -> HubSpot:
    hs = client(sandbox)
    people = [
        ("L-1", {"email": "ana@acme.test", "firstname": "Ana", "leadsync_score": "80",
                 "hs_lead_status": "NEW", "company": "Acme Corp"}),
        ("L-2", {"email": "bo@beta.test", "firstname": "Bo", "leadsync_score": "35",
                 "hs_lead_status": "OPEN"}),
        ("L-3", {"email": "cy@acme.test", "firstname": "Cy", "leadsync_score": "120"}),
    ]
    for row in people:  # one a minute, so modified stamps differ
        hs.crm.contacts.batch_api.upsert(upsert_batch([row]))
        clock.advance(minutes=1)
    return hs


def emails(hs: HubSpot, *filters: dict[str, Any], sorts: list[Any] | None = None,
           groups: list[list[dict[str, Any]]] | None = None) -> list[str]:
    filter_groups = [{"filters": g} for g in groups] if groups else [{"filters": list(filters)}]
    result = hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=filter_groups, sorts=sorts or [], properties=["email"], limit=100,
    ))
    return [r.properties["email"] for r in result.results]


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        ({"propertyName": "email", "operator": "EQ", "value": "ANA@acme.test"},
         ["ana@acme.test"]),
        ({"propertyName": "hs_lead_status", "operator": "NEQ", "value": "NEW"},
         ["bo@beta.test", "cy@acme.test"]),
        ({"propertyName": "hs_lead_status", "operator": "IN", "values": ["NEW", "OPEN"]},
         ["ana@acme.test", "bo@beta.test"]),
        ({"propertyName": "hs_lead_status", "operator": "NOT_IN", "values": ["NEW"]},
         ["bo@beta.test", "cy@acme.test"]),
        ({"propertyName": "leadsync_score", "operator": "GT", "value": "80"}, ["cy@acme.test"]),
        ({"propertyName": "leadsync_score", "operator": "GTE", "value": "80"},
         ["ana@acme.test", "cy@acme.test"]),
        ({"propertyName": "leadsync_score", "operator": "LT", "value": "80"}, ["bo@beta.test"]),
        ({"propertyName": "leadsync_score", "operator": "LTE", "value": "35"}, ["bo@beta.test"]),
        ({"propertyName": "hs_lead_status", "operator": "HAS_PROPERTY"},
         ["ana@acme.test", "bo@beta.test"]),
        ({"propertyName": "hs_lead_status", "operator": "NOT_HAS_PROPERTY"}, ["cy@acme.test"]),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@acme.test"},
         ["ana@acme.test", "cy@acme.test"]),
        ({"propertyName": "company", "operator": "CONTAINS_TOKEN", "value": "corp"},
         ["ana@acme.test"]),
        ({"propertyName": "leadsync_score", "operator": "BETWEEN", "value": "30",
          "highValue": "90"}, ["ana@acme.test", "bo@beta.test"]),
    ],
)
def test_operators(hs: HubSpot, search_filter: dict[str, Any], expected: list[str]) -> None:
    assert emails(hs, search_filter) == expected


def test_groups_are_ored(hs: HubSpot) -> None:
    groups = [[{"propertyName": "firstname", "operator": "EQ", "value": "Bo"}],
              [{"propertyName": "firstname", "operator": "EQ", "value": "Cy"}]]
    assert emails(hs, groups=groups) == ["bo@beta.test", "cy@acme.test"]


def test_sorts_as_strings_or_objects(hs: HubSpot) -> None:
    everyone = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    assert emails(hs, everyone, sorts=["-leadsync_score"]) == [
        "cy@acme.test", "ana@acme.test", "bo@beta.test"]
    assert emails(hs, everyone, sorts=[{"propertyName": "firstname",
                                        "direction": "DESCENDING"}]) == [
        "cy@acme.test", "bo@beta.test", "ana@acme.test"]


def test_changed_since_a_cursor_by_last_modified_date(
    hs: HubSpot, sandbox: HubSpotSandbox, clock: FakeClock
) -> None:
    cursor = clock.now
    ana = next(r for r in sandbox.records("contacts") if r["properties"]["firstname"] == "Ana")
    sandbox.update("contacts", ana["id"], {"hs_lead_status": "CONNECTED"})

    since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
             "value": str(int(cursor.timestamp() * 1000))}

    assert emails(hs, since, sorts=["hs_lastmodifieddate"]) == ["ana@acme.test"]


def test_paging_total_and_after(hs: HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[], sorts=["email"], properties=["email"], limit=2, after="0")
    first = hs.crm.contacts.search_api.do_search(request)
    request.after = first.paging.next.after
    second = hs.crm.contacts.search_api.do_search(request)

    assert first.total == 3 and second.total == 3
    assert [r.properties["email"] for r in first.results + second.results] == [
        "ana@acme.test", "bo@beta.test", "cy@acme.test"]
    assert second.paging is None


def test_limit_over_200_and_paging_past_10000_are_400s(hs: HubSpot) -> None:
    for limit, after in ((201, "0"), (100, "10000")):
        with pytest.raises(ApiException) as failure:
            hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
                filter_groups=[], sorts=[], properties=[], limit=limit, after=after))
        assert failure.value.status == 400
        assert body(failure.value)["category"] == "VALIDATION_ERROR"


def test_ten_thousand_contacts_upsert_and_search_quickly(clock: FakeClock) -> None:
    """The connector's benchmark shape: 100 batches of 100, then a paged delta search."""

    with running(clock=clock, ten_second_limit=10_000, search_per_second=1_000) as sandbox:
        hs = client(sandbox)
        for batch in range(100):
            rows = [(f"L-{batch}-{n}", {"email": f"{batch}-{n}@bulk.test"}) for n in range(100)]
            hs.crm.contacts.batch_api.upsert(upsert_batch(rows))
        clock.advance(minutes=1)
        cursor = str(int(clock.now.timestamp() * 1000))
        for n in range(0, 10_000, 100):
            sandbox.update("contacts", str(1001 + n), {"city": "Oslo"})
        seen: list[str] = []
        after = "0"
        while after:
            page = hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
                filter_groups=[{"filters": [{"propertyName": "lastmodifieddate",
                                             "operator": "GTE", "value": cursor}]}],
                sorts=["hs_lastmodifieddate"], properties=["city"], limit=200, after=after))
            seen += [r.id for r in page.results]
            after = page.paging.next.after if page.paging else ""

    assert len(sandbox.records("contacts")) == 10_000
    assert len(seen) == 100  # (speed is the benchmark's business, not a test's)

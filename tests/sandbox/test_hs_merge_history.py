"""Merges, archived reads and property history, through the real hubspot-api-client.

What each test pins down comes from HubSpot's published contacts spec (v3
``contacts.json`` in HubSpot-public-api-spec-collection), the developer
changelog "Updated merge functionality for contacts and companies" (a merge
makes a new record with a new id; the old ids return it) and the knowledge
base article "Merge records" (primary values win, secondary email kept as an
additional email, furthest lifecycle stage). Time only moves when a test
moves the injected clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hs_helpers import body, client, contact, running
from hubspot import HubSpot
from hubspot.crm.companies import PublicMergeInput as CompanyMerge
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.deals import PublicMergeInput as DealMerge
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput
from sf_helpers import FakeClock

from connector.sandbox.hubspot import HubSpotSandbox, WriteRejected
from connector.sandbox.hubspot.store import PRIVATE_APP_ID

HEADERS = {"Authorization": "Bearer sandbox-token"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[HubSpotSandbox]:
    with running(clock=clock) as started:
        yield started


@pytest.fixture
def hs(sandbox: HubSpotSandbox) -> HubSpot:
    return client(sandbox)


def _merge(hs: HubSpot, primary: str, merged: str) -> Any:
    return hs.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id=primary, object_id_to_merge=merged))


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _to(kind_id: str, type_id: int) -> list[dict[str, Any]]:
    return [{"to": {"id": kind_id},
             "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]


# --- merge ----------------------------------------------------------------------------------------


def test_a_merge_makes_a_new_contact_that_the_old_ids_return(
    hs: HubSpot, sandbox: HubSpotSandbox, clock: FakeClock
) -> None:
    kept = hs.crm.contacts.basic_api.create(contact(
        "ana@acme.test", firstname="Ana", lifecyclestage="lead", leadsync_id="L-1"))
    gone = hs.crm.contacts.basic_api.create(contact(
        "ana.ng@gmail.test", firstname="Anna", phone="+1 415 555 0100",
        lifecyclestage="customer"))
    clock.advance(minutes=3)

    merged = _merge(hs, kept.id, gone.id)
    by_old = [hs.crm.contacts.basic_api.get_by_id(i, properties=["email"])
              for i in (kept.id, gone.id)]
    batch = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=kept.id), SimplePublicObjectId(id=gone.id)],
        properties=["email"], properties_with_history=[]))

    assert merged.id not in (kept.id, gone.id)  # a new record, a new id
    assert int(merged.id) > int(gone.id)
    assert merged.properties["email"] == "ana@acme.test"  # the primary's email stays
    assert merged.properties["hs_additional_emails"] == "ana.ng@gmail.test"
    assert merged.properties["firstname"] == "Ana"  # the primary's value wins...
    assert merged.properties["phone"] == "+1 415 555 0100"  # ...the other fills the gaps
    assert merged.properties["lifecyclestage"] == "customer"  # furthest down the funnel
    assert merged.properties["leadsync_id"] == "L-1"
    assert merged.properties["hs_merged_object_ids"] == f"{kept.id};{gone.id}"
    stamp = _millis(clock.now)
    assert merged.properties["hs_calculated_merged_vids"] == (
        f"{kept.id}:{stamp};{gone.id}:{stamp}")
    assert merged.created_at == merged.updated_at == clock.now
    assert [r.id for r in by_old] == [merged.id, merged.id]
    assert [r.id for r in batch.results] == [merged.id]
    assert [r["id"] for r in sandbox.records("contacts", include_archived=True)] == [merged.id]


def test_writes_to_an_old_id_land_on_the_merged_contact(hs: HubSpot) -> None:
    kept = hs.crm.contacts.basic_api.create(contact("k@acme.test"))
    gone = hs.crm.contacts.basic_api.create(contact("g@acme.test"))
    merged = _merge(hs, kept.id, gone.id)

    updated = hs.crm.contacts.basic_api.update(
        gone.id, SimplePublicObjectInput(properties={"city": "Lyon"}))

    assert updated.id == merged.id
    assert hs.crm.contacts.basic_api.get_by_id(merged.id, properties=["city"]
                                               ).properties["city"] == "Lyon"


def test_merging_a_merged_contact_again_keeps_every_old_id_pointing_at_the_latest(
    sandbox: HubSpotSandbox, hs: HubSpot
) -> None:
    a, b, c = (sandbox.create("contacts", {"email": f"{n}@acme.test"})["id"] for n in "abc")
    first = _merge(hs, a, b)

    second = _merge(hs, c, first.id)

    assert [hs.crm.contacts.basic_api.get_by_id(i).id for i in (a, b, c, first.id)] == (
        [second.id] * 4)
    assert second.properties["hs_merged_object_ids"] == ";".join([a, b, c, first.id])
    assert second.properties["email"] == "c@acme.test"
    assert second.properties["hs_additional_emails"] == "a@acme.test;b@acme.test"


def test_the_merged_away_email_still_names_the_merged_contact(hs: HubSpot) -> None:
    kept = hs.crm.contacts.basic_api.create(contact("k@acme.test"))
    gone = hs.crm.contacts.basic_api.create(contact("g@acme.test"))
    merged = _merge(hs, kept.id, gone.id)

    found = hs.crm.contacts.basic_api.get_by_id("G@acme.test", id_property="email")
    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.create(contact("g@acme.test"))

    assert found.id == merged.id
    assert failure.value.status == 409
    assert body(failure.value)["message"] == f"Contact already exists. Existing ID: {merged.id}"


def test_associations_and_engagements_move_to_the_merged_contact(
    hs: HubSpot, sandbox: HubSpotSandbox
) -> None:
    acme = sandbox.create("companies", {"name": "Acme"})["id"]
    globex = sandbox.create("companies", {"name": "Globex"})["id"]
    kept = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "k@acme.test"}, associations=_to(acme, 1)))  # primary company
    gone = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "g@globex.test"}, associations=_to(globex, 1)))
    sandbox.associate("contacts", gone.id, "companies", globex)  # and the unlabeled type
    task = hs.crm.objects.tasks.basic_api.create(TaskInput(
        properties={"hs_task_subject": "Call back"}, associations=_to(gone.id, 204)))
    deal = sandbox.create_deal(gone.id, "qualifiedtobuy", 900)

    merged = _merge(hs, kept.id, gone.id)
    companies = hs.crm.associations.v4.basic_api.get_page("contacts", merged.id, "companies")
    types = {r.to_object_id: sorted(t.type_id for t in r.association_types)
             for r in companies.results}

    assert types == {acme: [1], globex: [279]}  # one primary company: the primary's
    assert sandbox.associations("contacts", merged.id, "tasks") == [task.id]
    assert sandbox.associations("tasks", task.id, "contacts") == [merged.id]
    assert sandbox.associations("deals", deal["id"], "contacts") == [merged.id]
    assert sandbox.associations("companies", globex, "contacts") == [merged.id]
    assert sandbox.associations("companies", acme, "contacts") == [merged.id]
    for old in (kept.id, gone.id):
        assert hs.crm.associations.v4.basic_api.get_page(
            "contacts", old, "tasks").results[0].to_object_id == task.id  # old ids resolve


def _refusal(hs: HubSpot, case: str) -> tuple[dict[str, Any], ApiException]:
    first = hs.crm.contacts.basic_api.create(contact("a@acme.test")).id
    second = hs.crm.contacts.basic_api.create(contact("b@acme.test")).id
    archived = hs.crm.contacts.basic_api.create(contact("c@acme.test")).id
    hs.crm.contacts.basic_api.archive(archived)
    pairs = {
        "itself": (first, first),
        "unknown": (first, "999999"),
        "archived": (archived, second),
        "into what it became": (None, first),
    }
    primary, merged = pairs[case]
    if primary is None:  # an id already merged away points at its merged record
        primary = _merge(hs, first, second).id
    with pytest.raises(ApiException) as failure:
        _merge(hs, primary, merged)
    return body(failure.value), failure.value


@pytest.mark.parametrize("case, context", [
    ("itself", "both"),
    ("unknown", ["999999"]),
    ("archived", "primary"),
    ("into what it became", "both"),
])
def test_merges_hubspot_refuses_are_400_validation_errors(
    hs: HubSpot, case: str, context: Any
) -> None:
    answer, failure = _refusal(hs, case)

    assert failure.status == 400
    assert answer["status"] == "error"
    assert answer["category"] == "VALIDATION_ERROR"
    assert answer["message"].startswith("Unable to merge")
    assert answer["correlationId"]
    assert len(answer["context"]["ids"]) == (2 if context == "both" else 1)
    if isinstance(context, list):
        assert answer["context"]["ids"] == context


def test_a_merge_body_without_both_ids_is_refused(sandbox: HubSpotSandbox) -> None:
    answer = requests.post(f"{sandbox.base_url}/crm/v3/objects/contacts/merge", headers=HEADERS,
                           json={"primaryObjectId": "1"}, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "objectIdToMerge" in answer.json()["message"]


def test_tasks_have_no_merge_endpoint(sandbox: HubSpotSandbox) -> None:
    answer = requests.post(f"{sandbox.base_url}/crm/v3/objects/tasks/merge", headers=HEADERS,
                           json={"primaryObjectId": "1", "objectIdToMerge": "2"}, timeout=5)

    assert answer.status_code == 404


def test_companies_and_deals_merge_the_same_way(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    a = sandbox.create("companies", {"name": "Acme", "lifecyclestage": "lead"})["id"]
    b = sandbox.create("companies", {"name": "Acme Inc", "lifecyclestage": "customer"})["id"]
    person = sandbox.create("contacts", {"email": "p@acme.test"})["id"]
    d1 = sandbox.create_deal(person, "qualifiedtobuy", 100, lifecyclestage=None)["id"]
    d2 = sandbox.create_deal(person, "contractsent", 200, lifecyclestage=None)["id"]

    company = hs.crm.companies.basic_api.merge(CompanyMerge(primary_object_id=a,
                                                            object_id_to_merge=b))
    deal = hs.crm.deals.basic_api.merge(DealMerge(primary_object_id=d1, object_id_to_merge=d2))

    assert company.properties["name"] == "Acme"
    assert company.properties["lifecyclestage"] == "customer"
    assert hs.crm.companies.basic_api.get_by_id(b).id == company.id
    assert deal.properties["amount"] == "100"
    assert deal.properties["hs_merged_object_ids"] == f"{d1};{d2}"
    assert sandbox.associations("contacts", person, "deals") == [deal.id]


def test_a_rep_merge_makes_no_api_call_and_is_the_reps_in_history(
    sandbox: HubSpotSandbox, hs: HubSpot, clock: FakeClock
) -> None:
    kept = sandbox.create("contacts", {"email": "k@acme.test", "firstname": "Kim",
                                       "hubspot_owner_id": "70000002"})
    clock.advance(minutes=1)
    gone = sandbox.create("contacts", {"email": "g@acme.test", "firstname": "Kimberly"})
    clock.advance(hours=1)
    before = sandbox.request_count

    merged = sandbox.merge("contacts", kept["id"], gone["id"])

    assert sandbox.request_count == before
    assert merged["properties"]["hs_updated_by_user_id"] == "9000002"  # the owner's user
    history = sandbox.history("contacts", merged["id"], "firstname")
    assert [h["value"] for h in history] == ["Kim", "Kimberly", "Kim"]
    assert history[0] == {"value": "Kim", "timestamp": "2026-11-25T04:01:00.000Z",
                          "sourceType": "CRM_UI", "sourceId": "userId:9000002",
                          "updatedByUserId": 9000002}
    assert hs.crm.contacts.basic_api.get_by_id(gone["id"]).id == merged["id"]
    with pytest.raises(KeyError):
        sandbox.merge("contacts", merged["id"], "999999")
    with pytest.raises(WriteRejected) as refused:
        sandbox.merge("contacts", merged["id"], kept["id"])
    assert refused.value.status == 400
    assert refused.value.body["category"] == "VALIDATION_ERROR"


def test_merges_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "portal.json"
    with running(state_path=state) as first:
        kept = first.create("contacts", {"email": "k@acme.test"})["id"]
        gone = first.create("contacts", {"email": "g@acme.test", "firstname": "Gil"})["id"]
        merged = first.merge("contacts", kept, gone)["id"]

    with running(state_path=state) as second:
        read = client(second).crm.contacts.basic_api.get_by_id(
            gone, properties_with_history=["firstname"])

    assert read.id == merged
    assert [h.value for h in read.properties_with_history["firstname"]] == ["Gil"]


# --- archived reads -------------------------------------------------------------------------------


def test_archived_contacts_are_read_only_with_archived_true(
    hs: HubSpot, sandbox: HubSpotSandbox, clock: FakeClock
) -> None:
    live = hs.crm.contacts.basic_api.create(contact("live@acme.test"))
    by_api = hs.crm.contacts.basic_api.create(contact("api@acme.test"))
    by_rep = hs.crm.contacts.basic_api.create(contact("rep@acme.test"))
    clock.advance(minutes=10)
    hs.crm.contacts.basic_api.archive(by_api.id)
    clock.advance(minutes=10)
    helper = sandbox.archive("contacts", by_rep.id)

    listed = hs.crm.contacts.basic_api.get_page(archived=True)
    one = hs.crm.contacts.basic_api.get_by_id(by_api.id, archived=True)
    batch = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=by_rep.id), SimplePublicObjectId(id=live.id)],
        properties=["email"], properties_with_history=[]), archived=True)
    live_page = hs.crm.contacts.basic_api.get_page()

    assert [(r.id, r.archived) for r in listed.results] == [(by_api.id, True), (by_rep.id, True)]
    assert [r.archived_at for r in listed.results] == [
        clock.now - timedelta(minutes=10), clock.now]
    assert (one.archived, one.archived_at) == (True, clock.now - timedelta(minutes=10))
    assert helper["archivedAt"] == "2026-11-25T03:20:00.000Z"
    assert [r.id for r in batch.results] == [by_rep.id]
    assert batch.errors[0].context == {"ids": [live.id]}  # live is not archived
    assert [r.id for r in live_page.results] == [live.id]
    assert live_page.results[0].archived is False and live_page.results[0].archived_at is None
    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.get_by_id(by_rep.id)
    assert failure.value.status == 404


# --- property history -----------------------------------------------------------------------------


def test_history_lists_every_change_newest_first_with_its_source(
    hs: HubSpot, sandbox: HubSpotSandbox, clock: FakeClock
) -> None:
    start = clock.now
    made = hs.crm.contacts.basic_api.create(contact("h@acme.test", firstname="Al",
                                                    hubspot_owner_id="70000001"))
    clock.advance(minutes=5)
    hs.crm.contacts.basic_api.update(made.id, SimplePublicObjectInput(
        properties={"firstname": "Alan", "city": "Oslo"}))
    clock.advance(minutes=5)
    hs.crm.contacts.basic_api.update(made.id, SimplePublicObjectInput(
        properties={"firstname": "Alan"}))  # no change, no entry
    sandbox.update("contacts", made.id, {"firstname": "Alain", "city": ""})

    read = hs.crm.contacts.basic_api.get_by_id(
        made.id, properties=["firstname"],
        properties_with_history=["firstname", "city", "no_such_property"])
    firstname = read.properties_with_history["firstname"]
    city = read.properties_with_history["city"]

    assert [(h.value, h.timestamp) for h in firstname] == [
        ("Alain", start + timedelta(minutes=10)), ("Alan", start + timedelta(minutes=5)),
        ("Al", start)]
    assert [(h.source_type, h.source_id, h.updated_by_user_id) for h in firstname] == [
        ("CRM_UI", "userId:9000001", 9000001), ("INTEGRATION", PRIVATE_APP_ID, None),
        ("INTEGRATION", PRIVATE_APP_ID, None)]
    assert [h.value for h in city] == ["", "Oslo"]  # clearing is a change too
    assert set(read.properties_with_history) == {"firstname", "city"}  # unknown names ignored
    assert read.properties["firstname"] == "Alain"


def test_a_merged_contact_keeps_both_histories_and_its_current_values_on_top(
    hs: HubSpot, clock: FakeClock
) -> None:
    kept = hs.crm.contacts.basic_api.create(contact("k@acme.test", jobtitle="CTO"))
    clock.advance(minutes=1)
    gone = hs.crm.contacts.basic_api.create(contact("g@acme.test", jobtitle="VP"))
    clock.advance(minutes=1)

    merged = _merge(hs, kept.id, gone.id)
    history = hs.crm.contacts.basic_api.get_by_id(
        merged.id, properties_with_history=["jobtitle", "hs_object_id"]
    ).properties_with_history

    assert [h.value for h in history["jobtitle"]] == ["CTO", "VP", "CTO"]
    assert history["jobtitle"][0].timestamp == clock.now  # the merge chose the primary's
    assert [h.value for h in history["hs_object_id"]] == [merged.id, gone.id, kept.id]
    assert history["hs_object_id"][0].source_type == "CALCULATED"


def test_history_on_list_pages_and_batch_read(hs: HubSpot, clock: FakeClock) -> None:
    hs.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": f"n{n}@acme.test"})
        for n in range(60)]))
    clock.advance(minutes=1)

    page = hs.crm.contacts.basic_api.get_page(limit=100, properties_with_history=["email"])
    rest = hs.crm.contacts.basic_api.get_page(limit=100, after=page.paging.next.after,
                                              properties_with_history=["email"])
    batch = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=page.results[0].id)], properties=["email"],
        properties_with_history=["email"]))

    assert len(page.results) == 50  # history makes pages smaller, paging goes on
    assert len(rest.results) == 10 and rest.paging is None
    assert [h.value for h in page.results[3].properties_with_history["email"]] == [
        "n3@acme.test"]
    assert batch.results[0].properties_with_history["email"][0].timestamp == (
        clock.now - timedelta(minutes=1))


def test_updated_at_is_the_last_change_on_every_read(hs: HubSpot, clock: FakeClock) -> None:
    made = hs.crm.contacts.basic_api.create(contact("u@acme.test"))
    other = hs.crm.contacts.basic_api.create(contact("o@acme.test"))
    clock.advance(hours=2)
    hs.crm.contacts.basic_api.update(made.id, SimplePublicObjectInput(properties={"city": "X"}))
    clock.advance(hours=1)
    merged = _merge(hs, other.id, made.id)  # stamps the new record at the merge time
    clock.advance(hours=1)

    reads = [
        hs.crm.contacts.basic_api.get_by_id(merged.id),
        hs.crm.contacts.basic_api.get_page().results[0],
        hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
            filter_groups=[], properties=["email"], limit=10)).results[0],
        hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=made.id)], properties=[],
            properties_with_history=[])).results[0],
    ]

    merge_time = clock.now - timedelta(hours=1)
    assert {r.id for r in reads} == {merged.id}
    assert {r.updated_at for r in reads} == {merge_time}
    assert {r.properties["lastmodifieddate"] for r in reads} == {"2026-11-25T06:00:00.000Z"}

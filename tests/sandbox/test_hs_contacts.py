"""Contacts through the real hubspot-api-client: auth, CRUD, idProperty, batches, upsert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hs_helpers import body, client, contact, running, upsert_batch
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
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
def hs(sandbox: HubSpotSandbox) -> HubSpot:
    return client(sandbox)


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_wrong_or_missing_token_gets_hubspots_401(sandbox: HubSpotSandbox, token: str) -> None:
    with pytest.raises(ApiException) as failure:
        client(sandbox, token=token).crm.contacts.basic_api.get_page()

    assert failure.value.status == 401
    answer = body(failure.value)
    assert answer["status"] == "error"
    assert answer["category"] == "INVALID_AUTHENTICATION"
    assert answer["message"].startswith("Authentication credentials not found")
    assert answer["correlationId"]


def test_create_then_read_by_id_and_by_email(hs: HubSpot) -> None:
    created = hs.crm.contacts.basic_api.create(contact("Ng@Acme.test", firstname="Ana"))

    by_id = hs.crm.contacts.basic_api.get_by_id(created.id, properties=["firstname", "phone"])
    by_email = hs.crm.contacts.basic_api.get_by_id("ng@acme.test", id_property="email")

    assert created.properties["email"] == "ng@acme.test"  # HubSpot stores emails lower-cased
    assert by_id.properties["firstname"] == "Ana"
    assert by_id.properties["phone"] is None  # requested but unset comes back as null
    assert by_id.properties["hs_object_id"] == created.id
    assert by_email.id == created.id


def test_a_second_contact_with_the_same_email_is_a_409_naming_the_first(hs: HubSpot) -> None:
    first = hs.crm.contacts.basic_api.create(contact("dup@acme.test"))

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.create(contact("DUP@acme.test"))

    assert failure.value.status == 409
    answer = body(failure.value)
    assert answer["category"] == "CONFLICT"
    assert answer["message"] == f"Contact already exists. Existing ID: {first.id}"


def test_update_moves_the_modified_stamp_and_archive_hides_the_record(
    hs: HubSpot, clock: FakeClock, sandbox: HubSpotSandbox
) -> None:
    created = hs.crm.contacts.basic_api.create(contact("up@acme.test"))
    clock.advance(minutes=5)

    updated = hs.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"jobtitle": "CTO"})
    )
    hs.crm.contacts.basic_api.archive(created.id)

    assert updated.properties["jobtitle"] == "CTO"
    assert updated.properties["lastmodifieddate"] > created.properties["lastmodifieddate"]
    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.get_by_id(created.id)
    assert failure.value.status == 404
    assert body(failure.value)["category"] == "OBJECT_NOT_FOUND"
    archived = hs.crm.contacts.basic_api.get_by_id(created.id, archived=True)
    assert archived.archived is True
    assert sandbox.records("contacts") == []


def test_update_by_unique_id_property(hs: HubSpot) -> None:
    hs.crm.contacts.basic_api.create(contact("k@acme.test", leadsync_id="lead-7"))

    updated = hs.crm.contacts.basic_api.update(
        "lead-7", SimplePublicObjectInput(properties={"city": "Lyon"}), id_property="leadsync_id"
    )

    assert updated.properties["city"] == "Lyon"


def test_get_page_follows_paging_after_and_link(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    for n in range(5):
        hs.crm.contacts.basic_api.create(contact(f"p{n}@acme.test"))

    first = hs.crm.contacts.basic_api.get_page(limit=2)
    second = hs.crm.contacts.basic_api.get_page(limit=2, after=first.paging.next.after)
    linked = requests.get(first.paging.next.link,
                          headers={"Authorization": "Bearer sandbox-token"}, timeout=5).json()
    everything = hs.crm.contacts.get_all()

    assert [r.properties["email"] for r in first.results] == ["p0@acme.test", "p1@acme.test"]
    assert [r.properties["email"] for r in second.results] == ["p2@acme.test", "p3@acme.test"]
    assert [r["id"] for r in linked["results"]] == [r.id for r in second.results]
    assert len(everything) == 5


def test_batch_upsert_by_leadsync_id_creates_then_updates(
    hs: HubSpot, sandbox: HubSpotSandbox
) -> None:
    rows = [("L-1", {"email": "a@acme.test"}), ("L-2", {"email": "b@acme.test"})]
    first = hs.crm.contacts.batch_api.upsert(upsert_batch(rows))
    second = hs.crm.contacts.batch_api.upsert(
        upsert_batch([("L-1", {"firstname": "Ana"}), ("L-3", {"email": "c@acme.test"})])
    )

    assert first.status == "COMPLETE"
    assert [(r.properties["leadsync_id"], r.new) for r in first.results] == [
        ("L-1", True), ("L-2", True)
    ]
    assert {r.properties["leadsync_id"]: r.new for r in second.results} == {
        "L-1": False, "L-3": True
    }
    stored = {r["properties"]["leadsync_id"]: r["properties"] for r in sandbox.records("contacts")}
    assert stored["L-1"]["firstname"] == "Ana"
    assert stored["L-1"]["email"] == "a@acme.test"
    assert len(stored) == 3


def test_batch_upsert_by_email(hs: HubSpot) -> None:
    existing = hs.crm.contacts.basic_api.create(contact("e@acme.test"))

    result = hs.crm.contacts.batch_api.upsert(
        upsert_batch([("e@acme.test", {"city": "Oslo"}), ("f@acme.test", {"city": "Rome"})],
                     id_property="email")
    )

    by_email = {r.properties["email"]: r for r in result.results}
    assert by_email["e@acme.test"].id == existing.id and by_email["e@acme.test"].new is False
    assert by_email["f@acme.test"].new is True


def test_upsert_email_clash_through_another_id_property_is_a_409(hs: HubSpot) -> None:
    first = hs.crm.contacts.basic_api.create(contact("taken@acme.test"))

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.batch_api.upsert(upsert_batch([("L-9", {"email": "taken@acme.test"})]))

    assert failure.value.status == 409
    assert body(failure.value)["message"] == f"Contact already exists. Existing ID: {first.id}"


def test_more_than_100_inputs_is_refused_whole(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    rows = [(f"L-{n}", {"email": f"n{n}@acme.test"}) for n in range(101)]

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.batch_api.upsert(upsert_batch(rows))

    assert failure.value.status == 400
    assert body(failure.value)["category"] == "VALIDATION_ERROR"
    assert sandbox.records("contacts") == []
    assert len(hs.crm.contacts.batch_api.upsert(upsert_batch(rows[:100])).results) == 100


def test_one_invalid_value_refuses_the_whole_batch(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    batch = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": "ok@acme.test"}),
        SimplePublicObjectBatchInputForCreate(properties={"email": "x@acme.test",
                                                          "hs_lead_status": "HOT"}),
    ])

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.batch_api.create(batch)

    answer = body(failure.value)
    assert failure.value.status == 400
    assert [e["code"] for e in answer["errors"]] == ["INVALID_OPTION"]
    assert sandbox.records("contacts") == []


def test_batch_read_reports_missing_ids_in_a_207(hs: HubSpot) -> None:
    known = hs.crm.contacts.basic_api.create(contact("r@acme.test"))

    result = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=known.id), SimplePublicObjectId(id="999999")],
        properties=["email"], properties_with_history=[],
    ))

    assert [r.id for r in result.results] == [known.id]
    assert result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["999999"]}


def test_batch_read_by_id_property(hs: HubSpot) -> None:
    known = hs.crm.contacts.basic_api.create(contact("s@acme.test", leadsync_id="L-s"))

    result = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        id_property="leadsync_id", inputs=[SimplePublicObjectId(id="L-s")],
        properties=["leadsync_id"], properties_with_history=[],
    ))

    assert [r.id for r in result.results] == [known.id]


def test_batch_update_applies_known_ids_and_reports_the_rest(hs: HubSpot) -> None:
    known = hs.crm.contacts.basic_api.create(contact("u@acme.test"))

    result = hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=known.id, properties={"hs_lead_status": "OPEN"}),
        SimplePublicObjectBatchInput(id="424242", properties={"hs_lead_status": "OPEN"}),
    ]))

    assert [r.properties["hs_lead_status"] for r in result.results] == ["OPEN"]
    assert result.errors[0].context == {"ids": ["424242"]}


def test_batch_update_with_duplicate_ids_is_refused(hs: HubSpot) -> None:
    known = hs.crm.contacts.basic_api.create(contact("d@acme.test"))
    same = SimplePublicObjectBatchInput(id=known.id, properties={"city": "Paris"})

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[same,
                                                                                      same]))

    assert failure.value.status == 400
    assert "Duplicate IDs" in body(failure.value)["message"]


def test_batch_archive(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    known = hs.crm.contacts.basic_api.create(contact("z@acme.test"))

    hs.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=known.id), SimplePublicObjectId(id="1")]
    ))

    assert sandbox.records("contacts") == []


def test_batch_results_echo_each_inputs_trace_id(hs_client: Any) -> None:
    """Batch results come in any order; objectWriteTraceId is how a client matches them."""
    batch = hs_client.crm.contacts.batch_api
    made = batch.create({"inputs": [
        {"objectWriteTraceId": f"t{i}", "properties": {"email": f"t{i}@trace.example"}}
        for i in range(3)]})
    by_trace = {r.object_write_trace_id: r.properties["email"] for r in made.results}
    assert by_trace == {f"t{i}": f"t{i}@trace.example" for i in range(3)}
    upserted = batch.upsert({"inputs": [
        {"idProperty": "email", "id": "t1@trace.example", "objectWriteTraceId": "u1",
         "properties": {"lastname": "One"}}]})
    assert [r.object_write_trace_id for r in upserted.results] == ["u1"]

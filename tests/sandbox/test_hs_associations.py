"""Deals, tasks and notes with associations, through the real client's v3 and v4 APIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hs_helpers import body, client, contact, running
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate as NoteInput
from hubspot.crm.objects.tasks import ApiException as TasksApiException
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput
from sf_helpers import FakeClock

from connector.sandbox.hubspot import HubSpotSandbox, WriteRejected


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with running(clock=FakeClock()) as started:
        yield started


@pytest.fixture
def hs(sandbox: HubSpotSandbox) -> HubSpot:
    return client(sandbox)


def _to_contact(contact_id: str, type_id: int) -> list[dict[str, object]]:
    return [{"to": {"id": contact_id},
             "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]


def test_task_and_note_created_with_an_association_to_a_contact(
    hs: HubSpot, sandbox: HubSpotSandbox
) -> None:
    person = hs.crm.contacts.basic_api.create(contact("t@acme.test"))

    task = hs.crm.objects.tasks.basic_api.create(TaskInput(
        properties={"hs_task_subject": "Call Ana", "hs_task_body": "Asked for pricing",
                    "hs_timestamp": "2024-03-01T09:00:00Z", "hubspot_owner_id": "70000001",
                    "hs_task_priority": "HIGH"},
        associations=_to_contact(person.id, 204),
    ))
    note = hs.crm.objects.notes.basic_api.create(NoteInput(
        properties={"hs_note_body": "Visited pricing page 3 times",
                    "hs_timestamp": "1709283600000"},
        associations=_to_contact(person.id, 202),
    ))
    listed = hs.crm.associations.v4.basic_api.get_page("contacts", person.id, "tasks")

    assert task.properties["hs_task_status"] == "NOT_STARTED"  # HubSpot's default
    assert sandbox.associations("contacts", person.id, "notes") == [note.id]
    assert [r.to_object_id for r in listed.results] == [task.id]
    assert listed.results[0].association_types[0].type_id == 203  # the inverse type


def test_an_association_to_a_missing_contact_is_refused(hs: HubSpot) -> None:
    with pytest.raises(TasksApiException) as failure:
        hs.crm.objects.tasks.basic_api.create(TaskInput(
            properties={"hs_task_subject": "x"}, associations=_to_contact("999999", 204)))

    assert failure.value.status == 400
    assert body(failure.value)["category"] == "VALIDATION_ERROR"


def test_default_association_and_batch_read(hs: HubSpot, sandbox: HubSpotSandbox) -> None:
    person = hs.crm.contacts.basic_api.create(contact("c@acme.test"))
    lonely = hs.crm.contacts.basic_api.create(contact("l@acme.test"))
    company = sandbox.create("companies", {"name": "Acme", "domain": "acme.test"})

    made = hs.crm.associations.v4.basic_api.create_default("contacts", person.id, "companies",
                                                           company["id"])
    read = hs.crm.associations.v4.batch_api.get_page("contacts", "companies",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[
            PublicFetchAssociationsBatchRequest(id=person.id),
            PublicFetchAssociationsBatchRequest(id=lonely.id)]))

    assert made.results[0].association_spec.association_type_id == 279
    assert [r._from.id for r in read.results] == [person.id]
    assert [t.to_object_id for t in read.results[0].to] == [company["id"]]
    assert read.num_errors == 1
    assert sandbox.associations("companies", company["id"], "contacts") == [person.id]


def test_a_rep_closes_a_deal_and_the_loop_can_read_it(
    hs: HubSpot, sandbox: HubSpotSandbox
) -> None:
    person = hs.crm.contacts.basic_api.create(contact("w@acme.test", firstname="Wen",
                                                      lifecyclestage="salesqualifiedlead"))

    deal = sandbox.create_deal(person.id, "closedwon", 12500, owner="avery.chen")
    deals = hs.crm.associations.v4.basic_api.get_page("contacts", person.id, "deals")
    read = hs.crm.deals.basic_api.get_by_id(
        deals.results[0].to_object_id,
        properties=["dealstage", "amount", "hs_is_closed", "hs_is_closed_won",
                    "hubspot_owner_id"])
    after = hs.crm.contacts.basic_api.get_by_id(person.id, properties=["lifecyclestage"])

    assert read.id == deal["id"]
    assert read.properties["dealstage"] == "closedwon"
    assert read.properties["amount"] == "12500"
    assert read.properties["hs_is_closed"] == "true"
    assert read.properties["hs_is_closed_won"] == "true"
    assert read.properties["hubspot_owner_id"] == "70000001"
    assert after.properties["lifecyclestage"] == "customer"


def test_rep_helpers_validate_like_the_api(sandbox: HubSpotSandbox, hs: HubSpot) -> None:
    person = hs.crm.contacts.basic_api.create(contact("h@acme.test"))

    with pytest.raises(WriteRejected) as refused:
        sandbox.update("contacts", person.id, {"hs_lead_status": "MAYBE"})
    updated = sandbox.set_owner("contacts", person.id, "jordan.patel@leadsync.sandbox")

    assert refused.value.status == 400
    assert refused.value.body["errors"][0]["code"] == "INVALID_OPTION"
    assert updated["properties"]["hubspot_owner_id"] == "70000002"
    assert updated["properties"]["hs_updated_by_user_id"] == "9000002"  # not an API write


def test_computed_deal_fields_are_read_only(hs: HubSpot) -> None:
    from hubspot.crm.deals import ApiException as DealsApiException
    from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealInput

    with pytest.raises(DealsApiException) as failure:
        hs.crm.deals.basic_api.create(DealInput(properties={"dealname": "x",
                                                            "hs_is_closed": "true"}))

    assert body(failure.value)["errors"][0]["code"] == "READ_ONLY_VALUE"


def test_an_association_batch_read_takes_a_thousand_ids_and_no_more(
    hs: HubSpot, sandbox: HubSpotSandbox
) -> None:
    """HubSpot's documented limit (changelog, February 2025): 1,000 ids per request."""
    from hubspot.crm.associations.v4 import ApiException as AssociationsApiException

    person = hs.crm.contacts.basic_api.create(contact("many@example.com"))

    def read(count: int) -> object:
        return hs.crm.associations.v4.batch_api.get_page(
            "contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[
                PublicFetchAssociationsBatchRequest(id=person.id) for _ in range(count)]))

    assert read(1000).num_errors == 1000  # answered: no company is associated
    with pytest.raises(AssociationsApiException) as refused:
        read(1001)
    assert refused.value.status == 400
    assert "1000" in body(refused.value)["message"]

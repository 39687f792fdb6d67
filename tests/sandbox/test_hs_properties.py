"""Properties API, write validation with HubSpot's error bodies, lifecycle rules, owners."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hs_helpers import body, client, contact, running
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate
from sf_helpers import FakeClock

from connector.sandbox.hubspot import HubSpotSandbox


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with running(clock=FakeClock()) as started:
        yield started


@pytest.fixture
def hs(sandbox: HubSpotSandbox) -> HubSpot:
    return client(sandbox)


def test_leadsync_id_is_a_unique_custom_property(hs: HubSpot) -> None:
    prop = hs.crm.properties.core_api.get_by_name("contacts", "leadsync_id")

    assert prop.has_unique_value is True
    assert prop.type == "string" and prop.field_type == "text"
    assert prop.modification_metadata.read_only_value is False


def test_standard_enumerations_and_read_only_stamps(hs: HubSpot) -> None:
    props = {p.name: p for p in hs.crm.properties.core_api.get_all("contacts").results}

    assert [o.value for o in props["hs_lead_status"].options] == [
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
        "CONNECTED", "BAD_TIMING"]
    assert [o.value for o in props["lifecyclestage"].options][:3] == [
        "subscriber", "lead", "marketingqualifiedlead"]
    assert props["hs_lastmodifieddate"].modification_metadata.read_only_value is True
    assert props["email"].has_unique_value is True
    assert {o.value for o in props["hubspot_owner_id"].options} == {
        "70000001", "70000002", "70000003", "70000004"}  # active owners only


def test_create_a_property_and_write_it(hs: HubSpot) -> None:
    created = hs.crm.properties.core_api.create("contacts", PropertyCreate(
        name="lead_grade", label="Lead grade", type="enumeration", field_type="select",
        group_name="contactinformation",
        options=[OptionInput(label="A", value="A", hidden=False),
                 OptionInput(label="B", value="B", hidden=False)],
    ))
    record = hs.crm.contacts.basic_api.create(contact("g@acme.test", lead_grade="B"))

    assert created.name == "lead_grade"
    assert record.properties["lead_grade"] == "B"
    with pytest.raises(PropertiesApiException) as failure:
        hs.crm.properties.core_api.create("contacts", PropertyCreate(
            name="lead_grade", label="again", type="string", field_type="text",
            group_name="contactinformation"))
    assert failure.value.status == 409


@pytest.mark.parametrize(
    ("properties", "code", "message"),
    [
        ({"favourite_colour": "red"}, "PROPERTY_DOESNT_EXIST",
         'Property "favourite_colour" does not exist'),
        ({"hs_lead_status": "HOT"}, "INVALID_OPTION",
         "HOT was not one of the allowed options: [NEW, OPEN, IN_PROGRESS, OPEN_DEAL, "
         "UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED, BAD_TIMING]"),
        ({"leadsync_score": "lots"}, "INVALID_INTEGER", "lots was not a valid number."),
        ({"email": "not-an-email"}, "INVALID_EMAIL", "Email address not-an-email is invalid"),
        ({"hubspot_owner_id": "123"}, "INVALID_OWNER_ID", "123 is not a valid owner id"),
    ],
)
def test_invalid_values_get_validation_errors(
    hs: HubSpot, sandbox: HubSpotSandbox, properties: dict[str, Any], code: str, message: str
) -> None:
    values = {"email": "v@acme.test", **properties}

    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.create(contact(values.pop("email"), **values))

    answer = body(failure.value)
    assert failure.value.status == 400
    assert answer["category"] == "VALIDATION_ERROR"
    assert [(e["code"], e["message"]) for e in answer["errors"]] == [(code, message)]
    assert sandbox.records("contacts") == []


def test_validation_error_body(hs: HubSpot) -> None:
    with pytest.raises(ApiException) as failure:
        hs.crm.contacts.basic_api.create(contact("v@acme.test", leadsync_score="lots",
                                                 favourite_colour="red"))

    answer = body(failure.value)
    assert failure.value.status == 400
    assert answer["status"] == "error"
    assert answer["category"] == "VALIDATION_ERROR"
    assert answer["message"].startswith("Property values were not valid: [")
    assert answer["errors"] == [
        {"message": "lots was not a valid number.", "code": "INVALID_INTEGER",
         "context": {"propertyName": ["leadsync_score"]}},
        {"message": 'Property "favourite_colour" does not exist',
         "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["favourite_colour"]}},
    ]


def test_lifecycle_stage_only_moves_forward_unless_cleared(hs: HubSpot) -> None:
    record = hs.crm.contacts.basic_api.create(contact("l@acme.test",
                                                      lifecyclestage="opportunity"))

    def set_stage(stage: str) -> str | None:
        hs.crm.contacts.basic_api.update(
            record.id, SimplePublicObjectInput(properties={"lifecyclestage": stage}))
        return hs.crm.contacts.basic_api.get_by_id(
            record.id, properties=["lifecyclestage"]).properties["lifecyclestage"]

    assert set_stage("lead") == "opportunity"  # ignored, no error
    assert set_stage("customer") == "customer"
    assert set_stage("") is None
    assert set_stage("lead") == "lead"


def test_owners_page_and_archived(hs: HubSpot) -> None:
    first = hs.crm.owners.owners_api.get_page(limit=3)
    rest = hs.crm.owners.owners_api.get_page(limit=3, after=first.paging.next.after)
    archived = hs.crm.owners.owners_api.get_page(archived=True)
    by_email = hs.crm.owners.owners_api.get_page(email="morgan.diaz@leadsync.sandbox")

    assert len(first.results) == 3 and len(rest.results) == 1 and rest.paging is None
    assert {o.email for o in archived.results} == {"casey.brooks@leadsync.sandbox",
                                                   "drew.nakamura@leadsync.sandbox"}
    assert all(o.archived for o in archived.results)
    assert [o.first_name for o in by_email.results] == ["Morgan"]
    one = hs.crm.owners.owners_api.get_by_id(int(first.results[0].id))
    assert one.email == first.results[0].email
    with pytest.raises(OwnersApiException) as failure:
        hs.crm.owners.owners_api.get_by_id(1)
    assert failure.value.status == 404

"""Record CRUD, external ids and upsert, describe, and audit stamps, over HTTP."""

from __future__ import annotations

import pytest
from sf_helpers import FakeClock, lead
from simple_salesforce import (
    Salesforce,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from werkzeug.test import Client

from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.ids import make_id

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_create_get_update_delete(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    created = sf.Lead.create(lead(Email="ada@analytical.example", Leadsync_Score__c=87.456))

    assert created == {"id": created["id"], "success": True, "errors": []}
    assert created["id"].startswith("00Q") and len(created["id"]) == 18

    record = sf.Lead.get(created["id"])
    assert record["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v59.0/sobjects/Lead/{created['id']}",
    }
    assert record["Name"] == "Ada Lovelace"
    assert record["Status"] == "Open - Not Contacted"  # defaulted on create
    assert record["Leadsync_Score__c"] == 87.46  # rounded to the field's scale
    assert record["OwnerId"] == record["CreatedById"]  # defaults to the API user
    assert record["IsDeleted"] is False

    assert (
        sf.Lead.update(created["id"], {"Status": "Working - Contacted", "LastName": "King"}) == 204
    )
    updated = sf.Lead.get(created["id"])
    assert (updated["Status"], updated["Name"]) == ("Working - Contacted", "Ada King")

    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Lead.get(created["id"])
    assert failure.value.content == NOT_FOUND
    assert sandbox.records("Lead") == []
    assert sandbox.records("Lead", include_deleted=True)[0]["IsDeleted"] is True


def test_create_answers_201_with_a_location(sf: Salesforce) -> None:
    response = sf.restful("sobjects/Lead/", method="POST", data='{"LastName":"A","Company":"B"}')
    # restful() returns the parsed body; check the raw response through the session instead.
    assert response["success"] is True
    raw = sf.session.post(
        f"{sf.base_url}sobjects/Lead/", headers=sf.headers, data='{"LastName":"A","Company":"B"}'
    )
    assert raw.status_code == 201
    assert raw.headers["Location"] == f"/services/data/v59.0/sobjects/Lead/{raw.json()['id']}"
    assert raw.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_get_with_fields_parameter(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead())["id"]

    record = sf.Lead.get(record_id, params={"fields": "company,Id"})

    assert list(record) == ["attributes", "Company", "Id"]


def test_fifteen_char_and_case_folded_ids_are_accepted(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead())["id"]

    assert sf.Lead.get(record_id[:15])["Id"] == record_id
    assert sf.Lead.get(record_id.lower())["Id"] == record_id


def test_deleted_record_cannot_be_updated_or_deleted_again(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead())["id"]
    sf.Lead.delete(record_id)

    for attempt in (
        lambda: sf.Lead.update(record_id, {"LastName": "X"}),
        lambda: sf.Lead.delete(record_id),
    ):
        with pytest.raises(SalesforceResourceNotFound) as failure:
            attempt()
        assert failure.value.content == [
            {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
        ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (make_id("00Q", 999), "The requested resource does not exist"),
        ("not-an-id", "Provided external ID field does not exist or is not accessible: not-an-id"),
    ],
)
def test_unknown_record_is_404_not_found(sf: Salesforce, path: str, message: str) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Lead.get(path)

    assert failure.value.content == [{"message": message, "errorCode": "NOT_FOUND"}]


def test_unknown_sobject_is_404_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Widget__c.describe()

    assert failure.value.content == NOT_FOUND


def test_upsert_creates_then_updates_without_duplicating(sf: Salesforce) -> None:
    created = sf.Lead.upsert("Leadsync_Id__c/ls-42", lead(LastName="First"), raw_response=True)
    assert created.status_code == 201
    assert created.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": True,
    }

    updated = sf.Lead.upsert("Leadsync_Id__c/ls-42", {"LastName": "Second"}, raw_response=True)
    assert updated.status_code == 200  # API v46+: 200 with created=false, not 204
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }

    found = sf.query("SELECT Id, LastName, Leadsync_Id__c FROM Lead")
    assert found["totalSize"] == 1
    assert found["records"][0]["LastName"] == "Second"
    assert found["records"][0]["Leadsync_Id__c"] == "ls-42"


def test_upsert_matches_external_ids_case_insensitively(sf: Salesforce) -> None:
    sf.Lead.upsert("Leadsync_Id__c/LS-7", lead())
    assert sf.Lead.upsert("Leadsync_Id__c/ls-7", {"Title": "CTO"}) == 200
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 1


def test_upsert_body_may_repeat_but_not_contradict_the_external_id(sf: Salesforce) -> None:
    assert sf.Lead.upsert("Leadsync_Id__c/ls-1", lead(Leadsync_Id__c="ls-1")) == 201

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.upsert("Leadsync_Id__c/ls-1", {"Leadsync_Id__c": "ls-2"})

    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert failure.value.content[0]["fields"] == ["Leadsync_Id__c"]


def test_upsert_on_a_field_that_is_not_an_external_id_is_404(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Lead.upsert("Company/Acme", lead())

    assert failure.value.content == [
        {
            "message": "Provided external ID field does not exist or is not accessible: Company",
            "errorCode": "NOT_FOUND",
        }
    ]


def test_upsert_create_is_validated_like_a_create(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.upsert("Leadsync_Id__c/ls-9", {"LastName": "NoCompany"})

    assert failure.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_upsert_update_only_does_not_create(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.upsert("Leadsync_Id__c/ls-5?updateOnly=true", lead())


def test_get_and_delete_by_external_id(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead(Leadsync_Id__c="ls-77"))["id"]

    assert sf.Lead.get_by_custom_id("Leadsync_Id__c", "ls-77")["Id"] == record_id
    assert sf.Lead.delete("Leadsync_Id__c/ls-77") == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get_by_custom_id("Leadsync_Id__c", "ls-77")


def test_external_id_with_an_encoded_slash_stays_one_segment(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead(Leadsync_Id__c="a/b"))["id"]

    assert sf.Lead.get_by_custom_id("Leadsync_Id__c", "a/b")["Id"] == record_id


def test_upsert_by_id_updates_the_record(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead())["id"]

    response = sf.Lead.upsert(f"Id/{record_id}", {"Title": "CEO"}, raw_response=True)

    assert (response.status_code, response.json()["created"]) == (200, False)
    assert sf.Lead.get(record_id)["Title"] == "CEO"


def test_lead_describe_has_the_fields_clients_rely_on(sf: Salesforce) -> None:
    describe = sf.Lead.describe()
    fields = {f["name"]: f for f in describe["fields"]}

    assert (describe["name"], describe["keyPrefix"]) == ("Lead", "00Q")
    assert fields["LastName"]["nillable"] is False
    assert fields["LastName"]["length"] == 80
    assert fields["Company"]["length"] == 255
    leadsync_id = fields["Leadsync_Id__c"]
    assert (leadsync_id["externalId"], leadsync_id["unique"], leadsync_id["idLookup"]) == (
        True,
        True,
        True,
    )
    assert (leadsync_id["type"], leadsync_id["length"], leadsync_id["custom"]) == (
        "string",
        64,
        True,
    )
    status = fields["Status"]
    assert status["type"] == "picklist" and status["defaultedOnCreate"] is True
    assert [v["value"] for v in status["picklistValues"]] == [
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    ]
    assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == [
        "Open - Not Contacted"
    ]
    assert fields["LeadSource"]["restrictedPicklist"] is False
    assert fields["OwnerId"]["referenceTo"] == ["Group", "User"]
    assert fields["Email"]["type"] == "email"
    assert fields["Name"]["createable"] is False
    assert fields["Leadsync_Score__c"]["type"] == "double"


def test_global_describe_and_basic_info(sf: Salesforce) -> None:
    names = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert names == {
        "Lead": "00Q",
        "User": "005",
        "Account": "001",
        "Contact": "003",
        "Opportunity": "006",
        "Task": "00T",
        "Event": "00U",
        "LeadStatus": "01J",  # the org's setup and history objects are listed too
        "LeadHistory": "017",
        "OpportunityFieldHistory": "017",
    }

    info = sf.Lead.metadata()
    assert info["objectDescribe"]["name"] == "Lead"
    assert info["recentItems"] == []


def test_built_in_users_are_queryable(sf: Salesforce) -> None:
    users = sf.query("SELECT Username, IsActive FROM User ORDER BY Username")["records"]

    assert users[0]["Username"] == "admin@leadsync.sandbox"
    assert sum(u["IsActive"] for u in users) == 5
    assert len(users) == 6


def test_audit_stamps_strictly_increase_with_a_frozen_clock(
    sf: Salesforce, clock: FakeClock
) -> None:
    first = sf.Lead.create(lead())["id"]
    second = sf.Lead.create(lead())["id"]
    sf.Lead.update(first, {"Title": "x"})

    stamps = [
        sf.Lead.get(second)["SystemModstamp"],
        sf.Lead.get(first)["SystemModstamp"],
    ]
    assert stamps == ["2026-11-25T03:00:00.007+0000", "2026-11-25T03:00:00.008+0000"]
    assert sf.Lead.get(first)["CreatedDate"] == "2026-11-25T03:00:00.006+0000"

    clock.advance(minutes=5)
    sf.Lead.update(second, {"Title": "y"})
    assert sf.Lead.get(second)["LastModifiedDate"] == "2026-11-25T03:05:00.000+0000"


def test_user_object_is_read_only(sf: Salesforce) -> None:
    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.User.create({"LastName": "X"})

    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"


def test_method_not_allowed(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    response = Client(sandbox.wsgi_app).put(
        "/services/data/v59.0/sobjects/Lead/describe",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )

    assert response.status_code == 405
    assert response.json == [
        {
            "message": "HTTP Method 'PUT' not allowed. Allowed are GET",
            "errorCode": "METHOD_NOT_ALLOWED",
        }
    ]


def test_concurrent_upserts_of_one_external_id_make_one_record(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    """The threaded server serialises check-then-write, so racing upserts never duplicate."""
    from concurrent.futures import ThreadPoolExecutor

    def upsert(n: int) -> int:
        return sf.Lead.upsert("Leadsync_Id__c/race", lead(Title=f"attempt {n}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upsert, range(24)))

    assert statuses.count(201) == 1
    assert statuses.count(200) == 23
    assert len(sandbox.records("Lead")) == 1

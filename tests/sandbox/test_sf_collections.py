"""sObject Collections (composite/sobjects) through the real simple-salesforce client."""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import FakeClock, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest, SalesforceResourceNotFound

from connector.sandbox.salesforce import SalesforceSandbox

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def typed(sobject: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": sobject}, **fields}


def post(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    return sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": all_or_none, "records": records}
    )


def test_create_mixed_types_returns_results_in_request_order(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    results = post(
        sf,
        [
            typed("Lead", **lead(Leadsync_Id__c="ls-1")),
            typed("Lead", Company="Acme"),
            typed("Account", Name="Acme"),
        ],
    )

    assert results[0]["success"] is True and results[0]["id"].startswith("00Q")
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert results[2]["success"] is True and results[2]["id"].startswith("001")
    assert [r["Leadsync_Id__c"] for r in sandbox.records("Lead")] == ["ls-1"]
    assert [a["Name"] for a in sandbox.records("Account")] == ["Acme"]


def test_all_or_none_rolls_back_every_record(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    results = post(
        sf,
        [typed("Lead", **lead()), typed("Lead", **lead(Email="nope")), typed("Lead", **lead())],
        all_or_none=True,
    )

    assert results[0] == {"success": False, "errors": [ROLLED_BACK]}
    assert results[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert results[2] == {"success": False, "errors": [ROLLED_BACK]}
    assert sandbox.records("Lead") == []


def test_update_validates_like_rest_and_keeps_ids(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    first = sf.Lead.create(lead())["id"]
    second = sf.Lead.create(lead())["id"]
    stamp_before = sandbox.records("Lead")[0]["SystemModstamp"]
    clock.advance(minutes=5)

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                typed("Lead", Id=first, Status="Working - Contacted"),
                typed("Lead", Id=second, Status="Qualified"),
                typed("Lead", Title="no id"),
            ]
        },
    )

    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1] == {
        "id": second,
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Status: bad value for restricted picklist field: Qualified",
                "fields": ["Status"],
            }
        ],
    }
    assert results[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    updated = sf.Lead.get(first)
    assert updated["Status"] == "Working - Contacted"
    assert updated["SystemModstamp"] > stamp_before
    assert updated["LastModifiedDate"] == updated["SystemModstamp"]


def test_update_all_or_none_keeps_record_ids_in_rolled_back_results(sf: Salesforce) -> None:
    first = sf.Lead.create(lead())["id"]
    second = sf.Lead.create(lead())["id"]

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [typed("Lead", Id=first, Title="VP"), typed("Lead", Id=second, Name="x")],
        },
    )

    assert results[0] == {"id": first, "success": False, "errors": [ROLLED_BACK]}
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Lead.get(first)["Title"] is None


def test_upsert_reports_created_and_refuses_duplicate_keys(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    existing = sf.Lead.create(lead(Leadsync_Id__c="ls-1"))["id"]

    results = sf.restful(
        "composite/sobjects/Lead/Leadsync_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                typed("Lead", Leadsync_Id__c="LS-1", Title="CTO"),
                typed("Lead", **lead(Leadsync_Id__c="ls-2")),
                typed("Lead", **lead(Leadsync_Id__c="ls-3")),
                typed("Lead", **lead(Leadsync_Id__c="ls-3", LastName="Twin")),
            ],
        },
    )

    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["created"] is True and results[1]["success"] is True
    duplicate = {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATE_VALUE",
                "message": "Duplicate external id specified: ls-3",
                "fields": ["Leadsync_Id__c"],
            }
        ],
    }
    assert results[2] == duplicate and results[3] == duplicate
    assert sf.Lead.get(existing)["Title"] == "CTO"
    assert sorted(r["Leadsync_Id__c"] for r in sandbox.records("Lead")) == ["ls-1", "ls-2"]


def test_upsert_on_a_field_that_is_not_an_external_id(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.restful(
            "composite/sobjects/Lead/Email",
            method="PATCH",
            json={"records": [typed("Lead", **lead(Email="a@b.co"))]},
        )
    assert failure.value.content[0]["errorCode"] == "NOT_FOUND"


def test_more_than_200_records_fails_the_whole_call(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        post(sf, [typed("Lead", **lead()) for _ in range(201)])
    assert failure.value.content == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]


def test_unknown_field_fails_the_whole_call(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        post(sf, [typed("Lead", **lead()), typed("Lead", **lead(Shoe_Size__c=9))])
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "Shoe_Size__c" in failure.value.content[0]["message"]
    assert sandbox.records("Lead") == []


def test_missing_type_is_a_record_error(sf: Salesforce) -> None:
    results = post(sf, [{"LastName": "x", "Company": "y"}])
    assert results == [
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "INVALID_TYPE",
                    "message": "Must send a concrete entity type.",
                    "fields": [],
                }
            ],
        }
    ]


def test_retrieve_and_delete(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    first = sf.Lead.create(lead(Company="One"))["id"]
    second = sf.Lead.create(lead(Company="Two"))["id"]

    fetched = sf.restful(
        "composite/sobjects/Lead", params={"ids": f"{first},{second}", "fields": "Id,Company"}
    )
    assert [r["Company"] for r in fetched] == ["One", "Two"]
    assert list(fetched[0]) == ["attributes", "Id", "Company"]

    results = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{first},{second},bogus"}
    )
    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1] == {"id": second, "success": True, "errors": []}
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert sandbox.records("Lead") == []

    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": first})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sf.restful("composite/sobjects/Lead", params={"ids": first}) == [None]


def test_delete_all_or_none_restores_deleted_records(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    first = sf.Lead.create(lead())["id"]

    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{first},00Q8d0000000zzzAAA", "allOrNone": "true"},
    )

    assert results[0] == {"id": first, "success": False, "errors": [ROLLED_BACK]}
    assert results[1]["success"] is False
    assert [r["Id"] for r in sandbox.records("Lead")] == [first]
    # The rolled-back delete leaves the record queryable by its unique key too.
    assert sf.Lead.get(first)["IsDeleted"] is False


def test_resources_list_composite(sf: Salesforce) -> None:
    assert sf.restful("")["composite"] == "/services/data/v59.0/composite"

"""Write validation: every fault code with the JSON body Salesforce sends.

The bodies surface unchanged through simple-salesforce's
``SalesforceMalformedRequest.content``, which is what our adapter reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce.ids import make_id, short_id

SECURITY = (
    "Please check the security settings of this field and verify that it is read/write for "
    "your profile or permission set."
)

ADMIN_ID = make_id("005", 1)
INACTIVE_REP_ID = make_id("005", 6)

CREATE_CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    (
        "required field missing",
        {"Company": "Acme"},
        [
            {
                "message": "Required fields are missing: [LastName]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["LastName"],
            }
        ],
    ),
    (
        "several required fields missing, empty string counts as missing",
        {"LastName": ""},
        [
            {
                "message": "Required fields are missing: [LastName, Company]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["LastName", "Company"],
            }
        ],
    ),
    (
        "string too long",
        lead(LastName="x" * 81),
        [
            {
                "message": f"Last Name: data value too large: {'x' * 81} (max length=80)",
                "errorCode": "STRING_TOO_LONG",
                "fields": ["LastName"],
            }
        ],
    ),
    (
        "invalid email",
        lead(Email="not-an-email"),
        [
            {
                "message": "Email: invalid email address: not-an-email",
                "errorCode": "INVALID_EMAIL_ADDRESS",
                "fields": ["Email"],
            }
        ],
    ),
    (
        "restricted picklist",
        lead(Status="Qualified"),
        [
            {
                "message": "Status: bad value for restricted picklist field: Qualified",
                "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "fields": ["Status"],
            }
        ],
    ),
    (
        "unknown field",
        lead(Favourite_Colour__c="blue"),
        [
            {
                "message": "No such column 'Favourite_Colour__c' on sobject of type Lead",
                "errorCode": "INVALID_FIELD",
            }
        ],
    ),
    (
        "read-only fields",
        lead(Name="Ada Lovelace", IsConverted=True),
        [
            {
                "message": f"Unable to create/update fields: Name, IsConverted. {SECURITY}",
                "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                "fields": ["Name", "IsConverted"],
            }
        ],
    ),
    (
        "id on insert",
        lead(Id=make_id("00Q", 5)),
        [
            {
                "message": "cannot specify Id in an insert call",
                "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                "fields": ["Id"],
            }
        ],
    ),
    (
        "malformed owner id",
        lead(OwnerId="abc"),
        [
            {
                "message": "Owner ID: id value of incorrect type: abc",
                "errorCode": "MALFORMED_ID",
                "fields": ["OwnerId"],
            }
        ],
    ),
    (
        "owner id of the wrong object",
        lead(OwnerId=make_id("00Q", 3)),
        [
            {
                "message": f"Owner ID: id value of incorrect type: {make_id('00Q', 3)}",
                "errorCode": "FIELD_INTEGRITY_EXCEPTION",
                "fields": ["OwnerId"],
            }
        ],
    ),
    (
        "owner that does not exist",
        lead(OwnerId=make_id("005", 99)),
        [
            {
                "message": "invalid cross reference id",
                "errorCode": "INVALID_CROSS_REFERENCE_KEY",
                "fields": ["OwnerId"],
            }
        ],
    ),
    (
        "inactive owner",
        lead(OwnerId=INACTIVE_REP_ID),
        [
            {
                "message": f"operation performed with inactive user [{INACTIVE_REP_ID}] as owner "
                "of lead",
                "errorCode": "INACTIVE_OWNER_OR_USER",
                "fields": [],
            }
        ],
    ),
    (
        "number out of range",
        lead(Leadsync_Score__c=1e17),
        [
            {
                "message": "Leadsync Score: value outside of valid range on numeric field: 1e+17",
                "errorCode": "NUMBER_OUTSIDE_VALID_RANGE",
                "fields": ["Leadsync_Score__c"],
            }
        ],
    ),
    (
        "every value problem is reported at once",
        lead(Email="nope", Company="c" * 256),
        [
            {
                "message": "Email: invalid email address: nope",
                "errorCode": "INVALID_EMAIL_ADDRESS",
                "fields": ["Email"],
            },
            {
                "message": f"Company: data value too large: {'c' * 256} (max length=255)",
                "errorCode": "STRING_TOO_LONG",
                "fields": ["Company"],
            },
        ],
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
def test_create_is_refused_with_salesforce_errors(
    sf: Salesforce, body: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create(body)

    assert failure.value.status == 400
    # The inactive-owner message names the id; compare whole bodies otherwise.
    assert sorted(failure.value.content, key=str) == sorted(expected, key=str)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize(
    ("field", "value", "kind", "token"),
    [
        ("NumberOfEmployees", "many", "int", "VALUE_STRING"),
        ("NumberOfEmployees", 2.5, "int", "VALUE_NUMBER_FLOAT"),
        ("Leadsync_Score__c", True, "double", "VALUE_TRUE"),
        ("LastName", {"nested": 1}, "string", "START_OBJECT"),
    ],
)
def test_wrong_json_type_is_a_json_parser_error(
    sf: Salesforce, field: str, value: object, kind: str, token: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create(lead(**{field: value}))

    [error] = failure.value.content
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"].startswith(f"Cannot deserialize instance of {kind} from {token} value")
    assert "at [line:1, column:" in error["message"]


def test_invalid_json_is_a_json_parser_error(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("sobjects/Lead/", method="POST", data='{"LastName": ')

    [error] = failure.value.content
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert "at [line:1, column:14]" in error["message"]


def test_empty_body_is_a_json_parser_error(sf: Salesforce) -> None:
    record_id = sf.Lead.create(lead())["id"]

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful(f"sobjects/Lead/{record_id}", method="PATCH", data="")

    assert failure.value.content == [
        {
            "message": "The HTTP entity body is required, but this request has no entity body.",
            "errorCode": "JSON_PARSER_ERROR",
        }
    ]


def test_values_are_coerced_like_salesforce_does(sf: Salesforce) -> None:
    record_id = sf.Lead.create(
        lead(
            NumberOfEmployees="250",
            AnnualRevenue=1200000,
            Leadsync_Score__c="71.239",
            Phone=5551234,
            LeadSource="Carrier pigeon",  # LeadSource is not a restricted picklist
            lastname="Hopper",  # field names are case-insensitive
        )
    )["id"]

    record = sf.Lead.get(record_id)
    assert record["NumberOfEmployees"] == 250
    assert record["AnnualRevenue"] == 1200000.0
    assert record["Leadsync_Score__c"] == 71.24
    assert record["Phone"] == "5551234"
    assert record["LeadSource"] == "Carrier pigeon"
    assert record["LastName"] == "Hopper"


def test_duplicate_value_on_a_unique_field(sf: Salesforce) -> None:
    first = sf.Lead.create(lead(Leadsync_Id__c="ABC"))["id"]

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create(lead(Leadsync_Id__c="abc"))  # unique is case-insensitive

    assert failure.value.content == [
        {
            "message": f"duplicate value found: Leadsync_Id__c duplicates value on record with id: "
            f"{short_id(first)}",
            "errorCode": "DUPLICATE_VALUE",
            "fields": [],
        }
    ]


def test_a_deleted_record_releases_its_unique_value(sf: Salesforce) -> None:
    first = sf.Lead.create(lead(Leadsync_Id__c="ABC"))["id"]
    sf.Lead.delete(first)

    assert sf.Lead.create(lead(Leadsync_Id__c="ABC"))["success"] is True


@pytest.mark.parametrize(
    ("change", "missing"),
    [({"LastName": None}, "LastName"), ({"Status": None}, "Status"), ({"Company": ""}, "Company")],
)
def test_update_cannot_blank_a_required_field(
    sf: Salesforce, change: dict[str, Any], missing: str
) -> None:
    record_id = sf.Lead.create(lead())["id"]

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.update(record_id, change)

    assert failure.value.content == [
        {
            "message": f"Required fields are missing: [{missing}]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": [missing],
        }
    ]


def test_update_to_another_records_external_id_is_a_duplicate(sf: Salesforce) -> None:
    sf.Lead.create(lead(Leadsync_Id__c="one"))
    second = sf.Lead.create(lead(Leadsync_Id__c="two"))["id"]

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.update(second, {"Leadsync_Id__c": "ONE"})

    assert failure.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_owner_can_be_reassigned_to_an_active_rep(sf: Salesforce) -> None:
    rep = sf.query("SELECT Id FROM User WHERE Username = 'avery.chen@leadsync.sandbox'")
    rep_id = rep["records"][0]["Id"]
    record_id = sf.Lead.create(lead(OwnerId=ADMIN_ID))["id"]

    sf.Lead.update(record_id, {"OwnerId": rep_id[:15]})

    assert sf.Lead.get(record_id)["OwnerId"] == rep_id  # stored as the 18-char id

"""SOSL over REST (``Salesforce.search``) and ``SalesforceSandbox.load``."""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.store import SeedError

RETURNING = (
    "RETURNING Lead(Id, FirstName, Phone WHERE IsConverted = false), "
    "Contact(Id, LastName, Account.OwnerId), Account(Id, Name, OwnerId, Phone)"
)


@pytest.fixture
def phones(sandbox: SalesforceSandbox, sf: Salesforce) -> dict[str, str]:
    account = sf.Account.create({"Name": "Acme", "Phone": "415.555.1212"})["id"]
    made = {
        "lead": sf.Lead.create(lead(FirstName="Ada", Phone="(415) 555-1212"))["id"],
        "mobile": sf.Lead.create(lead(FirstName="Bea", MobilePhone="+1 415 555 0000"))["id"],
        "other": sf.Lead.create(lead(FirstName="Cy", Phone="212-555-9999"))["id"],
        "contact": sf.Contact.create(
            {"LastName": "Doe", "Phone": "4155551212", "AccountId": account}
        )["id"],
        "account": account,
    }
    gone = sf.Lead.create(lead(FirstName="Gone", Phone="415-555-1212"))["id"]
    sf.Lead.delete(gone)
    converted = sf.Lead.create(lead(FirstName="Conv", Phone="415 555 1212"))["id"]
    # Conversion copies the phone onto a new contact and account, which do match.
    result = sandbox.convert_lead(converted, opportunity=False)
    made["conv_contact"], made["conv_account"] = result["contactId"], result["accountId"]
    return made


MATCHED = ["lead", "contact", "conv_contact", "account", "conv_account"]


def _ids(result: dict[str, Any]) -> list[str]:
    return [r["Id"] for r in result["searchRecords"]]


def test_phone_search_ignores_formatting_and_has_the_rest_shape(
    sf: Salesforce, phones: dict[str, str]
) -> None:
    result = sf.search(f"FIND {{4155551212}} IN PHONE FIELDS {RETURNING}")
    assert _ids(result) == [
        phones[name] for name in ("lead", "contact", "conv_contact", "account", "conv_account")
    ]
    first, contact, _, account, _ = result["searchRecords"]
    assert first["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v59.0/sobjects/Lead/{phones['lead']}",
    }
    assert first["Phone"] == "(415) 555-1212"
    assert contact["Account"]["OwnerId"] == account["OwnerId"]
    assert set(account) == {"attributes", "Id", "Name", "OwnerId", "Phone"}


@pytest.mark.parametrize(
    ("find", "expected"),
    [
        ("{(415) 555-1212}", ["lead", "contact", "conv_contact", "account", "conv_account"]),
        ("{+1 (415) 555-0000 OR 212.555.9999}", ["mobile", "other"]),
        ('{"415-555-1212" OR 14155550000}', ["lead", "mobile", *MATCHED[1:]]),
        ("{415555*}", ["lead", *MATCHED[1:]]),
        ("{4155551212 AND NOT 4155551212}", []),
        ("{(4155551212 OR 2125559999) AND 2125559999}", ["other"]),
        ("{9999999999}", []),
    ],
)
def test_phone_terms(
    sf: Salesforce, phones: dict[str, str], find: str, expected: list[str]
) -> None:
    result = sf.search(f"FIND {find} IN PHONE FIELDS {RETURNING}")
    assert _ids(result) == [phones[name] for name in expected]


def test_email_search_matches_whole_addresses(sf: Salesforce) -> None:
    made = sf.Lead.create(lead(Email="Ada@Example.com"))["id"]
    sf.Lead.create(lead(Email="someone@example.com"))
    result = sf.search("FIND {ada@example.COM} IN EMAIL FIELDS RETURNING Lead(Id, Email)")
    assert _ids(result) == [made]
    assert result["searchRecords"][0]["Email"] == "Ada@Example.com"


def test_without_returning_ids_of_every_object_come_back(
    sf: Salesforce, phones: dict[str, str]
) -> None:
    result = sf.search("FIND {4155551212} IN PHONE FIELDS")
    by_type = {r["attributes"]["type"] for r in result["searchRecords"]}
    assert by_type == {"Account", "Contact", "Lead"}
    assert all(set(r) == {"attributes", "Id"} for r in result["searchRecords"])


@pytest.mark.parametrize(
    ("sosl", "code"),
    [
        ("FIND 4155551212 IN PHONE FIELDS", "MALFORMED_SEARCH"),
        ("FIND {4155551212 IN PHONE FIELDS", "MALFORMED_SEARCH"),
        ("SELECT Id FROM Lead", "MALFORMED_SEARCH"),
        ("FIND {4155551212} IN PHONE FIELDS RETURNING Lead(Id WHERE)", "MALFORMED_SEARCH"),
        ("FIND {4155551212} IN PHONE FIELDS RETURNING Lead(Id) garbage", "MALFORMED_SEARCH"),
        ("FIND {(4155551212} IN PHONE FIELDS", "MALFORMED_SEARCH"),
        ("FIND {a} IN EMAIL FIELDS", "INVALID_SEARCH"),
        ("FIND {4155551212} IN NAME FIELDS", "MALFORMED_SEARCH"),
        ("FIND {4155551212}", "MALFORMED_SEARCH"),
        ("FIND {4155551212} IN PHONE FIELDS RETURNING Lead(Nope)", "INVALID_FIELD"),
        ("FIND {4155551212} IN PHONE FIELDS RETURNING Widget(Id)", "INVALID_TYPE"),
        ("FIND {bond} IN EMAIL FIELDS", "MALFORMED_SEARCH"),
    ],
)
def test_malformed_searches(sf: Salesforce, sosl: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.search(sosl)
    assert failure.value.status == 400
    assert failure.value.content[0]["errorCode"] == code


def test_limits_object_limits_first_then_shared_evenly(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    sandbox.load("Lead", [lead(LastName=f"L{i}", Phone="4155550001") for i in range(5)])
    sandbox.load("Contact", [{"LastName": f"C{i}", "Phone": "4155550001"} for i in range(5)])
    sandbox.load("Account", [{"Name": f"A{i}", "Phone": "4155550001"} for i in range(5)])

    def counts(sosl: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for record in sf.search(sosl)["searchRecords"]:
            found[record["attributes"]["type"]] = found.get(record["attributes"]["type"], 0) + 1
        return found

    base = "FIND {4155550001} IN PHONE FIELDS RETURNING "
    assert counts(base + "Lead(Id), Contact(Id) LIMIT 4") == {"Lead": 2, "Contact": 2}
    assert counts(base + "Lead(Id LIMIT 1), Contact(Id), Account(Id) LIMIT 7") == {
        "Lead": 1, "Contact": 3, "Account": 3,
    }  # fmt: skip
    assert counts(base + "Lead(Id LIMIT 0), Account(Id)") == {"Account": 5}
    assert counts(base + "Lead(Id ORDER BY LastName DESC LIMIT 2 OFFSET 1)") == {"Lead": 2}


def test_at_most_2000_rows(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    sandbox.load("Lead", [lead(LastName=f"L{i}", Phone="4155550002") for i in range(2001)])
    result = sf.search("FIND {4155550002} IN PHONE FIELDS RETURNING Lead(Id) LIMIT 5000")
    assert len(result["searchRecords"]) == 2000


def test_long_search_queries(sf: Salesforce, phones: dict[str, str]) -> None:
    filler = " OR ".join(f"{9000000000 + i}" for i in range(400))  # ~5,600 characters
    # Over 4,000 characters AND becomes OR: the contradiction now finds the number.
    long_and = f"FIND {{4155551212 AND NOT 4155551212 OR {filler}}} IN PHONE FIELDS {RETURNING}"
    assert _ids(sf.search(long_and)) == [phones[name] for name in MATCHED]
    over = " OR ".join(f"{9000000000 + i}" for i in range(800))  # ~11,000 characters
    too_long = f"FIND {{4155551212 OR {over}}} IN PHONE FIELDS RETURNING Lead(Id)"
    assert _ids(sf.search(too_long)) == []


def test_loaded_records_look_like_records_created_over_http(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock) as box:
        sf = connect(box)
        body = lead(Email="Twin@Example.com", Phone="(415) 555-7777", Leadsync_Score__c=1.234)
        over_http = sf.Lead.get(sf.Lead.create(body)["id"])
        [loaded_id] = box.load("Lead", [body])
        loaded = sf.Lead.get(loaded_id)
        differ = {k for k in over_http if over_http[k] != loaded[k]}
        assert differ == {"Id", "attributes", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
        assert loaded["Status"] == "Open - Not Contacted" and loaded["Name"] == "Ada Lovelace"
        emails = sf.query("SELECT Id FROM Lead WHERE Email = 'twin@example.com'")
        assert [r["Id"] for r in emails["records"]] == [over_http["Id"], loaded_id]
        found = sf.search("FIND {4155557777} IN PHONE FIELDS RETURNING Lead(Id)")
        assert _ids(found) == [over_http["Id"], loaded_id]
        task = box.load("Task", [{"Subject": "Call", "WhoId": loaded_id, "Status": "Completed"}])
        row = sf.query(f"SELECT IsClosed FROM Task WHERE WhoId = '{loaded_id}'")["records"][0]
        assert row["IsClosed"] is True and task


def test_load_refuses_what_an_api_create_refuses(sandbox: SalesforceSandbox) -> None:
    with pytest.raises(SeedError, match=r"Lead\[1\].*REQUIRED_FIELD_MISSING"):
        sandbox.load("Lead", [lead(), {"LastName": "No Company"}])
    with pytest.raises(SeedError, match="INVALID_FIELD_FOR_INSERT_UPDATE"):
        sandbox.load("Lead", [lead(IsConverted=True)])
    with pytest.raises(SeedError, match="JSON_PARSER_ERROR"):
        sandbox.load("Lead", [lead(NumberOfEmployees="many")])
    with pytest.raises(SeedError, match="INSUFFICIENT_ACCESS"):
        sandbox.load("User", [{"LastName": "X"}])

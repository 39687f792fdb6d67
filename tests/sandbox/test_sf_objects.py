"""Account, Contact, Opportunity and Task: describe metadata and write validation."""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import FakeClock, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox


def fields_of(sf: Salesforce, sobject: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}


def refused(sf: Salesforce, sobject: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        getattr(sf, sobject).create(body)
    return failure.value.content


def test_describe_metadata(sf: Salesforce) -> None:
    contact = fields_of(sf, "Contact")
    assert (contact["LastName"]["nillable"], contact["LastName"]["length"]) == (False, 80)
    assert contact["Email"]["type"] == "email"
    assert contact["AccountId"]["referenceTo"] == ["Account"]

    account = fields_of(sf, "Account")
    assert account["Name"]["nillable"] is False and account["Name"]["nameField"] is True
    assert "Technology" in {p["value"] for p in account["Industry"]["picklistValues"]}

    opportunity = fields_of(sf, "Opportunity")
    stages = [p["value"] for p in opportunity["StageName"]["picklistValues"]]
    assert {"Closed Won", "Closed Lost", "Prospecting"} <= set(stages)
    assert opportunity["StageName"]["restrictedPicklist"] is True
    assert opportunity["CloseDate"]["type"] == "date"
    assert opportunity["Amount"]["type"] == "currency"
    assert opportunity["Probability"]["type"] == "percent"
    assert (opportunity["IsWon"]["createable"], opportunity["IsWon"]["updateable"]) == (
        False,
        False,
    )

    task = fields_of(sf, "Task")
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["WhoId"]["polymorphicForeignKey"] is True
    assert task["Description"]["length"] == 32000
    assert task["TaskSubtype"]["updateable"] is False


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Contact", {"FirstName": "A"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ("Contact", {"LastName": "A", "Email": "x@"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ("Account", {"Website": "acme.example"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        (
            "Opportunity",
            {"Name": "Deal"},
            "REQUIRED_FIELD_MISSING",
            ["StageName", "CloseDate"],
        ),
        (
            "Opportunity",
            {"Name": "Deal", "StageName": "Won-ish", "CloseDate": "2026-12-31"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Closed Won", "CloseDate": "2026-12-31", "IsWon": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsWon"],
        ),
        ("Task", {"Subject": "Call", "Status": "Done"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
         ["Status"]),
        ("Task", {"Subject": "x", "Description": "y" * 32001}, "STRING_TOO_LONG", ["Description"]),
    ],
)  # fmt: skip
def test_writes_are_validated(
    sf: Salesforce, sobject: str, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    errors = refused(sf, sobject, body)
    assert errors[0]["errorCode"] == code
    assert errors[0]["fields"] == fields


def test_opportunity_flags_follow_the_stage(sf: Salesforce, clock: FakeClock) -> None:
    account_id = sf.Account.create({"Name": "Acme", "Industry": "Technology"})["id"]
    opp_id = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
         "AccountId": account_id, "Amount": 1000}
    )["id"]  # fmt: skip
    assert sf.Opportunity.get(opp_id)["Probability"] == 10.0

    clock.advance(hours=1)
    sf.Opportunity.update(opp_id, {"StageName": "Closed Lost"})

    opp = sf.Opportunity.get(opp_id)
    assert (opp["IsClosed"], opp["IsWon"], opp["Probability"]) == (True, False, 0.0)
    assert opp["LastModifiedDate"] > opp["CreatedDate"]


def test_an_event_keeps_its_times_in_step_and_follows_a_lead_merge(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    """A meeting a rep logs (Event): the start is ActivityDateTime and StartDateTime
    alike, the end follows the duration, the date is the start's day; a merge moves
    the victim's events to the master, as it does tasks."""
    keep = sf.Lead.create(lead())["id"]
    lose = sf.Lead.create(lead(Email="ada.2@example.com"))["id"]
    event_id = sf.Event.create({"Subject": "Intro meeting", "WhoId": lose,
                                "StartDateTime": "2026-12-07T09:00:00.000+0000",
                                "DurationInMinutes": 30})["id"]
    event = sf.Event.get(event_id)
    assert event["ActivityDateTime"] == event["StartDateTime"] == "2026-12-07T09:00:00.000+0000"
    assert (event["EndDateTime"], event["ActivityDate"]) == ("2026-12-07T09:30:00.000+0000",
                                                             "2026-12-07")
    assert (event["IsAllDayEvent"], event["EventSubtype"]) == (False, "Event")
    sf.Event.update(event_id, {"EndDateTime": "2026-12-07T10:00:00.000+0000"})
    assert sf.Event.get(event_id)["DurationInMinutes"] == 60
    assert "Event" in {o["name"] for o in sf.describe()["sobjects"]}
    sandbox.merge("Lead", keep, [lose])
    rows = sf.query(f"SELECT Id, Who.Name FROM Event WHERE WhoId = '{keep}'")["records"]
    assert [r["Id"] for r in rows] == [event_id]


def test_task_links_to_a_lead_and_closes_with_status(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    lead_id = sf.Lead.create(lead())["id"]
    task_id = sf.Task.create({"Subject": "Follow up", "WhoId": lead_id, "TaskSubtype": "Call"})[
        "id"
    ]
    task = sf.Task.get(task_id)
    assert (task["Status"], task["Priority"], task["IsClosed"]) == ("Not Started", "Normal", False)

    sf.Task.update(task_id, {"Status": "Completed"})
    assert sf.Task.get(task_id)["IsClosed"] is True

    result = sf.query(f"SELECT Id, Who.Name FROM Task WHERE WhoId = '{lead_id}'")
    assert result["records"][0]["Who"]["Name"] == "Ada Lovelace"

    account_id = sf.Account.create({"Name": "Acme"})["id"]
    errors = refused(sf, "Task", {"Subject": "x", "WhoId": account_id})
    assert errors[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

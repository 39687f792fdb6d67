"""The rep's follow-up task on a lead sales already knows, end to end through the real
clients: earlier calls, emails and notes each once, with their own date, the rep's
name, channel, outcome and notes; why now; by when; the task's priority in the CRM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from connector import config as configuration
from connector.adapters.hubspot import HubSpotAdapter
from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config, HubSpotConfig, SalesforceConfig
from connector.pipeline import Pipeline
from connector.records import Activity, Candidate, HandoffTask, Lead
from connector.state import StateStore
from tests.conftest import hubspot_example_config
from tests.e2e.test_dedupe import Leads

SEEN = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
NOTES = "Wants pricing in Q1.\nAsked about SSO; call back after budget review."
CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"  # HubSpot's default "Connected"


def anna() -> Lead:
    """Known to sales as a contact at Acme GmbH; on marketing's side she just asked for
    a demo on the pricing page (25 + 10 points), which took her over 40."""
    return Lead("anna-1", {"email": "anna.berg@acme.example", "first_name": "Anna",
                           "last_name": "Berg", "company": "Acme GmbH", "title": "CFO",
                           "phone": "+49 30 1234567"}, SEEN, activities=[
        Activity('page_visit', datetime(2026, 11, 1, 9, 0, tzinfo=UTC), "/blog"),
        Activity('email_click', datetime(2026, 11, 10, 8, 0, tzinfo=UTC),
                 "Webinar invite"),
        Activity('page_visit', datetime(2026, 12, 5, 13, 58, tzinfo=UTC),
                 "/pricing"),
        Activity('form_fill', datetime(2026, 12, 5, 14, 2, tzinfo=UTC),
                 "/pricing-demo")])


def run(config: Config, crm: Any) -> Any:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        summary = Pipeline(config, state, Leads([anna()]), crm).run()
    finally:
        crm.close()
        state.close()
    assert summary.status == "ok", summary.error
    assert summary.counts["matched"] == 1 and summary.counts["created"] == 0
    return summary


def earlier_lines(body: str) -> list[str]:
    lines = body.splitlines()
    start = lines.index("Earlier contact (newest first):") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("- "))
    return lines[start:end]


def reach_out_by(body: str) -> datetime:
    [line] = [x for x in body.splitlines() if x.startswith("Reach out by: ")]
    tail = " UTC ([sync] task_due_hours)."  # no [sla.first_touch] here: the default wait
    assert line.endswith(tail)
    return datetime.strptime(line[len("Reach out by: "):-len(tail)],
                             "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


# --- Salesforce ---------------------------------------------------------------------------------

@pytest.fixture
def sf_adapter(salesforce_sandbox: Any) -> Iterator[SalesforceAdapter]:
    adapter = SalesforceAdapter(SalesforceConfig(username="admin@leadsync.sandbox",
                                                 route_to=salesforce_sandbox.address),
                                password="sandbox", security_token="", wait=wait_none())
    yield adapter
    adapter.close()


def seed_salesforce(sandbox: Any) -> dict[str, Any]:
    jordan, avery = "jordan.patel@leadsync.sandbox", "avery.chen@leadsync.sandbox"
    account = sandbox.create("Account", {"Name": "Acme GmbH"}, as_user=jordan)
    contact = sandbox.create("Contact", {
        "FirstName": "Anna", "LastName": "Berg", "AccountId": account["Id"],
        "Email": "anna.berg@acme.example"}, as_user=jordan)
    # logged today for a call a month ago, on the contact and on her account
    call = sandbox.create("Task", {
        "WhoId": contact["Id"], "WhatId": account["Id"], "Subject": "Intro call",
        "TaskSubtype": "Call", "Status": "Completed", "ActivityDate": "2026-11-03",
        "CallDisposition": "Connected", "Description": NOTES}, as_user=jordan)
    email = sandbox.create("Task", {
        "WhoId": contact["Id"], "Subject": "Pricing sheet", "TaskSubtype": "Email",
        "Status": "Completed", "ActivityDate": "2026-11-05",
        "Description": "Sent the 2027 price list."}, as_user=avery)
    meeting = sandbox.create("Task", {
        "WhatId": account["Id"], "Subject": "Account review", "Type": "Meeting",
        "Status": "Completed", "ActivityDate": "2026-10-20"}, as_user=avery)
    return {"account": account, "contact": contact, "call": call, "email": email,
            "meeting": meeting}


def test_salesforce_history_dates_names_and_types_each_task(
        salesforce_sandbox: Any, sf_adapter: SalesforceAdapter) -> None:
    seeded = seed_salesforce(salesforce_sandbox)
    contact, account = seeded["contact"]["Id"], seeded["account"]["Id"]
    found = sf_adapter.history([Candidate("contact", "Contact", contact, {}),
                                Candidate("account", "Account", account, {})], 10)
    on_contact = {t.activity_id: t for t in found[contact]}
    on_account = {t.activity_id: t for t in found[account]}
    call = on_contact[seeded["call"]["Id"]]
    assert on_account[seeded["call"]["Id"]].activity_id == call.activity_id  # the same call
    assert call.at is not None and call.at.date() == date(2026, 11, 3)  # not its CreatedDate
    assert (call.who, call.channel, call.outcome, call.notes) == (
        "Jordan Patel", "call", "Connected", NOTES)
    email = on_contact[seeded["email"]["Id"]]
    assert (email.channel, email.who, email.outcome) == ("email", "Avery Chen", "Completed")
    assert on_account[seeded["meeting"]["Id"]].channel == "meeting"
    assert [t.at for t in found[contact]] == sorted((t.at for t in found[contact]),
                                                    reverse=True)


def test_salesforce_task_reads_well_for_the_rep(salesforce_sandbox: Any, sf_client: Any,
                                                make_config: Any) -> None:
    seeded = seed_salesforce(salesforce_sandbox)
    config = make_config()
    run(config, SalesforceAdapter(config.crm.salesforce, password="sandbox",
                                  security_token="", wait=wait_none()))
    [task] = sf_client.query(
        "SELECT Subject, Description, Priority, ActivityDate, Status FROM Task "
        f"WHERE WhoId = '{seeded['contact']['Id']}' AND Status = 'Not Started'")["records"]
    assert task["Subject"] == (
        "Follow up returning lead: Anna Berg (Acme GmbH) — score 64, warm")
    assert task["Priority"] == "Normal"
    body = task["Description"]
    lines = body.splitlines()
    assert lines[1] == ("Score 64 = fit 10 + behaviour 54 (title given +5; phone given +5; "
                        "email_click ×1 +5; form_fill ×1 +35 (with /pricing ×1); page_visit "
                        "×2 +14 (with /pricing ×1)); tier warm; qualifies at 40.")
    assert lines[2] == "Why now: 2026-12-05 14:02 filled in a form /pricing-demo."
    assert reach_out_by(body).date() == date.fromisoformat(task["ActivityDate"])
    assert earlier_lines(body) == [
        "- 2026-11-05 Email by Avery Chen: Pricing sheet — Completed. "
        "Notes: Sent the 2027 price list.",
        "- 2026-11-03 Call by Jordan Patel: Intro call — Connected. "
        "Notes: Wants pricing in Q1. Asked about SSO; call back after budget review.",
        "- 2026-10-20 Meeting by Avery Chen: Account review — Completed.",
    ]
    assert body.count("Intro call") == 1  # on the contact and on her account: one call


# --- HubSpot ------------------------------------------------------------------------------------

def seed_hubspot(sandbox: Any) -> dict[str, Any]:
    jordan, avery = "70000002", "70000001"
    company = sandbox.create("companies", {"name": "Acme GmbH", "domain": "acme.example"},
                             owner_id=jordan)
    contact = sandbox.create("contacts", {
        "firstname": "Anna", "lastname": "Berg", "email": "anna.berg@acme.example",
        "company": "Acme GmbH", "lifecyclestage": "customer"}, owner_id=jordan)
    sandbox.associate("contacts", contact["id"], "companies", company["id"])
    call = sandbox.create("calls", {
        "hs_call_title": "Intro call", "hs_call_body": "<p>Wants pricing in Q1.</p>"
        "<p>Asked about SSO; call back after budget review.</p>",
        "hs_call_disposition": CONNECTED, "hs_call_status": "COMPLETED",
        "hs_call_direction": "OUTBOUND", "hs_timestamp": "2026-11-03T15:30:00Z"},
        owner_id=jordan)
    sandbox.associate("calls", call["id"], "contacts", contact["id"])
    sandbox.associate("calls", call["id"], "companies", company["id"])
    email = sandbox.create("emails", {
        "hs_email_subject": "Pricing sheet", "hs_email_text": "Hi Anna,\nthe 2027 price list.",
        "hs_email_direction": "EMAIL", "hs_email_status": "SENT",
        "hs_timestamp": "2026-11-05T09:00:00Z"}, owner_id=avery)
    sandbox.associate("emails", email["id"], "contacts", contact["id"])
    note = sandbox.create("notes", {
        "hs_note_body": "<b>Met</b> at the Berlin fair &amp; swapped cards",
        "hs_timestamp": "2026-10-20T11:00:00Z"}, owner_id=avery)
    sandbox.associate("notes", note["id"], "companies", company["id"])
    return {"company": company, "contact": contact, "call": call, "email": email,
            "note": note}


@pytest.fixture
def hubspot_config(tmp_path: Path, hubspot_sandbox: Any,
                   monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    return configuration.load(hubspot_example_config(tmp_path, hubspot_sandbox.address))


def test_hubspot_history_reads_every_activity_type_with_the_owners_name(
        hubspot_sandbox: Any) -> None:
    seeded = seed_hubspot(hubspot_sandbox)
    contact, company = seeded["contact"]["id"], seeded["company"]["id"]
    adapter = HubSpotAdapter(HubSpotConfig(route_to=hubspot_sandbox.address),
                             token="sandbox-token", wait=wait_none())
    try:
        found = adapter.history([Candidate("contact", "contacts", contact, {}),
                                 Candidate("account", "companies", company, {})], 10)
    finally:
        adapter.close()
    [call] = [t for t in found[contact] if t.channel == "call"]
    assert [t.activity_id for t in found[company] if t.channel == "call"] == [call.activity_id]
    assert (call.at, call.who, call.what, call.outcome, call.notes) == (
        datetime(2026, 11, 3, 15, 30, tzinfo=UTC), "Jordan Patel", "Intro call", "Connected",
        "Wants pricing in Q1. Asked about SSO; call back after budget review.")
    [email] = [t for t in found[contact] if t.channel == "email"]
    assert (email.who, email.what, email.outcome) == ("Avery Chen", "Pricing sheet", "Sent")
    [note] = [t for t in found[company] if t.channel == "note"]
    assert note.notes == "Met at the Berlin fair & swapped cards"


def test_hubspot_task_reads_well_for_the_rep(hubspot_sandbox: Any, hs_client: Any,
                                             hubspot_config: Config) -> None:
    seeded = seed_hubspot(hubspot_sandbox)
    assert hubspot_config.crm.hubspot is not None
    run(hubspot_config, HubSpotAdapter(hubspot_config.crm.hubspot, token="sandbox-token",
                                       wait=wait_none()))
    [task_id] = hubspot_sandbox.associations("contacts", seeded["contact"]["id"], "tasks")
    task = hs_client.crm.objects.basic_api.get_by_id(
        "tasks", task_id, properties=["hs_task_subject", "hs_task_body", "hs_task_priority",
                                      "hs_timestamp", "hubspot_owner_id"]).properties
    assert task["hs_task_subject"] == "Follow up returning lead: Anna Berg (Acme GmbH) — score 64"
    assert task["hs_task_priority"] == "MEDIUM"
    body = task["hs_task_body"]
    assert "Why now: 2026-12-05 14:02 filled in a form /pricing-demo." in body.splitlines()
    due = datetime.fromisoformat(task["hs_timestamp"].replace("Z", "+00:00"))
    assert abs(reach_out_by(body) - due) < timedelta(minutes=1)
    assert earlier_lines(body) == [
        "- 2026-11-05 Email by Avery Chen: Pricing sheet — Sent. "
        "Notes: Hi Anna, the 2027 price list.",
        "- 2026-11-03 Call by Jordan Patel: Intro call — Connected. "
        "Notes: Wants pricing in Q1. Asked about SSO; call back after budget review.",
        "- 2026-10-20 Note by Avery Chen. Notes: Met at the Berlin fair & swapped cards",
    ]


# --- priority, both CRMs ------------------------------------------------------------------------

@pytest.mark.parametrize(("priority", "salesforce", "hubspot"), [
    ("high", "High", "HIGH"), ("normal", "Normal", "MEDIUM"), ("low", "Low", "LOW")])
def test_a_tasks_priority_is_written_in_each_crms_words(
        priority: str, salesforce: str, hubspot: str, salesforce_sandbox: Any,
        sf_adapter: SalesforceAdapter, sf_client: Any, hubspot_sandbox: Any,
        hs_client: Any) -> None:
    due = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    lead = salesforce_sandbox.create("Lead", {"LastName": "Berg", "Company": "Acme GmbH"})
    [made] = sf_adapter.add_tasks("Lead", [HandoffTask("k1", lead["Id"], "Follow up", "body",
                                                       due, priority=priority)])
    assert made.ok, made.errors
    assert sf_client.Task.get(made.crm_id)["Priority"] == salesforce

    contact = hubspot_sandbox.create("contacts", {"email": "anna.berg@acme.example"})
    adapter = HubSpotAdapter(HubSpotConfig(route_to=hubspot_sandbox.address),
                             token="sandbox-token", wait=wait_none())
    try:
        [made] = adapter.add_tasks("contacts", [HandoffTask(
            "k1", contact["id"], "Follow up", "body", due, priority=priority)])
    finally:
        adapter.close()
    assert made.ok, made.errors
    read = hs_client.crm.objects.basic_api.get_by_id("tasks", made.crm_id,
                                                     properties=["hs_task_priority"])
    assert read.properties["hs_task_priority"] == hubspot

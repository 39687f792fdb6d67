"""Dedupe against prior contact history, end to end through the real clients.

People already in the CRM (created there by reps, without our key) are found
and updated, never duplicated; a possible duplicate waits for a person's
answer, which is remembered; the rep's task tells what happened before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none
from typer.testing import CliRunner

from connector import config as configuration
from connector.adapters.base import FieldUpdate, StageUpdate
from connector.adapters.hubspot import HubSpotAdapter
from connector.adapters.salesforce import SalesforceAdapter
from connector.cli import app
from connector.config import Config
from connector.pipeline import Pipeline
from connector.records import Lead
from connector.state import StateStore

T0 = datetime(2026, 11, 20, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config-hubspot.toml"


class Leads:
    """A marketing side holding exactly the leads a test gives it."""

    name = "memory"

    def __init__(self, leads: list[Lead]) -> None:
        self.all = leads

    def read_changes(self, since: datetime | None, *, page_size: int = 500) -> Iterator[Lead]:
        return iter([lead for lead in self.all if since is None or lead.updated_at >= since])

    def leads(self, marketing_ids: Sequence[str]) -> list[Lead]:
        return [lead for lead in self.all if lead.id in marketing_ids]

    def write_stages(self, updates: Sequence[StageUpdate]) -> set[str]:
        return {u.marketing_id for u in updates}

    def leads_in_stages(self, stages: Sequence[str],
                        entered_before: datetime | None = None) -> list[Lead]:
        return []  # stages written here are not kept: no lead waits to go back to sales

    def write_fields(self, updates: Sequence[FieldUpdate]) -> set[str]:
        return {u.marketing_id for u in updates}

    def close(self) -> None:
        pass


def lead(n: int, at: datetime = T0, **fields: str) -> Lead:
    base = {"email": f"dana.n{n}@northwind.example", "first_name": "Dana",
            "last_name": f"Nguyen{n}", "company": "Northwind Traders",
            "phone": f"+1 415 555 02{n:02d}"}
    return Lead(str(n), {**base, **fields}, at)


def qualify_all(config: Config) -> Config:
    scoring = config.scoring.model_copy(update={"threshold": 0, "required_fields": []})
    return config.model_copy(update={"scoring": scoring})


@pytest.fixture
def config(make_config: Any) -> Config:
    return qualify_all(make_config())


def sync(config: Config, leads: list[Lead]) -> Any:
    """One run over ``leads`` against the sandbox the config names (either CRM)."""
    crm: Any
    if config.crm.hubspot is not None:
        crm = HubSpotAdapter(config.crm.hubspot, token="sandbox-token", wait=wait_none())
    else:
        assert config.crm.salesforce is not None
        crm = SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                                wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return Pipeline(config, state, Leads(leads), crm).run()
    finally:
        crm.close()
        state.close()


def leads_in(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.records("Lead")]


def test_a_lead_sales_already_has_is_updated_not_duplicated_and_the_rep_sees_history(
        config: Config, salesforce_sandbox: Any) -> None:
    # a rep created Dana by hand (Gmail address with dots, phone as typed), and called her
    rep = "jordan.patel@leadsync.sandbox"
    existing = salesforce_sandbox.create("Lead", {
        "FirstName": "Dana", "LastName": "Nguyen1", "Company": "Northwind Traders, Inc.",
        "Email": "Dana.Nguyen1@gmail.com", "Phone": "(415) 555-0201"}, as_user=rep)
    salesforce_sandbox.create("Task", {"WhoId": existing["Id"], "Subject": "Call: left voicemail",
                                       "Status": "Completed"}, as_user=rep)
    summary = sync(config, [lead(1, email="dananguyen1+webinar@gmail.com")])
    assert summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"],
            summary.counts["updated"]) == (1, 0, 1)
    [only] = leads_in(salesforce_sandbox)
    assert only["Id"] == existing["Id"]
    assert only["Leadsync_Id__c"] == "1"  # from now on found by our key
    tasks = [t for t in salesforce_sandbox.records("Task") if t["WhoId"] == existing["Id"]]
    handoff = next(t for t in tasks if t["Subject"].startswith("Follow up returning lead"))
    assert "Task by Jordan Patel: Call: left voicemail — Completed." in handoff["Description"]
    assert "Jordan Patel" in handoff["Description"]
    assert "rule email" in handoff["Description"]
    assert handoff["OwnerId"] == existing["OwnerId"]  # the record's owner, not the API user

    again = sync(config, [lead(1, at=T0 + timedelta(days=1), title="COO",
                               email="dananguyen1+webinar@gmail.com")])
    assert (again.counts["read"], again.counts["updated"], again.counts["created"]) == (1, 1, 0)
    assert len(leads_in(salesforce_sandbox)) == 1


def test_a_person_whose_email_changed_is_matched_by_name_company_and_phone(
        config: Config, salesforce_sandbox: Any) -> None:
    old = salesforce_sandbox.create("Lead", {
        "FirstName": "Dana", "LastName": "Nguyen2", "Company": "Northwind Traders GmbH",
        "Email": "dana@old-employer.example", "Phone": "415.555.0202"})
    summary = sync(config, [lead(2, email="dana.n2@northwind.example")])
    assert summary.counts["matched"] == 1 and summary.counts["created"] == 0
    [only] = leads_in(salesforce_sandbox)
    # matched by name, not by address: the record keeps its identity; the rep learns
    # the other address from the task, and the link keeps it
    assert only["Id"] == old["Id"] and only["Email"] == "dana@old-employer.example"
    [task] = [t for t in salesforce_sandbox.records("Task") if t["WhoId"] == old["Id"]]
    assert "marketing knows this person as dana.n2@northwind.example" in task["Description"]


def test_a_match_by_name_never_overwrites_the_records_name_email_or_owner(
        config: Config, salesforce_sandbox: Any) -> None:
    """Lars Bergman (another mailbox at the same employer) meets the lead Lars Berg."""
    rep = "riley.okafor@leadsync.sandbox"
    berg = salesforce_sandbox.create("Lead", {
        "FirstName": "Lars", "LastName": "Berg", "Company": "Northwind Traders",
        "Email": "lars.berg@northwind.example", "Title": ""}, as_user=rep)
    summary = sync(config, [lead(8, first_name="Lars", last_name="Bergman",
                                 email="lars.bergman@northwind.example", title="CTO")])
    assert summary.status == "ok", summary.error
    rows = {r["Id"]: r for r in leads_in(salesforce_sandbox)}
    kept = rows[berg["Id"]]
    assert (kept["FirstName"], kept["LastName"], kept["Email"], kept["OwnerId"]) == (
        "Lars", "Berg", "lars.berg@northwind.example", berg["OwnerId"])


def test_a_nickname_match_to_a_contact_fills_blanks_and_keeps_its_identity(
        config: Config, salesforce_sandbox: Any) -> None:
    """Bob Hansen is the contact Robert Hansen: the match is right, the names stay."""
    account = salesforce_sandbox.create("Account", {"Name": "Hansen Freight"})
    robert = salesforce_sandbox.create("Contact", {
        "FirstName": "Robert", "LastName": "Hansen", "AccountId": account["Id"],
        "Email": "robert.hansen@hansen-freight.example", "Phone": "(415) 555-0299"})
    summary = sync(config, [lead(9, first_name="Bob", last_name="Hansen",
                                 company="Hansen Freight", email="bob.h@gmail.com",
                                 phone="+1 415 555 0299", title="Dispatcher")])
    assert summary.counts["matched"] == 1 and summary.counts["created"] == 0
    [contact] = salesforce_sandbox.records("Contact")
    assert contact["Id"] == robert["Id"]
    assert (contact["FirstName"], contact["Email"]) == (
        "Robert", "robert.hansen@hansen-freight.example")
    assert contact["Title"] == "Dispatcher"  # a blank filled
    # later marketing edits of the name still leave the contact's identity alone
    sync(config, [lead(9, at=T0 + timedelta(days=1), first_name="Bobby", last_name="Hansen",
                       company="Hansen Freight", email="bob.h@gmail.com",
                       phone="+1 415 555 0299", title="Dispatcher")])
    [contact] = salesforce_sandbox.records("Contact")
    assert contact["FirstName"] == "Robert"


def test_two_spellings_of_one_mailbox_in_one_run_keep_the_reps_record_identity(
        config: Config, salesforce_sandbox: Any) -> None:
    """The rep's own lead for Tom; marketing sends Tom's one Gmail mailbox twice in one
    run (a dot apart), both matched to it by name and company: the second is a
    duplicate of the first lead of the run, but the record it writes is the rep's, so
    the record's email and names stay (found by the rep simulator)."""
    tom = salesforce_sandbox.create("Lead", {"FirstName": "Tom", "LastName": "Okafor",
                                             "Company": "Globex",
                                             "Email": "tom.okafor@globex.example"})
    summary = sync(config, [
        lead(20, first_name="Tom", last_name="Okafor", company="Globex",
             email="tom.okafor@gmail.com", phone="", title="CTO"),
        lead(21, first_name="Tom", last_name="Okafor", company="Globex",
             email="tomokafor@gmail.com", phone="", title="CTO")])
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 0 and summary.counts["matched"] == 2
    [record] = leads_in(salesforce_sandbox)
    assert record["Id"] == tom["Id"]
    assert (record["FirstName"], record["Email"]) == ("Tom", "tom.okafor@globex.example")
    assert record["Title"] == "CTO"


def test_a_contacts_second_street_line_is_its_address_2(
        config: Config, salesforce_sandbox: Any) -> None:
    """Salesforce holds the house name on MailingStreet's second line. The lead, with
    no given name and its street mistyped beyond recognition, gives the house name in
    a field of its own: the house number, that line and the postcode vouch for the
    house, so the contact is found through the candidate index and updated."""
    contact = salesforce_sandbox.create("Contact", {
        "FirstName": "Imogen", "LastName": "Lamprey", "MailingPostalCode": "6083",
        "MailingStreet": "23 Backler Place\nKilburnie", "MailingCity": "Morley"})
    summary = sync(config, [lead(30, first_name="", last_name="Lamprey",
                                 email="il@gmail.com", phone="", company="",
                                 street="23 Bcklr Plc", address_2="Kilburnie",
                                 postal_code="6083", city="Morley", title="Owner")])
    assert summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"]) == (1, 0), summary.counts
    [updated] = salesforce_sandbox.records("Contact")
    assert updated["Id"] == contact["Id"] and updated["Title"] == "Owner"


def test_a_customer_contact_is_not_recreated_as_a_lead(config: Config,
                                                      salesforce_sandbox: Any) -> None:
    account = salesforce_sandbox.create("Account", {"Name": "Northwind Traders"},
                                        as_user="morgan.diaz@leadsync.sandbox")
    contact = salesforce_sandbox.create("Contact", {
        "FirstName": "Dana", "LastName": "Nguyen3", "AccountId": account["Id"],
        "Email": "dana.n3@northwind.example"}, as_user="morgan.diaz@leadsync.sandbox")
    summary = sync(config, [lead(3, title="Head of Ops")])
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 0 and leads_in(salesforce_sandbox) == []
    [updated] = salesforce_sandbox.records("Contact")
    assert updated["Id"] == contact["Id"] and updated["Title"] == "Head of Ops"
    task = next(t for t in salesforce_sandbox.records("Task") if t["WhoId"] == contact["Id"])
    assert task["OwnerId"] == contact["OwnerId"]
    # the next run finds the contact through the link, with no new look-up needed
    again = sync(config, [lead(3, at=T0 + timedelta(days=1), title="Head of Ops")])
    assert again.counts["read"] == 1 and again.counts["unchanged"] == 1
    assert again.counts["created"] == 0 and again.counts["matched"] == 0


def test_two_records_of_one_person_in_one_run_make_one_crm_lead(
        config: Config, salesforce_sandbox: Any) -> None:
    summary = sync(config, [lead(4), lead(5, email="DANA.N4@Northwind.example", first_name="Dana",
                                          last_name="Nguyen4")])
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 1 and summary.counts["matched"] == 1
    assert len(leads_in(salesforce_sandbox)) == 1
    # both leads are linked to it; its status is leadsync's own: no verdict, now or later
    assert summary.counts["fed_back"] == 0
    assert sync(config, []).counts["fed_back"] == 0


def test_a_possible_duplicate_is_held_then_a_persons_answer_is_kept(
        config: Config, salesforce_sandbox: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Any) -> None:
    # same surname, company and line, another given name, no address to tell: maybe
    # the same person (a nickname the table lacks), maybe a colleague at the next desk
    salesforce_sandbox.create("Lead", {"FirstName": "Chris", "LastName": "Nguyen6",
                                       "Company": "Northwind Traders",
                                       "Phone": "(415) 555-0206"})
    incoming = [lead(6)]
    held = sync(config, incoming)
    assert (held.counts["held"], held.counts["created"]) == (1, 0)
    assert len(leads_in(salesforce_sandbox)) == 1

    store = StateStore(config.resolve_url(config.state.url))
    [pending] = store.reviews.listing()
    assert pending.marketing_id == "6" and "last name+company" in pending.reason
    store.reviews.decide(pending.id, "different")
    store.close()

    decided = sync(config, incoming)
    assert decided.counts["created"] == 1 and decided.counts["held"] == 0
    assert len(leads_in(salesforce_sandbox)) == 2
    later = sync(config, [lead(6, at=T0 + timedelta(days=1), title="CFO")])
    assert later.counts["held"] == 0 and later.counts["updated"] == 1  # never asked again


def test_the_same_answer_updates_the_record_sales_has(config: Config,
                                                      salesforce_sandbox: Any) -> None:
    theirs = salesforce_sandbox.create("Lead", {"FirstName": "Chris", "LastName": "Nguyen7",
                                                "Company": "Northwind Traders",
                                                "Phone": "415 555 0207"})
    sync(config, [lead(7)])
    store = StateStore(config.resolve_url(config.state.url))
    [pending] = store.reviews.listing()
    store.reviews.decide(pending.id, "same")
    store.close()
    summary = sync(config, [lead(7)])
    assert summary.counts["matched"] == 1 and summary.counts["created"] == 0
    [only] = leads_in(salesforce_sandbox)
    assert only["Id"] == theirs["Id"] and only["Leadsync_Id__c"] == "7"


def test_review_command_lists_both_records_and_takes_a_decision(
        config: Config, salesforce_sandbox: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    salesforce_sandbox.create("Lead", {"FirstName": "Chris", "LastName": "Nguyen8",
                                       "Company": "Northwind Traders",
                                       "Phone": "+1 (415) 555-0208"})
    sync(config, [lead(8)])
    path = tmp_path / "review.toml"
    path.write_text(f'[state]\nurl = "{config.resolve_url(config.state.url)}"\n'
                    '[crm]\nadapter = "hubspot"\n[crm.hubspot]\n'
                    '[mapping]\nfields = { email = "email" }\n', encoding="utf-8")
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "--config", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "Dana" in listed.output and "Chris" in listed.output and "Nguyen8" in listed.output
    assert "last name+company" in listed.output
    decided = runner.invoke(app, ["review", "1", "different", "--config", str(path)])
    assert decided.exit_code == 0 and "create a new record" in decided.output
    assert "no possible duplicates" in runner.invoke(app, ["review", "-c", str(path)]).output
    wrong = runner.invoke(app, ["review", "1", "maybe", "--config", str(path)])
    assert wrong.exit_code == 2


def test_matching_costs_few_calls_per_batch(config: Config, salesforce_sandbox: Any) -> None:
    before = salesforce_sandbox.request_count
    summary = sync(config, [lead(n, email=f"person{n}@example{n % 9}.com",
                                 last_name=f"Nguyen{n}") for n in range(10, 90)])
    assert summary.counts["created"] == 80
    assert salesforce_sandbox.request_count - before <= 12


def test_hubspot_contact_a_rep_created_is_updated_not_duplicated(
        hubspot_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in {
        'url = "sqlite:///../state/hubspot-leadsync.db"': f'url = "sqlite:///{tmp_path}/s.db"',
        'route_to = "127.0.0.1:8452"': f'route_to = "{hubspot_sandbox.address}"',
        "embedded = true": "embedded = false",
    }.items():
        text = text.replace(old, new)
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = qualify_all(configuration.load(tmp_path / "config.toml"))
    existing = hubspot_sandbox.create("contacts", {
        "firstname": "Dana", "lastname": "Nguyen9", "company": "Northwind Traders Inc",
        "email": "dana@personal.example", "phone": "(415) 555-0209"}, owner_id="70000002")
    assert config.crm.hubspot is not None
    crm = HubSpotAdapter(config.crm.hubspot, token="sandbox-token", wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    try:
        summary = Pipeline(config, state, Leads([lead(9)]), crm).run()
        again = Pipeline(config, state, Leads([lead(9, at=T0 + timedelta(days=1))]),
                         crm).run()
    finally:
        crm.close()
        state.close()
    assert summary.status == "ok", summary.error
    assert summary.counts["matched"] == 1 and summary.counts["created"] == 0
    [contact] = hubspot_sandbox.records("contacts")
    assert contact["id"] == existing["id"]
    assert contact["properties"]["leadsync_id"] == "9"
    # matched by name, company and phone: the contact's own address stays
    assert contact["properties"]["email"] == "dana@personal.example"
    [task] = hubspot_sandbox.records("tasks")
    assert "marketing knows this person as dana.n9@northwind.example" in \
        task["properties"]["hs_task_body"]
    assert task["properties"]["hubspot_owner_id"] == "70000002"
    assert "returning" in task["properties"]["hs_task_subject"]
    assert again.counts["created"] == 0 and again.counts["unchanged"] == 1


def test_a_matched_records_sales_status_is_fed_back_once_in_the_same_run(
        config: Config, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.create("Lead", {
        "FirstName": "Dana", "LastName": "Nguyen10", "Company": "Northwind Traders",
        "Email": "dana.n10@northwind.example", "Status": "Working - Contacted"})
    first = sync(config, [lead(10)])
    assert (first.counts["matched"], first.counts["fed_back"]) == (1, 1)
    again = sync(config, [lead(10)])
    assert again.counts["fed_back"] == 0  # learnt once: not news the next time


def test_a_second_address_of_a_person_arriving_later_hears_no_verdict_of_ours(
        config: Config, salesforce_sandbox: Any) -> None:
    """johndoe@gmail.com was handed over; j.ohn.doe@gmail.com comes a run later: it is
    linked to the same record, and leadsync's own create-time status is no verdict."""
    first = lead(11, email="johndoe@gmail.com")
    assert sync(config, [first]).counts["created"] == 1
    later = sync(config, [first, lead(12, at=T0 + timedelta(days=1),
                                      email="j.ohn.doe@gmail.com")])
    assert (later.counts["matched"], later.counts["created"], later.counts["fed_back"]) == (
        1, 0, 0)
    assert len(leads_in(salesforce_sandbox)) == 1


def test_a_second_address_arriving_after_sales_spoke_hears_the_same_verdict(
        config: Config, salesforce_sandbox: Any) -> None:
    """Found by the rep simulator: the first lead heard 'Working - Contacted'; the
    person's second address, linked later to the same record, heard nothing."""
    first = lead(13, email="janedoe13@gmail.com")
    sync(config, [first])
    [record] = leads_in(salesforce_sandbox)
    salesforce_sandbox.update("Lead", record["Id"], {"Status": "Working - Contacted"})
    heard = sync(config, [first])
    assert heard.counts["fed_back"] == 1
    later = sync(config, [first, lead(14, at=T0 + timedelta(days=1),
                                      email="jane.doe13@gmail.com")])
    assert (later.counts["matched"], later.counts["fed_back"]) == (1, 1)  # the second lead

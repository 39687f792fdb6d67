"""People keyed right, phones read in their own country, end to end through the real
simple-salesforce client against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.config import Config
from tests.conftest import import_leads, lead_row
from tests.e2e.test_dedupe import config, lead, leads_in, sync  # noqa: F401  (fixture)
from tests.e2e.test_routing_cycle import sync as sync_from_store


def test_a_german_contact_stored_without_country_code_is_matched_by_name_and_phone(
        config: Config, salesforce_sandbox: Any) -> None:  # noqa: F811
    account = salesforce_sandbox.create("Account", {"Name": "Kranich Logistik GmbH"})
    contact = salesforce_sandbox.create("Contact", {
        "FirstName": "Jonas", "LastName": "Becker", "AccountId": account["Id"],
        "Email": "j.becker@kranich.example", "Phone": "030 1234567",
        "MailingCountry": "Germany"})
    incoming = lead(40, email="jonas.becker@mailbox.example", first_name="Jonas",
                    last_name="Becker", country="Deutschland", phone="+49 30 1234567")
    summary = sync(config, [incoming])
    assert summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"]) == (1, 0)
    assert leads_in(salesforce_sandbox) == []
    [kept] = salesforce_sandbox.records("Contact")
    assert kept["Id"] == contact["Id"]
    assert kept["Email"] == "j.becker@kranich.example"  # matched by name+phone: identity kept
    task = next(t for t in salesforce_sandbox.records("Task") if t["WhoId"] == contact["Id"])
    assert "rule name+phone" in task["Description"]


def test_two_people_on_one_role_mailbox_are_handed_over_as_two(
        config: Config, salesforce_sandbox: Any, tmp_path: Path) -> None:  # noqa: F811
    report = import_leads(config, tmp_path / "info.csv", [
        lead_row(1, email="info@acme.example", first_name="Jane", last_name="Doe"),
        lead_row(2, email="info@acme.example", first_name="Raj", last_name="Patel",
                 phone="+1 415 555 0177")])
    assert report.created == 2
    summary = sync_from_store(config)
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 2
    people = {(r["FirstName"], r["LastName"], r["Email"]) for r in leads_in(salesforce_sandbox)}
    assert people == {("Jane", "Doe", "info@acme.example"),
                      ("Raj", "Patel", "info@acme.example")}

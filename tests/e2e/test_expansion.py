"""Expansion end to end: a lead whose company is already a customer goes to the
account's owner, flagged, on both CRMs.

The accounts are made through the real clients before the first sync, as sales
made them: a customer, a prospect. Leads of each, and of no known company, are
synced; the test checks each record's owner, the expansion flag field, the
rep's task and the reason `leadsync explain` gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput
from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from connector.wiring import run_once
from tests.conftest import hubspot_example_config, import_leads, lead_row

JORDAN, MORGAN, RILEY = "0058d0000000003AAA", "0058d0000000004AAA", "0058d0000000005AAA"


def people() -> list[dict[str, str]]:
    return [lead_row(1, email="kim@globex.example", company="Globex", first_name="Kim"),
            lead_row(2, email="lou@initech.example", company="Initech", first_name="Lou"),
            lead_row(3, email="max@nowhere-known.example", company="Nowhere Ltd",
                     first_name="Max")]


def test_a_customers_lead_goes_to_the_account_owner_flagged_on_salesforce(
        make_config: Any, sf_client: Any, tmp_path: Path) -> None:
    config = make_config()
    sf_client.Account.create({"Name": "Globex Corporation", "Website": "https://globex.example",
                              "Type": "Customer - Direct", "OwnerId": MORGAN})
    sf_client.Account.create({"Name": "Initech", "Website": "https://initech.example",
                              "Type": "Prospect", "OwnerId": JORDAN})
    # a customer whose owner is away: its lead goes on to the territories, still flagged
    sf_client.Account.create({"Name": "Hooli", "Website": "https://hooli.example",
                              "Type": "Customer - Channel", "OwnerId": RILEY})
    away = CliRunner().invoke(app, ["rep", "away", "riley", "--until", "2099-01-01",
                                    "--config", str(config.source)])
    assert away.exit_code == 0, away.output
    hooli = lead_row(4, email="gavin@hooli.example", company="Hooli", first_name="Gavin")
    import_leads(config, tmp_path / "leads.csv", [*people(), hooli])
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    rows = {r["Email"]: r for r in sf_client.query_all(
        "SELECT Id, Email, OwnerId, Leadsync_Expansion__c FROM Lead")["records"]}
    kim, lou, max_ = (rows[p["email"]] for p in people())
    assert (kim["OwnerId"], kim["Leadsync_Expansion__c"]) == (MORGAN, True)
    assert (lou["OwnerId"], lou["Leadsync_Expansion__c"]) == (JORDAN, False)  # rule 1
    assert max_["Leadsync_Expansion__c"] is False and max_["OwnerId"] not in (MORGAN, JORDAN)
    [task] = sf_client.query_all(f"SELECT Subject, Description, OwnerId FROM Task WHERE "
                                 f"WhoId = '{kim['Id']}'")["records"]
    assert task["Subject"].startswith("Follow up expansion lead: Kim Lee1 (Globex)")
    assert "Expansion: Globex is already a customer (Type = Customer - Direct)." in \
        task["Description"] and task["OwnerId"] == MORGAN
    told = CliRunner().invoke(app, ["explain", "kim@globex.example", "--json",
                                    "--config", str(config.source)])
    assert told.exit_code == 0, told.output
    [routed] = json.loads(told.output)["routing"]
    assert routed["rule"] == "expansion" and routed["owner"] == "Morgan Diaz"
    assert routed["reason"].startswith(
        "expansion: account Globex Corporation is a customer (Type = Customer - Direct)")

    gavin = rows[hooli["email"]]
    assert gavin["Leadsync_Expansion__c"] is True and gavin["OwnerId"] != RILEY

    # The flags stay on the records when the leads change later.
    import_leads(config, tmp_path / "more.csv", [{**people()[0], "title": "CTO"},
                                                 {**hooli, "title": "CTO"}])
    assert run_once(config).status == "ok"
    for record in (kim, gavin):
        again = sf_client.Lead.get(record["Id"])
        assert (again["Title"], again["Leadsync_Expansion__c"]) == ("CTO", True)


def test_a_customers_lead_goes_to_the_company_owner_flagged_on_hubspot(
        hubspot_sandbox: Any, hs_client: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    config = configuration.load(hubspot_example_config(tmp_path, hubspot_sandbox.address))
    owner = "70000003"  # Morgan Diaz in the sandbox
    hs_client.crm.companies.basic_api.create(CompanyInput(properties={
        "name": "Globex Corporation", "domain": "globex.example",
        "lifecyclestage": "customer", "hubspot_owner_id": owner}))
    hs_client.crm.companies.basic_api.create(CompanyInput(properties={
        "name": "Initech", "domain": "initech.example", "lifecyclestage": "lead",
        "hubspot_owner_id": "70000002"}))
    import_leads(config, tmp_path / "leads.csv", people())
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    contacts = {c["properties"]["email"]: c["properties"]
                for c in hubspot_sandbox.records("contacts")}
    kim, lou = contacts["kim@globex.example"], contacts["lou@initech.example"]
    assert (kim["hubspot_owner_id"], kim["leadsync_expansion"]) == (owner, "true")
    assert (lou["hubspot_owner_id"], lou["leadsync_expansion"]) == ("70000002", "false")
    assert contacts["max@nowhere-known.example"]["leadsync_expansion"] == "false"
    subjects = [t["properties"]["hs_task_subject"] for t in hubspot_sandbox.records("tasks")]
    assert sum(s.startswith("Follow up expansion lead: Kim") for s in subjects) == 1
    told = CliRunner().invoke(app, ["explain", "kim@globex.example", "--json",
                                    "--config", str(config.source)])
    [routed] = json.loads(told.output)["routing"]
    assert routed["rule"] == "expansion" and "(lifecyclestage = customer)" in routed["reason"]

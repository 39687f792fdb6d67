"""End to end: marketing store → Salesforce sandbox → statuses back, through the real client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.adapters.salesforce import SalesforceAdapter, sf_datetime
from connector.pipeline import Pipeline
from connector.state import StateStore
from connector.wiring import open_marketing, run_once
from tests.conftest import import_leads, lead_row

SOQL = ("SELECT Id, Leadsync_Id__c, Email, FirstName, LastName, Company, Title, Phone, "
        "Country, State, City, PostalCode, Industry, NumberOfEmployees, AnnualRevenue, Website, "
        "LeadSource, Status, Leadsync_Score__c FROM Lead")


def fifty_leads() -> list[dict[str, str]]:
    rows = [lead_row(i) for i in range(40)]  # engaged: qualify
    rows += [lead_row(i, activities="page_visit|2026-11-02T10:00:00Z|/blog")  # not engaged
             for i in range(40, 47)]
    rows.append(lead_row(47, email=""))                    # refused at import: no email
    rows.append(lead_row(48, last_name=""))                # refused by the CRM: LastName
    rows.append(lead_row(49, company="x" * 300))           # refused by the CRM: too long
    return rows


@pytest.fixture
def world(tmp_path: Path, db_url: str, make_config: Any) -> dict[str, Any]:
    """A config on this backend; the marketing store loaded with the 50-lead CSV."""
    config = make_config(state_url=db_url, marketing_url=db_url)
    report = import_leads(config, tmp_path / "fifty.csv", fifty_leads())
    return {"config": config, "import": report}


def test_import_refuses_the_row_without_email_by_line_and_field(world: dict) -> None:
    [rejected] = world["import"].rejected
    assert (rejected.line, rejected.field) == (49, "email")
    assert world["import"].created == 49


def test_three_runs_hand_off_feed_back_then_change_nothing(world: dict, sf_client: Any) -> None:
    config = world["config"]
    first = run_once(config)
    assert first.status == "ok", first.error
    assert first.counts == {"read": 49, "qualified": 42, "matched": 0, "held": 0, "created": 40,
                            "updated": 0,
                            "unchanged": 0, "refused": 2, "not_written": 0, "fed_back": 0,
                            "conflicts": 0}
    refused = dict(first.refused)
    assert any("REQUIRED_FIELD_MISSING" in r and "LastName" in r for r in refused.values())
    assert any("STRING_TOO_LONG" in r and "Company" in r for r in refused.values())

    leads = sf_client.query_all(SOQL)["records"]
    assert len(leads) == 40
    assert len({lead["Leadsync_Id__c"] for lead in leads}) == 40  # exactly once each
    sample = next(lead for lead in leads if lead["Email"] == "person3@acme3.example")
    mapped = {k: v for k, v in sample.items() if k not in ("attributes", "Id")}
    assert mapped == {
        "Leadsync_Id__c": mapped["Leadsync_Id__c"], "Email": "person3@acme3.example",
        "FirstName": "Pat3", "LastName": "Lee3", "Company": "Acme 3 Inc.", "Title": "VP Sales",
        "Phone": "+14155550103", "Country": "US", "State": "CA", "City": "San Francisco",
        "PostalCode": "94105", "Industry": "Technology", "NumberOfEmployees": 250,
        "AnnualRevenue": 1000000, "Website": "https://acme.example", "LeadSource": "Web",
        "Status": "Open - Not Contacted",
        "Leadsync_Score__c": 25 + 10 + 5 + 2 + 5 + 5,  # form, /pricing, click, visit, title, phone
    }

    # Each new lead carries a task for its owner: who, the score, what they did.
    tasks = sf_client.query_all("SELECT WhoId, Subject, Description, Status FROM Task")["records"]
    assert sorted(t["WhoId"] for t in tasks) == sorted(lead["Id"] for lead in leads)
    [task] = [t for t in tasks if t["WhoId"] == sample["Id"]]
    assert task["Subject"] == "Follow up new lead: Pat3 Lee3 (Acme 3 Inc.) — score 52, warm"
    assert task["Status"] == "Not Started"
    assert "Score 52" in task["Description"] and "filled in a form Contact sales" in \
        task["Description"] and "Email: person3@acme3.example" in task["Description"]

    # Sales works some leads in the CRM.
    verdicts = {"person1@acme1.example": "Working - Contacted",
                "person2@acme2.example": "Closed - Not Converted",
                "person5@acme5.example": "Closed - Converted"}
    for lead in leads:
        if lead["Email"] in verdicts:
            sf_client.Lead.update(lead["Id"], {"Status": verdicts[lead["Email"]]})

    second = run_once(config)
    assert second.counts["fed_back"] == 3
    assert second.counts["created"] == second.counts["updated"] == 0
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    stages = {lead.fields["email"]: lead.stage for lead in store.read_changes(None)}
    store.close()
    assert stages["person1@acme1.example"] == "sales_accepted"
    assert stages["person2@acme2.example"] == "recycle"
    assert stages["person5@acme5.example"] == "opportunity"
    assert stages["person9@acme2.example"] == "mql"  # handed off, not yet worked by sales
    assert stages["person45@acme3.example"] is None  # never qualified, never handed off

    third = run_once(config)
    assert third.status == "ok"
    assert {k: v for k, v in third.counts.items() if v} == {}
    assert len(sf_client.query_all(SOQL)["records"]) == 40
    assert len(sf_client.query_all("SELECT Id FROM Task")["records"]) == 40  # one per lead


def test_refused_leads_are_dead_letters_with_the_crm_reason(world: dict) -> None:
    config = world["config"]
    run_once(config)
    state = StateStore(config.resolve_url(config.state.url))
    letters = {letter.error_code: letter for letter in state.dead_letters()}
    state.close()
    assert set(letters) == {"REQUIRED_FIELD_MISSING", "STRING_TOO_LONG"}
    assert letters["REQUIRED_FIELD_MISSING"].errors() == ["LastName"]
    assert "Company" in letters["STRING_TOO_LONG"].errors()


def test_fixed_lead_goes_through_and_its_dead_letter_resolves(world: dict, tmp_path: Path,
                                                             sf_client: Any) -> None:
    config = world["config"]
    run_once(config)
    import_leads(config, tmp_path / "fix.csv", [lead_row(48, last_name="Fixed")])
    run = run_once(config)
    assert (run.counts["created"], run.counts["refused"]) == (1, 0)
    state = StateStore(config.resolve_url(config.state.url))
    assert [letter.error_code for letter in state.dead_letters()] == ["STRING_TOO_LONG"]
    state.close()
    found = sf_client.query("SELECT Id FROM Lead WHERE LastName = 'Fixed'")
    assert found["totalSize"] == 1


def test_dry_run_writes_nothing_and_shows_payload_and_rules(world: dict, sf_client: Any) -> None:
    config = world["config"]
    summary = run_once(config, dry_run=True)
    # the refusals the CRM's metadata tells are predicted, as the real run meets them
    assert summary.counts["created"] == 40 and summary.counts["refused"] == 2
    plan = next(p for p in summary.planned if p["email"] == "person3@acme3.example")
    assert plan["action"] == "create"
    assert plan["payload"]["Status"] == "Open - Not Contacted"
    assert plan["rules"]["LastName"] == "mapping.fields.last_name (to_crm, trim → truncate)"
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert run_once(config).counts["created"] == 40  # the cursor did not move


def test_changed_lead_is_updated_not_duplicated(world: dict, tmp_path: Path,
                                                sf_client: Any) -> None:
    config = world["config"]
    run_once(config)
    import_leads(config, tmp_path / "change.csv", [lead_row(3, title="CEO")])
    run = run_once(config)
    assert (run.counts["read"], run.counts["updated"], run.counts["created"]) == (1, 1, 0)
    found = sf_client.query("SELECT Id, Title FROM Lead WHERE Email = 'person3@acme3.example'")
    assert [r["Title"] for r in found["records"]] == ["CEO"]


def test_crm_outage_fails_the_run_and_keeps_the_cursor(world: dict, salesforce_sandbox: Any
                                                       ) -> None:
    config = world["config"]
    salesforce_sandbox.stop()
    crm = SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                            wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    with open_marketing(config) as marketing:
        summary = Pipeline(config, state, marketing, crm).run()
    assert summary.status == "failed" and "unreachable" in (summary.error or "")
    assert state.cursor("marketing:leads") is None
    assert state.runs()[0].status == "failed"
    state.close()


def test_conversion_and_the_won_opportunity_travel_back(world: dict, sf_client: Any,
                                                        salesforce_sandbox: Any,
                                                        tmp_path: Path) -> None:
    config = world["config"]
    assert run_once(config).status == "ok"
    [lead] = sf_client.query("SELECT Id FROM Lead WHERE Email = 'person5@acme5.example'")[
        "records"]
    converted = salesforce_sandbox.convert_lead(lead["Id"], stage="Prospecting", amount=9000)

    opened = run_once(config)
    assert opened.counts["fed_back"] == 1
    # a rep closes the deal: the opportunity changes, the converted lead does not
    salesforce_sandbox.update("Opportunity", converted["opportunityId"],
                              {"StageName": "Closed Won", "Amount": 12000})
    won = run_once(config)
    assert won.status == "ok" and won.counts["fed_back"] == 1
    quiet = run_once(config)
    assert quiet.counts["fed_back"] == 0  # the same outcome read again is an echo

    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    [marketing_id] = [m.id for m in store.read_changes(None)
                      if m.fields["email"] == "person5@acme5.example"]
    history = [(h.from_stage, h.stage, h.crm_status, h.amount, h.who)
               for h in store.stage_history(marketing_id)]
    store.close()
    assert history == [(None, "mql", "Open - Not Contacted", None, "leadsync"),
                       ("mql", "opportunity", "Closed - Converted", 9000, "Sandbox Admin"),
                       ("opportunity", "won", "Closed Won", 12000, None)]

    # marketing keeps nurturing the person; the converted lead is left alone, not refused
    import_leads(config, tmp_path / "later.csv", [lead_row(5, title="Chief Revenue Officer")])
    later = run_once(config)
    assert later.status == "ok" and later.counts["read"] == 1
    assert (later.counts["refused"], later.counts["updated"]) == (0, 0)
    state = StateStore(config.resolve_url(config.state.url))
    assert [d for d in state.dead_letters() if d.marketing_id == marketing_id] == []
    [note] = state.events(later.run_id, "not_written")
    assert note.marketing_id == marketing_id and "converted in the CRM" in note.detail
    state.close()


def test_two_steps_between_syncs_are_two_steps(world: dict, sf_client: Any,
                                              salesforce_sandbox: Any) -> None:
    """A rep works a lead, converts it and wins the deal between two syncs: marketing's
    history has each step, in order, with the CRM's own time and the rep's name (read
    from LeadHistory), not only where the record ended."""
    config = world["config"]
    assert run_once(config).status == "ok"
    [lead] = sf_client.query("SELECT Id FROM Lead WHERE Email = 'person5@acme5.example'")[
        "records"]
    sf_client.Lead.update(lead["Id"], {"Status": "Working - Contacted"})
    converted = salesforce_sandbox.convert_lead(lead["Id"], stage="Prospecting", amount=9000)
    salesforce_sandbox.update("Opportunity", converted["opportunityId"],
                              {"StageName": "Closed Won", "Amount": 12000})
    worked = sf_client.query_all(
        f"SELECT NewValue, CreatedDate, CreatedBy.Name FROM LeadHistory WHERE LeadId = "
        f"'{lead['Id']}' AND Field = 'Status' ORDER BY CreatedDate")["records"]

    second = run_once(config)
    assert second.status == "ok" and second.counts["fed_back"] == 1  # one lead moved

    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    [marketing_id] = [m.id for m in store.read_changes(None)
                      if m.fields["email"] == "person5@acme5.example"]
    history = store.stage_history(marketing_id)
    store.close()
    assert [(h.from_stage, h.stage) for h in history] == [
        (None, "mql"), ("mql", "sales_accepted"), ("sales_accepted", "opportunity"),
        ("opportunity", "won")]
    accepted = history[1]
    assert accepted.crm_status == "Working - Contacted" == worked[0]["NewValue"]
    assert accepted.who == worked[0]["CreatedBy"]["Name"]
    assert accepted.at == sf_datetime(worked[0]["CreatedDate"])
    assert history[-1].amount == 12000
    assert run_once(config).counts["fed_back"] == 0  # read again: nothing new

"""Per-field sync rules end to end, on the Salesforce sandbox: who wins for each
field, and two cycles after any change converge with no further writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.wiring import run_once
from tests.conftest import config_text, import_leads, lead_row

MAPPING = '''
[mapping]
object = "Lead"
external_id_field = "Leadsync_Id__c"

[mapping.value_maps.rating]
hot = "Hot"
warm = "Warm"
cold = "Cold"

[mapping.fields]
email = "Email"
first_name = "FirstName"
last_name = "LastName"
company = "Company"

[mapping.fields.title]
crm = "Title"
sync = "two_way"
transform = ["trim"]

[mapping.fields.website]
crm = "Website"
sync = "prefer_crm_unless_blank"

[mapping.fields.industry]
crm = "Industry"
sync = "prefer_marketing_unless_blank"

[mapping.fields.rating]
crm = "Rating"
sync = "to_marketing"
value_map = "rating"

[mapping.fields.city]
crm = "City"
sync = "create_only"

[mapping.fields.state]
crm = "State"
sync = "none"

[mapping.fields.phone]
crm = "Phone"
transform = [{phone = {}}]

[mapping.on_create]
Status = "Open - Not Contacted"

[mapping.status]
crm_field = "Status"

[mapping.status.to_marketing]
"Working - Contacted" = "sales_accepted"
'''


@pytest.fixture
def config(tmp_path: Path, salesforce_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db",
                       route_to=salesforce_sandbox.address)
    text = text[:text.index("[mapping]")] + MAPPING
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = configuration.load(path)
    import_leads(config, tmp_path / "one.csv", [lead_row(1, website="", industry="")])
    return config


def crm_lead(sf_client: Any) -> dict[str, Any]:
    [row] = sf_client.query("SELECT Id, Title, Website, Industry, Rating, City, State, Phone, "
                            "Status FROM Lead")["records"]
    return dict(row)


def marketing(config: Any) -> dict[str, Any]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        [lead] = store.read_changes(None)
        return dict(lead.fields)
    finally:
        store.close()


def edit_marketing(config: Any, tmp_path: Path, **fields: str) -> None:
    import_leads(config, tmp_path / "edit.csv",
                 [lead_row(1, **{"website": "", "industry": "", **fields})])


def quiet(config: Any, salesforce_sandbox: Any) -> None:
    """A cycle that writes nothing anywhere: the rules have converged."""
    before = salesforce_sandbox.request_count
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert (summary.counts["created"], summary.counts["updated"]) == (0, 0)
    # login, one composite of describes, one composite of every feed's first page
    assert salesforce_sandbox.request_count - before == 3


def test_each_rule_decides_its_field_and_cycles_converge(
        config: Any, sf_client: Any, salesforce_sandbox: Any, tmp_path: Path) -> None:
    first = run_once(config)
    assert first.status == "ok" and first.counts["created"] == 1, first.error
    lead = crm_lead(sf_client)
    assert (lead["Title"], lead["City"], lead["Phone"]) == ("VP Sales", "San Francisco",
                                                          "+14155550101")
    assert lead["State"] is None  # sync = none: never written
    assert lead["Website"] is None and lead["Industry"] is None  # blank in marketing
    quiet(config, salesforce_sandbox)

    # sales edit in the CRM
    sf_client.Lead.update(lead["Id"], {"Title": "Chief Revenue Officer", "Rating": "Hot",
                                       "Website": "https://sales.example",
                                       "Industry": "Banking", "City": "Oakland"})
    run_once(config)
    mine = marketing(config)
    assert mine["title"] == "Chief Revenue Officer"       # two_way: the CRM's newer change
    assert mine["rating"] == "hot"                        # to_marketing, through the value map
    assert mine["website"] == "https://sales.example"     # prefer_crm_unless_blank
    assert mine["industry"] == "Banking"                  # prefer_marketing_unless_blank: blank
    assert mine["city"] == "San Francisco"                # create_only: not taken back
    quiet(config, salesforce_sandbox)
    quiet(config, salesforce_sandbox)

    # marketing edits: title wins (newer), website loses (the CRM's is set), city stays
    edit_marketing(config, tmp_path, title="CMO", website="https://mkt.example",
                   city="Berkeley")
    run_once(config)
    lead = crm_lead(sf_client)
    assert lead["Title"] == "CMO"
    assert lead["Website"] == "https://sales.example"
    assert lead["City"] == "Oakland"
    quiet(config, salesforce_sandbox)


def test_a_value_no_transform_can_map_refuses_the_record_naming_the_field(
        config: Any, tmp_path: Path) -> None:
    import_leads(config, tmp_path / "bad.csv", [lead_row(2, phone="call me maybe")])
    summary = run_once(config)
    refused = dict(summary.refused)
    [reason] = [r for lead, r in refused.items() if "person2@" in lead]
    assert "INVALID_PHONE" in reason and "phone → Phone" in reason


def test_dry_run_shows_exactly_the_fields_an_update_would_send(config: Any,
                                                               tmp_path: Path) -> None:
    assert run_once(config).counts["created"] == 1
    edit_marketing(config, tmp_path, title="CMO")
    dry = run_once(config, dry_run=True)
    [plan] = [p for p in dry.planned if p.get("action") == "update"]
    assert plan["payload"] == {"Title": "CMO"}  # the CRM holds every other value
    assert plan["rules"] == {"Title": "mapping.fields.title (two_way, trim)"}

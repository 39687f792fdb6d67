"""Routing in the cycle, end to end: the real clients against the CRM sandboxes.

The shipped config routes US leads through the Americas pool (Avery 2, Jordan 1,
Morgan 1), EMEA leads to Riley, and the rest to the sandbox admin as fallback.
Time is frozen through the router's clock; nothing sleeps.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none
from typer.testing import CliRunner

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.adapters.salesforce import SalesforceAdapter
from connector.cli import app
from connector.config import Config
from connector.pipeline import Pipeline, RunSummary
from connector.routing import RoutingStore
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing, reroute_once
from tests.conftest import hubspot_example_config, import_leads, lead_row

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday
ADMIN, AVERY, JORDAN, MORGAN = (f"0058d000000000{n}AAA" for n in (1, 2, 3, 4))


def frozen(at: datetime = NOW) -> Any:
    return lambda: at


def with_reason_field(config: Config) -> Config:
    """The shipped config, with routing's reason mapped to the lead's Description."""
    assert config.source is not None
    text = config.source.read_text(encoding="utf-8").replace(
        'score = "Leadsync_Score__c"\n',
        'score = "Leadsync_Score__c"\nrouting_reason = "Description"\n', 1)
    config.source.write_text(text, encoding="utf-8")
    return configuration.load(config.source)


@pytest.fixture
def config(make_config: Any) -> Config:
    return with_reason_field(make_config())


def sync(config: Config, at: datetime = NOW) -> RunSummary:
    assert config.crm.salesforce is not None
    crm = SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                            wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    marketing = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        summary = Pipeline(config, state, marketing, crm, clock=frozen(at)).run()
    finally:
        marketing.close()
        crm.close()
        state.close()
    assert summary.status == "ok", summary.error
    return summary


def us_leads(count: int, **fields: str) -> list[dict[str, str]]:
    """Leads of different companies in the US: the Americas territory takes them."""
    return [lead_row(n, email=f"pat{n}@firm{n}.example", company=f"Firm {n} LLC",
                     phone=f"+1 415 555 02{n:02d}", **fields) for n in range(count)]


def crm_leads(sandbox: Any) -> dict[str, dict[str, Any]]:
    return {r["Email"]: r for r in sandbox.records("Lead")}


def history(config: Config, lead_id: str) -> list[Any]:
    store = RoutingStore.from_url(config.resolve_url(config.state.url))
    try:
        return store.history(lead_id)
    finally:
        store.close()


def test_territory_round_robin_sets_the_owner_per_weights_and_a_rerun_keeps_it(
        config: Config, salesforce_sandbox: Any, tmp_path: Path) -> None:
    import_leads(config, tmp_path / "us.csv", us_leads(8))
    first = sync(config)
    assert first.counts["created"] == 8 and first.warnings == []
    leads = crm_leads(salesforce_sandbox)
    owners = Counter(lead["OwnerId"] for lead in leads.values())
    assert owners == {AVERY: 4, JORDAN: 2, MORGAN: 2}  # weights 2:1:1
    # the smooth round-robin interleaves rather than giving Avery two in a row first
    order = [leads[f"pat{n}@firm{n}.example"]["OwnerId"] for n in range(8)]
    assert order == [AVERY, JORDAN, MORGAN, AVERY, AVERY, JORDAN, MORGAN, AVERY]
    # the rep's task is theirs, and the reason is in the mapped field
    tasks = {t["WhoId"]: t for t in salesforce_sandbox.records("Task")}
    for lead in leads.values():
        assert tasks[lead["Id"]]["OwnerId"] == lead["OwnerId"]
        assert lead["Description"].startswith("territory Americas, round-robin ")

    # a rep hands one lead to a colleague in the CRM; marketing then changes every lead
    moved = leads["pat0@firm0.example"]
    salesforce_sandbox.update("Lead", moved["Id"], {"OwnerId": MORGAN})
    import_leads(config, tmp_path / "again.csv",
                 us_leads(8, title="CRO", updated_at="2026-11-26T09:00:00Z"))
    again = sync(config, NOW + timedelta(days=1))
    assert again.counts["updated"] == 8 and again.counts["created"] == 0
    after = crm_leads(salesforce_sandbox)
    assert after["pat0@firm0.example"]["OwnerId"] == MORGAN  # sales' choice stands
    assert [after[f"pat{n}@firm{n}.example"]["OwnerId"] for n in range(1, 8)] == order[1:]
    assert all(lead["Title"] == "CRO" for lead in after.values())
    [one] = history(config, "1")  # not routed a second time

    quiet = sync(config, NOW + timedelta(days=2))  # nothing changed: nothing written
    assert quiet.counts["read"] == 0 and len(history(config, "1")) == 1


def test_a_lead_of_a_known_account_goes_to_the_account_owner(
        config: Config, salesforce_sandbox: Any, tmp_path: Path) -> None:
    salesforce_sandbox.create("Account", {"Name": "Northwind Traders"},
                              as_user="morgan.diaz@leadsync.sandbox")
    import_leads(config, tmp_path / "nw.csv", [
        lead_row(1, email="dana@northwind.example", company="Northwind Traders",
                 first_name="Dana", last_name="Nguyen"),
        *us_leads(1)])
    summary = sync(config)
    assert summary.counts["created"] == 2
    leads = crm_leads(salesforce_sandbox)
    assert leads["dana@northwind.example"]["OwnerId"] == MORGAN
    assert leads["dana@northwind.example"]["Description"].startswith(
        "account Northwind Traders")
    assert leads["pat0@firm0.example"]["OwnerId"] == AVERY  # the rotation is untouched


@pytest.mark.parametrize("batch_mates", [0, 1], ids=["alone", "with-a-colleague"])
def test_the_account_of_a_lead_does_not_depend_on_its_batch_mates(
        config: Config, salesforce_sandbox: Any, tmp_path: Path, batch_mates: int) -> None:
    """A lone "Halvorsen Maritime AG" lead went to a territory while the same lead
    found the account "Halvorsen Maritime Inc." when a colleague shared its batch."""
    salesforce_sandbox.create("Account", {"Name": "Halvorsen Maritime Inc."},
                              as_user="morgan.diaz@leadsync.sandbox")
    rows = [lead_row(1, email="ola@halvorsen.example", company="Halvorsen Maritime AG",
                     first_name="Ola", last_name="Nordmann")]
    rows += [lead_row(2, email="kari@halvorsen.example", company="Halvorsen Maritime",
                      first_name="Kari", last_name="Hansen")][:batch_mates]
    import_leads(config, tmp_path / "hm.csv", rows)
    sync(config)
    leads = crm_leads(salesforce_sandbox)
    assert leads["ola@halvorsen.example"]["OwnerId"] == MORGAN
    assert leads["ola@halvorsen.example"]["Description"].startswith(
        "account Halvorsen Maritime")


def test_a_lead_no_territory_takes_goes_to_the_fallback_with_a_warning(
        config: Config, salesforce_sandbox: Any, tmp_path: Path) -> None:
    import_leads(config, tmp_path / "jp.csv", [lead_row(1, email="ken@firm.example",
                                                        country="Japan", state="")])
    summary = sync(config)
    assert summary.counts["created"] == 1
    [warning] = summary.warnings
    assert "fallback Sandbox Admin: no territory matched" in warning
    assert crm_leads(salesforce_sandbox)["ken@firm.example"]["OwnerId"] == ADMIN


def test_explain_names_owners_and_fits_80_columns(config: Config, salesforce_sandbox: Any,
                                                  tmp_path: Path) -> None:
    """A rep by name with the id in brackets; an owner outside [routing.reps] (the
    fallback) by id, once; every line within 80 columns, broken between words."""
    import_leads(config, tmp_path / "l.csv", us_leads(2) + [
        lead_row(9, email="ken@firm.example", country="Japan", state="")])
    sync(config)
    for lead, owner in (("pat1@firm1.example", f"Jordan Patel ({JORDAN})"),
                        ("ken@firm.example", f"{ADMIN}, rule fallback")):
        wide = CliRunner().invoke(app, ["explain", lead, "-c", str(config.source)],
                                  env={"COLUMNS": "1000"})
        narrow = CliRunner().invoke(app, ["explain", lead, "-c", str(config.source)],
                                    env={"COLUMNS": "80"})
        assert wide.exit_code == narrow.exit_code == 0, narrow.output
        [routing] = [line for line in wide.output.splitlines() if "routing:" in line]
        assert f"→ {owner}" in routing and f"{ADMIN} ({ADMIN})" not in routing
        assert max(len(line) for line in narrow.output.splitlines()) <= 80, narrow.output
        assert len(routing) > 80 and narrow.output.split() == wide.output.split()


def test_explain_prints_every_reason_and_reroute_moves_the_owner(
        config: Config, salesforce_sandbox: Any, tmp_path: Path) -> None:
    import_leads(config, tmp_path / "us.csv", us_leads(2))
    sync(config)
    assert config.source is not None
    runner = CliRunner()
    shown = runner.invoke(app, ["explain", "pat1@firm1.example", "-c", str(config.source)])
    assert shown.exit_code == 0, shown.output
    assert "lead 2 (pat1@firm1.example)" in shown.output
    assert "qualified" in shown.output and "score" in shown.output
    assert "no earlier CRM record" in shown.output
    assert "Jordan Patel" in shown.output and "territory Americas, round-robin 2/3" in \
        shown.output
    assert "routed:" in shown.output and "created: Lead " in shown.output

    # the SLA step would call this for a lead not followed up in time
    lead_id = crm_leads(salesforce_sandbox)["pat1@firm1.example"]["Id"]
    done = salesforce_sandbox.create("Task", {"WhoId": lead_id, "Subject": "Call: no answer",
                                              "Status": "Completed", "OwnerId": JORDAN})
    summary, [moved] = reroute_once(config, "2", why="no first touch in 4h",
                                    clock=frozen(NOW + timedelta(hours=5)))
    assert summary.status == "ok" and moved.written
    assert (moved.previous, moved.owner_id) == (JORDAN, MORGAN)  # next in turn but Jordan
    assert crm_leads(salesforce_sandbox)["pat1@firm1.example"]["OwnerId"] == MORGAN
    tasks = {t["Id"]: t for t in salesforce_sandbox.records("Task") if t["WhoId"] == lead_id}
    [followup] = [t for t in tasks.values() if t["Subject"].startswith("Follow up")]
    assert followup["OwnerId"] == MORGAN  # the open follow-up went with the lead
    assert tasks[done["Id"]]["OwnerId"] == JORDAN  # what Jordan did stays Jordan's
    assert crm_leads(salesforce_sandbox)["pat1@firm1.example"]["Description"].startswith(
        "rerouted from Jordan Patel (no first touch in 4h)")
    data = json.loads(runner.invoke(app, ["explain", "2", "--json", "-c",
                                          str(config.source)]).output)
    assert [(r["owner_id"], r["rerouted_from"]) for r in data["routing"]] == [
        (JORDAN, None), (MORGAN, JORDAN)]

    by_hand = runner.invoke(app, ["reroute", "pat1@firm1.example", "--why", "Morgan is out",
                                  "-c", str(config.source)])
    assert by_hand.exit_code == 0, by_hand.output
    owner = crm_leads(salesforce_sandbox)["pat1@firm1.example"]["OwnerId"]
    assert owner in (AVERY, JORDAN) and f"now owned by {owner}" in by_hand.output
    assert len(history(config, "2")) == 3
    unknown = runner.invoke(app, ["explain", "nobody@nowhere.example", "-c",
                                  str(config.source)])
    assert unknown.exit_code == 1


def test_check_holds_rep_ids_against_the_orgs_users(config: Config,
                                                   salesforce_sandbox: Any) -> None:
    assert config.source is not None
    text = config.source.read_text(encoding="utf-8")
    text = text.replace('id = "0058d0000000005AAA"', 'id = "0058d0000000006AAA"')  # Casey left
    text = text.replace('id = "0058d0000000004AAA"', 'id = "0058d0000000999AAA"')  # a typo
    config.source.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "-c", str(config.source)])
    assert result.exit_code == 1
    assert "routing.reps.riley.id" in result.output and "Casey Brooks" in result.output
    assert "no CRM user or owner has id '0058d0000000999AAA'" in result.output
    assert "pool emea has no active rep" in result.output


# HubSpot ---------------------------------------------------------------------------

HS_ROUTING = """
[routing]
fallback_owner = "70000004"

[routing.reps.avery]
id = "70000001"
[routing.reps.jordan]
id = "70000002"
[routing.reps.casey]
id = "70000005"          # archived in the portal: skipped

[routing.pools.us]
reps = ["avery", "casey", "jordan"]

[[routing.territories]]
name = "US"
pool = "us"
country = ["US"]
"""


@pytest.fixture
def hs_config(tmp_path: Path, hubspot_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    path = hubspot_example_config(tmp_path, hubspot_sandbox.address, HS_ROUTING)
    return configuration.load(path)


def test_hubspot_round_robin_skips_an_archived_owner_and_sets_hubspot_owner_id(
        hs_config: Config, hubspot_sandbox: Any, tmp_path: Path) -> None:
    import_leads(hs_config, tmp_path / "us.csv", us_leads(4))
    import_leads(hs_config, tmp_path / "jp.csv", [lead_row(9, email="ken@firm.example",
                                                           country="Japan", state="")])
    state = StateStore(hs_config.resolve_url(hs_config.state.url))
    try:
        with open_marketing(hs_config) as marketing, open_crm(hs_config) as crm:
            summary = Pipeline(hs_config, state, marketing, crm, clock=frozen()).run()
    finally:
        state.close()
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 5
    contacts = {c["properties"]["email"]: c for c in hubspot_sandbox.records("contacts")}
    owners = [contacts[f"pat{n}@firm{n}.example"]["properties"]["hubspot_owner_id"]
              for n in range(4)]
    assert owners == ["70000001", "70000002", "70000001", "70000002"]
    assert contacts["ken@firm.example"]["properties"]["hubspot_owner_id"] == "70000004"
    [warning] = summary.warnings
    assert "fallback" in warning and "ken@firm.example" in warning
    for task in hubspot_sandbox.records("tasks"):
        [contact] = hubspot_sandbox.associations("tasks", task["id"], "contacts")
        owner = next(c for c in contacts.values() if c["id"] == contact)
        assert task["properties"]["hubspot_owner_id"] == \
            owner["properties"]["hubspot_owner_id"]
    [row] = history(hs_config, "1")
    assert "casey inactive in CRM skipped" in row.reason

    # a re-route takes the open follow-up task to the new owner
    summary, [moved] = reroute_once(hs_config, "1", why="no first touch",
                                    clock=frozen(NOW + timedelta(hours=5)))
    assert summary.status == "ok" and moved.written, summary.error
    contact = next(c for c in hubspot_sandbox.records("contacts")
                   if c["properties"]["email"] == "pat1@firm1.example")
    assert contact["properties"]["hubspot_owner_id"] == moved.owner_id != moved.previous
    [task] = [t for t in hubspot_sandbox.records("tasks")
              if hubspot_sandbox.associations("tasks", t["id"], "contacts") == [contact["id"]]]
    assert task["properties"]["hubspot_owner_id"] == moved.owner_id

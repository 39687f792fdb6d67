"""End to end on HubSpot: the same engine, the example HubSpot config, the real
hubspot-api-client against the sandbox. Nothing in the engine names HubSpot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.wiring import run_once
from tests.conftest import hubspot_example_config, import_leads, lead_row, routed


@pytest.fixture
def config(tmp_path: Path, hubspot_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    path = hubspot_example_config(tmp_path, hubspot_sandbox.address)
    config = configuration.load(path)
    rows = [lead_row(i) for i in range(12)]
    rows.append(lead_row(12, last_name="", email="nolast@acme.example"))
    import_leads(config, tmp_path / "leads.csv", rows)
    return config


def stages(config: Any) -> dict[str, str | None]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        return {lead.fields["email"]: lead.stage for lead in store.read_changes(None)}
    finally:
        store.close()


def test_hand_off_work_the_leads_feed_back_then_nothing(config: Any,
                                                        hubspot_sandbox: Any) -> None:
    first = run_once(config)
    assert first.status == "ok", first.error
    assert (first.counts["created"], first.counts["refused"]) == (13, 0)
    assert first.warnings == []  # every handoff task was made and matched to its lead
    contacts = {c["properties"]["email"]: c for c in hubspot_sandbox.records("contacts")}
    assert len(contacts) == 13
    pat3 = contacts["person3@acme3.example"]["properties"]
    assert (pat3["firstname"], pat3["jobtitle"], pat3["phone"], pat3["hs_lead_status"]) == \
        ("Pat3", "VP Sales", "+14155550103", "NEW")
    tasks = hubspot_sandbox.records("tasks")
    assert len(tasks) == 13
    pat3_id = contacts["person3@acme3.example"]["id"]
    [task] = [t for t in tasks
              if hubspot_sandbox.associations("tasks", t["id"], "contacts") == [pat3_id]]
    assert "filled in a form Contact sales" in task["properties"]["hs_task_body"]

    # sales work two leads; one becomes a deal that is won
    hubspot_sandbox.update("contacts", contacts["person1@acme1.example"]["id"],
                           {"hs_lead_status": "IN_PROGRESS"})
    hubspot_sandbox.update("contacts", contacts["person2@acme2.example"]["id"],
                           {"hs_lead_status": "BAD_TIMING"})
    hubspot_sandbox.create_deal(contacts["person5@acme5.example"]["id"], stage="closedwon",
                                amount=9000)
    second = run_once(config)
    assert second.status == "ok", second.error
    assert second.counts["fed_back"] == 3 and second.counts["created"] == 0
    got = stages(config)
    assert (got["person1@acme1.example"], got["person2@acme2.example"],
            got["person5@acme5.example"]) == ("sales_accepted", "recycle", "won")
    assert got["person7@acme0.example"] == "mql"  # handed over, not worked yet
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    [worked] = [m.id for m in store.read_changes(None)
                if m.fields["email"] == "person1@acme1.example"]
    steps = store.stage_history(worked)
    store.close()
    # the rep's step, with HubSpot's own time and the rep named (the property history)
    assert [(s.from_stage, s.stage, s.crm_status) for s in steps] == [
        (None, "mql", "NEW"), ("mql", "sales_accepted", "IN_PROGRESS")]
    assert steps[0].who == "leadsync" and steps[1].who not in (None, "leadsync")
    assert not steps[1].who.startswith("user ")

    third = run_once(config)
    assert {k: v for k, v in third.counts.items() if v} == {}
    assert len(hubspot_sandbox.records("contacts")) == 13
    assert len(hubspot_sandbox.records("tasks")) == 13


def test_an_idle_run_costs_a_search_per_object(config: Any, hubspot_sandbox: Any) -> None:
    """Counted at the wire: a run with nothing to hand off reads the contacts changed
    since the last run once for all three of its contact feeds (removals, sales'
    changes, the candidate index), and the deals and companies changed. The archived
    contacts and companies (the search API never returns those) were listed by the
    run before; an idle run lists them again only once [hubspot]
    deleted_check_minutes have passed. Properties are not asked: nothing is mapped."""
    from bench.proxy import CountingProxy

    assert run_once(config).status == "ok"
    with CountingProxy(hubspot_sandbox.address) as proxy:
        idle = run_once(routed(config, proxy.address))  # reads the first run's writes: echoes
        calls = proxy.reset()
    assert idle.status == "ok" and idle.counts["read"] == idle.counts["fed_back"] == 0
    assert calls == {"POST hubspot search": 3}, calls

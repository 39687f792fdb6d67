"""SLA clocks and breach actions end to end on the HubSpot sandbox.

The portal and the connector share one clock the test moves on. Leads are
handed over on a Friday afternoon in New York; through the real
hubspot-api-client a rep logs a call on one, accepts one, recycles one and
ignores one. The deadlines, what met each clock (the call at its own time, a
status change), the breach task for the manager and the recycle on an
undecided lead are checked against values worked out by hand here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import PropertyCreate

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.sandbox.hubspot import HubSpotSandbox
from connector.wiring import run_once
from tests.conftest import hubspot_example_config, import_leads, lead_row, sla_clocks

OWNER, MANAGER = "70000001", "70000002"  # Avery Chen, Jordan Patel in the sandbox

EXTRA = f"""
[routing]
fallback_owner = "{OWNER}"

[calendars.sales]
timezone = "America/New_York"
hours = "09:00-17:00"
holidays = "US"

[sla]
calendar = "sales"
manager = "{MANAGER}"

[sla.first_touch]
within = "4 business hours"
on_breach = ["task"]

[sla.decision]
within = "2 business days"
on_breach = ["recycle"]
"""

HANDOFF = datetime(2027, 1, 8, 20, 0, tzinfo=UTC)
"""Friday 2027-01-08, 15:00 in New York (EST, UTC-5)."""
FIRST_TOUCH_DUE = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
"""4 business hours: Friday 15:00-17:00 (2 h), the weekend, Monday 09:00-11:00 (2 h)
→ Monday 11:00 New York = 16:00 UTC (Martin Luther King Day is the 18th)."""
DECISION_DUE = datetime(2027, 1, 12, 22, 0, tzinfo=UTC)
"""2 business days: close of business on the 2nd working day after Friday → Tuesday
17:00 New York = 22:00 UTC."""
CALL_AT = datetime(2027, 1, 11, 14, 30, tzinfo=UTC)
"""The rep's call: Monday 09:30 New York."""


class Now:
    def __init__(self) -> None:
        self.at = HANDOFF

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def portal(tmp_path: Path, now: Now) -> Any:
    with HubSpotSandbox(state_path=tmp_path / "portal.json", clock=now,
                        search_per_second=10_000) as sandbox:
        yield sandbox


@pytest.fixture
def client(portal: Any) -> HubSpot:
    return HubSpot(access_token="sandbox-token", host=f"http://{portal.address}")


@pytest.fixture
def config(tmp_path: Path, portal: Any, client: HubSpot,
           monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    # The admin's own property where reps say why they recycle a lead.
    client.crm.properties.core_api.create("contacts", PropertyCreate(
        name="recycle_reason", label="Recycle reason", type="string", field_type="text",
        group_name="contactinformation"))
    path = hubspot_example_config(tmp_path, portal.address, EXTRA)
    text = path.read_text(encoding="utf-8")
    status = 'crm_field = "hs_lead_status"\n'
    assert status in text
    path.write_text(text.replace(status, status + 'reason_field = "recycle_reason"\n'),
                    encoding="utf-8")
    return configuration.load(path)


def cycle(config: Any, now: Now, at: datetime) -> Any:
    now.at = at
    summary = run_once(config, clock=now)
    assert summary.status == "ok", summary.error
    return summary


def clocks_of(config: Any) -> dict[tuple[str, str], Any]:
    return {(row.crm_id, row.clock): row for row in sla_clocks(config)}


def test_clocks_breaches_and_actions_on_hubspot(config: Any, portal: Any, client: HubSpot,
                                                now: Now, tmp_path: Path) -> None:
    called, accepted, recycled, ignored = (lead_row(n) for n in (1, 2, 3, 4))
    import_leads(config, tmp_path / "leads.csv", [called, accepted, recycled, ignored])
    cycle(config, now, HANDOFF)
    contacts = {c["properties"]["email"]: c["id"] for c in portal.records("contacts")}
    ids = [contacts[r["email"]] for r in (called, accepted, recycled, ignored)]
    clocks = clocks_of(config)
    assert len(clocks) == 8
    for record in ids:
        assert clocks[(record, "first_touch")].due_at == FIRST_TOUCH_DUE
        assert clocks[(record, "decision")].due_at == DECISION_DUE
        assert clocks[(record, "first_touch")].owner_id == OWNER

    # Monday morning, through the real client: a completed call, an accept, a recycle.
    now.at = datetime(2027, 1, 11, 15, 0, tzinfo=UTC)
    client.crm.objects.calls.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_timestamp": CALL_AT.isoformat().replace("+00:00", "Z"),
                    "hs_call_title": "Intro call", "hs_call_status": "COMPLETED",
                    "hs_call_body": "Talked budget", "hubspot_owner_id": OWNER},
        associations=[{"to": {"id": ids[0]}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}]))
    client.crm.contacts.basic_api.update(ids[1], SimplePublicObjectInput(
        properties={"hs_lead_status": "IN_PROGRESS"}))
    client.crm.contacts.basic_api.update(ids[2], SimplePublicObjectInput(
        properties={"hs_lead_status": "BAD_TIMING", "recycle_reason": "Hiring freeze"}))
    cycle(config, now, datetime(2027, 1, 11, 15, 30, tzinfo=UTC))
    clocks = clocks_of(config)
    touch = clocks[(ids[0], "first_touch")]
    assert touch.met_at == CALL_AT and "Intro call" in touch.evidence
    assert clocks[(ids[1], "first_touch")].met_at == now.at.replace(minute=0)
    assert clocks[(ids[1], "decision")].evidence.startswith("decided: sales_accepted")
    assert clocks[(ids[2], "decision")].evidence.startswith("decided: recycle")
    assert clocks[(ids[3], "first_touch")].met_at is None

    # Past the first-touch deadline: the ignored lead's breach makes the manager a task.
    late = cycle(config, now, datetime(2027, 1, 11, 16, 30, tzinfo=UTC))
    [breach] = [w for w in late.warnings if "SLA breached" in w]
    ignored_id = clocks[(ids[3], "first_touch")].marketing_id
    assert f"lead {ignored_id}: SLA breached, first_touch: no completed activity" in breach
    breach_tasks = [t for t in portal.records("tasks")
                    if t["properties"]["hs_task_subject"].startswith("SLA breached")]
    assert len(breach_tasks) == 1
    [task] = breach_tasks
    assert task["properties"]["hubspot_owner_id"] == MANAGER
    assert task["properties"]["hs_task_priority"] == "HIGH"
    assert portal.associations("tasks", task["id"], "contacts") == [ids[3]]
    cycle(config, now, datetime(2027, 1, 11, 18, 0, tzinfo=UTC))
    assert len([t for t in portal.records("tasks")
                if t["properties"]["hs_task_subject"].startswith("SLA breached")]) == 1

    # Past the decision deadline: the leads nobody accepted or recycled go back to
    # marketing, in HubSpot (the recycle status) and in the stage history.
    cycle(config, now, datetime(2027, 1, 12, 22, 30, tzinfo=UTC))
    statuses = {c["id"]: c["properties"].get("hs_lead_status")
                for c in portal.records("contacts")}
    assert [statuses[i] for i in ids] == ["BAD_TIMING", "IN_PROGRESS", "BAD_TIMING",
                                          "BAD_TIMING"]
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        by_email = {lead.get("email"): lead.id for lead in store.read_changes(None)}
        history = store.stage_histories(list(by_email.values()))
    finally:
        store.close()
    for row in (called, ignored):
        last = history[by_email[row["email"]]][-1]
        assert (last.from_stage, last.stage, last.who) == ("mql", "recycle", "leadsync")
        assert last.reason.startswith("decision SLA breached")
        assert last.at == datetime(2027, 1, 12, 22, 30, tzinfo=UTC)
    # the recycle stopped the ignored lead's breached first-touch clock in the same run
    stopped = clocks_of(config)[(ids[3], "first_touch")]
    assert stopped.closed and stopped.met_at is None and "stopped: the lead went to recycle" \
        in stopped.evidence
    rep_step = history[by_email[recycled["email"]]][-1]
    assert (rep_step.stage, rep_step.at) == ("recycle", datetime(2027, 1, 11, 15, 0, tzinfo=UTC))
    assert rep_step.who not in (None, "leadsync") and rep_step.reason == "Hiring freeze"

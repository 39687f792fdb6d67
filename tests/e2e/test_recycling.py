"""Recycling and could-not-reach end to end on the Salesforce sandbox.

The org and the connector share one clock that the test moves on, so the CRM's
own times of the reps' changes and leadsync's waits are on the same time line.
Reps recycle leads and mark them "could not reach" through the real client;
cycles run days apart; the test checks, against waits worked out here, when a
lead goes back to sales (never straight back), what it gets when it does (the
hand-off status, the MQL step with its reason, a task for the record's owner,
an SLA clock), and that could-not-reach gives up after its tries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.objects import DEFAULT_LEAD_STATUSES
from connector.transport import make_session
from connector.wiring import run_once
from tests.conftest import config_text, import_leads, lead_row, sla_clocks

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
"""A Monday morning: the hand-off."""

PROCESS = """
[process.recycle]
cool_off = "3 days"

[process.could_not_reach]
retry_after = "1 day"
max_attempts = 1

[sla.first_touch]
within = "4 hours"

[sla.touches]
count = 2
within = "2 days"
"""


class Now:
    """The one clock of the org and the connector."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def set(self, offset: timedelta) -> datetime:
        self.at = T0 + offset
        return self.at


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def org(tmp_path: Path, now: Now) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(state_path=tmp_path / "org.json", clock=now,
                           lead_statuses=[*DEFAULT_LEAD_STATUSES, "Could Not Reach"]) as sandbox:
        yield sandbox


@pytest.fixture
def client(org: SalesforceSandbox) -> Salesforce:
    return Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                      session=make_session(org.address))


@pytest.fixture
def config(tmp_path: Path, org: SalesforceSandbox,
           monkeypatch: pytest.MonkeyPatch) -> configuration.Config:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db", route_to=org.address)
    mapped = '"Closed - Not Converted" = "recycle"'
    assert mapped in text
    text = text.replace(mapped, mapped + '\n"Could Not Reach" = "could_not_reach"')
    path = tmp_path / "config.toml"
    path.write_text(text + PROCESS, encoding="utf-8")
    return configuration.load(path)


def story(config: configuration.Config) -> dict[str, Any]:
    """email → (the lead's stage, its stage history) in the marketing store."""
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        leads = {lead.id: lead for lead in store.read_changes(None)}
        steps = store.stage_histories(list(leads))
        return {lead.get("email"): (lead.stage, steps.get(lead.id, []), lead.id)
                for lead in leads.values()}
    finally:
        store.close()


every_clock = sla_clocks


def cycle(config: configuration.Config, now: Now, offset: timedelta) -> Any:
    summary = run_once(config, clock=lambda: now.set(offset))
    assert summary.status == "ok", summary
    return summary


def test_recycled_and_unreached_leads_go_back_to_sales_by_the_rules(
        config: configuration.Config, client: Salesforce, now: Now, tmp_path: Path) -> None:
    one, two, three = (lead_row(n) for n in (1, 2, 3))
    import_leads(config, tmp_path / "leads.csv", [one, two, three])
    cycle(config, now, timedelta())
    rows = client.query_all("SELECT Id, Email, Leadsync_Score__c, Leadsync_Tier__c, "
                            "Leadsync_Rank__c FROM Lead")["records"]
    ids = {r["Email"]: r["Id"] for r in rows}
    assert len(ids) == 3
    # The rep's work queue: score 52 is tier warm (40-79), the second of hot and warm.
    assert {(r["Leadsync_Score__c"], r["Leadsync_Tier__c"], r["Leadsync_Rank__c"])
            for r in rows} == {(52.0, "warm", 2.0)}

    def status(row: dict[str, str]) -> str:
        return client.Lead.get(ids[row["email"]])["Status"]

    def tasks(row: dict[str, str]) -> list[dict[str, Any]]:
        return client.query_all("SELECT Subject, Description, OwnerId, ActivityDate FROM Task "
                                f"WHERE WhoId = '{ids[row['email']]}' ORDER BY CreatedDate"
                                )["records"]

    # The reps, an hour in: two recycled, one could not be reached.
    now.set(timedelta(hours=1))
    client.Lead.update(ids[one["email"]], {"Status": "Closed - Not Converted"})
    client.Lead.update(ids[three["email"]], {"Status": "Closed - Not Converted"})
    client.Lead.update(ids[two["email"]], {"Status": "Could Not Reach"})
    cycle(config, now, timedelta(hours=2))
    told = story(config)
    assert [told[r["email"]][0] for r in (one, two, three)] == [
        "recycle", "could_not_reach", "recycle"]
    assert [s.at for s in told[one["email"]][1]] == [T0, T0 + timedelta(hours=1)]

    # A day later lead 1 shows interest again: its new activity reaches the CRM record,
    # but the lead stays recycled — the cool-off (3 days) is not over.
    fresh = "form_fill|2027-01-05T10:00:00Z|Requested a demo"
    import_leads(config, tmp_path / "more.csv", [lead_row(1, activities=fresh)])
    later = cycle(config, now, timedelta(days=1, hours=2))
    told = story(config)
    assert told[one["email"]][0] == "recycle" and status(one) == "Closed - Not Converted"
    assert len(tasks(one)) == 1  # only the first hand-off's
    # Lead 2 waited its day (from 10:00 Monday): back to sales, try 2 of 2.
    assert told[two["email"]][0] == "mql" and status(two) == "Open - Not Contacted"
    back = told[two["email"]][1][-1]
    assert (back.who, back.from_stage, back.at) == (
        "leadsync", "could_not_reach", T0 + timedelta(days=1, hours=2))
    assert back.reason == "could not be reached 2027-01-04; try 2 of 2"
    running = [c for c in every_clock(config) if c.marketing_id == told[two["email"]][2]
               and not c.closed]
    # the first hand-off's touches clock closed with it; the hand-back's clocks run
    assert sorted((c.clock, c.started_at) for c in running) == [
        ("first_touch", back.at), ("touches", back.at)]
    [_, again] = tasks(two)
    assert again["Description"].startswith("Handed back to sales by leadsync on 2027-01-05 "
                                           "11:00 UTC: could not be reached 2027-01-04")
    assert again["OwnerId"] == client.Lead.get(ids[two["email"]])["OwnerId"]
    assert later.counts.get("created", 0) == 0

    # The rep tries again and fails again; a day after that it has used its tries.
    now.set(timedelta(days=1, hours=3))
    client.Lead.update(ids[two["email"]], {"Status": "Could Not Reach"})
    cycle(config, now, timedelta(days=1, hours=4))
    assert story(config)[two["email"]][0] == "could_not_reach"
    cycle(config, now, timedelta(days=2, hours=2))  # 23 hours on: still waiting
    assert story(config)[two["email"]][0] == "could_not_reach"
    cycle(config, now, timedelta(days=2, hours=4))
    told = story(config)
    assert told[two["email"]][0] == "recycle" and status(two) == "Closed - Not Converted"
    assert told[two["email"]][1][-1].reason == "could not be reached 2 times"
    assert len(tasks(two)) == 2  # no third task

    # Past the cool-off: lead 1 (new activity) goes back; lead 3 (none) stays in nurture.
    handed = T0 + timedelta(days=4, hours=2)
    cycle(config, now, timedelta(days=4, hours=2))
    told = story(config)
    assert told[three["email"]][0] == "recycle" and status(three) == "Closed - Not Converted"
    assert told[one["email"]][0] == "mql" and status(one) == "Open - Not Contacted"
    step = told[one["email"]][1][-1]
    assert step.at == handed and step.who == "leadsync"
    assert step.reason.startswith("recycled 2027-01-04; cool-off of 3 days over, score ")
    assert step.reason.endswith("new: form_fill Requested a demo")
    [_, returned] = tasks(one)
    assert returned["Description"].startswith("Handed back to sales by leadsync on 2027-01-08"
                                              " 11:00 UTC: recycled 2027-01-04")

    clocks = [c for c in every_clock(config)
              if c.marketing_id == told[one["email"]][2] and c.started_at == handed]
    assert sorted((c.clock, c.due_at) for c in clocks) == [
        ("first_touch", handed + timedelta(hours=4)), ("touches", handed + timedelta(days=2))]
    # Nothing was handed twice: still three records, and a second run brings nothing back.
    cycle(config, now, timedelta(days=4, hours=3))
    assert len(tasks(one)) == 2 and len(client.query_all("SELECT Id FROM Lead")["records"]) == 3

    # Lead 2, recycled for want of an answer, shows interest again: back to sales after
    # its cool-off, and "could not reach" counts its tries afresh from there.
    import_leads(config, tmp_path / "again.csv", [lead_row(
        2, activities="page_visit|2027-01-07T10:00:00Z|/pricing")])
    cycle(config, now, timedelta(days=5, hours=5))
    assert story(config)[two["email"]][0] == "mql" and status(two) == "Open - Not Contacted"
    now.set(timedelta(days=5, hours=6))
    client.Lead.update(ids[two["email"]], {"Status": "Could Not Reach"})
    cycle(config, now, timedelta(days=5, hours=7))
    assert story(config)[two["email"]][0] == "could_not_reach"  # not straight to recycle
    cycle(config, now, timedelta(days=6, hours=7))
    told = story(config)
    assert told[two["email"]][0] == "mql"
    assert told[two["email"]][1][-1].reason == "could not be reached 2027-01-09; try 2 of 2"
    # A recycled lead is marketing's: a re-route by hand leaves it alone, saying why.
    from connector.wiring import reroute_once

    owner = client.Lead.get(ids[three["email"]])["OwnerId"]
    summary, done = reroute_once(config, told[three["email"]][2],
                                 clock=lambda: now.set(timedelta(days=6, hours=8)))
    assert done == [] and client.Lead.get(ids[three["email"]])["OwnerId"] == owner
    assert summary.warnings == [f"lead {told[three['email']][2]}: in stage recycle "
                                "(marketing's), not sales' to work: not re-routed"]

"""What a cycle's writes cost, through the real clients, counted at the sandbox or
at the wire (the benchmark's counting proxy, which names each call).

HubSpot refuses a whole batch upsert for one email another contact has (409,
naming only the first it met): leads sales already has must be found before the
upsert, not by splitting batches until each refusal is pinned. And a cycle in
which nothing changed writes nothing, on either CRM.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from bench.proxy import CountingProxy
from connector import config as configuration
from connector.adapters.base import FieldUpdate
from connector.adapters.hubspot import HubSpotAdapter
from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config, HubSpotConfig
from connector.pipeline import Pipeline
from connector.records import Lead, Write, utcnow
from connector.retry import RetryPolicy
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import hubspot_example_config, routed
from tests.e2e.test_dedupe import T0, Leads, qualify_all


@pytest.fixture
def hubspot(hubspot_sandbox: HubSpotSandbox) -> Iterator[HubSpotAdapter]:
    adapter = HubSpotAdapter(HubSpotConfig(route_to=hubspot_sandbox.address),
                             token="sandbox-token", retry=RetryPolicy(attempts=2),
                             wait=wait_none())
    yield adapter
    adapter.close()


def counted(sandbox: Any, write: Any) -> tuple[Any, int]:
    before = sandbox.request_count
    result = write()
    return result, sandbox.request_count - before


def test_leads_whose_email_sales_has_cost_no_split_batches(
        hubspot_sandbox: HubSpotSandbox, hubspot: HubSpotAdapter) -> None:
    portal = hubspot_sandbox
    theirs = {n: portal.create("contacts", {"email": f"p{n}@acme.example", "lastname": "Rep",
                                            "hs_lead_status": "CONNECTED"})
              for n in range(0, 100, 10)}  # sales made every tenth person already
    writes = [Write(f"m{n}", {"email": f"P{n}@acme.example", "lastname": f"Lead{n}"},
                    {"hs_lead_status": "NEW"}) for n in range(100)]
    results, calls = counted(portal, lambda: hubspot.upsert("contacts", "leadsync_id", writes))

    # a search by key, a search by email, one update of the ten, one upsert of the rest
    assert calls == 4, calls
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert [r.key for r in results if not r.created] == [f"m{n}" for n in theirs]
    contacts = {c["properties"]["leadsync_id"]: c for c in portal.records("contacts")}
    assert len(contacts) == 100
    for n, made in theirs.items():  # adopted as after a 409: our id, never on_create
        adopted = contacts[f"m{n}"]
        assert adopted["id"] == str(made["id"])
        assert adopted["properties"]["lastname"] == f"Lead{n}"
        assert adopted["properties"]["hs_lead_status"] == "CONNECTED"
    assert contacts["m1"]["properties"]["hs_lead_status"] == "NEW"


def test_an_email_held_by_another_leads_contact_is_refused_in_the_same_calls(
        hubspot_sandbox: HubSpotSandbox, hubspot: HubSpotAdapter) -> None:
    portal = hubspot_sandbox
    portal.create("contacts", {"email": "kim@acme.example", "lastname": "Kim",
                               "leadsync_id": "other"})
    writes = [Write("m0", {"email": "kim@acme.example", "lastname": "Kim"}),
              *(Write(f"m{n}", {"email": f"n{n}@acme.example"}) for n in range(1, 50))]
    results, calls = counted(portal, lambda: hubspot.upsert("contacts", "leadsync_id", writes))

    assert calls == 3, calls  # two searches, one upsert: no 409 to split on
    [refused] = [r for r in results if not r.ok]
    assert refused.key == "m0" and refused.errors[0].code == "CONFLICT"
    assert "belongs to lead other" in refused.errors[0].message
    assert sum(r.created for r in results) == 49



def test_an_email_the_search_did_not_show_still_meets_the_409_and_is_adopted(
        hubspot_sandbox: HubSpotSandbox, hubspot: HubSpotAdapter) -> None:
    # a lead we hold a link for is not looked up (its contact most likely has our id);
    # the rep's contact with its email is found by HubSpot's refusal, as before
    theirs = hubspot_sandbox.create("contacts", {"email": "kim@acme.example", "lastname": "Kim"})
    writes = [Write("m0", {"email": "kim@acme.example", "lastname": "Kim"}, known=True),
              Write("m1", {"email": "lee@acme.example", "lastname": "Lee"}, known=True)]
    results, calls = counted(hubspot_sandbox,
                             lambda: hubspot.upsert("contacts", "leadsync_id", writes))
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, True)]
    assert results[0].crm_id == str(theirs["id"])
    # refused whole, halved, the one pinned, read and updated
    assert calls == 5, calls

# --- a cycle after a first match writes nothing new -----------------------------------


class Marketing(Leads):
    """The marketing side as the store behaves: a value taken back from the CRM changes
    the lead, so the next hand-off reads it again."""

    def write_fields(self, updates: Sequence[FieldUpdate]) -> set[str]:
        for update in updates:
            for lead in self.all:
                if lead.id == update.marketing_id:
                    lead.fields.update(update.fields)
                    lead.updated_at = utcnow()
        return {u.marketing_id for u in updates}


def no_profile_points(config: Config) -> Config:
    """Scores that a title taken back does not move (a new score is news to write)."""
    config = qualify_all(config)
    scoring = config.scoring.model_copy(update={"profile_points": {}})
    return config.model_copy(update={"scoring": scoring})


def marketing_lead() -> Lead:
    """Timothy as marketing knows him: his own mailbox, no title."""
    return Lead("56", {"first_name": "Timothy", "last_name": "Nagy",
                       "company": "Iobrel Analytics S.A.", "country": "BR",
                       "phone": "+55 431 383 2725", "email": "timothy.nagy75@yahoo.example"},
                T0)


WRITES = {"POST hubspot batch/update", "POST hubspot batch/upsert", "POST hubspot batch/create",
          "PATCH composite/sobjects", "POST composite/sobjects"}


def three_cycles(config: Config, open_crm: Any, change: dict[str, str]
                 ) -> tuple[list[Any], dict[str, int], Marketing]:
    """A cycle that matches the lead to the rep's record; one in which nobody changed
    anything (the rep's title comes back to marketing), whose calls are counted; then
    one after marketing changed ``change``."""
    marketing = Marketing([marketing_lead()])
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with CountingProxy(route_of(config)) as proxy:
            config = routed(config, proxy.address)
            first = run_once(config, state, marketing, open_crm)
            proxy.reset()
            second = run_once(config, state, marketing, open_crm)
            calls = proxy.reset()
            marketing.all[0].fields.update(change)
            marketing.all[0].updated_at = utcnow()
            third = run_once(config, state, marketing, open_crm)
    finally:
        state.close()
    return [first, second, third], calls, marketing


def route_of(config: Config) -> str:
    settings = config.crm.salesforce or config.crm.hubspot
    assert settings is not None and settings.route_to
    return settings.route_to


def run_once(config: Config, state: StateStore, marketing: Marketing, open_crm: Any) -> Any:
    crm = open_crm(config)
    try:
        return Pipeline(config, state, marketing, crm).run()
    finally:
        crm.close()


def assert_nothing_written(runs: list[Any], calls: dict[str, int],
                           marketing: Marketing) -> None:
    first, second, third = runs
    assert first.status == "ok", first.error
    assert (first.counts["matched"], first.counts["updated"]) == (1, 1), first.counts
    assert marketing.all[0].get("title") == "Office Manager"  # came back: the lead changed
    assert second.status == "ok", second.error
    assert (second.counts["updated"], second.counts["unchanged"]) == (0, 1), second.counts
    assert not WRITES & set(calls), calls
    assert third.counts["updated"] == 1, third.counts  # marketing's own change goes out


def test_hubspot_writes_nothing_the_cycle_after_a_first_match(
        hubspot_sandbox: HubSpotSandbox, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    config = no_profile_points(configuration.load(hubspot_example_config(
        tmp_path, hubspot_sandbox.address)))
    rep = hubspot_sandbox.create("contacts", {
        "firstname": "Timothy", "lastname": "Nagy", "company": "Iobrel Analytics S.A.",
        "country": "BR", "phone": "+55 (431) 3832725", "jobtitle": "Office Manager",
        "email": "timothy.nagy@iobrel.example"})

    def open_crm(config: Config) -> HubSpotAdapter:
        assert config.crm.hubspot is not None
        return HubSpotAdapter(config.crm.hubspot, token="sandbox-token", wait=wait_none())

    runs, calls, marketing = three_cycles(config, open_crm, {"company": "Iobrel Analytics"})
    assert_nothing_written(runs, calls, marketing)
    [contact] = hubspot_sandbox.records("contacts")
    assert contact["id"] == str(rep["id"])
    assert contact["properties"]["email"] == "timothy.nagy@iobrel.example"  # its own kept
    assert contact["properties"]["company"] == "Iobrel Analytics"


def test_salesforce_writes_nothing_the_cycle_after_a_first_match(
        make_config: Any, salesforce_sandbox: Any) -> None:
    config = no_profile_points(make_config())
    rep = salesforce_sandbox.create("Lead", {
        "FirstName": "Timothy", "LastName": "Nagy", "Company": "Iobrel Analytics S.A.",
        "Country": "BR", "Phone": "+55 (431) 3832725", "Title": "Office Manager",
        "Email": "timothy.nagy@iobrel.example"})

    def open_crm(config: Config) -> SalesforceAdapter:
        assert config.crm.salesforce is not None
        return SalesforceAdapter(config.crm.salesforce, password="sandbox",
                                 security_token="", wait=wait_none())

    runs, calls, marketing = three_cycles(config, open_crm, {"company": "Iobrel Analytics"})
    assert_nothing_written(runs, calls, marketing)
    [record] = salesforce_sandbox.records("Lead")
    assert record["Id"] == rep["Id"]
    assert record["Company"] == "Iobrel Analytics"

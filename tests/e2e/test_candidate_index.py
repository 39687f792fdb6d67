"""The local candidate index, end to end through the real clients.

Earlier records are found locally, by keys that survive accents, typos, articles
and word order, where the CRM's exact filters found nothing; the index follows
what reps do between runs (create, delete, merge); a batch asks the CRM nothing
to find them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from connector.config import Config
from connector.matching import Matcher
from connector.matching.index import CandidateIndex
from connector.records import Lead
from connector.state import StateStore
from tests.e2e.test_dedupe import T0, qualify_all, sync

Make = Callable[..., Lead]


def person(n: int, first: str, last: str, company: str, email: str, **more: str) -> Lead:
    return Lead(str(n), {"first_name": first, "last_name": last, "company": company,
                         "email": email, **more}, T0 + timedelta(minutes=n))


@pytest.fixture
def config(make_config: Any) -> Config:
    return qualify_all(make_config())


def index_of(config: Config, crm: str) -> CandidateIndex:
    state = StateStore(config.resolve_url(config.state.url))
    return CandidateIndex(state.engine, crm, Matcher(config.matching))


def test_spellings_an_exact_crm_filter_misses_are_matched(config: Config,
                                                          salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox
    zoe = sf.create("Lead", {"FirstName": "Zoë", "LastName": "Müller",
                             "Company": "Halvorsen Maritime AG",
                             "Email": "zoe.mueller@halvorsen.example"})
    jonathan = sf.create("Lead", {"FirstName": "Jonathan", "LastName": "Pryce",
                                  "Company": "Brightwater Analytics",
                                  "Email": "jp@brightwater.example"})
    ines = sf.create("Lead", {"FirstName": "Ines", "LastName": "Carvalho",
                              "Company": "The Lisbon Textile Company",
                              "Email": "ines@lisbon-textile.example"})
    summary = sync(config, [
        person(1, "Zoe", "Muller", "Halvorsen Maritime", "zoe.muller@gmail.com"),
        person(2, "Jonathon", "Pryce", "Brightwater Analytics Ltd", "jonathon.p@gmail.com"),
        person(3, "Inês", "Carvalho", "Lisbon Textile Co", "ines.c@outlook.com"),
    ])
    assert summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"]) == (3, 0), summary.counts
    by_key = {r["Leadsync_Id__c"]: r["Id"] for r in sf.records("Lead")}
    assert by_key == {"1": zoe["Id"], "2": jonathan["Id"], "3": ines["Id"]}


def test_the_index_follows_what_reps_do_between_runs(config: Config,
                                                     salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox
    gone = sf.create("Lead", {"FirstName": "Owen", "LastName": "Marsh",
                              "Company": "Fenland Seeds", "Email": "owen@fenland.example"})
    first = sync(config, [person(1, "Ada", "Quist", "Quist Labs", "ada@quist.example")])
    assert first.status == "ok", first.error
    index = index_of(config, "salesforce")
    assert f"Lead/{gone['Id']}" in index.get([f"Lead/{gone['Id']}"])  # filled on the first run
    assert index.get([]) == {}

    # between runs: a rep adds a contact, deletes Owen, merges two leads
    account = sf.create("Account", {"Name": "Kestrel Optics"})
    priya = sf.create("Contact", {"FirstName": "Priya", "LastName": "Raman",
                                  "AccountId": account["Id"],
                                  "Email": "priya.raman@kestrel.example"})
    sf.delete("Lead", gone["Id"])
    keep = sf.create("Lead", {"FirstName": "Lena", "LastName": "Vos", "Company": "Vos BV",
                              "Email": "lena@vos.example"})
    loser = sf.create("Lead", {"FirstName": "Lena", "LastName": "Vos", "Company": "Vos BV",
                               "Email": "l.vos@vos.example"})
    sf.merge("Lead", keep["Id"], [loser["Id"]])

    second = sync(config, [
        person(2, "Priya", "Raman", "Kestrel Optics Inc.", "priya.r@gmail.com"),
        person(3, "Owen", "Marsh", "Fenland Seeds", "owen@fenland.example"),
        person(4, "Lena", "Vos", "Vos BV", "lena@vos.example"),
    ])
    assert second.status == "ok", second.error
    index = index_of(config, "salesforce")
    held = index.get([f"Contact/{priya['Id']}", f"Lead/{gone['Id']}", f"Lead/{loser['Id']}",
                      f"Lead/{keep['Id']}"])
    assert set(held) == {f"Contact/{priya['Id']}", f"Lead/{keep['Id']}"}
    assert (second.counts["matched"], second.counts["created"]) == (2, 1), second.counts
    assert [c["Id"] for c in sf.records("Contact")] == [priya["Id"]]  # matched, not a lead
    leads = {r["Leadsync_Id__c"]: r for r in sf.records("Lead")}
    assert leads["3"]["Id"] != gone["Id"]  # a deleted record is no candidate
    assert leads["4"]["Id"] == keep["Id"]  # the merge's survivor is


def test_records_made_in_a_run_are_candidates_of_the_next_at_once(
        config: Config, salesforce_sandbox: Any) -> None:
    sync(config, [person(1, "Noor", "Haddad", "Cedar Ridge Bank", "noor@cedarridge.example")])
    index = index_of(config, "salesforce")
    [made] = salesforce_sandbox.records("Lead")
    assert f"Lead/{made['Id']}" in index.get([f"Lead/{made['Id']}"])
    again = sync(config, [person(2, "Noor", "Haddad", "Cedar Ridge Bank",
                                 "noor.haddad@gmail.com")])
    assert (again.counts["matched"], again.counts["created"]) == (1, 0)


def test_finding_earlier_records_asks_the_crm_nothing_per_batch(
        config: Config, salesforce_sandbox: Any) -> None:
    config = config.model_copy(update={"sync": config.sync.model_copy(
        update={"batch_size": 50, "handoff_task": False})})
    sync(config, [person(1, "Ada", "Quist", "Quist Labs", "ada@quist.example")])

    def calls(leads: list[Lead]) -> int:
        before = salesforce_sandbox.request_count
        summary = sync(config, leads)
        assert summary.counts["created"] == len(leads), summary.counts
        return salesforce_sandbox.request_count - before

    calls([person(n, "Jo", f"Lee{n}", f"Firm {n}", f"jo{n}@firm{n}.example")
           for n in range(10, 60)])  # from here on every run reads changes the same way
    one = calls([person(n, "Jo", f"Lee{n}", f"Firm {n}", f"jo{n}@firm{n}.example")
                 for n in range(100, 150)])
    four = calls([person(n, "Jo", f"Lee{n}", f"Firm {n}", f"jo{n}@firm{n}.example")
                  for n in range(200, 400)])
    assert four - one == 3, (one, four)  # one write per further batch, nothing else


def test_hubspot_index_follows_reps_between_runs(hubspot_sandbox: Any, make_config: Any,
                                                 tmp_path: Any, monkeypatch: Any) -> None:
    from connector import config as configuration
    from tests.conftest import hubspot_example_config

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    config = qualify_all(configuration.load(hubspot_example_config(
        tmp_path, hubspot_sandbox.address)))
    hs = hubspot_sandbox
    gone = hs.create("contacts", {"firstname": "Owen", "lastname": "Marsh",
                                  "company": "Fenland Seeds", "email": "owen@fenland.example"})

    assert sync(config, [person(1, "Ada", "Quist", "Quist Labs",
                                "ada@quist.example")]).status == "ok"
    priya = hs.create("contacts", {"firstname": "Priya", "lastname": "Raman",
                                   "company": "Kestrel Optics",
                                   "email": "priya.raman@kestrel.example"})
    hs.archive("contacts", gone["id"])
    second = sync(config, [
        person(2, "Priya", "Ráman", "Kestrel Optics Inc.", "priya.r@gmail.com"),
        person(3, "Owen", "Marsh", "Fenland Seeds", "owen@fenland.example")])
    assert second.status == "ok", second.error
    index = index_of(config, "hubspot")
    assert set(index.get([f"contacts/{priya['id']}", f"contacts/{gone['id']}"])) == \
        {f"contacts/{priya['id']}"}
    contacts = {c["properties"].get("leadsync_id"): c["id"] for c in hs.records("contacts")}
    assert contacts["2"] == priya["id"]
    assert contacts["3"] != gone["id"]


def test_the_index_command_shows_the_index_and_rebuilds_it(
        request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: Any) -> None:
    import json

    from typer.testing import CliRunner

    from connector.cli import app
    from tests.conftest import crm_world

    path, sandbox, _ = crm_world(request, "salesforce", tmp_path, monkeypatch)
    sandbox.create("Account", {"Name": "Kestrel Optics"})
    sandbox.create("Lead", {"FirstName": "Owen", "LastName": "Marsh", "Company": "Fenland"})
    runner = CliRunner()

    def shown() -> dict[str, Any]:
        result = runner.invoke(app, ["index", "--json", "--config", str(path)])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    unsynced = runner.invoke(app, ["index", "--config", str(path)])
    assert unsynced.exit_code == 1 and "no state database at" in unsynced.output
    assert not list(tmp_path.glob("s.db*"))  # a mistyped state.url is not created
    assert runner.invoke(app, ["sync", "--once", "--config", str(path)]).exit_code in (0, 1)
    filled = shown()
    assert filled["records"]["account"] == 1 and filled["records"]["lead"] >= 1
    assert filled["objects"] == {"Account": 1, "Lead": filled["records"]["lead"]}
    assert filled["read_until"] is not None
    said = runner.invoke(app, ["index", "--config", str(path)]).output
    assert said.startswith("candidate index (salesforce): Account 1, Lead "), said
    rebuilt = runner.invoke(app, ["index", "--rebuild", "--config", str(path)])
    assert "empty; filled by a bulk read on the next sync" in rebuilt.output
    runner.invoke(app, ["sync", "--once", "--config", str(path)])
    assert shown()["records"] == filled["records"]


def test_the_index_command_names_hubspots_own_objects(
        request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: Any) -> None:
    """A HubSpot admin reads "contacts" and "companies", not the pipeline's "leads"."""
    from typer.testing import CliRunner

    from connector import config as configuration
    from connector.cli import app
    from tests.conftest import crm_world, import_leads, lead_row

    path, sandbox, _ = crm_world(request, "hubspot", tmp_path, monkeypatch)
    sandbox.create("companies", {"name": "Kestrel Optics"})
    sandbox.create("contacts", {"firstname": "Owen", "lastname": "Marsh",
                                "email": "owen@fenland.example"})
    import_leads(configuration.load(path), tmp_path / "one.csv", [lead_row(1)])
    runner = CliRunner()
    synced = runner.invoke(app, ["sync", "--once", "--config", str(path)])
    assert synced.exit_code == 0, synced.output
    said = runner.invoke(app, ["index", "--config", str(path)])
    assert said.exit_code == 0, said.output
    # the lead synced is a contact now, in the index at once
    assert said.output.startswith("candidate index (hubspot): companies 1, contacts 2;"), \
        said.output


def test_hubspot_a_second_person_on_a_shared_mailbox_gets_a_contact_of_their_own(
        hubspot_sandbox: Any, tmp_path: Any, monkeypatch: Any) -> None:
    """HubSpot keeps one contact per email: Raj writing from the info@ address Jane's
    contact holds is not handed to Jane's record; his contact is made without it."""
    from connector import config as configuration
    from tests.conftest import hubspot_example_config

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    config = qualify_all(configuration.load(hubspot_example_config(
        tmp_path, hubspot_sandbox.address)))
    jane = hubspot_sandbox.create("contacts", {"firstname": "Jane", "lastname": "Doe",
                                               "company": "Acme", "email": "info@acme.example"})
    summary = sync(config, [person(1, "Raj", "Patel", "Acme", "info@acme.example")])
    assert summary.status == "ok", summary.error
    assert (summary.counts["created"], summary.counts["matched"]) == (1, 0), summary.counts
    contacts = {c["id"]: c["properties"] for c in hubspot_sandbox.records("contacts")}
    assert contacts[jane["id"]]["firstname"] == "Jane"
    assert not contacts[jane["id"]].get("leadsync_id")  # Jane's record is not Raj's
    [raj] = [p for i, p in contacts.items() if i != jane["id"]]
    assert (raj["firstname"], raj.get("email") or None) == ("Raj", None)


def test_a_large_object_is_filled_by_a_bulk_query_job(
        config: Config, salesforce_sandbox: Any, sf_client: Any, monkeypatch: Any) -> None:
    """Past BULK_READ_FROM records an object is read by a Bulk API 2.0 query job, not
    in pages (here the org answers 5 rows a page and the threshold is 3, so that
    twelve leads take that path; an answer whose first page holds all is kept)."""
    from connector.adapters import salesforce as adapter

    monkeypatch.setattr(adapter, "BULK_READ_FROM", 3)
    salesforce_sandbox.page_size = 5
    assert config.crm.salesforce is not None
    config = config.model_copy(update={"crm": config.crm.model_copy(update={
        "salesforce": config.crm.salesforce.model_copy(update={"bulk_poll_s": 0.1})})})
    made = [salesforce_sandbox.create("Lead", {
        "FirstName": "Rep", "LastName": f"Lead{n}", "Company": f"Acme {n}",
        "Email": f"rep{n}@acme{n}.example"})["Id"] for n in range(12)]

    def query_jobs() -> list[dict[str, Any]]:  # as the org lists them (GET jobs/query)
        return sf_client.restful("jobs/query")["records"]

    jobs_before = len(query_jobs())
    assert sync(config, [person(1, "Rep", "Lead7", "Acme 7", "rep7@gmail.com")]).status == "ok"
    jobs = query_jobs()
    assert len(jobs) == jobs_before + 1 and jobs[-1]["object"] == "Lead"
    refs = [f"Lead/{made_id}" for made_id in made]
    assert set(refs) <= set(index_of(config, "salesforce").get(refs))
    [lead7] = [r for r in salesforce_sandbox.records("Lead") if r["LastName"] == "Lead7"]
    assert lead7["Leadsync_Id__c"] == "1"  # found through the bulk-filled index


def test_a_large_delta_is_read_by_a_query_all_job_in_order(
        config: Config, salesforce_sandbox: Any, sf_client: Any, monkeypatch: Any) -> None:
    """The run after a large load reads a delta of every record it wrote: past
    BULK_READ_FROM rows (here 3, with 5 rows a page) that delta is one queryAll job,
    not page after page, and deletions still come through it."""
    from connector.adapters import salesforce as adapter

    monkeypatch.setattr(adapter, "BULK_READ_FROM", 3)
    salesforce_sandbox.page_size = 5
    assert config.crm.salesforce is not None
    config = config.model_copy(update={"crm": config.crm.model_copy(update={
        "salesforce": config.crm.salesforce.model_copy(update={"bulk_poll_s": 0.1})})})
    assert sync(config, [person(1, "Ada", "Quist", "Quist Labs", "ada@quist.example")]
                ).status == "ok"

    def query_jobs() -> list[dict[str, Any]]:  # as the org lists them (GET jobs/query)
        return sf_client.restful("jobs/query")["records"]

    before = len(query_jobs())
    made = [salesforce_sandbox.create("Lead", {
        "FirstName": "Rep", "LastName": f"Lead{n}", "Company": f"Acme {n}",
        "Email": f"rep{n}@acme{n}.example"})["Id"] for n in range(9)]
    sf_client.Lead.delete(made[0])
    assert sync(config, [person(2, "Rep", "Lead7", "Acme 7", "rep7@gmail.com")]
                ).status == "ok"
    jobs = query_jobs()[before:]
    assert [(j["object"], j["operation"]) for j in jobs] == [("Lead", "queryAll")]
    held = index_of(config, "salesforce").get([f"Lead/{i}" for i in made])
    assert set(held) == {f"Lead/{i}" for i in made[1:]}  # the deleted one left
    [lead7] = [r for r in salesforce_sandbox.records("Lead") if r["LastName"] == "Lead7"]
    assert lead7["Leadsync_Id__c"] == "2"  # found through the delta read by the job


def test_hubspot_two_new_people_on_one_shared_mailbox_in_one_run_get_two_contacts(
        hubspot_sandbox: Any, tmp_path: Any, monkeypatch: Any) -> None:
    """Found by the docs-only trial: Jane and Raj, both on info@ and new to the CRM,
    in one file. HubSpot keeps one contact per email: the first takes the address,
    the second gets a contact without it -- not a refusal telling marketing to merge
    two people."""
    from connector import config as configuration
    from tests.conftest import hubspot_example_config

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    config = qualify_all(configuration.load(hubspot_example_config(
        tmp_path, hubspot_sandbox.address)))
    summary = sync(config, [person(1, "Jane", "Doe", "Hooli", "info@hooli.example"),
                            person(2, "Raj", "Patel", "Hooli", "info@hooli.example")])
    assert summary.status == "ok", summary.error
    assert (summary.counts["created"], summary.counts["refused"]) == (2, 0), summary.counts
    contacts = sorted((c["properties"]["firstname"], c["properties"].get("email") or None)
                      for c in hubspot_sandbox.records("contacts"))
    assert contacts == [("Jane", "info@hooli.example"), ("Raj", None)]


def test_two_leads_of_one_person_in_a_run_are_not_each_others_namesakes(
        config: Config, salesforce_sandbox: Any) -> None:
    """Aaron Baohm at 6016 is in the org with nothing but his name and postcode; two
    sign-ups of his arrive in one run from his house, each with a mailbox of its own.
    The first matches him (no other record bears the name); the second is compared
    with him and with the first, which became his record and is the second's own
    person (the same house): not a namesake, so it matches him too instead of being
    made anew. (Two Omar Haddads with their own houses and employers stay two:
    ``test_two_namesakes_in_a_run_do_not_both_become_the_one_crm_bearer``.)"""
    sf = salesforce_sandbox
    aaron = sf.create("Contact", {"FirstName": "Aaron", "LastName": "Baohm",
                                  "MailingPostalCode": "6016", "MailingCity": "Upper Coomera",
                                  "MailingState": "QLD"})
    place = {"postal_code": "6016", "city": "Upper Coomera", "state": "QLD",
             "street": "12 Main Street"}
    summary = sync(config, [
        person(1, "Aaron", "Baohm", "", "aaron.baohm@gmail.com", **place),
        person(2, "Aaron", "Baohm", "", "abaohm@yahoo.com", **place)])
    assert summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"]) == (2, 0), summary.counts
    assert [r["Leadsync_Id__c"] for r in sf.records("Lead")] == []
    state = StateStore(config.resolve_url(config.state.url))
    try:
        assert {link.marketing_id: link.crm_id for link in state.links_any_object(
            "salesforce", ["1", "2"], prefer="Lead").values()} == \
            {"1": aaron["Id"], "2": aaron["Id"]}
    finally:
        state.close()


def test_two_namesakes_in_a_run_do_not_both_become_the_one_crm_bearer(
        config: Config, salesforce_sandbox: Any) -> None:
    """Omar Haddad is in the org at 3 River Street, 30301, with nothing else. Two
    Omar Haddads of that postcode sign up in one run, each with a mailbox, an
    employer and a house of their own: two people, so the CRM's Omar is not
    "the one bearer of the name" for the second once the first became him."""
    sf = salesforce_sandbox
    omar = sf.create("Contact", {"FirstName": "Omar", "LastName": "Haddad",
                                 "MailingStreet": "3 River Street", "MailingPostalCode": "30301",
                                 "MailingCity": "Atlanta", "MailingState": "GA"})
    place = {"postal_code": "30301", "city": "Atlanta", "state": "GA"}
    summary = sync(config, [
        person(1, "Omar", "Haddad", "Freelance", "omar.h@gmail.com",
               street="50 Peachtree Street", **place),
        person(2, "Omar", "Haddad", "Haddad Bakery", "omarhaddad77@yahoo.com",
               street="77 Ponce Road", **place)])
    assert summary.status == "ok", summary.error
    state = StateStore(config.resolve_url(config.state.url))
    try:
        links = state.links_any_object("salesforce", ["1", "2"], prefer="Lead")
    finally:
        state.close()
    on_omar = [lead for lead, link in links.items() if link.crm_id == omar["Id"]]
    assert len(on_omar) <= 1, links

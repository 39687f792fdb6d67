"""Records reps delete, seen when they are seen: HubSpot lists archived records
apart (its search never shows them, its listing has no "since"), so an idle run
lists them only every [hubspot] deleted_check_minutes; and a lead matched to a
record deleted after the run read the CRM is matched again, not lost.

Through the real clients against the sandboxes; the rep acts through them too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from bench.proxy import CountingProxy
from connector import config as configuration
from connector.adapters.hubspot import HubSpotAdapter
from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config
from connector.deletions import DeletionLooks
from connector.pipeline import Pipeline
from connector.progress import Progress
from connector.state import StateStore
from connector.wiring import run_once
from tests.conftest import crm_world, import_leads, lead_row, routed
from tests.e2e.test_dedupe import Leads, qualify_all
from tests.e2e.test_rep_removals import stages


class DeletesOnRouting(Progress):
    """A rep deleting ``crm_id`` while the run routes: after the candidate index was
    read and the lead matched, before its write."""

    def __init__(self, delete: Any) -> None:
        self.delete = delete
        self.done = False

    def step(self, name: str) -> None:
        if name.endswith("routing") and not self.done:
            self.delete()
            self.done = True

    def expect(self, leads: int | None) -> None: ...

    def batch(self, tally: Any) -> None: ...


def deleter(crm: str, sandbox: Any, crm_object: str, crm_id: str) -> Callable[[], None]:
    """A rep deleting a record the CRM's way (HubSpot archives it)."""
    if crm == "hubspot":
        return lambda: sandbox.archive(crm_object, crm_id)
    return lambda: sandbox.delete(crm_object, crm_id)


@contextmanager
def opened(config: Config) -> Iterator[Any]:
    crm = adapter(config)
    try:
        yield crm
    finally:
        crm.close()


def adapter(config: Config) -> Any:
    if config.crm.hubspot is not None:
        return HubSpotAdapter(config.crm.hubspot, token="sandbox-token", wait=wait_none())
    assert config.crm.salesforce is not None
    return SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                             wait=wait_none())


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_lead_whose_match_a_rep_deletes_mid_run_is_matched_again(
        crm: str, request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.test_candidate_index import index_of, person

    path, sandbox, _ = crm_world(request, crm, tmp_path, monkeypatch)
    config = qualify_all(configuration.load(path))
    if crm == "hubspot":
        crm_object, key = "contacts", "leadsync_id"
        owen = sandbox.create(crm_object, {"firstname": "Owen", "lastname": "Marsh",
                                           "company": "Fenland Seeds",
                                           "email": "owen@fenland.example"})["id"]
    else:
        crm_object, key = "Lead", "Leadsync_Id__c"
        owen = sandbox.create(crm_object, {"FirstName": "Owen", "LastName": "Marsh",
                                           "Company": "Fenland Seeds",
                                           "Email": "owen@fenland.example"})["Id"]
    leads = Leads([person(1, "Owen", "Marsh", "Fenland Seeds", "owen@fenland.example")])
    state = StateStore(config.resolve_url(config.state.url))
    rep = DeletesOnRouting(deleter(crm, sandbox, crm_object, owen))
    try:
        with opened(config) as crm_:
            summary = Pipeline(config, state, leads, crm_, progress=rep).run()
        events = [(e.kind, e.detail) for e in state.events_of("1")]
    finally:
        state.close()
    assert rep.done and summary.status == "ok", summary.error
    assert (summary.counts["matched"], summary.counts["created"],
            summary.counts["not_written"], summary.counts["refused"]) == (0, 1, 0, 0)
    kinds = [kind for kind, _ in events]
    assert kinds.index("matched") < kinds.index("rematched") < kinds.index("created"), events
    why = next(detail for kind, detail in events if kind == "rematched")
    assert owen in why and "deleted" in why
    assert index_of(config, crm).get([f"{crm_object}/{owen}"]) == {}  # out of the index
    made = [r for r in sandbox.records(crm_object)
            if (r.get("properties") or r).get(key) == "1"]
    assert len(made) == 1 and (made[0].get("id") or made[0].get("Id")) != owen


def test_an_idle_hubspot_run_lists_deletions_only_every_so_often(
        request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, sandbox, client = crm_world(request, "hubspot", tmp_path, monkeypatch)
    config = configuration.load(path)
    assert config.crm.hubspot is not None and config.crm.hubspot.deleted_check_minutes == 60
    import_leads(config, tmp_path / "leads.csv", [lead_row(n) for n in (1, 2, 3)])
    assert run_once(config).counts["created"] == 3
    gone = next(c for c in sandbox.records("contacts")
                if c["properties"].get("email") == "person1@acme1.example")["id"]
    client.crm.contacts.basic_api.archive(gone)  # a rep deletes it in HubSpot

    with CountingProxy(sandbox.address) as proxy:
        idle = run_once(routed(config, proxy.address))
        calls = proxy.reset()
    assert idle.status == "ok" and calls == {"POST hubspot search": 3}, calls
    assert stages(config)["person1@acme1.example"] != "crm_deleted"  # not heard yet

    state = StateStore(config.resolve_url(config.state.url))
    mark = DeletionLooks(state, None, f"hubspot:{config.mapping.object}", timedelta()).mark
    try:  # the hour passes: the last look is back-dated, as a clock would move it
        last = datetime.fromisoformat(state.mark(mark) or "")
        state.set_mark(mark, (last - timedelta(minutes=61)).isoformat())
    finally:
        state.close()
    with CountingProxy(sandbox.address) as proxy:
        later = run_once(routed(config, proxy.address))
        calls = proxy.reset()
    assert later.status == "ok", later.error
    assert calls.get("GET hubspot list") == 2, calls  # archived contacts and companies
    assert stages(config)["person1@acme1.example"] == "crm_deleted"
    with CountingProxy(sandbox.address) as proxy:  # and the look is noted
        assert run_once(routed(config, proxy.address)).status == "ok"
        assert "GET hubspot list" not in proxy.reset()


def test_deleted_check_minutes_zero_lists_every_run(
        request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, sandbox, client = crm_world(request, "hubspot", tmp_path, monkeypatch)
    text = path.read_text(encoding="utf-8")
    assert "deleted_check_minutes = 60 " in text  # the example says it, for admins to see
    path.write_text(text.replace("deleted_check_minutes = 60 ", "deleted_check_minutes = 0 ", 1),
                    encoding="utf-8")
    config = configuration.load(path)
    assert config.crm.hubspot is not None and config.crm.hubspot.deleted_check_minutes == 0
    import_leads(config, tmp_path / "leads.csv", [lead_row(1)])
    assert run_once(config).counts["created"] == 1
    client.crm.contacts.basic_api.archive(sandbox.records("contacts")[0]["id"])
    assert run_once(config).status == "ok"
    assert stages(config)["person1@acme1.example"] == "crm_deleted"


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_deleted_person_met_mid_run_is_not_made_again_under_another_mailbox(
        crm: str, request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ana's lead made her record; a second sign-up of hers (the same Gmail mailbox,
    dotted) matches it, and a rep deletes the record while the run routes. Ana's
    lead hears of the deletion and the sign-up is not made into a record of its
    own: the deletion is the person's, as when it is known before the run."""
    from tests.e2e.test_candidate_index import person

    path, sandbox, _ = crm_world(request, crm, tmp_path, monkeypatch)
    config = qualify_all(configuration.load(path))
    ana = person(1, "Ana", "Lima", "Lima Foods", "ana.lima@gmail.com")
    again = person(2, "Ana", "Lima", "Lima Foods", "analima@gmail.com")
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with opened(config) as crm_:
            assert Pipeline(config, state, Leads([ana]), crm_).run().counts["created"] == 1
        made = state.links_any_object(crm, ["1"], prefer=config.mapping.object)["1"]
        delete = deleter(crm, sandbox, made.crm_object, made.crm_id)
        with opened(config) as crm_:
            summary = Pipeline(config, state, Leads([ana, again]), crm_,
                               progress=DeletesOnRouting(delete)).run()
        links = state.links_any_object(crm, ["1", "2"], prefer=config.mapping.object)
        kinds = [e.kind for e in state.events_of("2")]
        heard = [e.detail for e in state.events_of("1") if e.kind == "deleted"]
    finally:
        state.close()
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 0, summary.counts
    assert "rematched" in kinds, kinds
    assert links["1"].deleted_at is not None and heard, heard
    assert links["2"].deleted_at is not None and links["2"].crm_id == made.crm_id
    key = "leadsync_id" if crm == "hubspot" else "Leadsync_Id__c"
    records = sandbox.records("contacts" if crm == "hubspot" else config.mapping.object)
    assert not [r for r in records if (r.get("properties") or r).get(key) == "2"]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_two_sign_ups_whose_match_is_deleted_mid_run_make_one_record(
        crm: str, request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sign-ups of Owen (his Gmail mailbox with and without the dot) both match
    the record a rep made for him, and the rep deletes it while the run routes.
    Matched again, the first is made anew and the second follows it: one record."""
    from tests.e2e.test_candidate_index import person

    path, sandbox, _ = crm_world(request, crm, tmp_path, monkeypatch)
    config = qualify_all(configuration.load(path))
    if crm == "hubspot":
        crm_object = "contacts"
        owen = sandbox.create(crm_object, {"firstname": "Owen", "lastname": "Marsh",
                                           "email": "owen.marsh@gmail.com"})["id"]
    else:
        crm_object = "Lead"
        owen = sandbox.create(crm_object, {"FirstName": "Owen", "LastName": "Marsh",
                                           "Company": "Fenland Seeds",
                                           "Email": "owen.marsh@gmail.com"})["Id"]
    leads = Leads([person(1, "Owen", "Marsh", "Fenland Seeds", "owen.marsh@gmail.com"),
                   person(2, "Owen", "Marsh", "Fenland Seeds", "owenmarsh@gmail.com")])
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with opened(config) as crm_:
            summary = Pipeline(config, state, leads, crm_, progress=DeletesOnRouting(
                deleter(crm, sandbox, crm_object, owen))).run()
        links = state.links_any_object(crm, ["1", "2"], prefer=config.mapping.object)
    finally:
        state.close()
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 1 and summary.counts["refused"] == 0, summary.counts
    assert links["1"].crm_id == links["2"].crm_id != owen
    assert len([r for r in sandbox.records(crm_object)
                if (r.get("id") or r.get("Id")) != owen]) == 1

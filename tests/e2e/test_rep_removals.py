"""Reps delete, merge and convert records between runs, on both CRMs: a deleted
record is not brought back (unless the admin's policy says so, and then in full),
merges are followed so every linked lead hears the survivor's verdict, and a change
meeting a converted lead is news, never a dead letter (docs/sync-semantics.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.state import StateStore
from connector.wiring import run_once
from tests.conftest import crm_world, import_leads, lead_row


class Rep:
    """A sales rep on one CRM: through the real client where the API allows it."""

    status_field: str
    worked: str  # a status that means "sales accepted"

    merges_keep_keys: bool = True  # a merged-away record still shows its key (queryAll)

    def records(self) -> dict[str, dict[str, Any]]: ...  # email → {id, status, first}
    def task_count(self) -> int: ...
    def create_person(self, *, first: str, last: str, email: str, company: str) -> str: ...
    def delete(self, crm_id: str) -> None: ...
    def merge(self, survivor: str, loser: str) -> str: ...  # the surviving record's id
    def set_status(self, crm_id: str, status: str) -> None: ...
    def phone(self, crm_id: str) -> str | None: ...


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Rep, Path]:
    path, sandbox, client = crm_world(request, request.param, tmp_path, monkeypatch)
    if request.param == "salesforce":

        class SalesforceRep(Rep):
            worked = "Working - Contacted"

            def records(self) -> dict[str, dict[str, Any]]:
                rows = client.query_all("SELECT Id, Email, FirstName, Status FROM Lead")
                return {r["Email"]: {"id": r["Id"], "status": r["Status"],
                                     "first": r["FirstName"]} for r in rows["records"]}

            def task_count(self) -> int:
                return len(client.query_all("SELECT Id FROM Task")["records"])

            def create_person(self, *, first: str, last: str, email: str, company: str) -> str:
                return client.Lead.create({"FirstName": first, "LastName": last,
                                           "Email": email, "Company": company})["id"]

            def delete(self, crm_id: str) -> None:
                client.Lead.delete(crm_id)

            def merge(self, survivor: str, loser: str) -> str:
                sandbox.merge("Lead", survivor, [loser])  # the merge wizard in the UI
                return survivor

            def set_status(self, crm_id: str, status: str) -> None:
                client.Lead.update(crm_id, {"Status": status})

            def phone(self, crm_id: str) -> str | None:
                return client.Lead.get(crm_id).get("Phone")

        rep: Rep = SalesforceRep()
    else:
        from hubspot.crm.contacts import PublicMergeInput, SimplePublicObjectInput

        class HubSpotRep(Rep):
            worked = "IN_PROGRESS"
            merges_keep_keys = False  # the merged record keeps the primary's key only

            def records(self) -> dict[str, dict[str, Any]]:
                page = client.crm.contacts.basic_api.get_page(
                    limit=100, properties=["email", "firstname", "hs_lead_status"])
                return {c.properties["email"]: {"id": c.id,
                                                "status": c.properties["hs_lead_status"],
                                                "first": c.properties["firstname"]}
                        for c in page.results}

            def task_count(self) -> int:
                return len(sandbox.records("tasks"))

            def create_person(self, *, first: str, last: str, email: str, company: str) -> str:
                return str(client.crm.contacts.basic_api.create(SimplePublicObjectInput(
                    properties={"firstname": first, "lastname": last, "email": email,
                                "company": company})).id)

            def delete(self, crm_id: str) -> None:
                client.crm.contacts.basic_api.archive(crm_id)

            def merge(self, survivor: str, loser: str) -> str:
                merged = client.crm.contacts.basic_api.merge(PublicMergeInput(
                    primary_object_id=survivor, object_id_to_merge=loser))
                return str(merged.id)

            def phone(self, crm_id: str) -> str | None:
                contact = client.crm.contacts.basic_api.get_by_id(crm_id, properties=["phone"])
                return (contact.properties or {}).get("phone")

            def set_status(self, crm_id: str, status: str) -> None:
                client.crm.contacts.basic_api.update(
                    crm_id, SimplePublicObjectInput(properties={"hs_lead_status": status}))

        rep = HubSpotRep()
    config = configuration.load(path)
    import_leads(config, tmp_path / "three.csv", [lead_row(n) for n in (1, 2, 3)])
    first = run_once(config)
    assert first.status == "ok" and first.counts["created"] == 3, first.error
    return config, rep, path


def stages(config: Any) -> dict[str, str | None]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        return {lead.fields["email"]: lead.stage for lead in store.read_changes(None)}
    finally:
        store.close()


def dead_letters(config: Any) -> list[Any]:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return state.dead_letters()
    finally:
        state.close()


def edit(config: Any, tmp_path: Path, n: int, **fields: str) -> None:
    import_leads(config, tmp_path / f"edit{n}.csv", [lead_row(n, **fields)])


def test_a_deleted_record_is_not_brought_back_and_marketing_hears_of_it(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    config, rep, _ = world
    rep.delete(rep.records()["person1@acme1.example"]["id"])
    edit(config, tmp_path, 1, title="CEO")
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert summary.counts["not_written"] == 1 and summary.counts["refused"] == 0
    assert "person1@acme1.example" not in rep.records()  # not re-created, not even empty
    assert dead_letters(config) == []
    assert stages(config)["person1@acme1.example"] == "crm_deleted"
    again = run_once(config)  # said once; nothing new
    assert (again.counts["not_written"], again.counts["created"]) == (0, 0)


def test_the_admin_may_recreate_a_deleted_record_on_new_activity_in_full(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    config, rep, path = world
    text = path.read_text(encoding="utf-8")
    text = (text.replace('on_crm_delete = "keep_deleted"', "on_crm_delete = "
                         '"recreate_on_new_activity"') if "on_crm_delete" in text else
            text.replace("[sync]\n", '[sync]\non_crm_delete = "recreate_on_new_activity"\n', 1))
    path.write_text(text, encoding="utf-8")
    config = configuration.load(path)
    rep.delete(rep.records()["person1@acme1.example"]["id"])
    edit(config, tmp_path, 1, title="CEO")  # old activities only: stays deleted
    assert run_once(config).counts["created"] == 0
    assert "person1@acme1.example" not in rep.records()
    edit(config, tmp_path, 1, title="CEO",
         activities="form_fill|2099-01-01T10:00:00Z|Request a demo")
    back = run_once(config)
    assert back.counts["created"] == 1, back.error
    record = rep.records()["person1@acme1.example"]
    assert record["first"] == "Pat1" and record["status"]  # every field, create-time status


def test_a_deletion_met_by_a_write_is_heard_when_the_run_dies_before_marketing_is_told(
        world: tuple[Any, Rep, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rep deletes lead 1's record while a run routes its change: the write meets
    the CRM's refusal (deleted), and the run dies as it tells marketing. The link is
    not marked deleted first, so a later run still tells marketing."""
    from tests.e2e.test_crm_deletions import DeletesOnRouting

    config, rep, _ = world
    doomed = rep.records()["person1@acme1.example"]["id"]
    edit(config, tmp_path, 1, title="CEO")
    deleting = DeletesOnRouting(lambda: rep.delete(doomed))
    with pytest.raises(Killed), dying_as_marketing_hears_a_deletion(monkeypatch):
        run_once(config, progress=deleting)
    assert deleting.done
    edit(config, tmp_path, 2, title="CFO")  # a run with leads to hand off looks at deletions
    after = run_once(config)
    assert after.status == "ok", after.error
    assert stages(config)["person1@acme1.example"] == "crm_deleted"
    assert "person1@acme1.example" not in rep.records()


def test_a_merge_is_followed_and_every_linked_lead_hears_the_survivor(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    config, rep, _ = world
    records = rep.records()
    survivor = rep.merge(records["person2@acme2.example"]["id"],
                         records["person3@acme3.example"]["id"])
    rep.set_status(survivor, rep.worked)
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert summary.counts["fed_back"] == 2
    now = stages(config)
    assert now["person2@acme2.example"] == now["person3@acme3.example"] == "sales_accepted"
    edit(config, tmp_path, 3, title="COO", first_name="Patricia")
    later = run_once(config)
    assert later.counts["created"] == 0 and later.counts["refused"] == 0, later.refused
    after = rep.records()
    assert "person3@acme3.example" not in after  # not re-created
    assert after["person2@acme2.example"]["first"] == "Pat2"  # survivor's identity kept
    assert dead_letters(config) == []


def test_a_merge_tells_no_lead_of_a_step_its_record_never_took(
        world: tuple[Any, Rep, Path]) -> None:
    """Lead 2's record is worked; the rep merges it into lead 3's record, which keeps
    its own status. Lead 2 hears the survivor's status; lead 3 hears nothing: its
    record never took lead 2's step (HubSpot folds the merged record's status history
    into the survivor's), so marketing's stage history of lead 3 stays as it was.
    Salesforce keeps the survivor's own history: there it guards the same outcome."""
    config, rep, _ = world
    records = rep.records()
    rep.set_status(records["person2@acme2.example"]["id"], rep.worked)
    assert run_once(config).counts["fed_back"] == 1
    assert stages(config)["person2@acme2.example"] == "sales_accepted"
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        before = len(store.stage_history("3"))
    finally:
        store.close()
    rep.merge(records["person3@acme3.example"]["id"], records["person2@acme2.example"]["id"])
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    now = stages(config)
    assert now["person2@acme2.example"] == now["person3@acme3.example"] == "mql"
    assert summary.counts["fed_back"] == 1  # lead 2, back to the survivor's status
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        assert len(store.stage_history("3")) == before
    finally:
        store.close()


def test_a_merged_record_deleted_before_the_next_run_is_heard_by_every_lead(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    """The rep merges two of leadsync's records and deletes the survivor before the next
    run: HubSpot's search never shows an archived record, so the merge is learnt from the
    archived listing; both leads hear of the deletion, and neither is made again."""
    config, rep, _ = world
    records = rep.records()
    survivor = rep.merge(records["person2@acme2.example"]["id"],
                         records["person3@acme3.example"]["id"])
    rep.delete(survivor)
    edit(config, tmp_path, 1, title="CEO")  # a run with leads to hand off looks at deletions
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    now = stages(config)
    assert now["person2@acme2.example"] == now["person3@acme3.example"] == "crm_deleted"
    edit(config, tmp_path, 3, title="COO")
    later = run_once(config)
    assert later.counts["created"] == 0 and later.counts["not_written"] == 1, later.counts
    assert set(rep.records()) == {"person1@acme1.example"}


def test_a_record_merged_into_a_reps_own_is_followed_there(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    """The rep merges leadsync's record into one of their own, made by hand without
    leadsync's key: the lead follows the merge, hears the verdict given there, and
    hears it when that record is deleted in turn. (HubSpot's merged contact keeps a
    key of the two, so the keyless survivor is Salesforce's case.)"""
    config, rep, _ = world
    mine = rep.create_person(first="Pat", last="Person1", email="pat@own.example",
                             company="Acme 1")
    survivor = rep.merge(mine, rep.records()["person1@acme1.example"]["id"])
    assert run_once(config).status == "ok"
    rep.set_status(survivor, rep.worked)
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert stages(config)["person1@acme1.example"] == "sales_accepted"
    rep.delete(survivor)
    edit(config, tmp_path, 2, title="CEO")  # a run with leads to hand off looks at deletions
    assert run_once(config).status == "ok"
    assert stages(config)["person1@acme1.example"] == "crm_deleted"


def test_after_a_merge_into_a_sparse_record_the_next_write_carries_the_lead_in_full(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    """The rep's own record has a name and a company only; leadsync's record of lead 1 is
    merged into it. What leadsync wrote went to the other record, so marketing's next
    change writes the lead's fields in full to the survivor (a phone, not only the
    field that changed), its identity kept."""
    config, rep, _ = world
    mine = rep.create_person(first="Pat", last="Person1", email="pat@own.example",
                             company="Acme 1")
    survivor = rep.merge(mine, rep.records()["person1@acme1.example"]["id"])
    assert run_once(config).status == "ok"
    edit(config, tmp_path, 1, title="CEO")
    summary = run_once(config)
    assert summary.status == "ok" and summary.counts["updated"] == 1, summary.counts
    assert rep.phone(survivor) == "+14155550101"
    kept = rep.records()["pat@own.example"]  # its own address, kept
    assert kept["id"] == survivor and kept["first"] == "Pat"  # and its own name


def test_a_change_meeting_a_lead_converted_since_is_news_not_a_dead_letter(
        tmp_path: Path, make_config: Any, salesforce_sandbox: Any, sf_client: Any) -> None:
    config = make_config()
    import_leads(config, tmp_path / "two.csv", [lead_row(1), lead_row(2)])
    assert run_once(config).counts["created"] == 2
    ids = {r["Email"]: r["Id"] for r in
           sf_client.query_all("SELECT Id, Email FROM Lead")["records"]}
    salesforce_sandbox.convert_lead(ids["person1@acme1.example"])
    edit(config, tmp_path, 1, title="CEO")
    summary = run_once(config)  # the read-back sees the conversion before the write
    assert summary.status == "ok", summary.error
    assert (summary.counts["not_written"], summary.counts["refused"]) == (1, 0)
    assert dead_letters(config) == []

    # converted between this run's read-back and its write: the CRM's refusal is news
    from connector.pipeline import Pipeline
    from connector.wiring import open_crm, open_marketing

    class ConvertsFirst:
        def __init__(self, real: Any) -> None:
            self.real, self.name = real, real.name

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def upsert(self, *args: Any) -> Any:
            salesforce_sandbox.convert_lead(ids["person2@acme2.example"])
            return self.real.upsert(*args)

    edit(config, tmp_path, 2, title="CFO")
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with open_marketing(config) as marketing, open_crm(config) as crm:
            raced = Pipeline(config, state, marketing, ConvertsFirst(crm)).run()
    finally:
        state.close()
    assert raced.status == "ok", raced.error
    assert (raced.counts["not_written"], raced.counts["refused"]) == (1, 0)
    assert dead_letters(config) == []
    assert len(sf_client.query_all("SELECT Id FROM Lead")["records"]) == 2


def test_a_recreated_record_is_routed_anew(tmp_path: Path, make_config: Any,
                                          salesforce_sandbox: Any, sf_client: Any) -> None:
    config = make_config()
    path = config.source
    path.write_text(path.read_text(encoding="utf-8").replace(
        'on_crm_delete = "keep_deleted"', 'on_crm_delete = "recreate_on_new_activity"'),
        encoding="utf-8")
    config = configuration.load(path)
    import_leads(config, tmp_path / "one.csv", [lead_row(1)])
    assert run_once(config).counts["created"] == 1
    [first] = sf_client.query("SELECT Id, OwnerId FROM Lead")["records"]
    sf_client.Lead.delete(first["Id"])
    run_once(config)
    edit(config, tmp_path, 1, activities="form_fill|2099-01-01T10:00:00Z|Request a demo")
    back = run_once(config)
    assert back.counts["created"] == 1, back.error
    [again] = sf_client.query("SELECT Id, OwnerId FROM Lead")["records"]
    admin = sf_client.query("SELECT Id FROM User WHERE Username = 'admin@leadsync.sandbox'")
    assert again["OwnerId"] != admin["records"][0]["Id"]  # a rep, by routing, as at first
    [task] = sf_client.query(f"SELECT OwnerId FROM Task WHERE WhoId = '{again['Id']}'"
                             )["records"]
    assert task["OwnerId"] == again["OwnerId"]


def test_the_dry_run_shows_what_a_protected_write_would_carry(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    config, rep, _ = world
    records = rep.records()
    rep.merge(records["person2@acme2.example"]["id"], records["person3@acme3.example"]["id"])
    run_once(config)
    edit(config, tmp_path, 3, first_name="Patricia", title="COO")
    dry = run_once(config, dry_run=True)
    [plan] = [p for p in dry.planned if p.get("lead") == "3" and p.get("action") == "update"]
    assert not {"FirstName", "firstname", "Email", "email"} & set(plan["payload"])


def test_a_deleted_person_is_not_brought_back_under_another_spelling_of_their_mailbox(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:
    config, rep, _ = world
    import_leads(config, tmp_path / "g1.csv", [lead_row(7, email="john.doe7@gmail.com")])
    assert run_once(config).counts["created"] == 1
    rep.delete(rep.records()["john.doe7@gmail.com"]["id"])
    run_once(config)
    import_leads(config, tmp_path / "g2.csv", [lead_row(8, email="JohnDoe7@gmail.com",
                                                        first_name="Pat7", last_name="Lee7")])
    later = run_once(config)
    assert later.counts["created"] == 0 and later.counts["not_written"] == 1, later.refused
    assert not {"johndoe7@gmail.com", "john.doe7@gmail.com"} & set(rep.records())
    assert stages(config)["johndoe7@gmail.com"] == "crm_deleted"  # it hears why


def test_a_merge_of_the_contact_a_lead_matched_is_followed_not_taken_for_a_deletion(
        request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the docs-only trial: a lead matched to a customer's contact; a rep
    merged that contact into another. The link follows the survivor (Salesforce
    reports the loser deleted with its MasterRecordId), marketing does not hear
    "deleted", and a later marketing change is written to the survivor."""
    path, sandbox, client = crm_world(request, "salesforce", tmp_path, monkeypatch)
    account = client.Account.create({"Name": "Acme Labs"})["id"]
    jose = client.Contact.create({"FirstName": "José", "LastName": "Álvarez",
                                  "Email": "jose.alvarez@acmelabs.example",
                                  "AccountId": account})["id"]
    keep = client.Contact.create({"FirstName": "Jose", "LastName": "Alvarez",
                                  "Email": "j.alvarez@acmelabs.example",
                                  "AccountId": account})["id"]
    config = configuration.load(path)
    person = dict(first_name="José", last_name="Álvarez", company="Acme Labs",
                  email="jose.alvarez@acmelabs.example")
    import_leads(config, tmp_path / "one.csv", [lead_row(1, **person)])
    first = run_once(config)
    assert (first.status, first.counts["matched"], first.counts["created"]) == ("ok", 1, 0)
    sandbox.merge("Contact", keep, [jose])
    second = run_once(config)
    assert second.status == "ok", second.error
    assert stages(config)[person["email"]] != configuration.load(path).mapping.status.deleted
    import_leads(config, tmp_path / "two.csv", [lead_row(1, **person, title="CTO")])
    third = run_once(config)
    assert (third.counts["updated"], third.counts["not_written"], third.counts["created"]) == \
        (1, 0, 0), third.counts
    state = StateStore(config.resolve_url(config.state.url))
    try:
        [link] = [ln for ln in state.links_to_records("salesforce", "Contact", [keep])[keep]]
        assert link.deleted_at is None
    finally:
        state.close()


class Killed(BaseException):
    """The process dying where it stands (kill -9): nothing after it runs."""


@contextmanager
def dying_as_marketing_hears_a_deletion(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The run dies (``Killed``) as it tells marketing of a deletion: the state database
    holds what it saved before, the marketing store nothing of the deletion."""
    real = EmbeddedMarketingStore.write_stages

    def dies(self: EmbeddedMarketingStore, updates: Any) -> set[str]:
        if any(u.stage == "crm_deleted" for u in updates):
            raise Killed
        return real(self, updates)

    monkeypatch.setattr(EmbeddedMarketingStore, "write_stages", dies)
    try:
        yield
    finally:
        monkeypatch.setattr(EmbeddedMarketingStore, "write_stages", real)


def test_a_deletion_heard_when_the_run_dies_before_marketing_is_told(
        world: tuple[Any, Rep, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state database and the marketing store are two databases: a run that dies
    between them must not leave the link marked deleted with marketing never told."""
    config, rep, _ = world
    rep.delete(rep.records()["person1@acme1.example"]["id"])
    edit(config, tmp_path, 1, title="CEO")  # a run with leads to hand off looks at deletions
    with pytest.raises(Killed), dying_as_marketing_hears_a_deletion(monkeypatch):
        run_once(config)
    assert stages(config)["person1@acme1.example"] != "crm_deleted"
    after = run_once(config)
    assert after.status == "ok", after.error
    assert stages(config)["person1@acme1.example"] == "crm_deleted"
    assert "person1@acme1.example" not in rep.records()

"""What reps do between two runs, through the real clients, on both CRMs: a
two-way field both sides changed goes to the newer change, and the other value is
kept as a conflict, never lost silently (docs/sync-semantics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector import config as configuration
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.state import StateStore
from connector.wiring import run_once
from tests.conftest import crm_world, import_leads, lead_row


def marketing_fields(config: Any, n: int = 1) -> dict[str, Any]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        [lead] = store.find(f"person{n}@acme{n % 7}.example")
        return dict(store.leads([lead])[0].fields)
    finally:
        store.close()


def conflicts(config: Any) -> list[str]:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return [e.detail for run in state.runs(50) for e in state.events(run.id, "conflict")]
    finally:
        state.close()


class Crm:
    """The sales side of one CRM, through its real client."""

    title_field: str

    def title(self) -> str | None: ...
    def set_title(self, value: str) -> None: ...
    def set_phone(self, value: str) -> None: ...


@pytest.fixture(params=["salesforce", "hubspot"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Crm]:
    path, sandbox, client = crm_world(request, request.param, tmp_path, monkeypatch)
    if request.param == "salesforce":
        # the shipped template's rule
        assert 'crm = "Title"\nsync = "two_way"' in path.read_text(encoding="utf-8")

        class SalesforceRep(Crm):
            def _id(self) -> str:
                return client.query("SELECT Id FROM Lead")["records"][0]["Id"]

            def title(self) -> str | None:
                return client.query("SELECT Title FROM Lead")["records"][0]["Title"]

            def set_title(self, value: str) -> None:
                client.Lead.update(self._id(), {"Title": value})

            def set_phone(self, value: str) -> None:
                client.Lead.update(self._id(), {"Phone": value})

        crm: Crm = SalesforceRep()
    else:
        # the shipped example's rule
        assert 'crm = "jobtitle"\nsync = "two_way"' in path.read_text(encoding="utf-8")
        from hubspot.crm.contacts import SimplePublicObjectInput

        class HubSpotRep(Crm):
            def _contact(self) -> Any:
                return client.crm.contacts.basic_api.get_page(
                    properties=["jobtitle"]).results[0]

            def title(self) -> str | None:
                return self._contact().properties.get("jobtitle")

            def set_title(self, value: str) -> None:
                client.crm.contacts.basic_api.update(
                    self._contact().id, SimplePublicObjectInput(properties={"jobtitle": value}))

            def set_phone(self, value: str) -> None:
                client.crm.contacts.basic_api.update(
                    self._contact().id, SimplePublicObjectInput(properties={"phone": value}))

        crm = HubSpotRep()
    config = configuration.load(path)
    import_leads(config, tmp_path / "one.csv", [lead_row(1)])
    first = run_once(config)
    assert first.status == "ok" and first.counts["created"] == 1, first.error
    return config, crm


def test_a_reps_newer_edit_wins_and_marketings_older_one_is_a_conflict(
        world: tuple[Any, Crm], tmp_path: Path) -> None:
    config, crm = world
    import_leads(config, tmp_path / "edit.csv", [lead_row(1, title="Head of Growth")])
    crm.set_title("Chief Revenue Officer")  # the rep, a moment after marketing

    dry = run_once(config, dry_run=True)
    assert not [p for p in dry.planned if p.get("action") in ("update", "create")
                and any("itle" in k for k in p.get("payload", {}))]  # no update and take-back
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert summary.counts["conflicts"] == 1
    assert crm.title() == "Chief Revenue Officer"
    assert marketing_fields(config)["title"] == "Chief Revenue Officer"
    [conflict] = conflicts(config)
    assert "crm's 'Chief Revenue Officer'" in conflict and "'Head of Growth'" in conflict
    again = run_once(config)  # converged: nothing to write, no new conflict
    assert (again.counts["updated"], again.counts["conflicts"]) == (0, 0)


def test_marketings_newer_edit_wins_over_an_older_rep_edit(
        world: tuple[Any, Crm], tmp_path: Path) -> None:
    config, crm = world
    crm.set_title("Chief Revenue Officer")
    import_leads(config, tmp_path / "edit.csv", [lead_row(1, title="Head of Growth")])
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    assert summary.counts["conflicts"] == 1
    assert crm.title() == "Head of Growth"
    assert marketing_fields(config)["title"] == "Head of Growth"
    [conflict] = conflicts(config)
    assert "marketing's 'Head of Growth'" in conflict


def test_a_rep_edit_alone_is_taken_whatever_else_marketing_changed(
        world: tuple[Any, Crm], tmp_path: Path) -> None:
    """Marketing touched another field after the rep's edit: no conflict on title."""
    config, crm = world
    crm.set_title("Chief Revenue Officer")
    import_leads(config, tmp_path / "edit.csv", [lead_row(1, city="Oakland")])
    summary = run_once(config)
    assert summary.counts["conflicts"] == 0
    assert crm.title() == "Chief Revenue Officer"
    assert marketing_fields(config)["title"] == "Chief Revenue Officer"


def test_the_fields_own_change_time_decides_not_the_records(
        world: tuple[Any, Crm], tmp_path: Path) -> None:
    """Rep edits title, then marketing edits title, then the rep edits the phone: the
    record changed last in the CRM, but its title did not; the CRM's field history
    (LeadHistory, propertiesWithHistory) says so, and marketing's newer title wins."""
    config, crm = world
    crm.set_title("Chief Revenue Officer")
    import_leads(config, tmp_path / "edit.csv", [lead_row(1, title="Head of Growth")])
    crm.set_phone("+1 415 555 0199")
    summary = run_once(config)
    assert summary.counts["conflicts"] == 1
    assert crm.title() == "Head of Growth"
    assert marketing_fields(config)["title"] == "Head of Growth"


def test_marketings_later_edit_of_another_field_does_not_make_its_title_newer(
        world: tuple[Any, Crm], tmp_path: Path) -> None:
    """Marketing's title, then the rep's title, then marketing's city: the rep's title
    is the newer title; the marketing store knows each field's own change time."""
    config, crm = world
    import_leads(config, tmp_path / "edit.csv", [lead_row(1, title="Head of Growth")])
    crm.set_title("Chief Revenue Officer")
    import_leads(config, tmp_path / "city.csv", [lead_row(1, title="Head of Growth",
                                                          city="Oakland")])
    summary = run_once(config)
    assert summary.counts["conflicts"] == 1
    assert crm.title() == "Chief Revenue Officer"
    assert marketing_fields(config)["title"] == "Chief Revenue Officer"

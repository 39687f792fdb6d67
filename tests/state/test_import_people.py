"""Import keys a lead by the person, not by a mailbox a team shares; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.adapters.base import FieldUpdate
from connector.adapters.marketing_store import EmbeddedMarketingStore, lead_key
from tests.conftest import lead_row, write_csv

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("given_id", "email", "names", "key"), [
    (None, "jane@acme.example", ("Jane", "Doe"), "jane@acme.example"),
    (None, "info@acme.example", ("Jane", "Doe"), "info@acme.example jane doe"),
    (None, "info@acme.example", ("Zoë", "Müller"), "info@acme.example zoe muller"),
    (None, "info@acme.example", (" ZOE ", "MULLER"), "info@acme.example zoe muller"),
    (None, "sales@acme.example", ("", ""), "sales@acme.example"),
    ("A-17", "info@acme.example", ("Jane", "Doe"), "id:A-17"),
    ("A-17", "jane@acme.example", ("Jane", "Doe"), "id:A-17"),
])
def test_lead_key(given_id: str | None, email: str, names: tuple[str, str], key: str) -> None:
    fields = {"first_name": names[0], "last_name": names[1]}
    assert lead_key(given_id, email, fields) == key


def test_the_role_list_is_the_stores_to_set(db_url: str, tmp_path: Path) -> None:
    rows = [lead_row(1, email="desk@acme.example", first_name="Ann"),
            lead_row(2, email="desk@acme.example", first_name="Bo")]
    store = EmbeddedMarketingStore(db_url, role_mailboxes=["Desk"])
    assert store.import_file(write_csv(tmp_path / "in.csv", rows), clock=T0).created == 2
    store.close()


def test_two_people_on_info_stay_two_leads_and_each_merges_with_themselves(
        db_url: str, tmp_path: Path) -> None:
    rows = [lead_row(1, email="info@acme.example", first_name="Jane", last_name="Doe",
                     title=""),
            lead_row(2, email="INFO@acme.example", first_name="Raj", last_name="Patel"),
            lead_row(1, email="info@acme.example", first_name="Jane", last_name="Doe",
                     title="CFO")]
    path = write_csv(tmp_path / "info.csv", rows)
    store = EmbeddedMarketingStore(db_url)
    first = store.import_file(path, clock=T0)
    assert (first.created, first.updated, first.rejected) == (2, 1, [])
    leads = {lead.fields["first_name"].lower(): lead for lead in store.read_changes(None)}
    assert set(leads) == {"jane", "raj"}
    assert leads["jane"].fields["title"] == "CFO"  # the third row was Jane again
    assert leads["raj"].fields["title"] == "VP Sales"
    assert sorted(store.find("info@acme.example")) == sorted(lead.id for lead in leads.values())

    again = store.import_file(path, clock=T0 + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged, again.activities) == (0, 0, 3, 0)
    assert list(store.read_changes(T0 + timedelta(minutes=1))) == []

    # Jane again, her name typed otherwise: her lead, not a third one
    later = store.import_file(write_csv(tmp_path / "later.csv", [
        lead_row(1, email="info@acme.example", first_name="JANE", last_name=" doe ",
                 title="CFO")]), clock=T0 + timedelta(hours=2))
    assert (later.created, later.updated) == (0, 1)
    assert len(store.find("info@acme.example")) == 2
    store.close()


def test_a_personal_address_still_keys_the_lead(db_url: str, tmp_path: Path) -> None:
    rows = [lead_row(1, email="jane@acme.example", first_name="Jane"),
            lead_row(2, email="jane@acme.example", first_name="Janet", title="CTO")]
    store = EmbeddedMarketingStore(db_url)
    report = store.import_file(write_csv(tmp_path / "p.csv", rows), clock=T0)
    assert (report.created, report.updated) == (1, 1)
    [lead] = list(store.read_changes(None))
    assert (lead.fields["first_name"], lead.fields["title"]) == ("Janet", "CTO")
    store.close()


def test_an_explicit_id_keys_the_lead_whatever_its_address(db_url: str,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [
        {"id": "crm-1", "email": "jane@acme.example", "first_name": "Jane", "last_name": "Doe"},
        {"id": 2, "email": "jane@acme.example", "first_name": "Jane", "last_name": "Roe"},
    ]) + "\n", encoding="utf-8")
    moved = tmp_path / "moved.jsonl"
    moved.write_text(json.dumps({"id": "crm-1", "email": "jane.doe@newjob.example",
                                 "title": "CEO"}) + "\n", encoding="utf-8")
    store = EmbeddedMarketingStore(db_url)
    assert store.import_file(path, clock=T0).created == 2
    assert (store.import_file(moved, clock=T0).updated,
            store.import_file(path, clock=T0).created) == (1, 0)
    by_name = {lead.fields["last_name"]: lead for lead in store.read_changes(None)}
    assert by_name["Doe"].fields["title"] == "CEO"
    assert "id" not in by_name["Roe"].fields
    again = store.import_file(path, clock=T0 + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    store.close()


def test_an_address_written_back_from_the_crm_moves_the_key(db_url: str,
                                                           tmp_path: Path) -> None:
    store = EmbeddedMarketingStore(db_url)
    store.import_file(write_csv(tmp_path / "a.csv", [lead_row(1, email="old@acme.example")]),
                      clock=T0)
    [lead] = list(store.read_changes(None))
    store.write_fields([FieldUpdate(lead.id, {"email": "new@acme.example"}, T0)])
    later = store.import_file(write_csv(tmp_path / "b.csv", [
        lead_row(1, email="new@acme.example", title="COO")]), clock=T0 + timedelta(hours=1))
    assert (later.created, later.updated) == (0, 1)
    assert store.find("new@acme.example") == [lead.id]
    store.close()

"""The embedded marketing store: import, change feed, stages; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.adapters.base import StageUpdate
from connector.adapters.marketing_store import EmbeddedMarketingStore
from tests.conftest import lead_row, write_csv

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_import_keeps_every_refused_row_with_line_and_field(db_url: str, tmp_path: Path) -> None:
    rows = [lead_row(1), lead_row(2, email=""), lead_row(3, email="maria.garcia@"),
            lead_row(4, created_at="yesterday"),
            lead_row(5, activities="Webinar Attended|2026-11-02T10:00:00Z|x;"
                                   "form_fill|not-a-time|y;page_visit|2026-11-02T10:00:00Z|/a")]
    store = EmbeddedMarketingStore(db_url)
    report = store.import_file(write_csv(tmp_path / "in.csv", rows), clock=T0)
    assert (report.rows, report.created) == (5, 2)
    got = {(r.line, r.field) for r in report.rejected}
    assert got == {(3, "email"), (4, "email"), (5, "created_at"),
                   (6, "activities[0].kind"), (6, "activities[1].occurred_at")}
    kept = store.rejects()
    assert {(r.line, r.field) for r in kept} == got
    no_email = next(r for r in kept if r.line == 3)
    assert "missing" in no_email.reason and no_email.record == "Pat2 Lee2"
    assert json.loads(no_email.raw)["company"] == "Acme 2 Inc."
    lead5 = next(lead for lead in store.read_changes(None) if lead.fields["email"].startswith(
        "person5"))
    assert [a.detail for a in lead5.activities] == ["/a"]
    store.close()


def test_duplicate_rows_merge_by_email_and_reimport_changes_nothing(db_url: str,
                                                                    tmp_path: Path) -> None:
    rows = [lead_row(1, title=""), lead_row(1, email="PERSON1@acme1.example", title="CTO")]
    path = write_csv(tmp_path / "dup.csv", rows)
    store = EmbeddedMarketingStore(db_url)
    first = store.import_file(path, clock=T0)
    assert (first.created, first.updated) == (1, 1)  # the second row filled the title
    [lead] = list(store.read_changes(None))
    assert lead.fields["title"] == "CTO" and len(lead.activities) == 3
    again = store.import_file(path, clock=T0 + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged, again.activities) == (0, 0, 2, 0)
    assert list(store.read_changes(T0 + timedelta(minutes=1))) == []
    store.close()


def test_jsonl_import(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([
        json.dumps({"email": "a@x.example", "last_name": "A", "company": "X", "custom_tier": "gold",
                    "activities": [{"kind": "form_fill", "occurred_at": "2026-11-01T00:00:00Z",
                                    "detail": "Demo"}]}),
        "{not json",
        json.dumps(["a list"]),
    ]) + "\n", encoding="utf-8")
    store = EmbeddedMarketingStore(db_url)
    report = store.import_file(path, clock=T0)
    assert report.created == 1
    assert [(r.line, r.field) for r in report.rejected] == [(2, "(row)"), (3, "(row)")]
    [lead] = list(store.read_changes(None))
    assert lead.fields["custom_tier"] == "gold" and lead.activities[0].detail == "Demo"
    store.close()


def test_change_feed_pages_without_losing_equal_timestamps(db_url: str, tmp_path: Path) -> None:
    store = EmbeddedMarketingStore(db_url)
    store.import_file(write_csv(tmp_path / "a.csv", [lead_row(i) for i in range(23)]), clock=T0)
    store.import_file(write_csv(tmp_path / "b.csv", [lead_row(i) for i in range(23, 30)]),
                      clock=T0 + timedelta(seconds=1))
    seen = [lead.id for lead in store.read_changes(None, page_size=5)]
    assert len(seen) == len(set(seen)) == 30
    later = [lead.id for lead in store.read_changes(T0 + timedelta(seconds=1), page_size=4)]
    assert later == seen[23:]
    store.close()


def test_stage_write_back_is_not_a_marketing_change(db_url: str, tmp_path: Path) -> None:
    store = EmbeddedMarketingStore(db_url)
    store.import_file(write_csv(tmp_path / "a.csv", [lead_row(1)]), clock=T0)
    [lead] = list(store.read_changes(None))
    written = store.write_stages([StageUpdate(lead.id, "sales_accepted", "Working - Contacted",
                                              T0 + timedelta(hours=1))])
    assert written == {lead.id}
    assert store.get(lead.id).stage == "sales_accepted"
    assert list(store.read_changes(T0 + timedelta(seconds=1))) == []
    assert [(h.stage, h.crm_status) for h in store.stage_history(lead.id)] == [
        ("sales_accepted", "Working - Contacted")]
    store.close()

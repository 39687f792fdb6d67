"""The scoring model through the whole cycle on the Salesforce sandbox: activity kinds
the old model refused (email opens, webinars) imported and scored, decay keeping a
lead whose only activity is two years old out of sales' hands, the strongest signal
setting the status a lead is handed off at, and `leadsync gaps` listing the lead one
field short, as the run summary counts it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from tests.conftest import config_text, import_leads, lead_row

SCORING = '''
[scoring]
threshold = 40
behaviour_threshold = 10
required_fields = ["email", "company", "phone"]
decay_half_life_days = 60

[scoring.activity_points]
form_fill = 25
page_visit = 2
email_open = 1
webinar_attended = 20

[scoring.activity_caps]
email_open = 5

[[scoring.fit]]
field = "title"
pattern = "\\\\b(vp|chief|head of|director)\\\\b"
points = 15
reason = "senior title"

[[scoring.entry]]
activity = "form_fill"
detail = "demo"
status = "Working - Contacted"
'''


@pytest.fixture
def config(tmp_path: Path, salesforce_sandbox: Any,
           monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db",
                       route_to=salesforce_sandbox.address)
    start = text.index("[scoring]")
    end = text.index("[mapping]")  # the template's scoring sections give way to these
    text = text[:start] + SCORING.lstrip() + "\n" + text[end:]
    # the status comes from the strongest signal: the constant gives way to the source
    text = text.replace('Status = "Open - Not Contacted"\n', "", 1).replace(
        "[mapping.fields]\n", '[mapping.fields]\nentry_status = { crm = "Status", '
        'sync = "create_only", default = "Open - Not Contacted" }\n', 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_model_scores_any_kind_decays_and_sets_where_the_buyer_enters(
        config: Path, tmp_path: Path, sf_client: Any) -> None:
    loaded = configuration.load(config)
    recent = f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
    visits = f"page_visit|{recent}|/pricing;page_visit|{recent}|/docs"
    rows = [  # the title (VP Sales) is 15 points of fit in each
        lead_row(1, activities=f"form_fill|{recent}|Book a demo;{visits}"),  # a demo
        lead_row(2, activities=f"webinar_attended|{recent}|RevOps 101;"  # any kind
                               f"email_open|{recent}|News;form_fill|{recent}|Ebook"),
        lead_row(3, activities="form_fill|2025-01-15T10:00:00Z|Contact sales;"
                               "webinar_attended|2025-01-20T10:00:00Z|Old webinar"),
        lead_row(4, phone="", activities=f"form_fill|{recent}|Contact sales;{visits}"),
    ]
    report = import_leads(loaded, tmp_path / "leads.csv", rows)
    assert report.rejected == []
    ran = CliRunner().invoke(app, ["sync", "--once", "--config", str(config)])
    assert ran.exit_code == 0, ran.output
    assert "1 leads would qualify but for one required field (`leadsync gaps`" in ran.output
    leads = {r["Email"]: r for r in sf_client.query_all(
        "SELECT Email, Status FROM Lead")["records"]}
    assert leads[rows[0]["email"]]["Status"] == "Working - Contacted"  # a demo request
    assert leads[rows[1]["email"]]["Status"] == "Open - Not Contacted"  # the default
    # two years old: 45 points decayed to nothing, where the old model handed it over
    assert rows[2]["email"] not in leads and rows[3]["email"] not in leads

    explained = CliRunner().invoke(app, ["explain", rows[2]["email"], "--config",
                                         str(config)])
    assert "behaviour 0.02, decayed from 45" in explained.output, explained.output
    shown = CliRunner().invoke(app, ["gaps", "--json", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    [gap] = json.loads(shown.output)
    assert (gap["email"], gap["missing"]) == (rows[3]["email"], "phone")
    assert gap["fit"] == 15 and gap["score"] > 40
    table = CliRunner().invoke(app, ["gaps", "--config", str(config)])
    assert "phone" in table.output and "1 leads one field short" in table.output


def test_a_changed_model_reaches_the_leads_never_handed_off_once(
        config: Path, tmp_path: Path, sf_client: Any) -> None:
    """Leads are read when they change; a lowered threshold must still reach the
    stored lead that missed the old one (what `leadsync whatif` promised), once,
    and leave the leads already handed off where they are."""
    loaded = configuration.load(config)
    recent = f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
    rows = [lead_row(1, activities=f"form_fill|{recent}|Book a demo;"  # 15 + 25 + 4
                                   f"page_visit|{recent}|/pricing;page_visit|{recent}|/docs"),
            lead_row(2, activities=f"webinar_attended|{recent}|RevOps 101"),  # 15 + 20
            lead_row(3, activities=f"webinar_attended|{recent}|RevOps 101")]  # refused once
    assert import_leads(loaded, tmp_path / "leads.csv", rows).rejected == []

    def sync() -> str:
        ran = CliRunner().invoke(app, ["sync", "--once", "--config", str(config)])
        assert ran.exit_code == 0, ran.output
        return ran.output

    def emails() -> list[str]:
        return sorted(r["Email"] for r in sf_client.query_all(
            "SELECT Email FROM Lead")["records"])

    sync()
    assert emails() == [rows[0]["email"]]  # 35 < 40
    from connector.records import RecordError
    from connector.state import StateStore

    store = StateStore(loaded.resolve_url(loaded.state.url))  # the CRM refused lead 3 once:
    store.add_dead_letter(1, marketing_id="3", crm="salesforce", crm_object="Lead",
                          errors=[RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "no")],
                          payload={})  # it waits for --retry-dead-letters, not a rescore
    store.close()
    assert "judged again" not in sync()  # nothing changed: nothing read
    config.write_text(config.read_text().replace("threshold = 40\n", "threshold = 30\n", 1))
    dry = CliRunner().invoke(app, ["sync", "--once", "--dry-run", "--config", str(config)])
    assert "1 leads never handed off were judged again" in dry.output, dry.output
    assert emails() == [rows[0]["email"]]  # a dry run writes nothing, marks nothing
    shown = sync()
    assert "1 leads never handed off were judged again" in shown, shown
    assert "1 created" in shown and "0 updated" in shown
    assert emails() == sorted(r["email"] for r in rows[:2])
    again = sync()  # judged once: the next run reads only what changed
    assert "judged again" not in again and "0 leads read" in again, again

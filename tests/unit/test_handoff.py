"""The handoff task's text: who, the score, what they did, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.handoff import MAX_ACTIVITIES, handoff_task
from connector.records import Activity, Lead

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_task_names_the_person_and_lists_recent_activity_newest_first() -> None:
    visits = [Activity('page_visit', NOW - timedelta(days=d), f"/page{d}")
              for d in range(MAX_ACTIVITIES + 5)]
    lead = Lead("7", {"first_name": "Zoë", "last_name": "O'Brien", "company": "Initech",
                      "email": "zoe@initech.example"}, NOW, activities=visits)
    task = handoff_task(lead, crm_id="00Q1", score_reason="score 40 (page_visit ×25: 50)",
                        now=NOW, due=NOW + timedelta(hours=24))
    assert task.subject == "Follow up new lead: Zoë O'Brien (Initech)"
    assert task.due == NOW + timedelta(hours=24) and task.crm_id == "00Q1"
    lines = task.body.splitlines()
    assert lines[1] == "Score 40 (page_visit ×25: 50)."
    assert lines[5] == "- 2026-11-25 09:30 visited /page0"  # newest first
    assert lines[-1] == "… and 5 earlier"


def test_a_lead_without_a_name_is_named_by_its_email() -> None:
    lead = Lead("8", {"email": "x@y.example"}, NOW)
    task = handoff_task(lead, crm_id="1", score_reason="score 0 (no activity)", now=NOW,
                        due=NOW)
    assert task.subject == "Follow up new lead: x@y.example"
    assert "What they did" not in task.body

"""The follow-up task a rep reads on a handed-over lead: earlier contact once each with
its own date, who, channel, outcome and notes; why now; by when; how urgent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import ScoringConfig
from connector.handoff import (
    MAX_TOUCHES,
    NOTES_LENGTH,
    earlier,
    handoff_task,
    notes_text,
    touch_line,
)
from connector.records import Activity, HandoffTask, Lead, Touch
from connector.routing.rules import score_tier
from connector.scoring import score, why_now

NOW = datetime(2026, 12, 5, 14, 10, tzinfo=UTC)
DUE = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
MODEL = ScoringConfig(threshold=40, required_fields=[],
                      activity_points={"form_fill": 25, "email_click": 5, "page_visit": 2},
                      page_points={"/pricing": 10}, profile_points={"title": 5})
TIERS = {"hot": 80, "warm": 40}


def touch(at: datetime | None, what: str = "Intro call", *, crm_id: str = "003A",
          activity_id: str | None = None, **kw: str) -> Touch:
    return Touch(crm_id=crm_id, at=at, who=kw.pop("who", "Ben Ortiz"), what=what,
                 activity_id=activity_id, **kw)


def anna(*activities: Activity, **fields: str) -> Lead:
    return Lead("42", {"first_name": "Anna", "last_name": "Berg", "company": "Acme GmbH",
                       "email": "anna@acme.example", **fields}, NOW, activities=list(activities))


def task_for(lead: Lead, **kw: object) -> HandoffTask:
    points = score(lead, MODEL)
    tier = score_tier(points.value, sorted(TIERS.items(), key=lambda t: -t[1]))
    args: dict[str, object] = {"crm_id": "003A", "score_reason": points.reason, "now": NOW,
                               "due": DUE, "score": points.value, "tier": tier,
                               "threshold": MODEL.threshold, "why": why_now(lead, MODEL)}
    return handoff_task(lead, **{**args, **kw})  # type: ignore[arg-type]


# --- earlier contact --------------------------------------------------------------------------

def test_a_call_on_the_contact_and_on_its_account_is_listed_once() -> None:
    call = dict(channel="call", outcome="Connected", notes="wants pricing in Q1")
    history = [touch(datetime(2026, 11, 3, tzinfo=UTC), activity_id="00T1", **call),
               touch(datetime(2026, 11, 5, tzinfo=UTC), "Pricing", activity_id="00T2",
                     channel="email"),
               # the same call again, found through the account (WhatId)
               touch(datetime(2026, 11, 3, tzinfo=UTC), crm_id="001A", activity_id="00T1",
                     **call)]
    body = task_for(anna(), history=history).body
    assert body.count("Intro call") == 1
    assert body.count("- 2026-") == 2


def test_touches_without_an_id_are_listed_once_when_they_are_the_same() -> None:
    same = touch(datetime(2026, 11, 3, tzinfo=UTC), channel="call")
    assert earlier([same, Touch(**{**same.__dict__, "crm_id": "001A"})]) == [same]


def test_leadsyncs_own_open_task_is_no_earlier_contact_until_completed() -> None:
    """The follow-up task leadsync made last time, still open, is dated by when it is
    due: listed, it read as if the rep had reached out then (docs-only trial). Once its
    owner completes it, it is contact."""
    ours = dict(channel="task", notes="Handed over ... leadsync-task:7:00Q1")
    open_ = touch(datetime(2026, 11, 8, tzinfo=UTC), "Follow up new lead", outcome="Not Started",
                  activity_id="00T9", **ours)
    done = touch(datetime(2026, 11, 8, tzinfo=UTC), "Follow up new lead", outcome="Completed",
                 activity_id="00T9", **ours)
    rep_todo = touch(datetime(2026, 11, 9, tzinfo=UTC), "Send deck", outcome="Not Started",
                     activity_id="00T8", channel="task")
    assert earlier([open_, rep_todo]) == [rep_todo]
    assert earlier([done]) == [done]


def test_earlier_contact_is_newest_first_by_its_own_time_undated_last() -> None:
    berlin = timezone(timedelta(hours=1))
    history = [touch(None, "Undated"),
               touch(datetime(2026, 10, 1, tzinfo=UTC), "Oldest"),
               touch(datetime(2026, 11, 3, 0, 30, tzinfo=berlin), "Late on the 2nd UTC"),
               touch(datetime(2026, 11, 2, 23, 45, tzinfo=UTC), "Latest")]
    assert [t.what for t in earlier(history)] == ["Latest", "Late on the 2nd UTC", "Oldest",
                                                  "Undated"]
    lines = task_for(anna(), history=history).body.splitlines()
    start = lines.index("Earlier contact (newest first):")
    assert lines[start + 2] == "- 2026-11-02 Activity by Ben Ortiz: Late on the 2nd UTC."
    assert lines[start + 4] == "- undated Activity by Ben Ortiz: Undated."


def test_only_the_latest_touches_are_listed_with_a_count_of_the_rest() -> None:
    history = [touch(NOW - timedelta(days=d), f"call {d}", activity_id=str(d), channel="call")
               for d in range(1, MAX_TOUCHES + 4)]
    lines = task_for(anna(), history=history).body.splitlines()
    assert "- 2026-12-04 Call by Ben Ortiz: call 1." in lines
    assert "… and 3 earlier" in lines


@pytest.mark.parametrize(("kw", "line"), [
    ({"channel": "call", "outcome": "Connected", "notes": "wants pricing in Q1"},
     "- 2026-11-03 Call by Ben Ortiz: Intro call — Connected. Notes: wants pricing in Q1"),
    ({"channel": "email", "outcome": "Sent"},
     "- 2026-11-03 Email by Ben Ortiz: Intro call — Sent."),
    ({"channel": "note", "what": "", "notes": "met at the fair"},
     "- 2026-11-03 Note by Ben Ortiz. Notes: met at the fair"),
    ({"channel": "call", "what": "Call", "outcome": "No answer"},
     "- 2026-11-03 Call by Ben Ortiz — No answer."),
    ({"channel": "linkedin", "who": None}, "- 2026-11-03 LinkedIn: Intro call."),
    ({"channel": "sms"}, "- 2026-11-03 Sms by Ben Ortiz: Intro call."),
    ({}, "- 2026-11-03 Activity by Ben Ortiz: Intro call."),
])
def test_a_touch_reads_as_date_channel_who_what_outcome_notes(kw: dict[str, str],
                                                              line: str) -> None:
    what = kw.pop("what", "Intro call")
    assert touch_line(touch(datetime(2026, 11, 3, 16, tzinfo=UTC), what, **kw)) == line


@pytest.mark.parametrize(("notes", "expected"), [
    (None, None),
    ("  \n ", None),
    ("wants pricing\n\nin Q1\tplease", "wants pricing in Q1 please"),
    ("x" * NOTES_LENGTH, "x" * NOTES_LENGTH),
    # a handoff task's own text: the rep has that task itself
    ("Handed over from marketing by leadsync …\n(leadsync-task:7:00Q1)", None),
])
def test_notes_are_one_line(notes: str | None, expected: str | None) -> None:
    assert notes_text(notes) == expected


def test_long_notes_are_cut_at_a_word_and_marked() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    cut = notes_text(words + "\nsecond line")
    assert cut is not None and len(cut) <= NOTES_LENGTH and cut.endswith("…")
    assert "\n" not in cut and words.startswith(cut[:-1])
    assert cut[-2] != " " and cut[:-1].split()[-1] in words.split()


def test_long_notes_in_the_task_stay_on_their_touchs_line() -> None:
    history = [touch(datetime(2026, 11, 3, tzinfo=UTC), channel="call",
                     notes="line one\n" + "blah " * 200)]
    body = task_for(anna(), history=history).body
    [line] = [x for x in body.splitlines() if x.startswith("- 2026-11-03")]
    assert line.startswith("- 2026-11-03 Call by Ben Ortiz: Intro call. Notes: line one blah")
    assert len(line.split("Notes: ")[1]) <= NOTES_LENGTH


# --- why now, score, due, priority ------------------------------------------------------------

def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def test_why_now_names_the_latest_activities_that_took_the_lead_over_the_threshold() -> None:
    lead = anna(Activity('page_visit', at(24 * 30), "/blog"),        # 2
                Activity('email_click', at(24 * 3), "Webinar"),     # 5
                Activity('page_visit', at(2), "/pricing"),          # 2 + 10
                Activity('form_fill', at(0.2), "/pricing-demo"),    # 25 + 10
                title="CTO")                                                   # 5 → 59
    model = MODEL.model_copy(update={"threshold": 15})  # 59 - 35 = 24, then 12 < 15
    assert [a.detail for a in why_now(lead, model)] == ["/pricing-demo", "/pricing"]
    assert [a.detail for a in why_now(lead, MODEL)] == ["/pricing-demo"]  # 24 < 40
    lines = task_for(lead, why=why_now(lead, model)).body.splitlines()
    assert lines[2] == ("Why now: 2026-12-05 13:58 filled in a form /pricing-demo; "
                        "2026-12-05 12:10 visited /pricing.")


def test_activity_worth_nothing_is_not_a_reason() -> None:
    model = MODEL.model_copy(update={"activity_points": {"form_fill": 45, "page_visit": 0},
                                     "page_points": {}})
    lead = anna(Activity('form_fill', at(5), "Contact us"),
                Activity('page_visit', at(1), "/careers"))
    assert [a.detail for a in why_now(lead, model)] == ["Contact us"]


def test_a_behaviour_threshold_makes_the_latest_activity_the_reason() -> None:
    """The profile alone reaches the combined threshold, not behaviour's own: the
    activity that took behaviour over it is why now (the trial's lead 1)."""
    model = MODEL.model_copy(update={"threshold": 5, "behaviour_threshold": 10})
    lead = anna(Activity('page_visit', at(30), "/blog"),
                Activity('form_fill', at(1), "Contact us"), title="CTO")
    assert [a.detail for a in why_now(lead, model)] == ["Contact us"]


def test_a_lead_qualified_by_its_profile_alone_says_so() -> None:
    model = MODEL.model_copy(update={"threshold": 5})
    lead = anna(Activity('page_visit', at(1), "/blog"), title="CTO")
    assert why_now(lead, model) == []
    line = task_for(lead, why=why_now(lead, model)).body.splitlines()[2]
    assert line == "Why now: the profile alone reaches the threshold, whatever they did lately."


KINDS = ["page_visit", "form_fill", "email_click"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000),
                          st.sampled_from(["", "/pricing", "/blog", "/pricing-demo"])),
                max_size=12),
       st.integers(0, 120), st.booleans())
def test_why_now_is_the_fewest_latest_activities_without_which_the_lead_falls_short(
        raw: list[tuple[str, int, str]], threshold: int, titled: bool) -> None:
    model = MODEL.model_copy(update={"threshold": threshold})
    activities = [Activity(kind, NOW - timedelta(minutes=m), detail) for kind, m, detail in raw]
    lead = anna(*activities, **({"title": "CTO"} if titled else {}))
    reasons = why_now(lead, model)
    if score(lead, model).value < threshold:
        assert reasons is None  # not qualified by this model: nothing to say why
        return
    assert reasons is not None

    def without(gone: list[Activity]) -> float:
        ids = {id(a) for a in gone}
        rest = [a for a in lead.activities if id(a) not in ids]
        return score(Lead(lead.id, lead.fields, NOW, activities=rest), model).value

    if not reasons:  # what no activity brought reaches the threshold on its own
        scoring_ones = [a for a in activities if without([a]) < score(lead, model).value]
        assert without(scoring_ones) >= threshold
        return
    assert without(reasons) < threshold
    assert without(reasons[:-1]) >= threshold
    times = [a.occurred_at for a in reasons]
    assert times == sorted(times, reverse=True)
    assert all(a.occurred_at <= reasons[-1].occurred_at or a in reasons
               for a in activities if without([a]) < score(lead, model).value)


def test_subject_carries_the_score_and_its_tier_and_the_body_its_reason() -> None:
    lead = anna(*[Activity('form_fill', at(h), "/pricing-demo") for h in (1, 2, 3)],
                title="CTO")
    task = task_for(lead)
    assert task.subject == "Follow up new lead: Anna Berg (Acme GmbH) — score 110, hot"
    assert task.body.splitlines()[1] == ("Score 110 = fit 5 + behaviour 105 (title given +5; "
                                         "form_fill ×3 +105 (with /pricing ×3)); tier hot; "
                                         "qualifies at 40.")
    assert task_for(lead, matched="email rule", tier=None).subject == (
        "Follow up returning lead: Anna Berg (Acme GmbH) — score 110")


def test_the_task_says_by_when_to_reach_out_in_utc() -> None:
    due = datetime(2026, 12, 7, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    task = task_for(anna(), due=due)
    assert task.due == due
    assert "Reach out by: 2026-12-07 13:00 UTC (first-touch SLA)." in task.body.splitlines()


def test_the_body_reads_top_to_bottom() -> None:
    lead = anna(Activity('form_fill', at(1), "/pricing-demo"),
                Activity('page_visit', at(2), "/pricing"), title="CTO")
    history = [touch(datetime(2026, 11, 3, tzinfo=UTC), channel="call", outcome="Connected",
                     notes="wants pricing in Q1", activity_id="00T1")]
    lines = task_for(lead, matched="contact 003A by rule email", history=history).body.splitlines()
    assert lines == [
        "Handed over from marketing by leadsync on 2026-12-05 14:10 UTC.",
        "Score 52 = fit 5 + behaviour 47 (title given +5; form_fill ×1 +35 (with /pricing ×1); "
        "page_visit ×1 +12 (with /pricing ×1)); tier warm; qualifies at 40.",
        "Why now: 2026-12-05 13:10 filled in a form /pricing-demo.",
        "Reach out by: 2026-12-07 13:00 UTC (first-touch SLA).",
        "Already in the CRM: contact 003A by rule email.",
        "Earlier contact (newest first):",
        "- 2026-11-03 Call by Ben Ortiz: Intro call — Connected. Notes: wants pricing in Q1",
        "Email: anna@acme.example; Title: CTO",
        "What they did (newest first):",
        "- 2026-12-05 13:10 filled in a form /pricing-demo",
        "- 2026-12-05 12:10 visited /pricing",
    ]


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
def test_the_priority_is_carried_and_survives_the_outbox(priority: str) -> None:
    task = task_for(anna(), priority=priority)
    assert task.priority == priority
    assert HandoffTask.from_json(task.as_json()) == task


def test_the_priority_is_normal_unless_said_and_must_be_known() -> None:
    assert task_for(anna()).priority == "normal"
    with pytest.raises(ValueError, match="urgent"):
        task_for(anna(), priority="urgent")


def test_a_task_owed_before_priorities_were_written_is_normal() -> None:
    old = ('{"key": "42", "crm_id": "003A", "subject": "s", "body": "b", '
           '"due": "2026-12-07T13:00:00+00:00", "owner_id": null}')
    assert HandoffTask.from_json(old).priority == "normal"

"""SLA clocks without a CRM: whose touch counts, a touch past the deadline, a rep's
days away. Deadlines here are worked out by hand from the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connector import config as configuration
from connector.records import Touch
from connector.routing.pool import Away
from connector.sla import Clocks, Evidence, StageStep, Where

REP, OTHER = "005REP", "005OTHER"

CONFIG = f"""
[crm.salesforce]
username = "admin@example.com"

[mapping]
object = "Lead"
external_id_field = "Leadsync_Id__c"

[mapping.fields]
email = "Email"

[routing.reps.ana]
id = "{REP}"
timezone = "Europe/Berlin"
hours = "09:00-17:00"

[routing.reps.ben]
id = "005BEN"
calendar = "us"

[calendars.us]
timezone = "America/New_York"
hours = "09:00-17:00"
holidays = "US"

[calendars.sales]
timezone = "Europe/Berlin"
hours = "09:00-17:00"

[sla]
calendar = "sales"

[sla.first_touch]
within = "4 business hours"
on_breach = ["task"]

[sla.touches]
count = 2
within = "2 business days"
"""

START = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
"""Monday 1 March 2027, 09:00 in Berlin (CET)."""
DUE = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
"""Four business hours later: 13:00 Berlin."""


@pytest.fixture
def config(tmp_path: Path) -> configuration.Config:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return configuration.load(path)


def first_touch(clocks: Clocks) -> object:
    [clock] = [c for c in clocks.started(Where("7", "salesforce", "Lead", "00Q1", REP), START)
               if c.clock == "first_touch"]
    return clock


def touch(at: datetime, *, who_id: str | None = REP, channel: str = "call",
          outcome: str | None = "Completed", what: str = "Call") -> Touch:
    return Touch("00Q1", at, "Ana", what, outcome=outcome, channel=channel, who_id=who_id)


def judge(clocks: Clocks, touches: list[Touch], now: datetime,
          steps: tuple[StageStep, ...] = ()) -> tuple[str | None, str, datetime | None]:
    outcome = clocks.judge(first_touch(clocks), Evidence(tuple(touches), steps), now)
    return outcome.kind, outcome.evidence, outcome.at


def test_only_the_owners_own_outreach_meets_first_touch(config: configuration.Config) -> None:
    clocks = Clocks.from_config(config)
    at = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    not_touches = [touch(at, who_id=OTHER, what="A colleague's call"),
                   touch(at, channel="note", outcome=None, what="Note"),
                   touch(at, channel="email", outcome="Received", what="Their email"),
                   touch(at, channel="meeting", outcome="Scheduled", what="Booked"),
                   touch(at, channel="task", outcome="Not Started", what="To do")]
    assert judge(clocks, not_touches, at)[0] is None
    kind, evidence, when = judge(clocks, [*not_touches, touch(at, outcome="No answer")], at)
    assert (kind, when) == ("met", at) and evidence.startswith("first touch: Call by Ana")
    # a CRM that does not say who did it: the activity counts
    assert judge(clocks, [touch(at, who_id=None)], at)[0] == "met"
    # a lead owned by a queue (no rep of [routing.reps]): whoever picks it up counts
    [queued] = [c for c in clocks.started(Where("9", "salesforce", "Lead", "00Q9", "00G-QUEUE"),
                                          START) if c.clock == "first_touch"]
    picked = clocks.judge(queued, Evidence((touch(at, who_id=OTHER),), ()), at)
    assert (picked.kind, picked.at) == ("met", at)


def test_a_touch_after_the_deadline_is_a_breach_met_late(config: configuration.Config) -> None:
    clocks = Clocks.from_config(config)
    late = datetime(2027, 3, 1, 12, 20, tzinfo=UTC)
    kind, evidence, when = judge(clocks, [touch(late)], datetime(2027, 3, 1, 12, 30, tzinfo=UTC))
    assert (kind, when) == ("late", late)
    assert evidence.endswith("after the deadline 2027-03-01 12:00 UTC (4 business hours)")
    assert judge(clocks, [touch(DUE)], DUE)[0] == "met"  # at the deadline is in time
    # the rep's late status change is a late first touch too
    steps = (StageStep(datetime(2027, 3, 2, 9, 0, tzinfo=UTC), "recycle", "Ana"),)
    assert judge(clocks, [], datetime(2027, 3, 2, 9, 5, tzinfo=UTC), steps)[0] == "late"
    # leadsync sending the lead back to marketing stops the clock, whenever that was
    steps = (StageStep(datetime(2027, 3, 2, 9, 0, tzinfo=UTC), "recycle", "leadsync"),)
    kind, evidence, _ = judge(clocks, [], datetime(2027, 3, 2, 9, 5, tzinfo=UTC), steps)
    assert kind == "met" and evidence.startswith("stopped: the lead went to recycle")


def test_days_away_close_the_reps_calendar(config: configuration.Config) -> None:
    assert first_touch(Clocks.from_config(config)).due_at == DUE
    away = Clocks.from_config(config, [Away(REP, date(2027, 3, 2), date(2027, 3, 1))])
    # away Monday and Tuesday: four hours from Wednesday 09:00 → 13:00 Berlin
    assert first_touch(away).due_at == datetime(2027, 3, 3, 12, 0, tzinfo=UTC)
    # a configured period without a first day starts today
    text = CONFIG.replace('hours = "09:00-17:00"\n\n[routing.reps.ben]',
                          'hours = "09:00-17:00"\naway = [{ until = 2027-03-01 }]\n\n'
                          '[routing.reps.ben]', 1)
    assert "away" in text
    path = config.source
    assert path is not None
    path.write_text(text, encoding="utf-8")
    reloaded = configuration.load(path)
    assert first_touch(Clocks.from_config(reloaded, today=date(2027, 2, 26))).due_at == \
        datetime(2027, 3, 2, 12, 0, tzinfo=UTC)


def test_a_rep_on_their_teams_calendar(config: configuration.Config, tmp_path: Path) -> None:
    clocks = Clocks.from_config(config)
    # Friday 2 July 2027, 16:00 in New York (EDT): one hour that day, Monday the 5th is
    # the observed Independence Day, three hours on Tuesday → 12:00 New York.
    start = datetime(2027, 7, 2, 20, 0, tzinfo=UTC)
    [clock] = [c for c in clocks.started(Where("8", "salesforce", "Lead", "00Q2", "005BEN"),
                                         start) if c.clock == "first_touch"]
    assert clock.due_at == datetime(2027, 7, 6, 16, 0, tzinfo=UTC)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(CONFIG.replace('calendar = "us"', 'calendar = "usa"'), encoding="utf-8")
    with pytest.raises(configuration.ConfigError,
                       match="routing.reps.ben.calendar .*no calendar 'usa' in \\[calendars\\]; "
                             "did you mean 'us'"):
        configuration.load(wrong)

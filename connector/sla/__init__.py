"""SLA clocks: did sales follow up in time, on business time.

A pure decision, like scoring and routing: clocks, what happened to the lead
(its completed CRM activities and its steps through the process), and the time
now in; what each clock comes to out (met, warned, breached, with the evidence
a manager reads). The pipeline starts the clocks at the hand-off, gathers the
evidence and carries out the breach actions.

Clocks (``[sla]`` and ``[process.stages]`` in config.toml, docs/sla.md):

- first_touch: from the hand-off to the first completed call, email, meeting or
  task on the record, or a status change by someone other than leadsync;
- decision: from the hand-off to the lead leaving the hand-off stage (accepted,
  recycled, trashed …);
- touches: ``count`` completed activities within ``within`` of the hand-off;
- stage:<name>: a lead may stay in a stage at most its ``max``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from connector.businesstime import Calendar, CalendarConfig
from connector.config import Config
from connector.process import Clock, Duration, ProcessConfig, SlaConfig, TouchesClock
from connector.records import Touch
from connector.sla.store import SlaClock

DEFAULT_CALENDAR = CalendarConfig(hours="09:00-17:00")
"""Business time when [sla] names no calendar: Monday to Friday, 09:00-17:00 UTC."""

LEADSYNC = "leadsync"
FOUND = "as found in the CRM"
"""Who a step is by when it is the status an earlier record of the person already had
when leadsync linked the lead to it: where the lead is, not anything done since."""
CRM_DELETED = "deleted in the CRM"
"""The CRM status of the step a lead takes when a rep deleted its record, and who a
clock takes that step to be by: no touch and no decision, it stops the clocks (the
deleted stage is a final one)."""
NOT_SALES = frozenset({LEADSYNC, "marketing", FOUND, CRM_DELETED})
"""Steps that meet no clock: leadsync's own, marketing's, statuses found, deletions."""
CLOCK_NAMES = {"first_touch": "first touch", "decision": "decision", "touches": "touches"}


def clock_name(clock: str) -> str:
    """A clock as a person reads it: "first touch", "in sales_accepted"."""
    return CLOCK_NAMES.get(clock, clock.replace("stage:", "in "))


TOUCH_CLOCKS = ("first_touch", "touches")
"""Clocks met by the record's activities (read from the CRM while they run)."""


class Period(Protocol):
    """Days away, both inclusive: [routing.reps] ``away``, or `leadsync rep away`'s."""

    @property
    def start(self) -> date | None: ...
    @property
    def until(self) -> date: ...


class SetAway(Period, Protocol):
    """An away period set with `leadsync rep away` (the routing store's row)."""

    @property
    def rep_id(self) -> str: ...


@dataclass(frozen=True)
class Where:
    """A lead, the CRM record it was handed to, and its owner there."""

    marketing_id: str
    crm: str
    crm_object: str
    crm_id: str
    owner_id: str | None = None


@dataclass(frozen=True)
class StageStep:
    """A step of the lead in marketing's stage history."""

    at: datetime
    stage: str
    who: str | None


@dataclass(frozen=True)
class Evidence:
    """What happened to one lead: its record's activities and its process steps."""

    touches: Sequence[Touch] = ()
    steps: Sequence[StageStep] = ()


@dataclass
class Outcome:
    """What one look at a clock found; ``kind`` is None when nothing changed."""

    clock: SlaClock
    kind: str | None = None
    """"met", "warn", "breach", or "late": met, but after the deadline (a breach that
    is over by the time it is seen: recorded, nothing left to act on)."""
    evidence: str = ""
    at: datetime | None = None
    """When it was met, by the CRM's time of the touch or step."""


def deadline(calendar: Calendar, start: datetime, duration: Duration) -> datetime:
    """``start`` + ``duration``: business days end at close of business on the n-th
    working day; business hours count working time only; plain durations are wall time."""
    if not duration.business:
        return start + duration.wall
    if duration.unit in ("day", "week"):
        days = duration.amount * (5 if duration.unit == "week" else 1)
        return calendar.add_days(start, math.ceil(days))
    return calendar.add(start, duration.wall)


def warn_point(calendar: Calendar, start: datetime, due: datetime,
               before: Duration | None, business: bool) -> datetime | None:
    """When to warn: ``before`` ahead of the deadline, on the clock's own time."""
    if before is None:
        return None
    if not business:
        return max(start, due - before.wall)
    left = calendar.between(start, due) - before.wall
    return calendar.add(start, left) if left > timedelta(0) else start


@dataclass
class Clocks:
    """Starts and judges the configured clocks of leads, each on its owner's calendar."""

    sla: SlaConfig
    process: ProcessConfig
    calendar: Calendar = field(default_factory=lambda: Calendar.from_config(DEFAULT_CALENDAR))
    owner_calendars: dict[str, Calendar] = field(default_factory=dict)
    """Owner id → their own calendar (a rep's working hours, time zone and days away)."""

    def calendar_of(self, owner_id: str | None) -> Calendar:
        return self.owner_calendars.get(owner_id or "", self.calendar)

    @classmethod
    def from_config(cls, config: Config, away: Iterable[SetAway] = (), *,
                    today: date | None = None) -> Clocks:
        """The [sla] calendar, and each rep's own: the [calendars] entry they name (their
        team's), else with working hours their time zone, days and hours with the [sla]
        calendar's public holidays; either way closed on their days away
        ([routing.reps] away periods, and ``away``: the periods `leadsync rep away` set).
        A period without a first day runs from ``today``."""
        base = config.calendars.get(config.sla.calendar or "", DEFAULT_CALENDAR)
        owners: dict[str, Calendar] = {}
        set_away: dict[str, list[SetAway]] = {}
        for period in away:
            set_away.setdefault(period.rep_id, []).append(period)
        for rep in config.routing.reps.values():
            periods: list[Period] = [*rep.away, *set_away.get(rep.id, [])]
            days = [d for period in periods
                    for d in _days(period.start or today or period.until, period.until)]
            if rep.calendar is not None:
                mine = config.calendars[rep.calendar]
            elif rep.hours is not None:
                mine = base.model_copy(update={"timezone": rep.timezone,
                                               "days": list(rep.days), "hours": rep.hours})
            else:
                mine = base
            owners[rep.id] = Calendar.from_config(mine, extra_days_off=days)
        sla = config.sla
        if config.routing.reroute_on_sla and sla.first_touch is not None \
                and "reroute" not in sla.first_touch.on_breach:
            sla = sla.model_copy(update={"first_touch": sla.first_touch.model_copy(
                update={"on_breach": [*sla.first_touch.on_breach, "reroute"]})})
        return cls(sla, config.process, Calendar.from_config(base), owners)

    @property
    def active(self) -> bool:
        """Any clock configured at all (else the SLA step costs nothing)."""
        return bool(self.sla.clocks()) or any(s.max for s in self.process.stages.values())

    def started(self, lead: Where, at: datetime) -> list[SlaClock]:
        """The hand-off's clocks, due on the owner's calendar."""
        return [self._clock(name, clock.within, clock.warn_before, lead, at)
                for name, clock in self.sla.clocks().items()]

    def entered(self, lead: Where, stage: str, at: datetime) -> SlaClock | None:
        """The clock of a stage with a ``max``, when a lead enters it."""
        definition = self.process.stages.get(stage)
        if definition is None or definition.max is None or definition.final:
            return None
        return self._clock(f"stage:{stage}", definition.max, None, lead, at)

    def due(self, name: str, owner_id: str | None, at: datetime) -> datetime | None:
        """When the [sla] clock ``name`` started ``at`` would be due, if configured."""
        clock = self.sla.clocks().get(name)
        return deadline(self.calendar_of(owner_id), at, clock.within) if clock else None

    def restarted(self, clock: SlaClock, owner_id: str | None, at: datetime) -> SlaClock | None:
        """The same clock for a new owner (a re-route), from ``at``."""
        definition = self.definition(clock)
        if definition is None:
            return None
        place = Where(clock.marketing_id, clock.crm, clock.crm_object, clock.crm_id, owner_id)
        return self._clock(clock.clock, definition.within, definition.warn_before, place, at)

    def _clock(self, name: str, within: Duration, warn_before: Duration | None, lead: Where,
               at: datetime) -> SlaClock:
        calendar = self.calendar_of(lead.owner_id)
        due = deadline(calendar, at, within)
        return SlaClock(marketing_id=lead.marketing_id, crm=lead.crm, crm_object=lead.crm_object,
                        crm_id=lead.crm_id, clock=name, owner_id=lead.owner_id, started_at=at,
                        due_at=due,
                        warn_at=warn_point(calendar, at, due, warn_before, within.business))

    def definition(self, clock: SlaClock) -> Clock | None:
        """The [sla] clock or stage a row was started for (None if since removed)."""
        if clock.clock.startswith("stage:"):
            stage = self.process.stages.get(clock.clock.removeprefix("stage:"))
            if stage is None or stage.max is None:
                return None
            return Clock(within=stage.max, on_breach=stage.on_breach)
        return self.sla.clocks().get(clock.clock)

    def rep_of(self, clock: SlaClock) -> str | None:
        """Whose outreach counts: the clock owner's when they are a rep of [routing.reps];
        anyone's when the owner is a queue, a fallback or unknown (the rep who takes
        the lead from a queue is not its owner in leadsync's books)."""
        return clock.owner_id if clock.owner_id in self.owner_calendars else None

    def judge(self, clock: SlaClock, evidence: Evidence, now: datetime) -> Outcome:
        """Met (with the step that met it), breached, warned, or nothing new."""
        definition = self.definition(clock)
        if definition is None:
            return Outcome(clock, "met", "the clock is no longer configured")
        met = self._met(clock, definition, evidence, now) or self._ended(clock, evidence)
        if met is not None and met[1] > clock.due_at and clock.breached_at is None \
                and not met[0].startswith("stopped"):
            return Outcome(clock, "late", f"{met[0]}, after the deadline "
                           f"{_at(clock.due_at)} ({definition.within})", met[1])
        if met is not None:
            return Outcome(clock, "met", met[0], met[1])
        if now >= clock.due_at and clock.breached_at is None:
            return Outcome(clock, "breach", self._missing(clock, definition, evidence))
        if (clock.warn_at is not None and now >= clock.warn_at and clock.warned_at is None
                and clock.breached_at is None):
            return Outcome(clock, "warn", f"due {_at(clock.due_at)}")
        return Outcome(clock)

    def _met(self, clock: SlaClock, definition: Clock, evidence: Evidence,
             now: datetime) -> tuple[str, datetime] | None:
        """(what met the clock, when) by the evidence's own times, if anything did; a
        touch dated after ``now`` (a meeting booked for next week) has not happened."""
        start = clock.started_at
        if clock.clock == "first_touch":
            touch = next(iter(_touches(evidence.touches, start, now, self.rep_of(clock))), None)
            step = next((s for s in evidence.steps if s.at >= start
                         and s.who not in NOT_SALES), None)
            if touch is not None and touch.at is not None and (step is None
                                                                or touch.at <= step.at):
                return f"first touch: {_touch(touch)}", touch.at
            if step is not None:
                by = f" by {step.who}" if step.who else ""
                return f"first touch: {step.stage}{by} {_at(step.at)}", step.at
            return None
        if clock.clock == "decision":
            step = next((s for s in evidence.steps if s.at >= start and s.who not in
                         (LEADSYNC, FOUND, CRM_DELETED)
                         and s.stage != self.process.handoff_stage), None)
            if step is None:  # leadsync recycling the lead is no decision of sales'
                return None
            return (f"decided: {step.stage}" + (f" by {step.who}" if step.who else "")
                    + f" {_at(step.at)}"), step.at
        if clock.clock == "touches":
            count = definition.count if isinstance(definition, TouchesClock) else 1
            done = _touches(evidence.touches, start, min(clock.due_at, now),
                            self.rep_of(clock))
            if len(done) < count or done[count - 1].at is None:
                return None
            return f"{count} touches, the last {_touch(done[count - 1])}", done[count - 1].at
        stage = clock.clock.removeprefix("stage:")
        left = next((s for s in evidence.steps if s.at > start and s.stage != stage), None)
        return (f"left {stage} for {left.stage} {_at(left.at)}", left.at) if left else None

    def _ended(self, clock: SlaClock, evidence: Evidence) -> tuple[str, datetime] | None:
        """A lead that reached a final stage (won, lost, trash, deleted) or went back to
        marketing (recycled) stops its clocks: sales has nothing left to do on time."""
        step = next((s for s in evidence.steps if s.at >= clock.started_at
                     and (stage := self.process.stages.get(s.stage)) is not None
                     and (stage.final or stage.team == "marketing")), None)
        return (f"stopped: the lead went to {step.stage} {_at(step.at)}", step.at) if step else None

    def _missing(self, clock: SlaClock, definition: Clock, evidence: Evidence) -> str:
        """Why the clock is breached, in a manager's words."""
        since = f"since {_at(clock.started_at)}"
        due = f"due {_at(clock.due_at)} ({definition.within})"
        if clock.clock == "first_touch":
            return f"no completed activity or status change by sales {since}; {due}"
        if clock.clock == "decision":
            return f"not accepted or recycled {since}; {due}"
        if clock.clock == "touches":
            count = definition.count if isinstance(definition, TouchesClock) else 1
            done = len(_touches(evidence.touches, clock.started_at, clock.due_at,
                                self.rep_of(clock)))
            return f"{done} of {count} touches {since}; {due}"
        return f"in {clock.clock.removeprefix('stage:')} {since}; {due}"


def _days(first: date, last: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


def _touches(touches: Iterable[Touch], start: datetime, end: datetime | None,
             owner: str | None) -> list[Touch]:
    """The owner's completed outreach dated from ``start`` (to ``end``), oldest first:
    not a note, not a colleague's activity (where the CRM names who did it)."""
    done = [t for t in touches if t.at is not None and t.at >= start
            and (end is None or t.at <= end) and t.channel != "note"
            and (owner is None or t.who_id is None or t.who_id == owner)
            and not t.pending]
    return sorted(done, key=lambda t: t.at or start)


def _touch(touch: Touch) -> str:
    return f"{touch.what} by {touch.who or 'someone'} {_at(touch.at) if touch.at else 'undated'}"


def _at(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"

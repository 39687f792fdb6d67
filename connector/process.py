"""The lead process both teams agreed on, and its SLAs: ``[process]`` and ``[sla]``.

The admin names the steps a lead goes through (inquiry → lead → MQL → SAL →
opportunity → won/lost, with recycle, trash, could-not-reach, on hold …), and for
each the owning team, the CRM statuses that mean it, how long a lead may sit in
it, and what happens when it sits longer. ``[sla]`` adds the clocks that are not
a stage's length: first touch after the hand-off, a decision, K touches in M days.

Typed here, beside ``connector.config`` (which assembles it), like the matching and
routing sections: nothing here reads a file, a clock or the network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class ProcessModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(business\s+)?(minute|hour|day|week)s?\s*$",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Duration:
    """"4 business hours", "2 business days", "30 days": how long, and on which clock.

    A business duration counts only the working time of a calendar; a plain one is
    wall-clock time. A business day is a working day of the calendar (its end is
    the deadline), not 24 hours.
    """

    amount: float
    unit: Literal["minute", "hour", "day", "week"]
    business: bool = False

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, Duration):
            return value
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"{value!r} is not a duration like \"4 business hours\", "
                             "\"2 business days\" or \"30 days\"")
        amount, business, unit = match.groups()
        if float(amount) <= 0:
            raise ValueError(f"{value!r}: a duration must be more than 0")
        return cls(float(amount), unit.lower(), bool(business))  # type: ignore[arg-type]

    @property
    def wall(self) -> timedelta:
        """As wall-clock time (for a plain duration, and business minutes and hours)."""
        minutes = {"minute": 1, "hour": 60, "day": 24 * 60, "week": 7 * 24 * 60}[self.unit]
        return timedelta(minutes=self.amount * minutes)

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        unit = self.unit + ("" if self.amount == 1 else "s")
        return f"{amount} {'business ' if self.business else ''}{unit}"


DurationValue = Annotated[Duration, BeforeValidator(Duration.parse)]

Team = Literal["marketing", "sales"]
Priority = Literal["high", "normal", "low"]
Action = Literal["warn", "task", "reroute", "webhook", "recycle"]
"""What a breach does: log and record it (warn, always done), a CRM task for the
manager, the lead to the next rep of its pool, a JSON POST to a webhook, the lead
back to marketing (the process's recycle stage)."""


class Stage(ProcessModel):
    team: Team
    crm_statuses: list[str] = []
    """CRM statuses (the mapping.status.crm_field picklist) that mean this stage."""
    max: DurationValue | None = None
    """Longest a lead may stay in this stage; longer is a breach."""
    on_breach: list[Action] = ["warn"]
    final: bool = False
    """A stage a lead does not leave by itself (won, lost, trash): no clock runs in it."""


def _stage(team: Team, *statuses: str, final: bool = False) -> Stage:
    return Stage(team=team, crm_statuses=list(statuses), final=final)


DEFAULT_STAGES: dict[str, Stage] = {
    "inquiry": _stage("marketing"),
    "lead": _stage("marketing"),
    "mql": _stage("sales"),
    "sales_accepted": _stage("sales"),
    "opportunity": _stage("sales"),
    "won": _stage("sales", final=True),
    "lost": _stage("sales", final=True),
    "recycle": _stage("marketing"),
    "could_not_reach": _stage("sales"),
    "on_hold": _stage("sales"),
    "trash": _stage("marketing", final=True),
    "customer": _stage("sales", final=True),
    "crm_deleted": _stage("marketing", final=True),
}
"""The process of DESIGN.md, used when config.toml has no [process.stages]. The
statuses that mean each stage then come from [mapping.status.to_marketing]."""


def _wall(value: object) -> Duration:
    """A wait in calendar time: a lead's nurture does not stop at weekends."""
    duration = Duration.parse(value)
    if duration.business:
        raise ValueError(f"{value!r}: a wait counts calendar time; write it without "
                         "\"business\" (e.g. \"30 days\")")
    return duration


WallDuration = Annotated[Duration, BeforeValidator(_wall)]


class RecycleRule(ProcessModel):
    stage: str = "recycle"
    """The stage a recycled lead is in (marketing's nurture)."""
    cool_off: WallDuration = Duration(30, "day")
    """A recycled lead is not handed over again before this, whatever its score."""
    new_signal: bool = True
    """…and only after an activity newer than the recycle: never bounced straight back."""


class CouldNotReachRule(ProcessModel):
    stage: str = "could_not_reach"
    retry_after: WallDuration = Duration(14, "day")
    """Handed to sales again this long after "could not reach" …"""
    max_attempts: Annotated[int, Field(ge=0, le=100)] = 2
    """… at most this many times; then the lead goes to the recycle stage."""


class ProcessConfig(ProcessModel):
    handoff_stage: str = "mql"
    """The stage a lead enters when leadsync hands it to sales (recorded at hand-off)."""
    stages: dict[str, Stage] = DEFAULT_STAGES
    recycle: RecycleRule = RecycleRule()
    could_not_reach: CouldNotReachRule = CouldNotReachRule()

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """What makes the process unworkable, each at its key (below [process]): a stage
        named that is not one, or of the wrong team, one status meaning two stages."""
        found: list[tuple[tuple[str, ...], str]] = []
        named = [(("handoff_stage",), self.handoff_stage, "sales"),
                 (("recycle", "stage"), self.recycle.stage, "marketing"),
                 (("could_not_reach", "stage"), self.could_not_reach.stage, "sales")]
        for path, name, team in named:
            stage = self.stages.get(name)
            if stage is None:
                found.append((path, f"{name!r} is not one of the stages "
                                    f"({', '.join(self.stages)})"))
            elif stage.team != team or stage.final:
                found.append((path, f"{name!r} must be a {team} stage that is not final "
                                    f"(it is {stage.team}{', final' if stage.final else ''})"))
        owners: dict[str, str] = {}
        for name, stage in self.stages.items():
            for status in stage.crm_statuses:
                if status in owners:
                    found.append((("stages", name, "crm_statuses"),
                                  f"CRM status {status!r} means both {owners[status]!r} "
                                  f"and {name!r}"))
                owners[status] = name
        return found

    def status_stages(self) -> dict[str, str]:
        """CRM status → stage, from the stages' crm_statuses."""
        return {status: name for name, stage in self.stages.items()
                for status in stage.crm_statuses}


class Clock(ProcessModel):
    within: DurationValue
    warn_before: DurationValue | None = None
    """Warn this long before the deadline (once), counted like ``within``."""
    on_breach: list[Action] = ["warn"]

    @model_validator(mode="after")
    def _warning_inside(self) -> Clock:
        before = self.warn_before
        if before is None:
            return self
        if before.business != self.within.business:
            raise ValueError(f"warn_before {str(before)!r} and within {str(self.within)!r}: "
                             "both count business time, or neither")
        if before.wall >= self.within.wall and (before.unit in ("minute", "hour")) == (
                self.within.unit in ("minute", "hour")):
            raise ValueError(f"warn_before {str(before)!r} is not shorter than within "
                             f"{str(self.within)!r}: the warning would come at the start")
        return self


class TouchesClock(Clock):
    count: Annotated[int, Field(ge=1, le=50)] = 3
    """Touches (completed calls, emails, tasks by the owner) due within ``within``."""


class SlaConfig(ProcessModel):
    calendar: str | None = None
    """The [calendars] entry business time is counted on; a rep with working hours in
    [routing.reps] is counted on their own hours and time zone. Left out: Monday to
    Friday, 09:00-17:00 UTC."""
    first_touch: Clock | None = None
    """From hand-off to the owner's first completed call, email or task, or status change."""
    decision: Clock | None = None
    """From hand-off to accepted or recycled (any stage after the hand-off stage)."""
    touches: TouchesClock | None = None
    manager: str | None = None
    """CRM user or owner id that breach tasks are assigned to (the lead's owner if unset)."""
    webhook_env: str | None = None
    """Environment variable holding the webhook URL (a Slack URL is a secret)."""
    priority: dict[str, Priority] = {}
    """Score tier ([routing.score_tiers]) → the follow-up task's priority. Left out:
    the top tier high, the others normal."""

    def priority_of(self, tier: str | None, tiers: Sequence[tuple[str, float]]) -> Priority:
        """``tiers``: [routing.score_tiers], highest first."""
        if tier is not None and tier in self.priority:
            return self.priority[tier]
        if self.priority:
            return "normal"
        return "high" if tier is not None and tiers and tier == tiers[0][0] else "normal"

    def clocks(self) -> dict[str, Clock]:
        return {name: clock for name, clock in (("first_touch", self.first_touch),
                                                 ("decision", self.decision),
                                                 ("touches", self.touches)) if clock}


class ReportConfig(ProcessModel):
    """[report]: what the two teams agreed to deliver, and when a rate's move is news."""

    mql_per_quarter: Annotated[int, Field(ge=1)] | None = None
    """Marketing's target: MQLs handed to sales a quarter (prorated to the report's days)."""
    follow_up_p90_hours: Annotated[float, Field(gt=0)] | None = None
    """Sales' target: nine leads in ten touched within this many business hours."""
    rate_move: Annotated[float, Field(gt=0, le=1)] = 0.25
    """Warn when a conversion rate moved by this share of itself against the period
    before (0.25: from 60% to under 45% or over 75%) …"""
    rate_move_min_leads: Annotated[int, Field(ge=1)] = 10
    """… and both periods counted at least this many leads under it (else it is noise)."""

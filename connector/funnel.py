"""Funnel figures both teams agree on, from the stage history (never counted by hand).

Pure: each lead's steps through the process, and the few facts a breakdown needs
(its source, campaign, territory, rep, tier, and its first-touch time), in; figures out.
Two views, named as such:

- **cohort**: the leads handed to sales in the period (their first step into the
  hand-off stage), followed to today: how many of them were ever accepted, became an
  opportunity, were won or lost, the revenue they brought, and the rates between;
- **period**: the steps taken in the period, whichever lead took them (MQLs passed,
  accepted, won … in that week), the view a weekly meeting reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from connector.adapters.base import StageUpdate

if TYPE_CHECKING:
    from connector.config import Config

DIMENSIONS = ("source", "campaign", "territory", "rep", "tier")
"""What a figure can be broken down by (``--by``)."""

RATES = (("sal_per_mql", "sales_accepted", "mql"), ("opportunity_per_sal", "opportunity",
                                                      "sales_accepted"),
         ("won_per_opportunity", "won", "opportunity"))
"""(name, numerator step, denominator step): each rate shown with its two counts."""


@dataclass(frozen=True)
class Story:
    """One lead's way through the process, and what a breakdown names it by."""

    lead_id: str
    steps: Sequence[StageUpdate]
    """Oldest first, as marketing's stage history keeps them."""
    facts: dict[str, str | None] = field(default_factory=dict)
    """source, campaign, territory, rep, tier (any may be None: "(none)" in a table)."""
    follow_up_hours: float | None = None
    """Business hours from hand-off to first touch (its first-touch clock), if met."""


@dataclass(frozen=True)
class Stages:
    """Which stages of the process count as which funnel step."""

    mql: str = "mql"
    accepted: frozenset[str] = frozenset({"sales_accepted"})
    opportunity: frozenset[str] = frozenset({"opportunity"})
    won: frozenset[str] = frozenset({"won"})
    lost: frozenset[str] = frozenset({"lost"})

    def step_of(self, stage: str) -> str | None:
        if stage == self.mql:
            return "mql"
        for name in ("accepted", "opportunity", "won", "lost"):
            if stage in getattr(self, name):
                return "sales_accepted" if name == "accepted" else name
        return None

    @classmethod
    def of(cls, config: Config) -> Stages:
        """The funnel's steps in a process's stage names ([mapping.status] won / lost)."""
        status = config.mapping.status
        return cls(mql=config.process.handoff_stage, won=frozenset({status.won or "won"}),
                   lost=frozenset({status.lost or "lost"}))


FUNNEL_STEPS = ("mql", "sales_accepted", "opportunity", "won", "lost")


def _reached(story: Story, stages: Stages, after: datetime) -> dict[str, bool]:
    """Which funnel steps the lead took at or after its hand-off. A won or lost lead was
    an opportunity, and an opportunity was accepted, even where the CRM skipped a status."""
    seen = {stages.step_of(s.stage) for s in story.steps if s.at >= after}
    won, lost = "won" in seen, "lost" in seen
    opportunity = "opportunity" in seen or won or lost
    return {"mql": True, "sales_accepted": "sales_accepted" in seen or opportunity,
            "opportunity": opportunity, "won": won, "lost": lost}


def _handed(story: Story, stages: Stages) -> datetime | None:
    return next((s.at for s in story.steps if s.stage == stages.mql), None)


def _revenue(story: Story, stages: Stages, after: datetime) -> float:
    return sum(s.amount or 0.0 for s in story.steps
               if s.at >= after and s.stage in stages.won)


def _percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile by the nearest rank (no interpolation: a figure a person
    can find in the list)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cohort(stories: Iterable[Story], since: datetime, until: datetime,
           stages: Stages = Stages(), by: str | None = None) -> list[dict[str, Any]]:
    """Leads handed to sales in [since, until), followed to today; one row per group."""
    groups: dict[str, list[tuple[Story, datetime]]] = {}
    for story in stories:
        handed = _handed(story, stages)
        if handed is None or not since <= handed < until:
            continue
        key = (story.facts.get(by) or "(none)") if by else "all"
        groups.setdefault(key, []).append((story, handed))
    rows = []
    for key in sorted(groups):
        members = groups[key]
        counts = dict.fromkeys(FUNNEL_STEPS, 0)
        revenue = 0.0
        for story, handed in members:
            for step, took in _reached(story, stages, handed).items():
                counts[step] += took
            revenue += _revenue(story, stages, handed)
        hours = [s.follow_up_hours for s, _ in members if s.follow_up_hours is not None]
        row: dict[str, Any] = {"view": "cohort", by or "group": key, **counts,
                               "revenue": revenue,
                               "revenue_per_mql": revenue / counts["mql"] if counts["mql"]
                               else None,
                               "follow_up_p50_hours": _percentile(hours, 50),
                               "follow_up_p90_hours": _percentile(hours, 90),
                               "followed_up": len(hours)}
        for name, top, bottom in RATES:
            row[name] = counts[top] / counts[bottom] if counts[bottom] else None
        rows.append(row)
    return rows


def period(stories: Iterable[Story], since: datetime, until: datetime,
           stages: Stages = Stages(), by: str | None = None) -> list[dict[str, Any]]:
    """The steps taken in [since, until), whichever lead took them; one row per group.
    A lead counts once a step however often it took it in the period."""
    groups: dict[str, dict[str, set[str]]] = {}
    revenue: dict[str, float] = {}
    for story in stories:
        key = (story.facts.get(by) or "(none)") if by else "all"
        took = groups.setdefault(key, {step: set() for step in FUNNEL_STEPS})
        for step in story.steps:
            name = stages.step_of(step.stage)
            if name is not None and since <= step.at < until:
                took[name].add(story.lead_id)
                if name == "won":
                    revenue[key] = revenue.get(key, 0.0) + (step.amount or 0.0)
    return [{"view": "period", by or "group": key,
             **{step: len(leads) for step, leads in groups[key].items()},
             "revenue": revenue.get(key, 0.0)}
            for key in sorted(groups) if any(groups[key].values())]


def reasons(stories: Iterable[Story], since: datetime, until: datetime,
            kept: Iterable[str]) -> list[dict[str, Any]]:
    """Why leads left sales in the period (recycled, trashed, not reached …): each stage
    of ``kept`` with its reasons and how many leads gave each, most first."""
    wanted = set(kept)
    found: dict[tuple[str, str], set[str]] = {}
    for story in stories:
        for step in story.steps:
            if step.stage in wanted and since <= step.at < until:
                found.setdefault((step.stage, step.reason or "(no reason given)"),
                                 set()).add(story.lead_id)
    return [{"stage": stage, "reason": reason, "leads": len(leads)}
            for (stage, reason), leads in sorted(found.items(),
                                                 key=lambda kv: (kv[0][0], -len(kv[1]),
                                                                 kv[0][1]))]


def flow(stories: Iterable[Story], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Every move between two stages in the period (recycles and returns included), with
    how many steps made it, most first: the arrows of the process drawn as a flow."""
    moves: dict[tuple[str, str], int] = {}
    for story in stories:
        before = "(new)"
        for step in story.steps:
            if since <= step.at < until:
                moves[(before, step.stage)] = moves.get((before, step.stage), 0) + 1
            before = step.stage
    return [{"from": a, "to": b, "steps": n}
            for (a, b), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))]


def weeks(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into weeks from ``since`` (the last one may be shorter)."""
    out, start = [], since
    while start < until:
        end = min(start + timedelta(days=7), until)
        out.append((start, end))
        start = end
    return out


@dataclass(frozen=True)
class Due:
    """A first-touch clock that came due: whose, when, and whether it was met in time."""

    rep: str
    due_at: datetime
    in_time: bool
    team: str = "(no territory)"
    """The territory routing gave the lead: the team whose pool the rep works in."""


def compliance(dues: Iterable[Due], since: datetime, until: datetime,
               by_week: bool = True, of: Literal["rep", "team"] = "rep"
               ) -> list[dict[str, Any]]:
    """Per rep or team (and week): the first-touch clocks that came due in the period,
    how many were met by their deadline, and the share."""
    counts: dict[tuple[str, str], list[int]] = {}
    spans = weeks(since, until) if by_week else [(since, until)]
    for due in dues:
        span = next((s for s in spans if s[0] <= due.due_at < s[1]), None)
        if span is None:
            continue
        tally = counts.setdefault((getattr(due, of), f"{span[0]:%Y-%m-%d}"), [0, 0])
        tally[0] += 1
        tally[1] += due.in_time
    return [{of: who, **({"week": week} if by_week else {}), "due": n, "in_time": ok,
             "compliance": ok / n} for (who, week), (n, ok) in sorted(counts.items())]


def stage_times(stories: Iterable[Story], since: datetime,
                until: datetime) -> list[dict[str, Any]]:
    """How long leads stayed in each stage they entered in the period and left again
    (wall-clock hours, median and 90th percentile by nearest rank), and how many are
    still there."""
    stays: dict[str, list[float]] = {}
    staying: dict[str, int] = {}
    for story in stories:
        for step, after in zip(story.steps, [*story.steps[1:], None], strict=True):
            if not since <= step.at < until:
                continue
            if after is None:
                staying[step.stage] = staying.get(step.stage, 0) + 1
            else:
                stays.setdefault(step.stage, []).append(
                    round((after.at - step.at).total_seconds() / 3600, 2))
    return [{"stage": stage, "left": len(stays.get(stage, [])),
             "median_hours": _percentile(stays.get(stage, []), 50),
             "p90_hours": _percentile(stays.get(stage, []), 90),
             "still_there": staying.get(stage, 0)}
            for stage in sorted(stays.keys() | staying.keys())]


@dataclass(frozen=True)
class Breach:
    """An SLA clock breached: which, when, and the actions done for it."""

    clock: str
    at: datetime
    actions: Sequence[str] = ()


def breaches(found: Iterable[Breach], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per clock: how many were breached in the period and what was done (each action
    with how many breaches it was done for; "warn" is every breach's)."""
    counts: dict[str, dict[str, int]] = {}
    for breach in found:
        if since <= breach.at < until:
            done = counts.setdefault(breach.clock, {"breached": 0})
            done["breached"] += 1
            for action in breach.actions:
                done[action] = done.get(action, 0) + 1
    return [{"clock": clock, **done} for clock, done in sorted(counts.items())]


def waited(stories: Iterable[Story], since: datetime, until: datetime, stages: Stages, *,
           beyond: float, now: datetime) -> list[float]:
    """Each lead handed off in the period: its business hours to first touch. A lead
    still untouched counts as never touched (infinity) once ``beyond`` hours (wall
    clock) have passed since its hand-off by ``now`` or ``until``, whichever is first;
    before that it is left out: it may yet be touched in time."""
    cutoff = min(now, until) - timedelta(hours=beyond)
    out: list[float] = []
    for story in stories:
        handed = next((s.at for s in story.steps if s.stage == stages.mql), None)
        if handed is None or not since <= handed < until:
            continue
        if story.follow_up_hours is not None:
            out.append(story.follow_up_hours)
        elif handed < cutoff:
            out.append(math.inf)
    return out


def targets(row: dict[str, Any] | None, since: datetime, until: datetime, *,
            mql_per_quarter: int | None, follow_up_p90_hours: float | None,
            follow_up: Sequence[float] = ()) -> list[dict[str, Any]]:
    """Each team against what it agreed: marketing's MQLs (the quarterly target prorated
    to the period's days) and sales' follow-up: nine leads in ten touched within the
    agreed business hours, over ``follow_up`` (``waited``: the untouched count)."""
    out: list[dict[str, Any]] = []
    if mql_per_quarter is not None:
        due = mql_per_quarter * (until - since).total_seconds() / 86400 / QUARTER_DAYS
        done = int(row["mql"]) if row else 0
        out.append({"team": "marketing", "target": "MQLs", "agreed": round(due, 1),
                    "delivered": done, "share": done / due if due else None,
                    "met": done >= due})
    if follow_up_p90_hours is not None:
        p90 = _percentile(follow_up, 90)
        within = sum(1 for hours in follow_up if hours <= follow_up_p90_hours)
        out.append({"team": "sales", "target": "follow-up p90 (business hours)",
                    "agreed": follow_up_p90_hours,
                    "delivered": p90 if p90 is not None and math.isfinite(p90) else None,
                    "share": within / len(follow_up) if follow_up else None,
                    "untouched": sum(1 for hours in follow_up if math.isinf(hours)),
                    "met": p90 is not None and p90 <= follow_up_p90_hours})
    return out


QUARTER_DAYS = 365.25 / 4


def rate_moves(now: dict[str, Any] | None, before: dict[str, Any] | None, *, move: float,
               min_leads: int) -> list[str]:
    """Warnings for the conversion rates that moved sharply against the period before:
    the moment to revisit the MQL definition. Each rate with its counts, both periods."""
    if not now or not before:
        return []
    out = []
    for name, top, bottom in RATES:
        if min(int(now[bottom]), int(before[bottom])) < min_leads:
            continue
        was, is_ = before[name], now[name]
        if was and abs(is_ - was) >= move * was:
            out.append(f"{name.replace('_per_', ' / ')} moved from {was:.0%} "
                       f"({before[top]}/{before[bottom]}) to {is_:.0%} "
                       f"({now[top]}/{now[bottom]}) against the period before: time to "
                       "revisit the MQL definition?")
    return out


PERIODS = ("week", "month", "quarter")


def spans(since: datetime, until: datetime, size: str) -> list[tuple[str, datetime, datetime]]:
    """[since, until) cut into weeks (from ``since``), calendar months or calendar
    quarters, the first and last cut to the range: (label, start, end) each."""
    if size == "week":
        return [(f"{a:%Y-%m-%d}", a, b) for a, b in weeks(since, until)]
    step = {"month": 1, "quarter": 3}[size]
    out = []
    start = since
    while start < until:
        first = (start.month - 1) // step * step + 1
        year, month = divmod(first - 1 + step, 12)
        end = min(start.replace(year=start.year + year, month=month + 1, day=1, hour=0,
                                minute=0, second=0, microsecond=0), until)
        label = (f"{start:%Y-%m}" if size == "month"
                 else f"{start.year}-Q{(first - 1) // 3 + 1}")
        out.append((label, start, end))
        start = end
    return out

"""Step 3 of a cycle: score and qualify. Pure functions, each with its reason.

A lead's score is its **fit** (who it is: points per attribute value, ``[[scoring.fit]]``,
and per filled field, ``profile_points``) plus its **behaviour** (what it did: points
per activity of each kind and per page, each kind capped, each activity's points
halving every ``decay_half_life_days``). It qualifies when the score reaches the
threshold (and fit and behaviour theirs, where set), no exclusion matches, and the
required fields are filled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from connector.config import ScoringConfig
from connector.records import Activity, Decision, Lead, utcnow


@dataclass(frozen=True)
class Scored:
    """A lead's score, its two parts and why. ``value`` and ``reason`` as a
    ``Decision``'s: what the rest of the cycle reads."""

    fit: float
    behaviour: float
    undecayed: float
    """The behaviour points before decay."""
    fit_parts: list[str] = field(default_factory=list)
    behaviour_parts: list[str] = field(default_factory=list)
    excluded: str | None = None
    """The exclusion that matched: the lead never qualifies."""
    grade: str | None = None

    @property
    def value(self) -> float:
        return round(self.fit + self.behaviour, 2)

    @property
    def reason(self) -> str:
        """"score 72 = fit 40 + behaviour 32, decayed from 41 (title senior +15; …)"."""
        decayed = (f", decayed from {self.undecayed:g}"
                   if round(self.undecayed, 2) != round(self.behaviour, 2) else "")
        grade = f", grade {self.grade}" if self.grade else ""
        parts = [*self.fit_parts, *self.behaviour_parts]
        why = f" ({'; '.join(parts)})" if parts else " (no activity, no fit points)"
        excluded = f"; excluded: {self.excluded}" if self.excluded else ""
        return (f"score {self.value:g} = fit {self.fit:g}{grade} + behaviour "
                f"{self.behaviour:g}{decayed}{why}{excluded}")


def score(lead: Lead, model: ScoringConfig, now: datetime | None = None) -> Scored:
    """Fit and behaviour points, behaviour decayed to ``now`` (default: the present)."""
    fit, fit_parts, excluded = _fit(lead, model)
    behaviour, undecayed, behaviour_parts = _behaviour(lead.activities, model,
                                                       now or utcnow())
    return Scored(round(fit, 2), round(behaviour, 2), round(undecayed, 2), fit_parts,
                  behaviour_parts, excluded, model.grade(fit) if model.grades else None)


def _fit(lead: Lead, model: ScoringConfig) -> tuple[float, list[str], str | None]:
    total, parts, excluded = 0.0, [], None
    for name, points in model.profile_points.items():
        if lead.get(name) not in (None, ""):
            total += points
            parts.append(f"{name} given {points:+g}")
    for rule in model.fit:
        if not rule.matches(lead.get(rule.field)):
            continue
        if rule.exclude and excluded is None:
            excluded = rule.describe()
        if rule.points:
            total += rule.points
            parts.append(f"{rule.describe()} {rule.points:+g}")
    return total, parts, excluded


def _behaviour(activities: list[Activity], model: ScoringConfig,
               now: datetime) -> tuple[float, float, list[str]]:
    """(points after decay and caps, before decay (capped alike), one part per kind)."""
    decayed: dict[str, float] = defaultdict(float)
    full: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    pages: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for activity in activities:
        worth = activity_points(activity, model)
        if not worth:
            continue
        kind = activity.kind
        counts[kind] += 1
        for needle in model.page_points:
            if needle in activity.detail:
                pages[kind][needle] += 1
        full[kind] += worth
        decayed[kind] += worth * decay(activity, model, now)
    total = before = 0.0
    parts = []
    for kind in sorted(counts):
        cap = model.activity_caps.get(kind)
        got, had = decayed[kind], full[kind]
        if cap is not None:
            got, had = min(got, cap), min(had, cap)
        total += got
        before += had
        seen = ", ".join(f"{needle} ×{n}" for needle, n in sorted(pages[kind].items()))
        notes = [f"with {seen}"] if seen else []
        if round(got, 2) != round(had, 2):
            notes.append(f"from {had:g}")
        if cap is not None and full[kind] > cap:
            notes.append(f"capped at {cap:g}")
        parts.append(f"{kind} ×{counts[kind]} {round(got, 2):+g}"
                     + (f" ({', '.join(notes)})" if notes else ""))
    return total, before, parts


def decay(activity: Activity, model: ScoringConfig, now: datetime) -> float:
    """The share of an activity's points it still carries: 1 without a half-life, and
    for one in the future (a clock set differently); halving every half-life."""
    if model.decay_half_life_days is None:
        return 1.0
    days = (now - activity.occurred_at).total_seconds() / 86400
    return 0.5 ** (max(days, 0.0) / model.decay_half_life_days)


def activity_points(activity: Activity, model: ScoringConfig) -> float:
    """What one activity adds before decay: its kind's points and the bonus of every
    page key its detail contains."""
    return model.activity_points.get(activity.kind, 0) + sum(
        p for needle, p in model.page_points.items() if needle in activity.detail)


def qualify(lead: Lead, points: Scored | float, model: ScoringConfig) -> Decision[bool]:
    """Sales-ready when the score reaches the threshold (fit and behaviour theirs,
    where set), no exclusion matches, and the profile is complete.

    A lead that misses exactly one required field but has the score is named
    as such: that is the lead marketing should go and complete.
    """
    scored = points if isinstance(points, Scored) else None
    value = scored.value if scored else float(points)  # type: ignore[arg-type]
    missing = _missing(lead, model)
    short = _short(scored, model)
    enough = value >= model.threshold and not short
    mark = "≥" if value >= model.threshold else "<"
    joint = " but " if value >= model.threshold else " and "  # "but" only where it turns
    base = f"score {value:g} {mark} {model.threshold:g}" + (
        f"{joint}{' and '.join(short)}" if short else "")
    if scored and scored.excluded:
        return Decision(False, f"{base}; excluded: {scored.excluded}")
    if enough and not missing:
        return Decision(True, base)
    if enough and len(missing) == 1:
        return Decision(False, f"{base} but missing a single field to qualify: {missing[0]}")
    if missing:
        return Decision(False, f"{base}; missing {', '.join(missing)}")
    return Decision(False, base)


def one_field_short(lead: Lead, scored: Scored, model: ScoringConfig) -> str | None:
    """The one required field a lead lacks when everything else would qualify it: the
    lead marketing should complete (``leadsync gaps``)."""
    missing = _missing(lead, model)
    if len(missing) != 1 or scored.excluded or _short(scored, model) \
            or scored.value < model.threshold:
        return None
    return missing[0]


def _missing(lead: Lead, model: ScoringConfig) -> list[str]:
    return [name for name in model.required_fields if lead.get(name) in (None, "")]


def _short(scored: Scored | None, model: ScoringConfig) -> list[str]:
    """The parts under their own thresholds: "fit -55 < 10"."""
    if scored is None:
        return []
    return [f"{part} {got:g} < {need:g}" for part, got, need in (
        ("fit", scored.fit, model.fit_threshold),
        ("behaviour", scored.behaviour, model.behaviour_threshold))
        if need is not None and got < need]


def entry_status(lead: Lead, model: ScoringConfig) -> str | None:
    """The status ``[[scoring.entry]]`` gives the lead's strongest signal, if any."""
    for rule in model.entry:
        needle = (rule.detail or "").casefold()
        if any(a.kind == rule.activity and needle in a.detail.casefold()
               for a in lead.activities):
            return rule.status
    return None


def why_now(lead: Lead, model: ScoringConfig, now: datetime | None = None
            ) -> list[Activity] | None:
    """The latest activities without which the lead would not qualify, newest first:
    what made it sales-ready now, for the rep's task. Empty when the profile (and
    older activity) reaches the thresholds whatever happened lately (the combined
    one, and fit's and behaviour's where set); None when the lead is under them.

    This takes the newest scoring activities away, one by one, until the score
    (decay and caps as in ``score``) falls below the threshold."""
    now = now or utcnow()

    def reaches(scored: Scored) -> bool:  # the thresholds activity can move
        return scored.value >= model.threshold and not _short(scored, model)

    if not reaches(score(lead, model, now)):
        return None
    kept = sorted((a for a in lead.activities if activity_points(a, model) > 0),
                  key=lambda a: a.occurred_at)
    others = [a for a in lead.activities if activity_points(a, model) <= 0]
    taken: list[Activity] = []
    while kept:
        taken.append(kept.pop())
        rest = Lead(lead.id, lead.fields, lead.updated_at, lead.stage,
                    activities=[*others, *kept])
        if not reaches(score(rest, model, now)):
            return taken
    return []

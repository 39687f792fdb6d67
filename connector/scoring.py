"""Step 3 of a cycle: score and qualify. Pure functions, each with its reason."""

from __future__ import annotations

from collections import Counter

from connector.config import ScoringConfig
from connector.records import Activity, Decision, Lead


def score(lead: Lead, model: ScoringConfig) -> Decision[float]:
    """Behaviour points per activity (plus page bonuses) and profile-fit points."""
    total = 0.0
    parts: list[str] = []
    counts = Counter(a.kind.value for a in lead.activities)
    for kind, count in sorted(counts.items()):
        points = model.activity_points.get(kind, 0) * count
        if points:
            total += points
            parts.append(f"{kind}×{count}={points:g}")
    for needle, points in model.page_points.items():
        hits = sum(1 for a in lead.activities if needle in a.detail)
        if hits:
            total += points * hits
            parts.append(f"{needle}×{hits}=+{points * hits:g}")
    for name, points in model.profile_points.items():
        if lead.get(name) not in (None, ""):
            total += points
            parts.append(f"{name}=+{points:g}")
    reason = ", ".join(parts) if parts else "no activity, no profile points"
    return Decision(total, f"score {total:g} ({reason})")


def qualify(lead: Lead, lead_score: float, model: ScoringConfig) -> Decision[bool]:
    """Sales-ready when the score reaches the threshold and the profile is complete.

    A lead that misses exactly one required field but has the score is named
    as such: that is the lead marketing should go and complete.
    """
    missing = [name for name in model.required_fields if lead.get(name) in (None, "")]
    enough = lead_score >= model.threshold
    mark = "≥" if enough else "<"
    base = f"score {lead_score:g} {mark} {model.threshold:g}"
    if enough and not missing:
        return Decision(True, base)
    if enough and len(missing) == 1:
        return Decision(False, f"{base} but missing a single field to qualify: {missing[0]}")
    if missing:
        return Decision(False, f"{base}; missing {', '.join(missing)}")
    return Decision(False, base)


def why_now(lead: Lead, model: ScoringConfig) -> list[Activity] | None:
    """The latest activities without which the lead would not qualify, newest first:
    what made it sales-ready now, for the rep's task. Empty when the profile (and
    older activity) reaches the threshold whatever happened lately; None when the
    lead is under it.

    Points add up per activity, so this takes the newest scoring activities away
    until the rest falls below the threshold."""
    total = score(lead, model).value
    if total < model.threshold:
        return None
    taken: list[Activity] = []
    scored = [(a, p) for a in lead.activities if (p := activity_points(a, model)) > 0]
    for activity, worth in sorted(scored, key=lambda x: x[0].occurred_at, reverse=True):
        taken.append(activity)
        total -= worth
        if total < model.threshold:
            return taken
    return []


def activity_points(activity: Activity, model: ScoringConfig) -> float:
    """What one activity adds to ``score``: its kind's points and the bonus of every
    page key its detail contains."""
    return model.activity_points.get(activity.kind.value, 0) + sum(
        p for needle, p in model.page_points.items() if needle in activity.detail)


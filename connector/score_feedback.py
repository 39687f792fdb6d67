"""`leadsync report scoring`: what sales made of the leads each score band and each signal
sent them, from the stage history the closed loop records. It suggests, it never changes
config.toml.

For every lead handed to sales (its first step into ``[process] handoff_stage``) in the
period, three things:

- its **score at the hand-off**: the loaded model's, from the activities it had done by
  then, decayed to that moment (what the model would have said, whichever model was in
  force then);
- its **signals** then: each activity kind it had done, each ``[scoring.page_points]``
  text its activities' details held, each ``[[scoring.fit]]`` rule its fields match
  (fields as they are now: the store keeps no older values) and each
  ``[scoring.profile_points]`` field it had filled;
- **what became of it** after: accepted (or further), recycled (``[process.recycle]``
  stage), trashed (a final marketing stage other than the deleted one), converted (an
  opportunity, or won or lost) and won. Each once per lead, whenever it happened.

The figures are pure functions of those: per score band, per signal with its **lift**
(the rate of wins among the leads with the signal over the rate among those without),
and the threshold that would have kept a share of the wins while cutting the most trash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.adapters.base import StageUpdate
from connector.config import Config, ScoringConfig
from connector.funnel import Stages
from connector.normalize import normalize
from connector.records import Lead
from connector.scoring import score

OUTCOMES = ("accepted", "recycled", "trashed", "converted", "won")
MAX_BANDS = 8
"""Score bands at most: the width is the smallest of 1, 2, 5, 10, 20, 50 … that fits."""
KEEP_WINS = 0.9
"""The share of the won leads a suggested threshold keeps, unless told otherwise."""

Signal = tuple[str, str]
"""(kind, name): ("activity", "webinar_attended"), ("page", "/pricing"),
("fit", "senior title"), ("profile", "phone")."""


@dataclass(frozen=True)
class Handed:
    """One lead handed to sales: when, its score and signals then, what became of it."""

    lead_id: str
    at: datetime
    score: float
    signals: frozenset[Signal]
    outcomes: frozenset[str]


# --- one lead ---------------------------------------------------------------------------

def fate(steps: Sequence[StageUpdate], handed: datetime, stages: Stages, recycle: str,
         trash: Iterable[str]) -> frozenset[str]:
    """What became of a lead after its hand-off, from its stage history. A won or lost
    lead was converted, a converted one accepted, as the funnel counts them."""
    seen = {step.stage for step in steps if step.at >= handed}
    taken = {stages.step_of(stage) for stage in seen}
    won = "won" in taken
    converted = "opportunity" in taken or won or "lost" in taken
    found = {"accepted": "sales_accepted" in taken or converted, "recycled": recycle in seen,
             "trashed": bool(seen & set(trash)), "converted": converted, "won": won}
    return frozenset(name for name, took in found.items() if took)


def signals_of(lead: Lead, model: ScoringConfig) -> frozenset[Signal]:
    """Every signal the lead carries: activity kinds (scored or not: an unscored kind
    may be the one that predicts), page texts, fit rules it matches, filled fields."""
    found: set[Signal] = set()
    for activity in lead.activities:
        found.add(("activity", activity.kind))
        found.update(("page", needle) for needle in model.page_points
                     if needle in activity.detail)
    found.update(("profile", name) for name in model.profile_points
                 if lead.get(name) not in (None, ""))
    found.update(("fit", rule.describe()) for rule in model.fit
                 if rule.matches(lead.get(rule.field)))
    return frozenset(found)


def points_of(model: ScoringConfig) -> dict[Signal, float]:
    """What the model gives each signal it names (an activity kind it does not list is
    worth nothing; a fit rule that only excludes, 0)."""
    found: dict[Signal, float] = {("activity", k): p for k, p in model.activity_points.items()}
    found.update({("page", k): p for k, p in model.page_points.items()})
    found.update({("profile", k): p for k, p in model.profile_points.items()})
    for rule in model.fit:
        found.setdefault(("fit", rule.describe()), rule.points)
    return found


def handed_off(lead: Lead, steps: Sequence[StageUpdate], config: Config,
               stages: Stages) -> Handed | None:
    """The lead as it was handed to sales (None if it never was): score and signals
    from what it had done by then, and its fate since."""
    at = next((step.at for step in steps if step.stage == stages.mql), None)
    if at is None:
        return None
    current = normalize(lead, config.marketing.default_region).lead
    then = Lead(current.id, current.fields, current.updated_at, current.stage,
                activities=[a for a in current.activities if a.occurred_at <= at])
    return Handed(lead.id, at, score(then, config.scoring, at).value,
                  signals_of(then, config.scoring),
                  fate(steps, at, stages, config.process.recycle.stage, trash_stages(config)))


def trash_stages(config: Config) -> frozenset[str]:
    """The final marketing stages (trash), the one a deleted record leads to aside."""
    deleted = config.mapping.status.deleted
    return frozenset(name for name, stage in config.process.stages.items()
                     if stage.team == "marketing" and stage.final and name != deleted)


# --- the figures (pure) -----------------------------------------------------------------

def tally(leads: Sequence[Handed]) -> dict[str, Any]:
    """How many leads, how many of them took each outcome, and the rates of wins and
    trash (None without leads)."""
    counts: dict[str, Any] = {"leads": len(leads)}
    counts.update({name: sum(name in h.outcomes for h in leads) for name in OUTCOMES})
    counts["win_rate"] = counts["won"] / len(leads) if leads else None
    counts["trash_rate"] = counts["trashed"] / len(leads) if leads else None
    return counts


def band_width(scores: Sequence[float], most: int = MAX_BANDS) -> float:
    """The narrowest of 1, 2, 5, 10, 20, 50 … that cuts the scores into at most ``most``
    bands."""
    low, high = min(scores), max(scores)
    for power in range(0, 10):
        for step in (1, 2, 5):
            width = step * 10 ** power
            if math.floor(high / width) - math.floor(low / width) + 1 <= most:
                return float(width)
    return float(10 ** 10)


def bands(leads: Sequence[Handed], width: float | None = None) -> list[dict[str, Any]]:
    """Per score band [from, to), lowest first: the leads and what became of them."""
    if not leads:
        return []
    width = width or band_width([h.score for h in leads])
    grouped: dict[int, list[Handed]] = {}
    for lead in leads:
        grouped.setdefault(math.floor(lead.score / width), []).append(lead)
    return [{"band": f"{n * width:g}–{(n + 1) * width:g}", "from": n * width,
             "to": (n + 1) * width, **tally(grouped[n])} for n in sorted(grouped)]


def lift(with_: Mapping[str, Any], without: Mapping[str, Any]) -> float | None:
    """The rate of wins with a signal over the rate without it; None when either side
    has no lead, or no lead without it was won (``only_with_it`` says which)."""
    if not with_["leads"] or not without["leads"] or not without["won"]:
        return None
    return float(with_["win_rate"] / without["win_rate"])


def signals(leads: Sequence[Handed], points: Mapping[Signal, float] | None = None
            ) -> list[dict[str, Any]]:
    """Per signal: the leads with it and what became of them, the leads without it and
    their wins, and the lift; the strongest first. A signal whose leads alone were won
    ranks above every lift; one that every lead (or no lead) without it shares cannot
    be compared, and comes last."""
    points = points or {}
    rows = []
    for kind, name in sorted({s for h in leads for s in h.signals}):
        having = [h for h in leads if (kind, name) in h.signals]
        lacking = [h for h in leads if (kind, name) not in h.signals]
        mine, theirs = tally(having), tally(lacking)
        rows.append({"kind": kind, "signal": name, "points": points.get((kind, name)),
                     **mine, "without": theirs["leads"], "without_won": theirs["won"],
                     "without_win_rate": theirs["win_rate"], "lift": lift(mine, theirs),
                     "only_with_it": bool(theirs["leads"] and not theirs["won"]
                                          and mine["won"])})
    return sorted(rows, key=_strength)


def _strength(row: Mapping[str, Any]) -> tuple[float, float, str, str]:
    if row["only_with_it"]:
        value = math.inf
    elif row["lift"] is None:
        value = -math.inf
    else:
        value = row["lift"]
    return (-value, -row["won"], row["kind"], row["signal"])


def threshold(leads: Sequence[Handed], current: float, keep: float = KEEP_WINS
              ) -> dict[str, Any]:
    """The highest threshold that would have kept at least ``keep`` of the won leads,
    and what it would have cut: the trashed leads (never won) and the others. That is
    the most trash cut for that share of wins: a higher threshold cuts more of both.
    ``suggested`` is it when above ``current`` (the leads under the current threshold
    were never handed off: below it there is nothing to learn from)."""
    wins = sorted((h.score for h in leads if "won" in h.outcomes), reverse=True)
    trash = [h for h in leads if "trashed" in h.outcomes and "won" not in h.outcomes]
    others = [h for h in leads if not {"won", "trashed"} & h.outcomes]
    base: dict[str, Any] = {"current": current, "keep_wins": keep, "wins": len(wins),
                            "trashed": len(trash), "others": len(others)}
    if not wins:
        return {**base, "suggested": None, "threshold": None,
                "text": "no handed-off lead was won yet: nothing to learn a threshold from"}
    at = wins[max(1, math.ceil(keep * len(wins))) - 1]
    kept = sum(s >= at for s in wins)
    cut = sum(h.score < at for h in trash)
    spared = sum(h.score < at for h in others)
    found = {**base, "threshold": at, "suggested": at if at > current else None,
             "wins_kept": kept, "trash_cut": cut, "others_cut": spared}
    share = (f"{cut} of {len(trash)} trashed leads ({cut / len(trash):.0%})" if trash
             else "no trashed lead (none was trashed)")
    what = (f"kept {kept} of {len(wins)} won leads ({kept / len(wins):.0%}) and cut {share}, "
            f"and {spared} of {len(others)} others (accepted, recycled, lost or undecided)")
    if at > current:
        found["text"] = f"a threshold of {at:g} (now {current:g}) would have {what}"
    else:
        found["text"] = (f"keeping {keep:.0%} of the won leads takes a threshold of {at:g} "
                         f"or lower, not above the current {current:g}: nothing to raise "
                         f"(at {at:g} it would have {what})")
    return found


def figures(leads: Sequence[Handed], config: Config, keep: float = KEEP_WINS,
            since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """The whole feedback as one object (what ``--json`` prints)."""
    return {"since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "handed_off": len(leads), "total": tally(leads), "bands": bands(leads),
            "signals": signals(leads, points_of(config.scoring)),
            "threshold": threshold(leads, config.scoring.threshold, keep)}


def feedback(config: Config, since: datetime | None = None, until: datetime | None = None,
             keep: float = KEEP_WINS) -> dict[str, Any]:
    """The leads handed off in [since, until) (each end optional), from the marketing
    store's leads and stage history: no CRM call, nothing written."""
    from connector.wiring import open_marketing, require_marketing_store

    require_marketing_store(config, "no lead was handed off")
    stages = Stages.of(config)
    with open_marketing(config) as marketing:
        leads = {lead.id: lead for lead in marketing.read_changes(None)}
        steps = marketing.stage_histories(list(leads))
    found = []
    for lead_id, history in steps.items():
        lead = leads.get(lead_id)
        handed = handed_off(lead, history, config, stages) if lead is not None else None
        if handed is not None and (since is None or handed.at >= since) \
                and (until is None or handed.at < until):
            found.append(handed)
    found.sort(key=lambda h: (h.at, h.lead_id))
    return figures(found, config, keep, since, until)

"""When a lead that left sales' hands goes back to them: the recycle and could-not-reach
rules of ``[process]``.

A pure decision, like scoring and routing: the lead (with its activities), its stage
history, the process and what scoring says of the lead now in; what to do and why out.
The pipeline carries it out (the status, the stage history, the clocks, the task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connector.adapters.base import StageUpdate
from connector.process import ProcessConfig
from connector.records import Lead


@dataclass(frozen=True)
class Back:
    """``back``: to sales again (the hand-off stage); ``recycle``: a could-not-reach lead
    out of tries, to marketing's recycle stage. ``reason`` goes into the stage history."""

    action: Literal["back", "recycle"]
    reason: str


def due_back(lead: Lead, history: list[StageUpdate], process: ProcessConfig, *,
             qualifies: bool, score_reason: str) -> Back | None:
    """What to do with a lead whose wait in the recycle or could-not-reach stage is over
    (the caller picks those), or None while it waits for a new signal or a score.

    A recycled lead goes back only with an activity newer than its recycling (unless
    ``new_signal = false``) and a qualifying score. A could-not-reach lead goes back
    until it has been in that stage more than ``max_attempts`` times since it last came
    back from marketing; then it is recycled."""
    entered = history[-1]
    since = f"{entered.at:%Y-%m-%d}" + (f" ({entered.reason})" if entered.reason else "")
    if lead.stage == process.recycle.stage:
        fresh = sorted((a for a in lead.activities if a.occurred_at > entered.at),
                       key=lambda a: a.occurred_at)
        if (process.recycle.new_signal and not fresh) or not qualifies:
            return None
        new = f"; new: {fresh[-1].kind} {fresh[-1].detail}".rstrip() if fresh else ""
        return Back("back", f"recycled {since}; cool-off of {process.recycle.cool_off} over, "
                            f"{score_reason}{new}")
    rule = process.could_not_reach
    nurtured = {name for name, stage in process.stages.items() if stage.team == "marketing"}
    last = max((n for n, step in enumerate(history) if step.stage in nurtured), default=-1)
    tries = sum(1 for step in history[last + 1:] if step.stage == rule.stage)
    if tries > rule.max_attempts:
        return Back("recycle", f"could not be reached {tries} times")
    return Back("back", f"could not be reached {since}; try {tries + 1} of "
                        f"{rule.max_attempts + 1}")

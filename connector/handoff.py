"""The rep's start: a task on each new lead with who it is, why now, what came before.

A pure decision, like scoring: lead in, task text out. The adapter attaches it
to the CRM record, for the record's owner. The body is what a rep reads before
picking up the phone, top to bottom: when it came, how hot it is and why now,
by when to reach out, what sales already did with this person, how to reach
them and what they did on marketing's side.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, datetime

from connector.records import TASK_PRIORITIES, Activity, HandoffTask, Lead, Touch

MAX_ACTIVITIES = 20
MAX_TOUCHES = 20
MAX_WHY = 5
NOTES_LENGTH = 300
LABELS = {"page_visit": "visited", "form_fill": "filled in a form", "email_click": "clicked"}
CHANNELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "task": "Task",
            "note": "Note", "linkedin": "LinkedIn"}
OWN_TASK = "leadsync-task:"
"""The start of every handoff task's token (``HandoffTask.token``)."""


def handoff_task(lead: Lead, *, crm_id: str, score_reason: str, now: datetime,
                 due: datetime, priority: str = "normal", owner_id: str | None = None,
                 matched: str | None = None, history: list[Touch] | None = None,
                 score: float | None = None, tier: str | None = None,
                 threshold: float | None = None,
                 why: Sequence[Activity] | None = None,
                 due_by: str = "first-touch SLA",
                 expansion: str | None = None, back: str | None = None) -> HandoffTask:
    """``due``: when the rep should have reached out (the first-touch SLA);
    ``matched``: why this lead is an earlier record of the same person (the task
    then says it is back, not new); ``history``: earlier outreach to them, as the
    CRM lists it per record (a call on a contact and its account comes twice);
    ``tier``: the score's tier (``[routing.score_tiers]``); ``threshold``: the score
    that qualifies; ``why``: the latest activities without which the lead would not
    qualify (``scoring.why_now``: empty when the profile alone does); ``due_by``: what
    set ``due``; ``expansion``: why the lead's company is a customer (an expansion
    lead, not a new logo); ``back``: why a recycled or unreached lead is handed back to
    sales (the task is then the rep's second go, and says so first)."""
    if priority not in TASK_PRIORITIES:
        raise ValueError(f"task priority {priority!r} is not one of {', '.join(TASK_PRIORITIES)}")
    name = " ".join(str(lead.get(f)) for f in ("first_name", "last_name") if lead.get(f))
    who = name or str(lead.get("email") or lead.id)
    company = lead.get("company")
    kind = "expansion" if expansion else "returning" if matched or back else "new"
    subject = (f"Follow up {kind} lead: {who}"
               + (f" ({company})" if company else "")
               + (f" — score {score:g}" + (f", {tier}" if tier else "")
                  if score is not None else ""))
    lines = [f"Handed back to sales by leadsync on {_utc(now):%Y-%m-%d %H:%M} UTC: {back}."
             if back else
             f"Handed over from marketing by leadsync on {_utc(now):%Y-%m-%d %H:%M} UTC.",
             _score_line(score_reason, tier, threshold)]
    if why is not None:
        lines.append(_why_now(why))
    lines.append(f"Reach out by: {_utc(due):%Y-%m-%d %H:%M} UTC ({due_by}).")
    if expansion:
        lines.append(f"Expansion: {company or 'their company'} is already a customer "
                     f"({expansion}).")
    if matched:
        lines.append(f"Already in the CRM: {matched}.")
    touches = earlier(history or [])
    if touches:
        lines.append("Earlier contact (newest first):")
        lines.extend(touch_line(t) for t in touches[:MAX_TOUCHES])
        if len(touches) > MAX_TOUCHES:
            lines.append(f"… and {len(touches) - MAX_TOUCHES} earlier")
    contact = [f"{label}: {lead.get(field)}" for field, label in
               (("email", "Email"), ("phone", "Phone"), ("title", "Title"))
               if lead.get(field)]
    if contact:
        lines.append("; ".join(contact))
    activities = sorted(lead.activities, key=lambda a: a.occurred_at, reverse=True)
    if activities:
        lines.append("What they did (newest first):")
        lines.extend(f"- {_activity(a)}" for a in activities[:MAX_ACTIVITIES])
        if len(activities) > MAX_ACTIVITIES:
            lines.append(f"… and {len(activities) - MAX_ACTIVITIES} earlier")
    return HandoffTask(key=lead.id, crm_id=crm_id, subject=subject[:255],
                       body="\n".join(lines), due=due, owner_id=owner_id, priority=priority)


def earlier(history: Iterable[Touch]) -> list[Touch]:
    """Each activity once, newest first, undated ones last: the CRM lists an activity
    under every record it is linked to (the contact and its account). leadsync's own
    follow-up tasks still open are no contact (their date is when they are due); one
    its owner completed is. A rep's own open to-do stays: it says what the rep has
    planned for this person, which the next rep should see."""
    seen: set[Hashable] = set()
    unique: list[Touch] = []
    for touch in history:
        if OWN_TASK in (touch.notes or "") and touch.pending:
            continue
        key = touch.activity_id or (touch.at, touch.who, touch.what, touch.channel,
                                    touch.outcome, touch.notes)
        if key not in seen:
            seen.add(key)
            unique.append(touch)
    dated = [(_utc(t.at), t) for t in unique if t.at is not None]
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return [t for _, t in dated] + [t for t in unique if t.at is None]


def touch_line(touch: Touch) -> str:
    """``- 2026-11-03 Call by Ben Ortiz: Intro call — Connected. Notes: wants pricing``"""
    when = f"{_utc(touch.at):%Y-%m-%d}" if touch.at else "undated"
    channel = (CHANNELS.get(touch.channel, touch.channel.capitalize()) if touch.channel
               else "Activity")
    line = f"- {when} {channel}" + (f" by {touch.who}" if touch.who else "")
    what = _one_line(touch.what)
    if what and what.casefold() != channel.casefold():
        line += f": {what}"
    if touch.outcome:
        line += f" — {_one_line(touch.outcome)}"
    line += "."
    notes = notes_text(touch.notes)
    return f"{line} Notes: {notes}" if notes else line


def notes_text(notes: str | None, limit: int = NOTES_LENGTH) -> str | None:
    """The notes on one line, at most ``limit`` characters (cut at a word, marked
    with …). A handoff task's own text is left out: the rep has that task itself."""
    text = _one_line(notes or "")
    if not text or OWN_TASK in text:
        return None
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def _why_now(recent: Sequence[Activity]) -> str:
    if not recent:
        return "Why now: the profile alone reaches the threshold, whatever they did lately."
    text = "; ".join(_activity(a) for a in recent[:MAX_WHY])
    if len(recent) > MAX_WHY:
        text += f"; and {len(recent) - MAX_WHY} more"
    return f"Why now: {text}."


def _score_line(reason: str, tier: str | None, threshold: float | None) -> str:
    line = reason[:1].upper() + reason[1:]
    if tier:
        line += f"; tier {tier}"
    if threshold is not None:
        line += f"; qualifies at {threshold:g}"
    return line + "."


def _activity(activity: Activity) -> str:
    detail = f" {activity.detail}" if activity.detail else ""
    return (f"{_utc(activity.occurred_at):%Y-%m-%d %H:%M} "
            f"{LABELS.get(activity.kind, activity.kind.replace('_', ' '))}{detail}")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when

"""The rep's start: a task on each new lead with who it is and what they did.

A pure decision, like scoring: lead in, task text out. The adapter attaches it
to the CRM record, for the record's owner.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from connector.records import HandoffTask, Lead, Touch

MAX_ACTIVITIES = 20
LABELS = {"page_visit": "visited", "form_fill": "filled in a form", "email_click": "clicked"}


def handoff_task(lead: Lead, *, crm_id: str, score_reason: str, now: datetime,
                 due_in: timedelta, owner_id: str | None = None, matched: str | None = None,
                 history: list[Touch] | None = None) -> HandoffTask:
    """``matched``: why this lead is an earlier record of the same person (the task
    then says it is back, not new); ``history``: earlier outreach to them."""
    name = " ".join(str(lead.get(f)) for f in ("first_name", "last_name") if lead.get(f))
    who = name or str(lead.get("email") or lead.id)
    company = lead.get("company")
    subject = (f"Follow up {'returning' if matched else 'new'} lead: {who}"
               + (f" ({company})" if company else ""))
    lines = [f"Handed over from marketing by leadsync on {now:%Y-%m-%d %H:%M} UTC.",
             score_reason[:1].upper() + score_reason[1:] + "."]
    if matched:
        lines.append(f"Already in the CRM: {matched}.")
    if history:
        lines.append("Earlier contact (newest first):")
        for touch in sorted(history, key=lambda t: t.at or now, reverse=True)[:MAX_ACTIVITIES]:
            when = f"{touch.at:%Y-%m-%d}" if touch.at else "undated"
            outcome = f" ({touch.outcome})" if touch.outcome else ""
            lines.append(f"- {when} {touch.who or 'someone'}: {touch.what}{outcome}")
    contact = [f"{label}: {lead.get(field)}" for field, label in
               (("email", "Email"), ("phone", "Phone"), ("title", "Title"))
               if lead.get(field)]
    if contact:
        lines.append("; ".join(contact))
    activities = sorted(lead.activities, key=lambda a: a.occurred_at, reverse=True)
    if activities:
        lines.append("What they did (newest first):")
        for activity in activities[:MAX_ACTIVITIES]:
            detail = f" {activity.detail}" if activity.detail else ""
            lines.append(f"- {activity.occurred_at:%Y-%m-%d %H:%M} "
                         f"{LABELS.get(activity.kind.value, activity.kind.value)}{detail}")
        if len(activities) > MAX_ACTIVITIES:
            lines.append(f"… and {len(activities) - MAX_ACTIVITIES} earlier")
    return HandoffTask(key=lead.id, crm_id=crm_id, subject=subject[:255],
                       body="\n".join(lines), due=now + due_in, owner_id=owner_id)

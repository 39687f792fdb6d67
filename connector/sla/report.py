"""`leadsync sla`: the clocks as rows a sales manager reads, per rep.

Pure: the clocks, the leads they belong to and the time now in, rows out. A
clock is open, approaching (past its warning point), breached, or met.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.errors import LeadsyncError
from connector.records import Lead
from connector.sla import clock_name
from connector.sla.store import SlaClock


def state_of(clock: SlaClock, now: datetime) -> str:
    if clock.met_at is not None:
        return "met"
    if clock.breached_at is not None:
        return "breached"
    if clock.closed:  # re-routed or handed back before it came due
        return "closed"
    if clock.warned_at is not None or (clock.warn_at is not None and now >= clock.warn_at):
        return "approaching"
    return "open"


class NoSuchRep(LeadsyncError, LookupError):
    """A rep asked for on the command line is neither in [routing.reps] nor a CRM id."""


def rep_ids(reps: Mapping[str, Any], wanted: str) -> set[str]:
    """A rep given by key, name or CRM id (as `leadsync rep away` takes them)."""
    found = {rep.id for key, rep in reps.items()
             if wanted in (key, rep.id) or (rep.name or "").lower() == wanted.lower()}
    if not found and not (wanted.startswith("0") or wanted.isdigit()):  # SF / HubSpot ids
        names = ", ".join(sorted(reps)) or "none in [routing.reps]"
        raise NoSuchRep(f"no rep {wanted!r} (reps: {names}); a CRM owner id works too")
    return found or {wanted}


def clock_rows(clocks: Iterable[SlaClock], leads: Mapping[str, Lead],
               reps: Mapping[str, Any], now: datetime, *, rep: str | None = None,
               everything: bool = False) -> list[dict[str, Any]]:
    """Breached first, then approaching, then open (each by due time); met ones only
    with ``everything``. ``reps``: [routing.reps], for the owners' names."""
    names = {r.id: r.name or key for key, r in reps.items()}
    only = rep_ids(reps, rep) if rep else None
    order = {"breached": 0, "approaching": 1, "open": 2, "met": 3, "closed": 4}
    rows = []
    for clock in clocks:
        state = state_of(clock, now)
        if (state in ("met", "closed") and not everything) or (only is not None
                                                   and clock.owner_id not in only):
            continue
        lead = leads.get(clock.marketing_id)
        rows.append({
            "lead_id": clock.marketing_id, "lead": shown(lead, clock.marketing_id),
            "owner_id": clock.owner_id,
            "owner": names.get(clock.owner_id or "", clock.owner_id or "(default owner)"),
            "clock": clock_name(clock.clock),
            "record": clock.crm_id, "started_at": clock.started_at.isoformat(),
            "due_at": clock.due_at.isoformat(), "state": state,
            "met_at": clock.met_at.isoformat() if clock.met_at else None,
            "breached_at": clock.breached_at.isoformat() if clock.breached_at else None,
            "evidence": clock.evidence, "actions": clock.done()})
    rows.sort(key=lambda r: (r["owner"], order[r["state"]], r["due_at"]))
    return rows


def shown(lead: Lead | None, marketing_id: str) -> str:
    """A lead as a person reads it: "Pat Lee <pat@acme.example>"."""
    if lead is None:
        return f"lead {marketing_id}"
    name = " ".join(str(lead.get(f)) for f in ("first_name", "last_name") if lead.get(f))
    email = lead.get("email")
    return f"{name} <{email}>" if name and email else str(name or email or marketing_id)


def leads_of(clocks: Sequence[SlaClock]) -> list[str]:
    return sorted({clock.marketing_id for clock in clocks})

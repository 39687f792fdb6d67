"""`leadsync explain LEAD`: why a lead is where it is, from the stored reasons.

Every decision of the cycle (score, match, route) keeps a reason a person can
read; this module gathers them for one lead from the state store and the
routing history, and scores the lead again as it stands now. No CRM call:
explaining works while the CRM is down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from connector.adapters.base import StageUpdate
from connector.config import Config
from connector.normalize import normalize
from connector.routing import Router, RoutingStore
from connector.scoring import qualify, score
from connector.sla.store import SlaStore

MATCH_KINDS = ("matched", "held", "rematched")
"""Events that carry the match step's decision."""


@dataclass
class Explanation:
    lead_id: str
    email: str | None
    score: str | None
    """The score and qualification as the lead stands now."""
    qualified: bool | None
    match: str
    crm: list[dict[str, Any]] = field(default_factory=list)
    """The CRM records the lead is linked to."""
    routing: list[dict[str, Any]] = field(default_factory=list)
    """Every owner the lead was given, oldest first, with the reason."""
    events: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    """Every step through the process, oldest first, with how long the lead stayed."""
    clocks: list[dict[str, Any]] = field(default_factory=list)
    """Its SLA clocks: started, due, met or breached, with the evidence."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnknownLead(LookupError):
    """No lead with this id or email, in marketing or in the state store."""


def explain(config: Config, lead: str) -> Explanation:
    """Everything stored about one lead, given its marketing id or email address."""
    from connector.wiring import open_marketing

    with open_marketing(config) as marketing:
        ids = marketing.find(lead) if "@" in lead else [lead]
        found = marketing.leads(ids) if ids else []
        current = found[0] if found else None
        lead_id = current.id if current else (ids[0] if ids else lead)
        steps = marketing.stage_histories([lead_id]).get(lead_id, [])
    from connector.wiring import open_state

    state = open_state(config)
    routing = RoutingStore(state.engine)
    try:
        events = state.events_of(lead_id)
        answered = [r for r in state.reviews.of_leads(config.crm.adapter, [lead_id]).get(
            lead_id, ()) if r.status == "different"]
        history = routing.history(lead_id)
        links = state.links_any_object(config.crm.adapter, [lead_id],
                                       prefer=config.mapping.object)
        clocks = SlaStore(state.engine).of_leads([lead_id])
    finally:
        state.close()
    if current is None and not events and not history:
        raise UnknownLead(f"no lead {lead!r} in the marketing store or the state store")
    router = Router(config.routing, routing)
    score_reason, qualified = None, None
    if current is not None:
        normalized = normalize(current, config.marketing.default_region).lead
        points = score(normalized, config.scoring)
        verdict = qualify(normalized, points, config.scoring)
        score_reason = (f"{points.reason}: {verdict.reason}, "
                        f"{'qualified' if verdict.value else 'not qualified'}")
        qualified = bool(verdict.value)
    last = next((e for e in reversed(events) if e.kind in MATCH_KINDS + ("created",)), None)
    match = next((f"{e.kind}: {e.detail}" for e in reversed(events) if e.kind in MATCH_KINDS),
                 None)
    if last is not None and last.kind == "created" and match and match.startswith("held"):
        # held, then a reviewer said "different" and the next run created the record
        match = "created after review: " + (
            "; ".join(f"a reviewer said it is not {r.kind} {r.crm_id} (review {r.id})"
                      for r in answered) or "the review was answered")
    if match is None:
        match = ("no earlier CRM record of this person was found"
                 if any(e.kind == "created" for e in events) else "not matched yet")
    link = links.get(lead_id)
    return Explanation(
        lead_id=lead_id, email=current.get("email") if current else None,
        score=score_reason, qualified=qualified, match=match,
        crm=[{"crm": link.crm, "object": link.crm_object, "id": link.crm_id,
              "status": link.crm_status, "converted": link.converted}] if link else [],
        routing=[{"at": row.at.isoformat(), "owner_id": row.owner_id,
                  "owner": router.name_of(row.owner_id) if row.owner_id else None,
                  "rule": row.rule, "territory": row.territory, "pool": row.pool,
                  "reason": row.reason, "warning": row.warning,
                  "rerouted_from": row.rerouted_from} for row in history],
        events=[{"at": e.at.isoformat(), "run": e.run_id, "kind": e.kind, "detail": e.detail}
                for e in events],
        stages=stage_rows(steps),
        clocks=[{"clock": c.clock, "owner_id": c.owner_id, "started_at": c.started_at.isoformat(),
                 "due_at": c.due_at.isoformat(),
                 "met_at": c.met_at.isoformat() if c.met_at else None,
                 "breached_at": c.breached_at.isoformat() if c.breached_at else None,
                 "closed": c.closed,
                 "evidence": c.evidence, "actions": c.done()} for c in clocks])


def stage_rows(steps: list[StageUpdate]) -> list[dict[str, Any]]:
    """The steps as rows, each with the time the lead stayed in the stage it entered
    (until the next step; the last one is still running)."""
    rows = []
    for step, after in zip(steps, [*steps[1:], None], strict=False):  # none: no rows
        stayed = (after.at - step.at) if after is not None else None
        rows.append({"at": step.at.isoformat(), "from": step.from_stage, "to": step.stage,
                     "crm_status": step.crm_status, "who": step.who, "reason": step.reason,
                     "amount": step.amount,
                     "stayed_hours": round(stayed.total_seconds() / 3600, 1)
                     if stayed is not None else None})
    return rows

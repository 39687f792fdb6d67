"""`leadsync queue [REP]`: a rep's work list, the one the CRM shows sorted by rank.

The open hand-offs — leads in a stage sales owns that is not final (MQL, accepted,
could not reach, …) on a record that is neither converted nor deleted — with their
owner, score, tier and rank (the values a mapped ``score``/``score_tier``/``rank``
field holds), and the nearest open SLA deadline. Sorted as a rep works them: rank,
then the nearest deadline, then score. Read from the state and marketing stores
only: no CRM call, so the owner is the one leadsync last gave or found (at
hand-off, re-route or hand-back); a lead a rep reassigned by hand in the CRM is
listed under its earlier owner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from connector.config import Config
from connector.normalize import normalize
from connector.routing import RoutingStore
from connector.routing.rules import rank_of, score_tier
from connector.scoring import score
from connector.sla import clock_name
from connector.sla.report import rep_ids, shown
from connector.sla.store import SlaClock


@dataclass(frozen=True)
class QueueRow:
    rank: int
    tier: str | None
    score: float | None
    lead_id: str
    lead: str
    owner_id: str | None
    owner: str
    stage: str
    since: str | None
    """When the lead entered its stage."""
    record: str
    due_at: str | None
    """The nearest deadline of the lead's open SLA clocks (None: no clock runs)."""
    clock: str | None
    late: bool
    """That deadline has passed."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_stages(config: Config) -> list[str]:
    """The stages a lead is in while a rep still has it to work."""
    return [name for name, stage in config.process.stages.items()
            if stage.team == "sales" and not stage.final]


def work_queue(config: Config, now: datetime, *, rep: str | None = None) -> list[QueueRow]:
    """The open hand-offs, in the order a rep works them (``rep``: key, name or id)."""
    from connector.wiring import open_marketing, open_state

    only = rep_ids(config.routing.reps, rep) if rep else None
    with open_marketing(config) as marketing:
        leads = marketing.leads_in_stages(open_stages(config))
        steps = marketing.stage_histories([lead.id for lead in leads])
    ids = [lead.id for lead in leads]
    state = open_state(config)
    try:
        links = state.links_any_object(config.crm.adapter, ids, prefer=config.mapping.object)
        routed = RoutingStore(state.engine).current(ids)
        clocks: dict[str, list[SlaClock]] = {}
        from connector.sla.store import SlaStore

        for clock in SlaStore(state.engine).of_leads(ids):
            clocks.setdefault(clock.marketing_id, []).append(clock)
    finally:
        state.close()
    tiers = config.routing.tiers()
    names = {r.id: r.name or key for key, r in config.routing.reps.items()}
    rows: list[QueueRow] = []
    for lead in leads:
        link = links.get(lead.id)
        if link is None or link.converted or link.deleted_at is not None:
            continue
        mine = clocks.get(lead.id, [])
        running = sorted((c for c in mine if c.met_at is None and not c.closed),
                         key=lambda c: c.due_at)
        latest = max(mine, key=lambda c: c.started_at, default=None)
        placed = routed.get(lead.id)
        # the newer word on the owner: a clock (hand-off, hand-back) or routing (re-route)
        if placed is not None and placed.owner_id and (
                latest is None or not latest.owner_id or placed.at >= latest.started_at):
            owner: str | None = placed.owner_id
        else:
            owner = latest.owner_id if latest is not None else None
        if only is not None and owner not in only:
            continue
        points = score(normalize(lead, config.marketing.default_region).lead, config.scoring)
        tier = score_tier(points.value, tiers)
        nearest = running[0] if running else None
        rows.append(QueueRow(
            rank=rank_of(tier, tiers), tier=tier, score=points.value, lead_id=lead.id,
            lead=shown(lead, lead.id), owner_id=owner,
            owner=names.get(owner or "", owner or "(default owner)"), stage=lead.stage or "",
            since=steps[lead.id][-1].at.isoformat() if steps.get(lead.id) else None,
            record=link.crm_id, due_at=nearest.due_at.isoformat() if nearest else None,
            clock=clock_name(nearest.clock)
            if nearest else None, late=nearest is not None and nearest.due_at <= now))
    rows.sort(key=lambda r: (r.rank, r.due_at is None, r.due_at or "", -(r.score or 0),
                             r.lead_id))
    return rows

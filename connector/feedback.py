"""Step 9 of a cycle: sales' verdicts mapped to marketing stages.

A status read back that equals the one last seen for the record is an echo
(of our own write, or a change to another field) and is dropped; only real
status changes travel back to marketing. A CRM record may stand for several
marketing leads (one person with two addresses, a merge): every one of them
hears the verdict.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.adapters.base import StageUpdate
from connector.config import StatusMapping
from connector.records import Change, StatusStep
from connector.state import Link


@dataclass
class Decided:
    updates: list[tuple[StageUpdate, Link]] = field(default_factory=list)
    """(update, the link it came through) per real status change and linked lead."""
    unmapped_by_lead: dict[str, str] = field(default_factory=dict)
    """Marketing id → why its record's status could not be fed back."""
    converted: list[Link] = field(default_factory=list)
    """Links of records the CRM reports converted (not known so before)."""
    owners: dict[str, str] = field(default_factory=dict)
    """CRM record id → its owner as the change feed read it (whose stage clocks start)."""

    @property
    def unmapped(self) -> list[str]:
        return list(self.unmapped_by_lead.values())


def latest_by_record(changes: Sequence[Change]) -> dict[str, Change]:
    """The newest change of each CRM record (the feed is oldest first)."""
    latest: dict[str, Change] = {}
    for change in changes:
        latest[change.crm_id] = change
    return latest


def stage_updates(changes: Sequence[Change], links: dict[str, list[Link]],
                  mapping: StatusMapping,
                  steps: dict[str, list[StatusStep]] | None = None,
                  reasoned: Collection[str] = ()) -> Decided:
    """``links``: CRM record id → every link to it; ``steps``: the status field's history
    of the records that have it, so every step between two syncs is heard, in order.
    ``reasoned``: the stages a rep's ``reason_field`` explains (those that take a lead
    out of sales' hands: a reason left in the field says nothing of a later accept)."""
    decided = Decided()
    for crm_id, change in latest_by_record(changes).items():
        if change.owner_id:
            decided.owners[crm_id] = change.owner_id
        for link in links.get(crm_id, ()):
            if change.converted and not link.converted:
                decided.converted.append(link)
            heard = link.crm_status
            now_at = change.fields.get(mapping.crm_field)
            why = change.fields.get(mapping.reason_field) if mapping.reason_field else None
            for status, stage, where, at, who in path(change, link, (steps or {}).get(crm_id),
                                                      mapping):
                if status == heard or where == SWITCHED_OFF:
                    continue
                if stage is None:
                    decided.unmapped_by_lead[link.marketing_id] = (
                        f"lead {link.marketing_id}: CRM status {status!r} has no entry in "
                        f"{where}; not fed back")
                    continue
                amount = change.deal.amount if change.deal else None
                reason = (str(why) if why and status == now_at and stage in reasoned
                          else None)
                decided.updates.append((StageUpdate(link.marketing_id, stage, status, at,
                                                    amount, who=who, reason=reason), link))
                heard = status
    return decided


Step = tuple[str, str | None, str, datetime, str | None]
"""(CRM status, the marketing stage it means, the config key that decides, when, who)."""


def path(change: Change, link: Link, steps: list[StatusStep] | None,
         mapping: StatusMapping) -> list[Step]:
    """The statuses a record went through since marketing last heard of it.

    Without field history only where it is now counts: its status, or, once the
    opportunity it became is closed, the outcome. With history, each step after
    the last one heard, then where it is now if the history has not caught up.
    """
    outcome = _outcome(change, mapping)
    status = change.fields.get(mapping.crm_field)
    fresh = _unheard(steps or [], link)
    if not fresh:
        if outcome is not None:
            return [outcome]
        if status is None:
            return []
        return [_step(str(status), change.modified_at, None, mapping)]
    out = [_step(s.new, s.at, s.who, mapping) for s in fresh if s.new is not None]
    # where it is now, if the history has not caught up; a status the feed read before
    # the history's newest step is older news (the history is read after the feed)
    if status is not None and (not out or (out[-1][0] != str(status)
                                           and change.modified_at >= out[-1][3])):
        out.append(_step(str(status), change.modified_at, None, mapping))
    if outcome is not None:
        out.append(outcome)
    return out


def _unheard(steps: list[StatusStep], link: Link) -> list[StatusStep]:
    """The steps after the one marketing heard: by time where the link knows it, else
    from the first step away from the status it knows."""
    if link.crm_status_at is not None:
        return [s for s in steps if s.at > link.crm_status_at]
    first = next((i for i, s in enumerate(steps) if s.old == link.crm_status), None)
    return steps[first:] if first is not None else []


def _step(status: str, at: datetime, who: str | None, mapping: StatusMapping) -> Step:
    return status, mapping.to_marketing.get(status), "mapping.status.to_marketing", at, who


def _outcome(change: Change, mapping: StatusMapping) -> Step | None:
    """Once a converted lead's opportunity is closed, its outcome is the verdict: the
    lead's own status stays "converted" for ever after."""
    deal = change.deal
    if deal is None or not deal.closed:
        return None
    key = "won" if deal.won else "lost"
    stage = getattr(mapping, key) or None  # TOML has no null: "" switches it off
    return ((deal.stage or key), stage, f"mapping.status.{key}" if stage else SWITCHED_OFF,
            change.modified_at, None)


SWITCHED_OFF = "switched off"
"""The admin set mapping.status.won/lost to nothing: that outcome is not fed back."""

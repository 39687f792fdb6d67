"""Step 9 of a cycle: sales' verdicts mapped to marketing stages.

A status read back that equals the one last seen for the record is an echo
(of our own write, or a change to another field) and is dropped; only real
status changes travel back to marketing. A CRM record may stand for several
marketing leads (one person with two addresses, a merge): every one of them
hears the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from connector.adapters.base import StageUpdate
from connector.config import StatusMapping
from connector.records import Change
from connector.state import Link


@dataclass
class Decided:
    updates: list[tuple[StageUpdate, Link]] = field(default_factory=list)
    """(update, the link it came through) per real status change and linked lead."""
    unmapped_by_lead: dict[str, str] = field(default_factory=dict)
    """Marketing id → why its record's status could not be fed back."""
    converted: list[Link] = field(default_factory=list)
    """Links of records the CRM reports converted (not known so before)."""

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
                  mapping: StatusMapping) -> Decided:
    """``links``: CRM record id → every link to it."""
    decided = Decided()
    for crm_id, change in latest_by_record(changes).items():
        for link in links.get(crm_id, ()):
            if change.converted and not link.converted:
                decided.converted.append(link)
            status, stage, where = verdict(change, mapping)
            if status is None or status == link.crm_status or where == SWITCHED_OFF:
                continue
            if stage is None:
                decided.unmapped_by_lead[link.marketing_id] = (
                    f"lead {link.marketing_id}: CRM status {status!r} has no entry in "
                    f"{where}; not fed back")
                continue
            amount = change.deal.amount if change.deal else None
            decided.updates.append((StageUpdate(link.marketing_id, stage, status,
                                                change.modified_at, amount), link))
    return decided


SWITCHED_OFF = "switched off"
"""The admin set mapping.status.won/lost to nothing: that outcome is not fed back."""


def verdict(change: Change, mapping: StatusMapping) -> tuple[str | None, str | None, str]:
    """(what sales said, the marketing stage it means, the config key that decides).

    Once a converted lead's opportunity is closed, its outcome is the verdict:
    the lead's own status stays "converted" for ever after.
    """
    deal = change.deal
    if deal is not None and deal.closed:
        key = "won" if deal.won else "lost"
        stage = getattr(mapping, key) or None  # TOML has no null: "" switches it off
        return (deal.stage or key), stage, f"mapping.status.{key}" if stage else SWITCHED_OFF
    status = change.fields.get(mapping.crm_field)
    if status is None:
        return None, None, ""
    return str(status), mapping.to_marketing.get(str(status)), "mapping.status.to_marketing"

"""Step 9 of a cycle: sales' verdicts mapped to marketing stages.

A status read back that equals the one last seen for the record is an echo
(of our own write, or a change to another field) and is dropped; only real
status changes travel back to marketing.
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
    updates: list[tuple[StageUpdate, str]] = field(default_factory=list)
    """(update, external id) per real status change."""
    unmapped_by_key: dict[str, str] = field(default_factory=dict)
    """External id → why its status could not be fed back."""
    converted: set[str] = field(default_factory=set)
    """External ids of records the CRM reports converted."""

    @property
    def unmapped(self) -> list[str]:
        return list(self.unmapped_by_key.values())


def stage_updates(changes: Sequence[Change], links: dict[str, Link],
                  mapping: StatusMapping) -> Decided:
    decided = Decided()
    latest: dict[str, Change] = {}
    for change in changes:  # oldest first: the last one per record wins
        if change.key and change.key in links:
            latest[change.key] = change
    for key, change in latest.items():
        link = links[key]
        if change.converted:
            decided.converted.add(key)
        status, stage, where = verdict(change, mapping)
        if status is None or status == link.crm_status or where == SWITCHED_OFF:
            continue
        if stage is None:
            decided.unmapped_by_key[key] = (f"lead {link.marketing_id}: CRM status {status!r} has "
                                            f"no entry in {where}; not fed back")
            continue
        amount = change.deal.amount if change.deal else None
        decided.updates.append((StageUpdate(link.marketing_id, stage, status,
                                            change.modified_at, amount), key))
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

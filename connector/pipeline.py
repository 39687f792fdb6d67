"""One sync cycle, top-down, in the order of DESIGN.md.

read → normalize → score/qualify → map → write → read back → feed back.
(match and route join between qualify and map in later issues.)

The engine never names a CRM: it speaks to adapters through their contract
and to the admin's choices through Config. A cursor is stored only after
every write up to it succeeded; a refused record is a dead letter, not a
reason to stop the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

import structlog

from connector.adapters.base import CrmAdapter, MarketingAdapter, StageUpdate
from connector.config import Config
from connector.errors import LeadsyncError
from connector.feedback import stage_updates
from connector.mapping import Payload, map_lead
from connector.normalize import normalize
from connector.records import Cursor, Lead, utcnow
from connector.scoring import qualify, score
from connector.state import RUN_COUNTS, Event, Link, StateStore

T = TypeVar("T")
log = structlog.get_logger("leadsync.pipeline")

MARKETING_STREAM = "marketing:leads"


def crm_stream(crm: str, crm_object: str) -> str:
    return f"crm:{crm}:{crm_object}"


@dataclass
class Handoff:
    """A qualified lead on its way to the CRM."""

    lead: Lead
    payload: Payload
    link: Link | None
    score_reason: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: int
    dry_run: bool
    status: str = "ok"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_COUNTS, 0))
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(lead, reason) for every record the CRM refused in this run."""
    warnings: list[str] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)
    """Dry run: the exact payload per lead and the rule that decided each field."""
    error: str | None = None


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Pipeline:
    def __init__(self, config: Config, state: StateStore, marketing: MarketingAdapter,
                 crm: CrmAdapter, *, batch_size: int = 200) -> None:
        self.config = config
        self.state = state
        self.marketing = marketing
        self.crm = crm
        self.batch_size = batch_size
        self.object = config.mapping.object
        self.key_field = config.mapping.external_id_field
        self.status_field = config.mapping.status.crm_field

    def run(self, *, dry_run: bool = False) -> RunSummary:
        summary = RunSummary(self.state.start_run(dry_run=dry_run), dry_run)
        log.info("run started", run=summary.run_id, dry_run=dry_run, crm=self.crm.name)
        try:
            self.hand_off(summary)
            self.feed_back(summary)
        except LeadsyncError as exc:
            summary.status, summary.error = "failed", str(exc)
            log.error("run failed", run=summary.run_id, error=str(exc))
        finally:
            self.state.finish_run(summary.run_id, summary.counts, status=summary.status,
                                  error=summary.error)
        log.info("run finished", run=summary.run_id, status=summary.status, **summary.counts)
        return summary

    # steps 1-7: marketing → CRM ------------------------------------------------
    def hand_off(self, summary: RunSummary) -> None:
        cursor = self.state.cursor(MARKETING_STREAM)
        fresh = (lead for lead in self.marketing.read_changes(cursor.value if cursor else None)
                 if cursor is None or not cursor.seen(lead.updated_at, lead.id))
        for batch in batched(fresh, self.batch_size):
            before = dict(summary.counts)
            events: list[Event] = []
            handoffs = self.qualify_batch(batch, summary, events)
            self.write_batch(handoffs, summary, events)
            for lead in batch:
                cursor = (cursor.advance(lead.updated_at, lead.id) if cursor
                          else Cursor(lead.updated_at, frozenset({lead.id})))
            if not summary.dry_run:
                self.state.record_events(summary.run_id, events)
                assert cursor is not None
                self.state.set_cursor(MARKETING_STREAM, cursor)
            log.info("batch handed off", **{k: summary.counts[k] - before[k] for k in
                                             ("read", "qualified", "created", "updated",
                                              "unchanged", "refused")})

    def qualify_batch(self, batch: list[Lead], summary: RunSummary,
                      events: list[Event]) -> list[Handoff]:
        summary.counts["read"] += len(batch)
        links = self.state.links(self.crm.name, self.object, (lead.id for lead in batch))
        handoffs = []
        for raw in batch:
            normalized = normalize(raw, self.config.marketing.default_region)
            lead = normalized.lead
            points = score(lead, self.config.scoring)
            verdict = qualify(lead, points.value, self.config.scoring)
            if not verdict.value:
                events.append(Event(lead.id, "not_qualified", verdict.reason))
                continue
            summary.counts["qualified"] += 1
            payload = map_lead(lead, self.config.mapping, computed={"score": points.value})
            for warning in normalized.warnings:
                summary.warnings.append(f"lead {lead.id} ({lead.get('email')}): {warning}")
            handoffs.append(Handoff(lead, payload, links.get(lead.id), points.reason,
                                    normalized.warnings))
        return handoffs

    def write_batch(self, handoffs: list[Handoff], summary: RunSummary,
                    events: list[Event]) -> None:
        todo = []
        for handoff in handoffs:
            link = handoff.link
            if link is not None and link.payload_hash == handoff.payload.hash:
                summary.counts["unchanged"] += 1
                continue
            todo.append(handoff)
        if summary.dry_run:
            for handoff in todo:
                creating = handoff.link is None
                summary.planned.append({
                    "lead": handoff.lead.id, "email": handoff.lead.get("email"),
                    "action": "create" if creating else "update",
                    "payload": handoff.payload.for_write(creating=creating),
                    "rules": handoff.payload.rules, "score": handoff.score_reason})
                summary.counts["created" if creating else "updated"] += 1
            return
        if not todo:
            return
        records = [(h.lead.id, h.payload.for_write(creating=h.link is None)) for h in todo]
        results = self.crm.upsert(self.object, self.key_field, records)
        links, written = [], []
        for handoff, result, (_, body) in zip(todo, results, records, strict=True):
            lead = handoff.lead
            if not result.ok:
                reason = "; ".join(str(e) for e in result.errors)
                summary.counts["refused"] += 1
                summary.refused.append((f"lead {lead.id} ({lead.get('email')})", reason))
                events.append(Event(lead.id, "refused", reason))
                self.state.add_dead_letter(summary.run_id, marketing_id=lead.id,
                                           crm=self.crm.name, crm_object=self.object,
                                           errors=result.errors, payload=body)
                continue
            now = utcnow()
            link = handoff.link or Link(marketing_id=lead.id, crm=self.crm.name,
                                        crm_object=self.object, crm_id=result.crm_id or "",
                                        external_id=lead.id, created_at=now, updated_at=now)
            link.crm_id = result.crm_id or link.crm_id
            link.payload_hash = handoff.payload.hash
            links.append(link)
            written.append(lead.id)
            kind = "created" if result.created else "updated"
            summary.counts[kind] += 1
            events.append(Event(lead.id, kind, f"{self.object} {link.crm_id}; "
                                               f"{handoff.score_reason}"))
        self.state.save_links(links)
        self.state.resolve_dead_letters(self.crm.name, self.object, written)

    # steps 8-9: CRM → marketing -------------------------------------------------
    def feed_back(self, summary: RunSummary) -> None:
        stream = crm_stream(self.crm.name, self.object)
        cursor = self.state.cursor(stream)
        changes = (change for change in self.crm.read_changes(
            self.object, self.key_field, [self.status_field], cursor.value if cursor else None)
            if cursor is None or not cursor.seen(change.modified_at, change.crm_id))
        for batch in batched(changes, 500):
            links = self.state.links_by_external_id(
                self.crm.name, self.object, (c.key for c in batch if c.key))
            decided = stage_updates(batch, links, self.config.mapping.status)
            for note in decided.unmapped:
                summary.warnings.append(note)
            for change in batch:
                cursor = (cursor.advance(change.modified_at, change.crm_id) if cursor
                          else Cursor(change.modified_at, frozenset({change.crm_id})))
            if summary.dry_run:
                summary.counts["fed_back"] += len(decided.updates)
                continue
            self.write_stages(summary, decided.updates, links)
            assert cursor is not None
            self.state.set_cursor(stream, cursor)

    def write_stages(self, summary: RunSummary, updates: list[tuple[StageUpdate, str]],
                     links: dict[str, Link]) -> None:
        if not updates:
            return
        written = self.marketing.write_stages([update for update, _ in updates])
        changed = []
        for update, key in updates:
            link = links[key]
            link.crm_status = update.crm_status
            changed.append(link)
        self.state.save_links(changed)
        self.state.record_events(summary.run_id, [
            Event(u.marketing_id, "fed_back", f"{u.crm_status} → {u.stage}") for u, _ in updates])
        summary.counts["fed_back"] += written
        log.info("statuses fed back", count=written)


def run_once(config: Config, *, dry_run: bool = False) -> RunSummary:
    """Open the configured adapters and the state store, run one cycle, close all."""
    from connector.adapters import open_crm, open_marketing

    state = StateStore(config.resolve_url(config.state.url))
    try:
        with open_marketing(config) as marketing, open_crm(config) as crm:
            return Pipeline(config, state, marketing, crm).run(dry_run=dry_run)
    finally:
        state.close()

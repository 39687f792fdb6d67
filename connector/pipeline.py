"""One sync cycle, top-down, in the order of DESIGN.md.

read → normalize → score/qualify → match → route → map → write → read back → feed back.

The engine never names a CRM: it speaks to adapters through their contract
and to the admin's choices through Config. A cursor is stored only after
every write up to it succeeded; a refused record is a dead letter, not a
reason to stop the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import requests
import structlog

from connector.adapters.base import (
    ESCALATION,
    CrmAdapter,
    CrmOwner,
    FieldUpdate,
    MarketingAdapter,
    StageUpdate,
    TaskMove,
)
from connector.config import Config
from connector.db import HeldLock
from connector.deletions import DeletionLooks
from connector.errors import (
    AdapterError,
    BatchInterrupted,
    ConfigError,
    FatalError,
    LeadsyncError,
    QuotaReserved,
    RecordError,
)
from connector.feedback import Decided, latest_by_record, stage_updates
from connector.handoff import handoff_task
from connector.mapping import FROM_CRM, Mapper, Payload, predicted_refusals
from connector.matching import Index, MatchDecision, Matcher, Person, Prepared
from connector.matching.estimation import current_weights
from connector.matching.index import ACCOUNT_KEYS, NAME_KEYS, CandidateIndex, ref
from connector.matching.keys import email_key, person_email_key
from connector.matching.lookup import AccountMatch, Accounts, people
from connector.metrics import BATCH_SECONDS
from connector.normalize import normalize
from connector.outbox import make_owed_tasks
from connector.progress import SILENT, Meter, Progress
from connector.records import (
    Candidate,
    Change,
    Cursor,
    Decision,
    HandoffTask,
    Lead,
    PersonChange,
    Removal,
    StatusStep,
    Touch,
    Write,
    WriteResult,
    batched,
    utcnow,
)
from connector.recycling import due_back
from connector.routing.config import Expansion
from connector.routing.router import Assignment, Clock, Router
from connector.routing.rules import AccountHint, RoutingInput, rank_of, score_tier
from connector.routing.store import Current, RoutingStore
from connector.scoring import entry_status, one_field_short, qualify, score, why_now
from connector.sla import (
    CLOCK_NAMES,
    CRM_DELETED,
    FOUND,
    LEADSYNC,
    TOUCH_CLOCKS,
    Clocks,
    Evidence,
    Outcome,
    StageStep,
    Where,
)
from connector.sla.report import shown as person_shown
from connector.sla.store import SlaClock, SlaStore
from connector.state import RUN_COUNTS, Event, Link, MatchReview, StateStore, TaskOwed
from connector.stopping import NEVER, Stop

T = TypeVar("T")
log = structlog.get_logger("leadsync.pipeline")


class RunStopped(LeadsyncError):
    """A stop was asked for (a signal): the run ends after the batch it was in."""

    def __init__(self, message: str, *, signal: str) -> None:
        super().__init__(message)
        self.signal = signal


class LockLost(LeadsyncError):
    """The run lock's session died: stop before writing anything more."""

MARKETING_STREAM = "marketing:leads"
SCORING_MARK = "scoring"
"""The scoring model the leads not handed off were last judged by (``rescore``)."""


def crm_stream(crm: str, crm_object: str) -> str:
    return f"crm:{crm}:{crm_object}"


@dataclass
class Handoff:
    """A qualified lead on its way to the CRM."""

    lead: Lead
    payload: Payload
    link: Link | None
    score_reason: str
    score: float | None = None
    target: Candidate | None = None
    """An earlier CRM record of this person (matching): updated, never duplicated."""
    matched: str | None = None
    """Why ``target`` is this person, for the rep's task and the audit trail."""
    account: AccountMatch | None = None
    history: list[Touch] = field(default_factory=list)
    after: str | None = None
    """A lead of this run it duplicates, not written yet: this one waits for it."""
    owner_id: str | None = None
    """The owner routing chose (or kept) for this lead; None: routing had no say."""
    assign: bool = False
    """Routing chose ``owner_id`` in this run: it is written on an update too. A kept
    owner is written only when the record is created (sales may have changed it since)."""
    routing: str | None = None
    """The reason of the lead's current assignment (what ``routing_reason`` maps)."""
    sibling_status: str | None = None
    """``target`` is the record another lead of this run just became: the status that
    lead's write set (leadsync's own, not a verdict)."""
    same_address: bool = False
    """``target`` (or ``after``) was matched on the same address: it may be written in
    full. Any other match fills blanks of the record's identity only."""
    expansion: str | None = None
    """The lead's account is a customer, and why ("Type = Customer - Direct")."""
    keys: frozenset[str] | None = None
    """The lead's own blocking keys, made when it was matched: a record made for it
    enters the candidate index with them (and our id), not made again."""
    unindexed: frozenset[str] = frozenset()
    """"id", "email": what no record in the candidate index carries of this lead's
    (``Write.unindexed_id``, ``Write.unindexed_email``)."""
    customer: bool | None = None
    """Whether its company is a customer ([routing.expansion]); None: not known in this
    run (no rule, the accounts unreadable, a lead routed before), so not written."""


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
    rebuilt: int = 0
    """Links remade from the CRM (the state database was lost or restored)."""
    signal: str | None = None
    """The signal that stopped the run politely (SIGTERM, SIGINT), if one did."""
    one_field_short: int = 0
    """Leads that would qualify but for one required field (`leadsync gaps` lists them)."""
    rescored: int = 0
    """Leads never handed off, judged again because [scoring] changed (``rescore``)."""


@dataclass
class Rerouted:
    """One lead re-routed: from whom, to whom, why, and whether the CRM took it."""

    lead_id: str
    previous: str | None
    owner_id: str | None
    reason: str
    written: bool = False


TOUCHES_READ = 50
"""Activities read per record for SLA clocks that count touches (newest first)."""
WEBHOOK_SECONDS = 10


class SlaActionFailed(LeadsyncError):
    """A breach action could not be carried out; it is tried again next run."""


class StatusRefused(LeadsyncError):
    """The CRM refused the status leadsync set to move a lead to a stage."""


def advanced(cursor: Cursor | None, when: datetime, ident: str) -> Cursor:
    return cursor.advance(when, ident) if cursor else Cursor(when, frozenset({ident}))


@dataclass
class Feeds:
    """The CRM's change feeds of one run, opened together (``Pipeline.open_feeds``)."""

    removed: Iterator[Removal]
    changes: Iterator[Change]
    people: Iterator[PersonChange] | None
    started: datetime
    """When they were opened: the index cursor moves here once its feed is read."""


class Pipeline:
    def __init__(self, config: Config, state: StateStore, marketing: MarketingAdapter,
                 crm: CrmAdapter, *, retry_dead_letters: bool = False,
                 clock: Clock = utcnow, stop: Stop = NEVER,
                 lock: HeldLock | None = None, progress: Progress = SILENT) -> None:
        self.config = config
        self.progress = progress
        """Told of each step and batch: a terminal draws a bar, else nothing does."""
        self.meter = Meter()
        self.stop = stop
        """Asked between batches: SIGTERM or a first Ctrl-C ends the run after the batch."""
        self.lock = lock
        """The run lock: asked before each write, in case its session died."""
        self.state = state
        self.marketing = marketing
        self.crm = crm
        self.retry_dead_letters = retry_dead_letters
        self.batch_size = config.sync.batch_size
        self.object = config.mapping.object
        self.key_field = config.mapping.external_id_field
        self.status_field = config.mapping.status.crm_field
        self._mapper: Mapper | None = None
        self.matching = config.matching
        self.matcher = Matcher(config.matching, region=config.marketing.default_region)
        self._seen = Index(self.matcher)
        """The leads of this run, so two records of one person in one run make one."""
        self._became: dict[str, str] = {}
        """Leads of this run matched to an earlier CRM record: lead id → the record's id."""
        self.index = (CandidateIndex(state.engine, crm.name, self.matcher)
                      if config.matching.enabled else None)
        """The CRM's people and accounts, kept in step each run: asked instead of the CRM."""
        self._index_fresh = False
        """The index was brought in step in this run (``refresh_index``)."""
        self._schemas: dict[str, set[str]] = {}
        routing = config.routing
        self.router: Router | None = None
        if routing.configured or routing.account_owner:
            self.router = Router(routing, RoutingStore(state.engine), clock=clock)
        self.clock = clock
        self.run_id = 0
        """The run in progress (0 outside one: `leadsync reroute`), for its events."""
        self.tiers = routing.tiers()
        """[routing.score_tiers], highest first."""
        today = clock().date()
        timed = config.sla.clocks() or any(s.max for s in config.process.stages.values())
        self.clocks = Clocks.from_config(config, RoutingStore(state.engine).away(since=today)
                                         if routing.reps and timed else (), today=today)
        self.sla_store = SlaStore(state.engine) if self.clocks.active else None
        self._owners: list[CrmOwner] | None = None
        self._tombs: Index | None = None
        self._stopped: set[str] = set()
        """Leads a breach of this run sent back to marketing (their clocks are closed)."""
        """People whose records reps deleted, by blocking key (built once a run)."""
        self._orphans: dict[str, Change] = {}
        """Records the CRM holds under our key that the state does not know (read on a
        first read-back): the state database was lost or restored. Their leads get
        their links back from these, before anything is matched or written."""
        self.deletion_looks = DeletionLooks(state, crm.deleted_every,
                                            f"{crm.name}:{self.object}", config.sync.lookback)
        """When this run looks for deleted records, for a CRM that lists them apart."""
        self._again: list[Handoff] = []
        """Leads matched to a record the CRM had deleted since the candidate index heard
        of it (a deletion after the run's read, or one not looked for in it): matched
        again in the batch."""
        self._rematched: set[str] = set()
        """Leads matched again in this run: a second deleted match is not chased."""
        self._fresh_tasks: set[tuple[str, str]] = set()
        """(lead, record) of tasks owed by this run's own writes: not made before."""
        self._taken: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        """Read back in this run: marketing id → (fields taken, what the CRM holds). A dry
        run writes neither, so its hand-off plan lays them over the stored lead and link."""

    def run(self, *, dry_run: bool = False) -> RunSummary:
        summary = RunSummary(self.state.start_run(dry_run=dry_run), dry_run)
        self.run_id = summary.run_id
        log.info("run started", run=summary.run_id, dry_run=dry_run, crm=self.crm.name)
        try:
            self.progress.step("reading the CRM's changes")
            self.open_feeds()
            self.feed_back(summary)  # what sales did first: it decides two-way conflicts,
            self.hand_off(summary)   # and a converted or deleted record is not written to
            self.progress.step("bringing back recycled leads")
            self.bring_back(summary)
            self.progress.step("looking at the SLA clocks")
            self.keep_time(summary)
            self.judge(summary)
        except RunStopped as exc:
            summary.status, summary.error, summary.signal = "stopped", str(exc), exc.signal
            log.warning("run stopped", run=summary.run_id, reason=str(exc))
        except LeadsyncError as exc:
            cause = exc.cause if isinstance(exc, BatchInterrupted) else exc
            if isinstance(cause, QuotaReserved):  # nothing is wrong: resume on a later run
                summary.status, summary.error = "stopped", str(cause)
                log.warning("run stopped", run=summary.run_id, reason=str(cause))
            else:
                summary.status, summary.error = "failed", str(exc)
                log.error("run failed", run=summary.run_id, error=str(exc))
        except Exception as exc:  # a bug: record the run as failed, then let it surface
            summary.status, summary.error = "failed", f"{exc.__class__.__name__}: {exc}"
            raise
        except BaseException as exc:  # a second signal (KeyboardInterrupt), SystemExit, a
            # task queue's own stop: the run did not end well, whatever stopped it
            summary.status = "interrupted"
            summary.error = str(exc) or exc.__class__.__name__
            raise
        finally:
            self.state.finish_run(summary.run_id, summary.counts, status=summary.status,
                                  error=summary.error)
            log.info("run finished", run=summary.run_id, status=summary.status,
                     **summary.counts)
        return summary

    def judge(self, summary: RunSummary) -> None:
        """A run in which every lead it tried to hand off was refused did not work,
        whatever each refusal says: exit non-zero and say why (the dead letters wait)."""
        if summary.rebuilt:  # first: it explains everything else in this run
            summary.warnings.insert(0, f"{summary.rebuilt} links were rebuilt from the CRM: "
                                    "it already held these leads under leadsync's key (the "
                                    "state database was lost or restored from a backup, or "
                                    "a run was cut off); nothing was created twice")
        c = summary.counts
        if c["read"] and not c["qualified"]:  # a typo in a required field qualifies nobody
            known = getattr(self.marketing, "known_fields", lambda: None)()
            unknown = sorted(set(self.config.scoring.required_fields) - set(known or ()))
            if known is not None and unknown:
                summary.warnings.insert(0, f"no lead qualified: scoring.required_fields names "
                                        f"{', '.join(map(repr, unknown))}, which no lead has "
                                        "(`leadsync check` says which field was meant)")
        went = c["created"] + c["updated"] + c["unchanged"] + c["held"] + c["not_written"]
        if c["refused"] and not went:
            summary.status = "failed"
            summary.error = (f"every lead this run tried to hand off was refused "
                             f"({c['refused']}); the first: {summary.refused[0][1]}")
            log.error("run failed", run=summary.run_id, error=summary.error)

    # steps 1-7: marketing → CRM ------------------------------------------------
    def hand_off(self, summary: RunSummary) -> None:
        if not summary.dry_run and self.config.sync.handoff_task:
            events: list[Event] = []
            self.progress.step("making the tasks earlier runs owe")
            self.make_tasks(summary, events)  # what earlier runs still owe
            self.state.record_events(summary.run_id, events)
        self.progress.step("bringing the candidate index in step")
        self.refresh_index(summary)
        self.deletion_looks.noted(dry_run=summary.dry_run)  # removals: taken in feed_back
        retried: set[str] = set()
        ids = self.state.reviews.to_apply(self.crm.name)  # a person decided: act on it
        if self.retry_dead_letters:
            ids += [d.marketing_id for d in self.state.dead_letters(limit=100_000)
                    if d.crm == self.crm.name and d.crm_object == self.object]
        start = self.state.cursor(MARKETING_STREAM)
        self.meter.start(self.expected(start, ids))
        self.progress.expect(self.meter.expected)
        if ids:
            for batch in batched(self.marketing.leads(list(dict.fromkeys(ids))),
                                 self.batch_size):
                self.hand_off_batch(batch, summary)
                retried.update(lead.id for lead in batch)
        self.rescore(start, retried, summary)
        cursor = start
        fresh = (lead for lead in self.marketing.read_changes(start.value if start else None)
                 if start is None or not start.seen(lead.updated_at, lead.id))
        for batch in batched(fresh, self.batch_size):
            self.hand_off_batch([lead for lead in batch if lead.id not in retried], summary)
            for lead in batch:
                cursor = advanced(cursor, lead.updated_at, lead.id)
            if not summary.dry_run and cursor is not None:
                self.state.set_cursor(MARKETING_STREAM, cursor)
            self.checkpoint(summary)

    def rescore(self, start: Cursor | None, done: set[str], summary: RunSummary) -> None:
        """After a change of [scoring], every lead never handed off is judged again
        by the new model, once: leads are otherwise read only when they change, so a
        lowered threshold or a new signal's points would reach nobody already in the
        store. Leads handed off keep their hand-off (their score in the CRM is the
        score they were handed off with), and leads the CRM refused wait for
        ``--retry-dead-letters`` as before. A first run reads every lead anyway; so
        does nothing the first run after an upgrade that brings this (it only notes
        the model). The model is what decides who qualifies: [scoring] and [select]."""
        chosen = self.config.select
        model = self.scoring_model()
        known = self.state.mark(SCORING_MARK)
        if self.scoring_changed(start):
            log.info("scoring changed: the leads never handed off are judged again")
            waiting = {d.marketing_id for d in self.state.dead_letters(limit=10_000_000)
                       if d.crm == self.crm.name and d.crm_object == self.object}
            region = self.config.marketing.default_region
            for batch in batched(self.marketing.read_changes(None), self.batch_size):
                linked = self.state.links_any_object(self.crm.name, (lead.id for lead in batch),
                                                     prefer=self.object)
                again = [lead for lead in batch
                         if lead.id not in linked and lead.id not in done
                         and lead.id not in waiting and (chosen is None or chosen.takes(
                             normalize(lead, region).lead.get(chosen.field)))]
                if again:
                    summary.rescored += len(again)
                    self.hand_off_batch(again, summary)
                    done.update(lead.id for lead in again)
                self.checkpoint(summary)
        if not summary.dry_run and known != model:
            self.state.set_mark(SCORING_MARK, model)

    def scoring_model(self) -> str:
        """A fingerprint of what decides who qualifies: [scoring] and [select]."""
        chosen = self.config.select
        return hashlib.sha256(json.dumps({
            "scoring": self.config.scoring.model_dump(mode="json"),
            "select": chosen.model_dump(mode="json") if chosen is not None else None},
            sort_keys=True).encode()).hexdigest()

    def scoring_changed(self, start: Cursor | None) -> bool:
        """[scoring] or [select] changed since the model a run last noted (a first run,
        or the first after an upgrade that brings the note, reads every lead anyway)."""
        known = self.state.mark(SCORING_MARK)
        return start is not None and known is not None and known != self.scoring_model()

    def leads_waiting(self) -> bool:
        """Whether this run reads leads to hand off: changed since the cursor, decided
        in review, asked for with ``--retry-dead-letters``, or to be judged by a
        changed [scoring]."""
        start = self.state.cursor(MARKETING_STREAM)
        if self.retry_dead_letters or self.state.reviews.to_apply(self.crm.name) \
                or self.scoring_changed(start):
            return True
        return any(start is None or not start.seen(lead.updated_at, lead.id)
                   for lead in self.marketing.read_changes(start.value if start else None,
                                                           page_size=50))

    def expected(self, start: Cursor | None, ids: list[str]) -> int | None:
        """About how many leads the hand-off step will read, for a progress display;
        None when the marketing store cannot count its changes."""
        count = getattr(self.marketing, "count_changes", None)
        changed = count(start.value if start else None) if count is not None else None
        return None if changed is None else changed + len(set(ids))

    def checkpoint(self, summary: RunSummary) -> None:
        """Between batches: a sign of life, and a polite stop if one was asked for."""
        if not summary.dry_run:
            self.state.heartbeat(summary.run_id, summary.counts)
        if self.stop.requested:
            raise RunStopped(f"stopped by {self.stop.requested} after a whole batch; "
                             "cursors are saved and the next run goes on from there",
                             signal=self.stop.requested)

    def still_locked(self) -> None:
        """Before writing: the run lock must still be ours. A PostgreSQL lock dies with
        its session; another instance could be running beside us from then on."""
        if self.lock is not None and not self.lock.alive():
            raise LockLost("the pipeline lock was lost (its database session ended); "
                           "the run stopped before its next write so that no other "
                           "instance's writes are doubled")

    def hand_off_batch(self, batch: list[Lead], summary: RunSummary) -> None:
        before, began = dict(summary.counts), time.monotonic()
        events: list[Event] = []
        self.progress.step(self.meter.at("qualifying"))
        handoffs = self.qualify_batch(batch, summary, events)
        for handoff in handoffs:  # before routing: a re-created record gets an owner anew
            if handoff.link is not None and handoff.link.deleted_at is not None:
                self.recreate(handoff, events)
        try:
            self.place(handoffs, summary, events)
            while self._again:  # matched to records deleted meanwhile: now out of the index
                again, self._again = self._again, []
                self.place(again, summary, events)
        finally:
            if not summary.dry_run:
                self.state.record_events(summary.run_id, events)
        if not summary.dry_run:
            BATCH_SECONDS.labels(self.config.pipeline).observe(time.monotonic() - began)
        tally = self.meter.tally(summary.counts)
        log.info("batch handed off", **{k: summary.counts[k] - before[k] for k in
                                         ("read", "qualified", "matched", "held", "created",
                                          "updated", "unchanged", "refused")}, **tally.fields())
        self.progress.batch(tally)

    def place(self, handoffs: list[Handoff], summary: RunSummary,
              events: list[Event]) -> None:
        """Steps 4-6 for qualified leads: matched, routed, written."""
        self.progress.step(self.meter.at("matching"))
        handoffs = self.match_batch(handoffs, summary, events)
        self.progress.step(self.meter.at("routing"))
        self.route_batch(handoffs, summary, events)
        waiting = [h for h in handoffs if h.after is not None]
        if not summary.dry_run:
            self.still_locked()
        self.progress.step(self.meter.at("writing"))
        self.write_batch([h for h in handoffs if h.after is None], summary, events)
        if waiting:  # duplicates of leads just written: now updates of their records
            self.write_batch(self.after_first(waiting, summary), summary, events)

    def qualify_batch(self, batch: list[Lead], summary: RunSummary,
                      events: list[Event]) -> list[Handoff]:
        summary.counts["read"] += len(batch)
        links = self.state.links_any_object(self.crm.name, (lead.id for lead in batch),
                                            prefer=self.object)
        if self._orphans:
            links.update(self.relink([lead for lead in batch if lead.id not in links
                                      and lead.id in self._orphans], summary))
        handoffs = []
        for raw in batch:
            if summary.dry_run and raw.id in self._taken:
                raw = replace(raw, fields={**raw.fields, **self._taken[raw.id][0]})
            unfit = unfit_value(raw)
            if unfit is not None:
                self.poison(raw, "read", unfit, summary, events)
                continue
            try:
                handoff = self.qualify_one(raw, links.get(raw.id), summary, events)
            except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
                # one record's data broke a step: that record waits, the batch goes on
                self.poison(raw, "qualify and map", RecordError(
                    "LEADSYNC_STEP_FAILED", f"{exc.__class__.__name__}: {exc}"), summary, events)
                continue
            if handoff is not None:
                handoffs.append(handoff)
        return handoffs

    def relink(self, leads: list[Lead], summary: RunSummary) -> dict[str, Link]:
        """Links back for leads whose records the CRM holds under our key (a lost or
        restored state database), from what the first read-back saw: the record's
        identity is protected where its email is not the lead's (it was matched by
        name), and its status is learnt (leadsync's create-time status is no verdict)."""
        if not leads:
            return {}
        now = utcnow()
        created_with = self.config.mapping.on_create.get(self.status_field)
        emails = [crm for crm, source in self.identity_fields().items() if source == "email"]
        links: dict[str, Link] = {}
        changes = []
        for lead in leads:
            change = self._orphans.pop(lead.id)
            link = Link(marketing_id=lead.id, crm=self.crm.name, crm_object=self.object,
                        crm_id=change.crm_id, external_id=change.key or lead.id,
                        crm_status=str(created_with) if created_with is not None else None,
                        created_at=now, updated_at=now)
            link.remember({k: v for k, v in change.fields.items()
                           if k != self.status_field and k in self.mapper.crm_fields})
            theirs = next((change.fields.get(f) for f in emails if change.fields.get(f)), None)
            mine = lead.get("email")
            if theirs and mine and str(theirs).strip().lower() != str(mine).strip().lower():
                link.protected, link.other_email = True, str(mine)
            links[lead.id] = link
            changes.append(change)
        summary.rebuilt += len(links)
        if not summary.dry_run:
            self.state.save_links(list(links.values()))
            by_record = {link.crm_id: [link] for link in links.values()}
            decided = stage_updates(changes, by_record, self.config.status_mapping)
            self.write_stages(summary, decided)
            self.state.save_links(list(links.values()))
        return links

    def qualify_one(self, raw: Lead, link: Link | None, summary: RunSummary,
                    events: list[Event]) -> Handoff | None:
        normalized = normalize(raw, self.config.marketing.default_region)
        lead = normalized.lead
        chosen = self.config.select
        if chosen is not None and not chosen.takes(lead.get(chosen.field)):
            return None  # another pipeline's lead: not read as this one's, not counted
        if normalized.issues:
            self.poison(raw, "normalize", normalized.issues[0], summary, events)
            return None
        points = score(lead, self.config.scoring, self.clock())
        verdict = qualify(lead, points, self.config.scoring)
        if not verdict.value:
            events.append(Event(lead.id, "not_qualified", verdict.reason))
            if one_field_short(lead, points, self.config.scoring):
                summary.one_field_short += 1
            return None
        summary.counts["qualified"] += 1
        payload = self.mapper.to_crm(lead, computed=self.computed(points.value, lead=lead))
        summary.warnings.extend(f"lead {lead.id} ({lead.get('email')}): {warning}"
                                for warning in payload.warnings)
        for warning in normalized.warnings:
            summary.warnings.append(f"lead {lead.id} ({lead.get('email')}): {warning}")
        return Handoff(lead, payload, link, points.reason, points.value)

    def poison(self, lead: Lead, step: str, error: RecordError, summary: RunSummary,
               events: list[Event]) -> None:
        """A record whose own data broke a step: a dead letter naming the step, the
        field and the cause; the rest of the batch goes on."""
        reason = f"{step}: {error}"
        summary.counts["refused"] += 1
        summary.refused.append((f"lead {lead.id} ({lead.get('email')})", reason))
        events.append(Event(lead.id, "refused", reason))
        if not summary.dry_run:
            self.state.add_dead_letter(summary.run_id, marketing_id=lead.id, crm=self.crm.name,
                                       crm_object=self.object, errors=[replace(
                                           error, message=f"{step}: {error.message}")],
                                       payload={})

    # step 4: match -------------------------------------------------------------
    def match_batch(self, handoffs: list[Handoff], summary: RunSummary,
                    events: list[Event]) -> list[Handoff]:
        """Earlier records of each new lead, asked of the CRM once per batch.

        A confident match becomes an update of that record (a lead, or a contact:
        a customer's person is not recreated as a lead); a possible one is held
        for review (``leadsync review``) and a person's answer is remembered; a
        lead matching another lead of this run waits for that one's write.
        """
        fresh = [h for h in handoffs if h.link is None and not h.payload.issues]
        if not self.matching.enabled or not fresh:
            return handoffs
        prepared = {h.lead.id: self.matcher.prepare(Person(h.lead.id, "incoming", h.lead.fields))
                    for h in fresh}
        assert self.index is not None
        keys = {lead_id: self.index.lead_keys(me) for lead_id, me in prepared.items()}
        found, crowded = self.index.find(keys)
        unindexed = self.unindexed(prepared, keys)
        ready: dict[str, Prepared] = {}  # each record prepared once a batch
        for candidate in people([c for found_ in found.values() for c in found_]):
            if candidate.id not in ready:
                ready[candidate.id] = self.matcher.prepare(candidate)
        earlier = {lead_id: [ready[c.crm_id] for c in candidates if c.crm_id in ready]
                   for lead_id, candidates in found.items()}
        # every account a lead could be tied to shares one of its keys, so one table
        # for the batch (in id order) decides as a table of its own would
        accounts = Accounts(self.matcher, sorted(
            {c.crm_id: c for found_ in found.values() for c in found_
             if c.kind == "account"}.values(), key=lambda c: c.crm_id))
        decided = self.state.reviews.of_leads(self.crm.name, prepared)
        # a review about a lead of an earlier run is about the record that lead became
        became = self.state.links_any_object(self.crm.name, {
            r.crm_id for reviews in decided.values() for r in reviews if r.kind == "link"},
            prefer=self.object)
        held: list[MatchReview] = []
        kept: list[Handoff] = []
        for handoff in handoffs:
            me = prepared.get(handoff.lead.id)
            if me is None:
                kept.append(handoff)
                continue
            handoff.unindexed = unindexed.get(handoff.lead.id, frozenset())
            handoff.keys = frozenset(k for k in keys[handoff.lead.id]
                                     if not k.startswith(ACCOUNT_KEYS))
            answers = {r.crm_id: r for r in decided.get(handoff.lead.id, ())}
            asked = {**{became[r.crm_id].crm_id: r for r in answers.values()  # and by the
                        if r.kind == "link" and r.crm_id in became},  # record a lead became
                     **answers}
            mine = earlier[handoff.lead.id]
            held_here = {c.person.id for c in mine}
            compared = mine + [  # a lead of this run that became a record compared
                # here, and is this person too, is that record, not a namesake
                c for c in self._seen.candidates(me)
                if self._became.get(c.person.id) not in held_here
                or self.matcher.score(me, c).score < self.matching.match_threshold]
            pool = [c for c in compared if answer_for(asked, c) != "different"]
            decision = self.matcher.decide(
                me, pool, common_name=any(k.startswith(NAME_KEYS)
                                          for k in keys[handoff.lead.id] & crowded),
                ruled_out=[c for c in compared if answer_for(asked, c) == "different"])
            chosen = next((c.person for c in pool if answer_for(asked, c) == "same"), None)
            if chosen is None:  # the record answered about was not fetched again
                chosen = self.answered(answers.values(), became)
            if chosen is not None:  # a person said so
                decision = MatchDecision("match", 1.0, "a reviewer said it is the same person",
                                         chosen)
            pending = [r for r in answers.values() if r.status == "pending"]
            if pending:  # a person sees the lead as it is now, not as it was when held
                shown = lead_shown(handoff.lead)
                held.extend(r.model_copy(update={"lead": shown}) for r in pending
                            if r.lead != shown)
            # still waiting for a person's answer: a record asked about is not written,
            # even if marketing's edits since make the match look sure (a person decides)
            if pending and chosen is None and decision.outcome != "review":
                summary.counts["held"] += 1
                events.append(Event(handoff.lead.id, "held",
                                    f"still waiting for `leadsync review {pending[0].id}` "
                                    f"(possible duplicate of {pending[0].kind} "
                                    f"{pending[0].crm_id})"))
                continue
            best = next((c for c in pool if c.person is decision.best), None)
            if decision.outcome == "review":
                review = self.review_of(handoff.lead, me, decision, summary.run_id)
                before = asked_about(asked, best) if best is not None else None
                if before is not None and before.crm_id != review.crm_id:
                    # the pair asked about when the record was a lead of its run: the
                    # question now names the record, and is asked once
                    held = [r for r in held if r.id != before.id]
                    review = review.model_copy(update={"id": before.id,
                                                       "created_at": before.created_at})
                held.append(review)
                summary.counts["held"] += 1
                events.append(Event(handoff.lead.id, "held",
                                    f"possible duplicate of {decision.best.kind} "  # type: ignore[union-attr]
                                    f"{decision.best.id} ({decision.score:.2f}, "  # type: ignore[union-attr]
                                    f"{decision.reason}); waiting for `leadsync review`"))
                continue
            if decision.outcome == "match":
                # a reviewer's "same" keeps the record's identity, one mailbox or not:
                # the rules held it because something else (a name) disagreed
                handoff.same_address = chosen is None and best is not None and \
                    self.matcher.same_address(me, best)
                self.take_match(handoff, decision, events)
            elif (tomb := self.deleted_person(me)) is not None:  # the person, deleted by a rep
                handoff.link = tomb
                events.append(Event(handoff.lead.id, "matched",
                                    f"the same mailbox as lead {tomb.external_id}, whose "
                                    f"{tomb.crm_object} {tomb.crm_id} a rep deleted: not "
                                    "created again ([sync] on_crm_delete)"))
                self.hear_deleted([tomb], tomb.deleted_at or utcnow(), summary)
                kept.append(handoff)
                continue
            target = handoff.target
            handoff.account = accounts.find(me, target)
            if target is not None:
                self._became[handoff.lead.id] = target.crm_id
            # kept to the run's end: without a copy of its keys (the index holds them)
            self._seen.add(Prepared(Person(handoff.lead.id, "link", me.person.fields,
                                           ref=handoff.lead.id), me.values),
                           self.matcher.keys(me))
            kept.append(handoff)
        if held and not summary.dry_run:
            self.state.reviews.hold(held)
        summary.counts["matched"] += sum(1 for h in kept if h.matched)
        self.add_history([h for h in kept if h.target or h.account])
        return kept

    def unindexed(self, prepared: Mapping[str, Prepared], keys: Mapping[str, set[str]]
               ) -> dict[str, frozenset[str]]:
        """Of each lead, "id" when no record of the index carries its id, "email" when
        none carries its person's mailbox; only when the index was brought in step in
        this run, and when it holds the CRM's people ([matching] search). A role
        mailbox (info@) has no key: it is looked up as before."""
        if not self._index_fresh or self.index is None \
                or not {"leads", "contacts"} & set(self.matching.search):
            return {}  # the index holds no people of the CRM: it cannot vouch
        mailbox = {lead_id: next((k for k in keys[lead_id] if k.startswith("e:")), None)
                   for lead_id in prepared}
        carried = self.index.carried({f"k:{i}" for i in prepared}
                                     | {k for k in mailbox.values() if k})
        out: dict[str, frozenset[str]] = {}
        for lead_id in prepared:
            lacks = set()
            if f"k:{lead_id}" not in carried:
                lacks.add("id")
            if mailbox[lead_id] is not None and mailbox[lead_id] not in carried:
                lacks.add("email")
            out[lead_id] = frozenset(lacks)
        return out

    def refresh_index(self, summary: RunSummary) -> None:
        """The candidate index brought in step with the CRM: filled by a bulk read on
        the first run (or after a fill was cut off), else the changes since its
        cursor -- records reps created, edited, merged, converted or deleted."""
        self._index_fresh = False
        if self.index is None or self._feeds.people is None:
            return
        stream = self.index_stream
        cursor = self.state.cursor(stream)
        if cursor is None:
            self.index.clear()  # a fill cut off before its end starts again
        elif not self.index.keyed_alike():  # [matching] blocking (or the scheme) changed
            log.info("candidate index keyed again", records=self.index.rekey())
        written, removed = self.index.apply(self._feeds.people)
        if cursor is None:
            self.index.mark_keyed()
        log.info("candidate index", filled=cursor is None, written=written, removed=removed)
        started = self._feeds.started  # a cache of the CRM: kept in a dry run too
        self.state.set_cursor(stream, Cursor(max(started, cursor.value) if cursor else started))
        self._index_fresh = True
        learned = current_weights(self.index, self.matcher)  # kept; re-estimated as it grows
        self.matcher.use_weights(learned.weights, learned.source, learned.prior)

    @property
    def index_stream(self) -> str:
        return f"index:{self.crm.name}:{self.object}"

    def open_feeds(self) -> None:
        """Every CRM feed this run reads, opened before any is read: an adapter that
        can batch read requests (Salesforce's composite resource) fetches their
        first pages together. Each starts where its own cursor stands, less the
        look-back window."""
        def since(stream: str) -> datetime | None:
            cursor = self.state.cursor(stream)
            return cursor.value - self.config.sync.lookback if cursor else None

        stream = crm_stream(self.crm.name, self.object)
        reason = self.config.mapping.status.reason_field
        fields = list(dict.fromkeys([self.status_field, *([reason] if reason else []),
                                     *self.mapper.crm_fields_read_back,
                                     *(self.identity_fields()
                                       if self.state.cursor(stream) is None else ())]))
        started = utcnow()
        removed_since, people_since = since(stream + ":removed"), since(self.index_stream)
        shared = (self.index is not None and getattr(self.crm, "reads_together", False)
                  and removed_since is not None and people_since is not None)
        if shared:  # one delta read serves both: removals are its deleted records of ours
            people_since = min(removed_since, people_since)
        deletions = self.deletion_looks.where(started, self.leads_waiting)
        changes = self.crm.read_changes(self.object, self.key_field, fields, since(stream))
        people = (self.crm.read_people(self.object, self.key_field, self.matching.search,
                                       people_since, deletions)
                  if self.index is not None else None)
        if shared:
            assert people is not None
            people = list(people)  # a delta: what changed since the last run
            # every person record leads may be linked to: ours by key, and the leads
            # and contacts matching tied leads to (which keep their own keys, or none)
            removed: Iterator[Removal] = iter([
                Removal(p.candidate.crm_id, p.candidate.key, p.modified_at, p.merged_into,
                        crm_object=p.candidate.crm_object)
                for p in people if p.deleted and p.candidate.kind in ("lead", "contact")])
            people_iter: Iterator[PersonChange] | None = iter(people)
        else:
            removed = self.crm.read_removed(self.object, self.key_field, removed_since,
                                            deletions)
            people_iter = people
        self._feeds = Feeds(removed=removed, changes=changes, people=people_iter,
                            started=started)

    def deleted_person(self, me: Prepared) -> Link | None:
        """A record a rep deleted that belonged to this person (the same mailbox under
        another spelling: Gmail dots, case): no-resurrection holds per person, not per
        marketing lead. Returns a deleted link for this lead to that record."""
        if self._tombs is None:
            self._tombs = Index(self.matcher)
            deleted = self.state.deleted_links(self.crm.name)
            leads = {lead.id: lead for lead in self.marketing.leads(
                [link.marketing_id for link in deleted])} if deleted else {}
            for link in deleted:
                if link.marketing_id in leads:
                    self._tombs.add(self.matcher.prepare(Person(
                        link.marketing_id, "deleted", leads[link.marketing_id].fields,
                        ref=link)))
        for other in self._tombs.candidates(me):
            if other.person.id != me.person.id and self.matcher.same_address(me, other):
                gone: Link = other.person.ref  # type: ignore[assignment]
                now = utcnow()
                return Link(marketing_id=me.person.id, crm=self.crm.name,
                            crm_object=gone.crm_object, crm_id=gone.crm_id,
                            external_id=gone.external_id, deleted_at=gone.deleted_at,
                            protected=True, created_at=now, updated_at=now)
        return None

    # step 5: route -------------------------------------------------------------
    def route_batch(self, handoffs: list[Handoff], summary: RunSummary,
                    events: list[Event]) -> None:
        """An owner for each lead new to the CRM from our side, with its reason.

        Leads we already linked keep the owner they have in the CRM; a lead routed
        before (a write that failed, a re-read) is "kept" by the router, never given
        a second owner. Without territories, reps or a fallback only the account
        rule speaks: a lead it cannot place keeps the CRM's default owner, silently,
        as before routing existed.
        """
        router = self.router
        if router is None or not handoffs:
            return
        todo = [h for h in handoffs if h.link is None and h.after is None
                and not h.payload.issues]
        hinted = {id(h): account_hint(h) for h in todo}
        if router.config.expansion is not None and todo:
            self.customers(todo, hinted, router.config.expansion, summary)
        if not router.config.configured:
            todo = [h for h in todo if hinted[id(h)] is not None]
        reasons = self.reasons_mapped()
        flagged = bool(self.mapper.writes_from("expansion"))
        current = (router.store.current(h.lead.id for h in handoffs)
                   if reasons or flagged else {})
        if todo:
            decisions = router.route_batch(
                [RoutingInput(h.lead.id, h.score, h.lead.fields, hinted[id(h)]) for h in todo],
                self.active_owner_ids(summary), dry_run=summary.dry_run)
            for handoff, decision in zip(todo, decisions, strict=True):
                self.take_route(handoff, decision, current, summary, events)
        chosen = {h.lead.id: h.owner_id for h in todo}
        for handoff in handoffs:
            if handoff.after is not None:  # its record is the one the first lead's write makes
                handoff.owner_id = chosen.get(handoff.after)
            elif handoff.routing is None and handoff.lead.id in current:
                handoff.routing = current[handoff.lead.id].reason
            earlier = current.get(handoff.lead.id)
            if handoff.customer is None and earlier is not None and (
                    earlier.rule == "expansion" or earlier.reason.startswith("expansion:")):
                handoff.customer, handoff.expansion = True, earlier.reason
        if reasons or flagged:  # the reason is known only now: map again with it
            for handoff in handoffs:
                if handoff.routing is not None or handoff.customer is not None:
                    handoff.payload = self.mapper.to_crm(handoff.lead, computed=self.computed(
                        handoff.score, handoff.routing, handoff.customer, lead=handoff.lead))

    def customers(self, todo: list[Handoff], hinted: dict[int, AccountHint | None],
                  expansion: Expansion, summary: RunSummary) -> None:
        """Leads whose account is a customer ([routing.expansion]): flagged, and their
        hint says why, so routing's rule 0 gives them to the account owner (or the
        expansion pool). One read of the accounts' field per batch."""
        for handoff in todo:
            if handoff.account is None:
                handoff.customer = False  # tied to no account: nobody's customer
        accounts = {h.account.account_id: h.account for h in todo if h.account is not None}
        if not accounts:
            return
        field_ = expansion.account_field
        try:
            values = self.crm.account_values(sorted(accounts), [field_])
        except QuotaReserved:
            raise
        except AdapterError as exc:
            summary.warnings.append(f"could not read the accounts' {field_}, so no lead of "
                                    f"this batch is flagged as expansion: {exc}")
            return
        wanted = set(expansion.customer_values)
        for handoff in todo:
            account = handoff.account
            if account is None:
                continue
            value = values.get(account.account_id, {}).get(field_)
            handoff.customer = value is not None and str(value) in wanted
            if handoff.customer:
                handoff.expansion = f"{field_} = {value}"
                hinted[id(handoff)] = AccountHint(account.owner_id or "",
                                                  account.name or account.account_id,
                                                  account.via, customer=handoff.expansion)

    def take_route(self, handoff: Handoff, decision: Decision[Assignment],
                   current: dict[str, Current], summary: RunSummary,
                   events: list[Event]) -> None:
        value = decision.value
        handoff.owner_id = value.owner_id
        if value.rule == "kept":
            earlier = current.get(handoff.lead.id)
            handoff.routing = earlier.reason if earlier is not None else decision.reason
            return
        handoff.assign = value.owner_id is not None
        handoff.routing = decision.reason
        events.append(Event(handoff.lead.id, "routed", decision.reason))
        if value.warning:
            summary.warnings.append(f"lead {handoff.lead.id} ({handoff.lead.get('email')}): "
                                    f"{value.warning}")

    def reasons_mapped(self) -> bool:
        return bool(self.mapper.writes_from("routing_reason"))

    def owners(self, summary: RunSummary | None = None) -> list[CrmOwner] | None:
        """The CRM's users/owners, asked once per run and only when a lead is routed.

        A CRM that cannot list them (a permission the integration user lacks) is a
        warning: routing then skips nobody as inactive."""
        if self._owners is None:
            try:
                self._owners = self.crm.owners()
            except QuotaReserved:
                raise
            except AdapterError as exc:
                if summary is not None:
                    summary.warnings.append(f"could not list the CRM's users, so routing "
                                            f"skips nobody as inactive: {exc}")
                return None
            if self.router is not None:
                self.router.owner_names.update({o.id: o.name for o in self._owners})
        return self._owners

    def active_owner_ids(self, summary: RunSummary | None = None) -> set[str] | None:
        owners = self.owners(summary)
        return None if owners is None else {o.id for o in owners if o.active}

    def take_match(self, handoff: Handoff, decision: MatchDecision,
                   events: list[Event]) -> None:
        best = decision.best
        assert best is not None
        what = f"{best.kind} {best.id} (score {decision.score:.2f}, {decision.reason})"
        if isinstance(best.ref, Candidate):
            if best.ref.key == handoff.lead.id:  # our own record, the link was lost
                return
            handoff.target = best.ref
        else:  # a lead of this run: update whatever its write makes
            handoff.after = str(best.ref)
            what = f"lead {best.ref} of this run (score {decision.score:.2f}, {decision.reason})"
        handoff.matched = what
        events.append(Event(handoff.lead.id, "matched", what))

    def answered(self, reviews: Iterable[MatchReview],
                 became: Mapping[str, Link]) -> Person | None:
        """The record a reviewer called the same person, from the review alone: a
        lead of an earlier run is found through its link (``became``: lead → link, read
        once a batch), a CRM record by its id."""
        same = next((r for r in reviews if r.status == "same"), None)
        if same is None:
            return None
        if same.kind == "link":
            link = became.get(same.crm_id)
            if link is None:  # that lead was never written: it will be matched again
                return None
            kind = "lead" if link.crm_object == self.object else "contact"
            target = Candidate(kind, link.crm_object, link.crm_id, {}, key=link.external_id)
        else:
            record = json.loads(same.record or "{}")
            target = Candidate(same.kind, same.crm_object, same.crm_id, {},
                               key=record.get("key"), owner_id=record.get("owner_id"))
        return Person(target.crm_id, target.kind, {}, ref=target)

    def review_of(self, lead: Lead, me: Prepared, decision: MatchDecision,
                  run_id: int) -> MatchReview:
        best = decision.best
        assert best is not None
        ref = best.ref if isinstance(best.ref, Candidate) else None
        record = {**{k: best.fields.get(k) for k in SHOWN if best.fields.get(k)},
                  "owner_id": ref.owner_id if ref else None, "key": ref.key if ref else None}
        return MatchReview(run_id=run_id, marketing_id=lead.id, crm=self.crm.name,
                           crm_object=ref.crm_object if ref else self.object,
                           crm_id=best.id, kind=best.kind, score=decision.score,
                           reason=decision.reason, created_at=utcnow(),
                           lead=lead_shown(lead), record=json.dumps(record, default=str))

    def add_history(self, handoffs: list[Handoff]) -> None:
        """Earlier outreach on the matched records and accounts, for the rep's task."""
        limit = self.matching.history_limit
        if not handoffs or limit <= 0 or not self.config.sync.handoff_task:
            return
        records: dict[str, Candidate] = {}
        for h in handoffs:
            if h.target:
                records[h.target.crm_id] = h.target
            if h.account:
                records[h.account.account_id] = Candidate("account", "Account",
                                                          h.account.account_id, {})
        touches = self.crm.history(list(records.values()), limit)
        for h in handoffs:
            ids = [x.crm_id for x in (h.target,) if x] + (
                [h.account.account_id] if h.account else [])
            h.history = [t for crm_id in dict.fromkeys(ids) for t in touches.get(crm_id, ())]

    def after_first(self, waiting: list[Handoff], summary: RunSummary) -> list[Handoff]:
        """Duplicates of leads written a moment ago: their records are the targets."""
        firsts = self.state.links_any_object(self.crm.name, (h.after for h in waiting
                                                             if h.after), prefer=self.object)
        for handoff in waiting:
            first = firsts.get(handoff.after or "")
            if first is not None:
                handoff.target = Candidate("lead" if first.crm_object == self.object
                                           else "contact", first.crm_object, first.crm_id, {},
                                           key=first.external_id)
                handoff.sibling_status = first.crm_status
            elif summary.dry_run:  # nothing was written: it would update that lead's record
                summary.planned.append({"lead": handoff.lead.id, "action": "update",
                                        "payload": {}, "matched": handoff.matched})
                summary.counts["updated"] += 1
            handoff.after = None
        return [h for h in waiting if h.target is not None or not summary.dry_run]

    def known_to_crm(self, handoffs: list[Handoff]) -> dict[str, Link]:
        """Links for leads the CRM already holds although we have no link (lost state,
        an earlier run cut off mid-batch): they are updated, never re-created."""
        keys = [h.lead.id for h in handoffs if h.link is None]
        if not keys:
            return {}
        now = utcnow()
        return {record.key: Link(marketing_id=record.key, crm=self.crm.name,
                                 crm_object=self.object, crm_id=record.crm_id,
                                 external_id=record.key, created_at=now, updated_at=now)
                for record in self.crm.read_by_keys(self.object, self.key_field, keys, [])
                if record.key}

    @property
    def mapper(self) -> Mapper:
        """The admin's mapping, parsed once a run, with the CRM's field lengths."""
        if self._mapper is None:
            self._mapper = Mapper(self.config.mapping,
                                  default_region=self.config.marketing.default_region,
                                  schema=self.crm.describe(self.object))
        return self._mapper

    def write_batch(self, handoffs: list[Handoff], summary: RunSummary,
                    events: list[Event]) -> None:
        todo = []
        unchanged = []
        only: dict[str, set[str]] = {}
        for handoff in handoffs:
            link = handoff.link
            if handoff.payload.issues:  # a value no transform could map: refused here
                self.refuse(handoff, handoff.payload.issues,
                            handoff.payload.for_write(creating=link is None), summary, events)
            elif link is not None and (link.deleted_at is not None or link.converted):
                if link.payload_hash == handoff.payload.hash:
                    unchanged.append(handoff.lead.id)
                    continue
                summary.counts["not_written"] += 1
                why = (f"a rep deleted {link.crm_object} {link.crm_id} in the CRM on "
                       f"{link.deleted_at:%Y-%m-%d}; it is not re-created ([sync] on_crm_delete)"
                       if link.deleted_at is not None else
                       f"converted in the CRM ({link.crm_status}); the CRM accepts no more "
                       "writes to it")
                events.append(Event(handoff.lead.id, "not_written", why))
                link.payload_hash = handoff.payload.hash  # said once per change
                if not summary.dry_run:
                    self.state.save_links([link])
            elif link is not None and link.payload_hash == handoff.payload.hash:
                unchanged.append(handoff.lead.id)
            elif link is not None and not (
                    fields := handoff.payload.worth_writing(self.held(link, summary))):
                unchanged.append(handoff.lead.id)  # the CRM holds every value already
                link.payload_hash = handoff.payload.hash
                if not summary.dry_run:
                    self.state.save_links([link])
            else:
                if link is not None:
                    only[handoff.lead.id] = fields
                todo.append(handoff)
        summary.counts["unchanged"] += len(unchanged)
        if not summary.dry_run:  # the CRM holds this payload: an old refusal is moot
            self.state.resolve_dead_letters(self.crm.name, self.object, unchanged)
        if not todo:
            return
        if summary.dry_run:
            self.plan(todo, only, summary)
            return
        groups: dict[str, tuple[list[Handoff], list[Write]]] = {}
        for handoff in todo:
            crm_object, write = self.write_for(handoff, only.get(handoff.lead.id))
            group = groups.setdefault(crm_object, ([], []))
            group[0].append(handoff)
            group[1].append(write)
        owed = 0
        for crm_object, (handoffs_, writes) in groups.items():
            try:
                results = self.upsert(crm_object, writes)
            except BatchInterrupted as exc:
                # what was written is recorded; its tasks too, unless the API allowance is
                # what stopped us (then every further call is one too many)
                owed += self.record_results(crm_object, handoffs_, writes, exc.results,
                                            summary, events)
                if owed and not isinstance(exc.cause, QuotaReserved):
                    self.make_tasks(summary, events)
                elif owed:
                    summary.warnings.append(f"{owed} follow-up tasks owed: the run stopped "
                                            "at the API reserve; the next run makes them")
                raise
            owed += self.record_results(crm_object, handoffs_, writes, results, summary,
                                        events)
        if owed:  # leads and contacts alike: one call for the batch's tasks
            self.make_tasks(summary, events)

    def upsert(self, crm_object: str, writes: list[Write]) -> list[WriteResult]:
        """The adapter's batch write; a call refused for what it carried (a body the CRM
        could not parse) is split until the record that broke it is found, which gets
        the refusal as its own result, a dead letter, while the others are written."""
        try:
            return self.crm.upsert(crm_object, self.key_field, writes)
        except BatchInterrupted as exc:
            cause = exc.cause
            if not (isinstance(cause, FatalError) and cause.content):
                raise
            done = {r.key: r for r in exc.results}
            rest = [w for w in writes if w.key not in done]
            if len(rest) == 1:
                done[rest[0].key] = WriteResult(rest[0].key, ok=False, errors=[
                    RecordError(cause.code or "REFUSED", str(cause))])
            elif rest:
                half = len(rest) // 2
                for part in (rest[:half], rest[half:]):
                    try:
                        done.update((r.key, r) for r in self.upsert(crm_object, part))
                    except BatchInterrupted as inner:
                        done.update((r.key, r) for r in inner.results)
                        raise BatchInterrupted([done[w.key] for w in writes if w.key in done],
                                               inner.cause) from inner
            return [done[w.key] for w in writes]

    def recreate(self, handoff: Handoff, events: list[Event]) -> bool:
        """Whether a lead whose record a rep deleted is handed off again, as a new
        record with every field: only under ``recreate_on_new_activity``, and only
        for an activity newer than the deletion (the lead qualified to get here)."""
        link = handoff.link
        assert link is not None and link.deleted_at is not None
        if self.config.sync.on_crm_delete != "recreate_on_new_activity":
            return False
        newer = [a for a in handoff.lead.activities if a.occurred_at > link.deleted_at]
        if not newer:
            return False
        handoff.link = None  # created anew, on_create values and owner included
        latest = max(newer, key=lambda a: a.occurred_at)
        events.append(Event(handoff.lead.id, "recreated",
                            f"{link.crm_object} {link.crm_id} was deleted in the CRM on "
                            f"{link.deleted_at:%Y-%m-%d}; created anew for a {latest.kind} "
                            f"on {latest.occurred_at:%Y-%m-%d} ([sync] on_crm_delete)"))
        return True

    def held(self, link: Link, summary: RunSummary) -> dict[str, str]:
        """What the CRM holds for this link's record, with this run's read-back."""
        if summary.dry_run and link.marketing_id in self._taken:
            return self._taken[link.marketing_id][1]
        return link.crm_values()

    def write_for(self, handoff: Handoff, only: set[str] | None) -> tuple[str, Write]:
        """The object and write for one lead: by our external id, or by record id
        when it goes to an earlier record of the person that matching found."""
        lead, link, target = handoff.lead, handoff.link, handoff.target
        if target is None and link is not None and (
                link.crm_object != self.object or link.external_id != link.marketing_id
                or link.protected):
            target = Candidate("lead", link.crm_object, link.crm_id, {}, key=link.external_id)
        owner = self.crm.owner_field
        if target is None:
            write = handoff.payload.write(lead.id, known=link is not None, only=only)
            if link is not None:  # by its id: a record deleted since is refused, not re-made
                write = replace(write, crm_id=link.crm_id, stamp=False)
            if handoff.owner_id and link is None:  # on create only: never over sales' choice
                write = replace(write, on_create={**write.on_create, owner: handoff.owner_id})
            if link is None and self.shared_mailbox(lead.get("email")):
                write = replace(write, email_shared=True)
            if link is None and handoff.unindexed:
                write = replace(write, unindexed_id="id" in handoff.unindexed,
                                unindexed_email="email" in handoff.unindexed)
            return self.object, write
        fields = self.writable(target.crm_object)
        # what sales keeps up to date is not overwritten on a first match: a prefer-CRM
        # or two-way value the record holds (or may hold: fields the look-up did not show)
        # stays; the read-back brings it to marketing, and later changes go newest-first
        known_first = target.fields
        values = {k: v for k, v in handoff.payload.values.items()
                  if k in fields and (only is None or k in only)
                  and not (link is None and handoff.payload.sync.get(k) in (
                      "prefer_crm_unless_blank", "two_way")
                      and (not known_first or known_first.get(self.source_of(k))
                           not in (None, "")))}
        protect = self.protected(handoff)
        if protect:  # someone's own record: its name and email stay, blanks are filled
            known = target.fields  # empty: built from a link, so nothing is known blank
            for crm_field, source in self.identity_fields().items():
                if crm_field in values and (link is not None or not known or known.get(source)):
                    del values[crm_field]
            if link is None:  # the first write to it fills what the record lacks, only
                for item in self.mapper.entries:
                    if item.sources and known.get(item.sources[0]) not in (None, ""):
                        values.pop(item.crm, None)
            other = self.other_email(handoff)
            secondary = self.matching.secondary_email_field
            if other and secondary and secondary in fields:
                values[secondary] = other
        if (handoff.assign and handoff.owner_id and handoff.owner_id != target.owner_id
                and owner in fields and not protect):  # routing gave the person to another
            values[owner] = handoff.owner_id
        stamp = target.key is None and self.key_field in fields
        return target.crm_object, Write(lead.id, values, known=True, crm_id=target.crm_id,
                                        stamp=stamp)

    def shared_mailbox(self, email: Any) -> bool:
        """An address a team shares (its local part is a role mailbox: info@, sales@)."""
        return (bool(email) and email_key(email, self.matcher.email_rules) is not None
                and person_email_key(email, self.matcher.email_rules) is None)

    def protected(self, handoff: Handoff) -> bool:
        """Writes to this lead's record keep the record's identity: it was matched by
        something other than the same address, now or when it was linked."""
        if handoff.link is not None:
            return handoff.link.protected
        return (handoff.target is not None or handoff.after is not None) and \
            not handoff.same_address

    def source_of(self, crm_field: str) -> str | None:
        """The marketing field a mapped CRM field is written from."""
        return next((c.sources[0] for c in self.mapper.entries
                     if c.crm == crm_field and c.sources), None)

    def identity_fields(self) -> dict[str, str]:
        """CRM field → marketing field, for the fields that say who a person is."""
        sources = {*self.matching.names, "email"}
        return {c.crm: c.sources[0] for c in self.mapper.entries
                if c.sources and c.sources[0] in sources}

    def other_email(self, handoff: Handoff) -> str | None:
        """The lead's address when the record it was matched to keeps another one."""
        mine = handoff.lead.get("email")
        theirs = handoff.target.fields.get("email") if handoff.target else None
        if not mine or (theirs and str(theirs).strip().lower() == str(mine).strip().lower()):
            return None
        return str(mine) if theirs or handoff.link is None else None

    def writable(self, crm_object: str) -> set[str]:
        """Fields of ``crm_object`` an update may set (a contact has no Company)."""
        if crm_object not in self._schemas:
            schema = self.crm.describe(crm_object)
            self._schemas[crm_object] = {name for name, f in schema.fields.items()
                                         if f.updateable}
        return self._schemas[crm_object]

    def plan(self, todo: list[Handoff], only: dict[str, set[str]],
             summary: RunSummary) -> None:
        """Dry run: exactly what would be written (only the fields the CRM does not
        hold yet, for a lead it has), asking the CRM (reads only) what it holds."""
        found = self.known_to_crm(todo)
        for handoff in todo:
            creating = (handoff.link is None and handoff.target is None
                        and handoff.lead.id not in found)
            if creating:
                payload = handoff.payload.for_write(creating=True)
                if handoff.owner_id:
                    payload[self.crm.owner_field] = handoff.owner_id
            elif handoff.link is None and handoff.target is None:  # the CRM has it already
                payload = handoff.payload.for_write(creating=False)
            else:  # exactly what the write would carry: identity kept, blanks filled
                payload = self.write_for(handoff, only.get(handoff.lead.id))[1].payload
            if handoff.lead.id in only:
                payload = {k: v for k, v in payload.items() if k in only[handoff.lead.id]}
            predicted = predicted_refusals(payload, self.mapper.schema, creating=creating)
            if predicted:  # the CRM's metadata already says no: as the real run would hear
                reason = "; ".join(str(e) for e in predicted)
                summary.counts["refused"] += 1
                summary.refused.append((f"lead {handoff.lead.id} ({handoff.lead.get('email')})",
                                        f"{reason} (predicted from the CRM's metadata)"))
                summary.planned.append({"lead": handoff.lead.id, "action": "refused",
                                        "reasons": [str(e) for e in predicted]})
                continue
            summary.planned.append({
                "lead": handoff.lead.id, "email": handoff.lead.get("email"),
                "action": "create" if creating else "update", "payload": payload,
                "rules": {k: handoff.payload.rules[k] for k in payload
                          if k in handoff.payload.rules},
                "score": handoff.score_reason,
                **({"matched": handoff.matched} if handoff.matched else {}),
                **({"routing": handoff.routing} if handoff.routing else {})})
            summary.counts["created" if creating else "updated"] += 1

    def record_results(self, crm_object: str, todo: list[Handoff], writes: list[Write],
                       results: list[WriteResult], summary: RunSummary,
                       events: list[Event]) -> int:
        """Links for what was written, dead letters for what was refused; a record
        with no result (a batch cut off before it) is left for the next run.
        Returns how many follow-up tasks the writes owe (the caller makes them)."""
        by_key = {result.key: result for result in results}
        links, written, rebuilt, adopted = [], [], [], []
        handed: list[tuple[Handoff, Link, str | None]] = []
        owed: list[TaskOwed] = []
        made: list[tuple[Candidate, frozenset[str] | None]] = []
        for handoff, write in zip(todo, writes, strict=True):
            lead = handoff.lead
            result = by_key.get(write.key)
            if result is None:
                continue
            body = write.body(created=result.created)
            if (not result.ok and result.gone == "deleted" and handoff.link is None
                    and handoff.target is not None and self.index is not None
                    and lead.id not in self._rematched):
                self.rematch(handoff, summary, events)
                continue
            if not result.ok and result.gone and (handoff.link is not None or write.crm_id):
                now = utcnow()  # a record matched (or answered "same") that is gone since
                link = handoff.link or Link(
                    marketing_id=lead.id, crm=self.crm.name, crm_object=crm_object,
                    crm_id=write.crm_id or "", external_id=(handoff.target.key if handoff.target
                                                            else None) or write.crm_id or "",
                    protected=True, created_at=now, updated_at=now)
                self.gone(link, result.gone, summary, events)
                if handoff.link is None and result.gone == "converted" and link.external_id:
                    # linked late to a record sales converted since: its verdict (won,
                    # lost) is heard now, as the lead it was heard by heard it
                    self.learn_status([link], summary, ours=False)
                self.state.reviews.applied(self.crm.name, [lead.id])
                continue
            if not result.ok:
                self.refuse(handoff, result.errors, write.body(created=handoff.link is None),
                            summary, events)
                continue
            now = utcnow()
            external_id = lead.id
            if write.crm_id and not write.stamp:  # the record keeps its own key (or none)
                target = handoff.target
                external_id = (target.key if target and target.key else write.crm_id)
            link = handoff.link or Link(marketing_id=lead.id, crm=self.crm.name,
                                        crm_object=crm_object, crm_id=result.crm_id or "",
                                        external_id=external_id, created_at=now,
                                        updated_at=now)
            link.crm_id = result.crm_id or link.crm_id
            if handoff.link is None and self.protected(handoff):
                link.protected = True
                link.other_email = self.other_email(handoff)
            if handoff.link is None and not result.created and write.crm_id is None:
                rebuilt.append(link)  # the CRM had it under our key: state was lost
            elif handoff.link is None and handoff.sibling_status is not None:
                link.crm_status = handoff.sibling_status  # written a moment ago, by us
            elif (handoff.link is None and handoff.target is not None
                  and crm_object == self.object and self.status_field not in body):
                adopted.append(link)  # an earlier record of the person: sales set its status
            link.payload_hash = handoff.payload.hash
            link.remember({**kept_by_record(handoff, body), **body})
            if self.status_field in body:  # our own status write: its read-back is an echo
                link.crm_status = str(body[self.status_field])
            links.append(link)
            written.append(lead.id)
            kind = "created" if result.created else "updated"
            summary.counts[kind] += 1
            if result.created:  # in the index at once: a later batch of this run finds it
                made.append((Candidate("lead" if crm_object == self.object else "contact",
                                       crm_object, link.crm_id, dict(lead.fields),
                                       key=link.external_id,
                                       owner_id=body.get(self.crm.owner_field)),
                             handoff.keys))
            first_match = handoff.matched is not None and handoff.link is None
            # its task may be there already: the CRM had the record (lost state, a cut run)
            again = (bool(rebuilt) and rebuilt[-1] is link) or summary.rebuilt > 0
            # the owner the record has now: the one just written, else the one it had
            owner = (body.get(self.crm.owner_field)
                     or (handoff.target.owner_id if handoff.target else None)
                     or handoff.owner_id)
            if result.created or first_match or again:
                handed.append((handoff, link, owner))
            if (result.created or first_match or again) and self.config.sync.handoff_task:
                matched = handoff.matched
                if matched and link.other_email:
                    matched += (f"; matched by name, so the record keeps its own name and "
                                f"email: marketing knows this person as {link.other_email}")
                task = self.follow_up(lead, link.crm_id, handoff.score_reason, handoff.score,
                                      owner, self.clock(), matched=matched,
                                      history=handoff.history, expansion=handoff.expansion)
                owed.append(TaskOwed(marketing_id=lead.id, crm=self.crm.name,
                                     crm_object=crm_object, crm_id=link.crm_id,
                                     task=task.as_json(), verify=again, created_at=now))
                if not again:
                    self._fresh_tasks.add((lead.id, link.crm_id))
            events.append(Event(lead.id, kind, f"{crm_object} {link.crm_id}; "
                                               f"{handoff.score_reason}"))
        self.state.save_links(links, owed)  # with what they owe, in one transaction
        self.record_handoffs(handed, events)
        if self.index is not None and made:
            now = utcnow()
            self.index.put((c, {*keys, f"k:{c.key}"} if keys is not None and c.key
                            else self.index.keys_of(c), now) for c, keys in made)
        if rebuilt:
            summary.rebuilt += len(rebuilt)
            self.learn_status(rebuilt, summary, ours=True)
        if adopted:
            known = self.state.links_to_records(self.crm.name, self.object,
                                                (link.crm_id for link in adopted))
            created_with = self.config.mapping.on_create.get(self.status_field)
            heard: list[Change] = []
            for link in adopted:  # a record leadsync made for another lead: its status known
                sibling = next((x for x in known.get(link.crm_id, ())
                                if x.marketing_id != link.marketing_id), None)
                if sibling is not None:
                    link.crm_status = (str(created_with) if created_with is not None
                                       else sibling.crm_status)
                    if sibling.crm_status and sibling.crm_status != link.crm_status:
                        heard.append(Change(crm_id=link.crm_id, key=link.external_id,
                                            fields={self.status_field: sibling.crm_status},
                                            modified_at=utcnow()))
            self.state.save_links(adopted)
            if heard:  # the verdict the other lead heard already: this one hears it too
                by_record = {link.crm_id: [link] for link in adopted
                             if any(c.crm_id == link.crm_id for c in heard)}
                decided = stage_updates(heard, by_record, self.config.status_mapping)
                self.write_stages(summary, decided)
            rest = [link for link in adopted
                    if not any(x.marketing_id != link.marketing_id
                               for x in known.get(link.crm_id, ()))]
            if rest:
                self.learn_status(rest, summary, ours=False)
        self.state.resolve_dead_letters(self.crm.name, self.object, written)
        self.state.reviews.applied(self.crm.name, written)
        return len(owed)

    def computed(self, points: float | None, routing: str | None = None,
                 customer: bool | None = None, *, lead: Lead | None = None
                 ) -> dict[str, Any]:
        """What the cycle knows of a lead that config.toml may map like a field."""
        tier = score_tier(points, self.tiers)
        return {"score": points, "score_tier": tier, "rank": rank_of(tier, self.tiers),
                "expansion": customer,
                "entry_status": entry_status(lead, self.config.scoring) if lead else None,
                **({"routing_reason": routing} if routing is not None else {})}

    def follow_up(self, lead: Lead, crm_id: str, score_reason: str, score: float | None,
                  owner: str | None, now: datetime, *, matched: str | None = None,
                  history: list[Touch] | None = None,
                  expansion: str | None = None, back: str | None = None) -> HandoffTask:
        """The rep's task: due when the first-touch SLA says (on the owner's calendar;
        else ``[sync] task_due_hours``), its priority from the score's tier."""
        tier = score_tier(score, self.tiers)
        due = self.clocks.due("first_touch", owner, now)
        due_by = "first-touch SLA"
        if due is None:
            due, due_by = now + self.config.sync.task_due, "[sync] task_due_hours"
        return handoff_task(lead, crm_id=crm_id, score_reason=score_reason, now=now, due=due,
                            priority=self.config.sla.priority_of(tier, self.tiers),
                            owner_id=owner, matched=matched, history=history, score=score,
                            tier=tier, threshold=self.config.scoring.threshold,
                            why=why_now(lead, self.config.scoring, now), due_by=due_by,
                            expansion=expansion, back=back)

    def record_handoffs(self, handed: list[tuple[Handoff, Link, str | None]],
                        events: list[Event]) -> None:
        """The hand-off is a step of the process too: the lead enters
        ``[process] handoff_stage`` (MQL), by leadsync, for its score, and its SLA
        clocks start on its owner's calendar. A lead sales works already (a record
        rebuilt after lost state) is not moved back, and a recycled or finished lead whose
        fields changed is only written: it goes back to sales by ``bring_back``'s rule."""
        process = self.config.process
        kept = {name for name, stage in process.stages.items()
                if stage.team == "sales" or stage.final} | {process.recycle.stage}
        now = self.clock()
        fresh = [(handoff, link, owner) for handoff, link, owner in handed
                 if handoff.lead.stage not in kept]
        updates = [StageUpdate(handoff.lead.id, process.handoff_stage, link.crm_status or "",
                               now, who=LEADSYNC, reason=handoff.score_reason)
                   for handoff, link, _ in fresh]
        if not updates:
            return
        written = self.marketing.write_stages(updates)
        events.extend(Event(u.marketing_id, "stage", f"{u.stage}: handed to sales")
                      for u in updates if u.marketing_id in written)
        if self.sla_store is not None:
            places = [self.where(link, owner) for handoff, link, owner in fresh
                      if handoff.lead.id in written]
            self.sla_store.save([clock for place in places
                                 for clock in self.clocks.started(place, now)]
                                + self.stage_clocks([(u, p) for u, p in zip(
                                    [u for u in updates if u.marketing_id in written], places,
                                    strict=True)]))

    def where(self, link: Link, owner_id: str | None = None) -> Where:
        return Where(link.marketing_id, self.crm.name, link.crm_object, link.crm_id, owner_id)

    def stage_clocks(self, entered: list[tuple[StageUpdate, Where]]) -> list[SlaClock]:
        """Clocks of the stages with a ``max`` these leads just entered."""
        return [clock for update, place in entered
                if (clock := self.clocks.entered(place, update.stage, update.at)) is not None]

    def rematch(self, handoff: Handoff, summary: RunSummary, events: list[Event]) -> None:
        """A lead matched to an earlier record of the person that a rep deleted since
        the candidate index last heard of deletions: the record leaves the index and the
        lead is matched again (to another record of the person, or made anew), as it
        would have been had the deletion been known. Its own record was never written."""
        target = handoff.target
        assert target is not None and self.index is not None
        self.index.remove([ref(target)])
        events.append(Event(handoff.lead.id, "rematched",
                            f"{target.kind} {target.crm_id} it matched was deleted in the "
                            "CRM since the candidate index heard of deletions; matched again "
                            "without it"))
        owners = [link for link in self.state.links_to_records(
            self.crm.name, target.crm_object, [target.crm_id]).get(target.crm_id, ())
            if link.deleted_at is None]
        if owners:  # other leads' record: they hear of it now, as the listing would say,
            now = utcnow()  # and this person is not made again under another mailbox
            for link in owners:
                link.deleted_at = now
                events.append(Event(link.marketing_id, "deleted",
                                    f"a rep deleted {link.crm_object} {link.crm_id} in the CRM "
                                    "(found when a write met it)"))
            self.hear_deleted(owners, now, summary)  # marketing first (follow_removals)
            self.state.save_links(owners)
            self._tombs = None  # the people deleted: built again with these
        self._rematched.add(handoff.lead.id)
        self._became.pop(handoff.lead.id, None)
        self._seen.discard(self.matcher.prepare(Person(handoff.lead.id, "link",
                                                       handoff.lead.fields)))
        summary.counts["matched"] -= 1  # counted again by the match it gets now
        self._again.append(Handoff(handoff.lead, handoff.payload, None,
                                   handoff.score_reason, handoff.score))

    def gone(self, link: Link, how: str, summary: RunSummary, events: list[Event]) -> None:
        """The CRM said the record takes no more writes (converted or deleted since the
        read-back of this run): news to remember, not a refusal to retry."""
        if how == "converted":
            link.converted = True
        else:
            link.deleted_at = link.deleted_at or utcnow()
        summary.counts["not_written"] += 1
        events.append(Event(link.marketing_id, "not_written",
                            f"{link.crm_object} {link.crm_id} was {how} in the CRM meanwhile; "
                            "the change was not written"))
        if how != "converted":  # marketing first (follow_removals)
            self.hear_deleted([link], link.deleted_at or utcnow(), summary)
        self.state.save_links([link])

    def learn_status(self, links: list[Link], summary: RunSummary, *, ours: bool) -> None:
        """Learn the status of records just linked that leadsync did not create in this
        run, once, so their verdict is fed back now and not mistaken later.

        ``ours``: links remade from the CRM (a lost or restored state database), whose
        records leadsync created: the status it sets on create is not a verdict, any
        other is what sales said. Otherwise: earlier records of the person that a
        match adopted, whose status sales set.
        """
        created_with = (self.config.mapping.on_create.get(self.status_field)
                        if ours else None)
        by_key = {link.external_id: link for link in links}
        held = self.crm.read_verdicts(self.object, self.key_field, list(by_key),
                                      [self.status_field])
        now = utcnow()
        changes, by_record = [], {}
        for record in held:  # its status, and a converted record's won or lost
            link = by_key.get(record.key or "")
            if link is None:
                continue
            link.crm_status = str(created_with) if created_with is not None else None
            by_record[record.crm_id] = [link]
            changes.append(replace(record, modified_at=now))
        decided = stage_updates(changes, by_record, self.config.status_mapping)
        for link in decided.converted:  # no write goes to it any more
            link.converted = True
        if not ours:  # where the earlier record already was: no rep acted since the hand-off
            decided.updates = [(replace(update, who=FOUND), link)
                               for update, link in decided.updates]
        summary.warnings.extend(decided.unmapped)
        self.write_stages(summary, decided)
        self.state.save_links(links)  # the baseline of those sales had not touched

    def refuse(self, handoff: Handoff, errors: list[RecordError], payload: dict[str, Any],
               summary: RunSummary, events: list[Event]) -> None:
        """A record the CRM (or the mapping) refused: a dead letter with the reason."""
        lead = handoff.lead
        reason = "; ".join(str(e) for e in errors)
        summary.counts["refused"] += 1
        summary.refused.append((f"lead {lead.id} ({lead.get('email')})", reason))
        events.append(Event(lead.id, "refused", reason))
        if not summary.dry_run:
            self.state.add_dead_letter(summary.run_id, marketing_id=lead.id, crm=self.crm.name,
                                       crm_object=self.object, errors=errors, payload=payload)

    def make_tasks(self, summary: RunSummary, events: list[Event]) -> None:
        """Every follow-up task this CRM is owed, made once (connector/outbox.py)."""
        events.extend(make_owed_tasks(self.state, self.crm, fresh=self._fresh_tasks,
                                      warnings=summary.warnings))

    # re-routing -------------------------------------------------------------------
    def reroute(self, lead_ids: list[str], summary: RunSummary, *,
                why: str = "not followed up in time",
                breached: SlaClock | None = None) -> list[Rerouted]:
        """Give handed-off leads to the next rep of their pool and set the CRM owner.

        The entry point `leadsync reroute` uses, and the one the SLA step calls for
        leads not followed up in time when ``[routing] reroute_on_sla`` is on. The
        current owner is the CRM's (sales may have moved the lead), else routing's;
        the history keeps every owner. A mapped ``routing_reason`` is written too.
        """
        router = self.router
        if router is None or not router.config.configured:
            raise ConfigError("[routing] has no reps, territories or fallback_owner: there is "
                              "nobody to re-route to")
        links = self.state.links_any_object(self.crm.name, lead_ids, prefer=self.object)
        leads = {lead.id: lead for lead in self.marketing.leads(lead_ids)}
        current = router.store.current(lead_ids)
        owner_field = self.crm.owner_field
        todo: list[tuple[Lead, Link, str]] = []
        stages = self.config.process.stages
        for lead_id in lead_ids:
            link, raw = links.get(lead_id), leads.get(lead_id)
            if link is None or raw is None:
                summary.warnings.append(f"lead {lead_id}: " + (
                    "not in the marketing store" if raw is None else
                    "not handed to the CRM yet; the next sync routes it"))
                continue
            where = stages.get(raw.stage or "")
            if where is not None and (where.team == "marketing" or where.final):
                summary.warnings.append(f"lead {lead_id}: in stage {raw.stage} ("
                                        + ("final" if where.final else "marketing's")
                                        + "), not sales' to work: not re-routed")
                continue
            held = self.crm.read_by_keys(link.crm_object, self.key_field, [link.external_id],
                                         [owner_field]) if link.external_id else []
            owner = next((str(r.fields[owner_field]) for r in held
                          if r.crm_id == link.crm_id and r.fields.get(owner_field)), None)
            if owner is None and lead_id in current:
                owner = current[lead_id].owner_id
            todo.append((normalize(raw, self.config.marketing.default_region).lead, link,
                         owner or ""))
        if not todo:
            return []
        inputs = []
        for lead, _, owner in todo:
            points = score(lead, self.config.scoring, self.clock())
            inputs.append((RoutingInput(lead.id, points.value, lead.fields), owner))
        decisions = router.reroute_batch(inputs, self.active_owner_ids(summary), why=why)
        events: list[Event] = []
        done: list[Rerouted] = []
        groups: dict[str, list[tuple[Lead, Link, Write, Rerouted]]] = {}
        for (lead, link, owner), (routed, _), decision in zip(todo, inputs, decisions,
                                                               strict=True):
            new = decision.value.owner_id
            item = Rerouted(lead.id, owner or None, new, decision.reason)
            done.append(item)
            events.append(Event(lead.id, "rerouted", decision.reason))
            if decision.value.warning:
                summary.warnings.append(f"lead {lead.id}: {decision.value.warning}")
            if new is None or new == owner:
                continue
            values: dict[str, Any] = {owner_field: new}
            if self.reasons_mapped():
                payload = self.mapper.to_crm(lead, computed=self.computed(
                    routed.score, decision.reason, lead=lead))
                values.update({f: payload.values[f]
                               for f in self.mapper.writes_from("routing_reason")
                               if f in payload.values})
            write = Write(link.external_id, values, known=True, crm_id=link.crm_id,
                          stamp=False)
            groups.setdefault(link.crm_object, []).append((lead, link, write, item))
        moves: list[TaskMove] = []
        try:
            for crm_object, group in groups.items():
                results = self.crm.upsert(crm_object, self.key_field, [g[2] for g in group])
                by_key = {r.key: r for r in results}
                for lead, link, write, item in group:
                    result = by_key.get(write.key)
                    if result is not None and result.ok:
                        link.remember(write.payload)
                        item.written = True
                        moves.append(TaskMove(link.crm_id, item.previous, item.owner_id or ""))
                        summary.counts["updated"] += 1
                        events.append(Event(lead.id, "updated", f"{crm_object} {link.crm_id}; "
                                            f"{owner_field} = {item.owner_id}"))
                    else:
                        reason = "; ".join(str(e) for e in result.errors) if result else \
                            "no answer for this record"
                        summary.counts["refused"] += 1
                        summary.refused.append((f"lead {lead.id}", reason))
                        events.append(Event(lead.id, "refused", reason))
                self.state.save_links([g[1] for g in group])
            if moves:  # the follow-up goes with the lead
                moved = self.crm.move_open_tasks(moves)
                events.extend(Event(item.lead_id, "task_moved", f"open tasks of "
                                    f"{item.previous or 'nobody'} → {item.owner_id}")
                              for item in done if item.written)
                log.info("open tasks moved", tasks=moved)
            for item in done:
                if item.written and item.owner_id:
                    self.pass_clocks(item.lead_id, item.owner_id, breached)
        finally:
            self.state.record_events(summary.run_id, events)
        return done

    def pass_clocks(self, lead_id: str, owner: str, breached: SlaClock | None) -> None:
        """A re-routed lead's running SLA clocks are its new owner's: each closes for the
        old owner (a breach stays on their record) and starts again for the new one,
        from now, on their calendar. ``breached``: the clock whose breach re-routes,
        held by the caller (it saves it)."""
        if self.sla_store is None:
            return
        now = self.clock()
        closed = self.close_clocks(lead_id, f"re-routed to {self.name_of(owner)} "
                                            f"{now:%Y-%m-%d %H:%M} UTC", held=breached)
        self.sla_store.save([again for clock in closed
                             if (again := self.clocks.restarted(clock, owner, now))])

    def name_of(self, owner_id: str) -> str:
        """An owner's name where routing knows it (a rep, the CRM's users listed this run)."""
        return self.router.name_of(owner_id) if self.router is not None else owner_id

    # steps 8-9: CRM → marketing -------------------------------------------------
    def feed_back(self, summary: RunSummary) -> None:
        """Read CRM changes since the cursor, less a look-back window.

        CRM modification stamps are taken before commit, so a slow transaction
        can land behind a stored cursor; re-reading the window is cheap because
        a status equal to the one last seen is dropped as an echo.
        """
        self.follow_removals(summary)
        stream = crm_stream(self.crm.name, self.object)
        cursor = self.state.cursor(stream)
        fresh = cursor is None  # nothing read before: every record of ours comes now
        for batch in batched(self._feeds.changes, 500):
            links = self.state.links_to_records(self.crm.name, self.object,
                                                (c.crm_id for c in batch))
            if fresh:  # records under our key this state database does not know: lost state
                self._orphans.update((c.key, c) for c in batch
                                     if c.key and c.crm_id not in links)
            if self.mapper.crm_fields_read_back:
                self.take_back(batch, links, summary)
            decided = stage_updates(batch, links, self.config.status_mapping,
                                    self.status_steps(batch, links), reasoned={
                                        name for name, stage in
                                        self.config.process.stages.items()
                                        if stage.team == "marketing" or stage.final})
            summary.warnings.extend(decided.unmapped)
            for change in batch:
                cursor = advanced(cursor, change.modified_at, change.crm_id)
            if summary.dry_run:
                summary.counts["fed_back"] += len(decided.updates)
                continue
            self.still_locked()
            for link in decided.converted:
                link.converted = True
            self.state.save_links(decided.converted)
            self.write_stages(summary, decided)
            assert cursor is not None
            self.state.set_cursor(stream, cursor)
            self.checkpoint(summary)
        self.settle(stream, cursor, summary)

    def status_steps(self, batch: list[Change],
                     links: dict[str, list[Link]]) -> dict[str, list[StatusStep]]:
        """The status history of the records whose status moved since marketing heard
        it, so two steps between syncs are two steps; one call per 200 such records,
        none for the echoes of leadsync's own writes."""
        moved: dict[str, Link] = {}
        for crm_id, change in latest_by_record(batch).items():
            status = change.fields.get(self.status_field)
            for link in links.get(crm_id, ()):
                if status is not None and str(status) != link.crm_status:
                    moved.setdefault(crm_id, link)
        if not moved:
            return {}
        known = [link.crm_status_at for link in moved.values()]
        since = None if None in known else min(k for k in known if k is not None)
        return self.crm.status_history(self.object, self.status_field, sorted(moved), since)

    def follow_removals(self, summary: RunSummary) -> None:
        """Records deleted or merged in the CRM since the last look.

        A merge moves every link of a merged-away record to the survivor (several
        leads may now share it: all hear its verdicts; none rewrites its identity).
        A deletion marks the links so nothing is written to the record again, and
        marketing hears it as ``mapping.status.deleted``.
        """
        stream = crm_stream(self.crm.name, self.object) + ":removed"
        cursor = self.state.cursor(stream)
        for batch in batched(self._feeds.removed, 500):
            by_object: dict[str, list[str]] = {}
            for removal in batch:
                by_object.setdefault(removal.crm_object or self.object, []).append(
                    removal.crm_id)
            links: dict[str, list[Link]] = {}
            for crm_object, ids in sorted(by_object.items()):
                links.update(self.state.links_to_records(self.crm.name, crm_object, ids))
            events: list[Event] = []
            changed: list[Link] = []
            moved: dict[tuple[str, str], str] = {}  # (lead, merged-away record) → survivor
            decided = Decided()
            stage = self.config.mapping.status.deleted
            tombs: list[Link] = []
            orphans = [r for r in batch if r.key and r.crm_id not in links
                       and (r.crm_object or self.object) == self.object]
            owners = self.state.links_any_object(self.crm.name, (r.key or "" for r in orphans),
                                                 prefer=self.object) if orphans else {}
            for removal in orphans:  # ours by its key, unknown here: the state was lost
                if removal.key in owners:
                    continue
                now = utcnow()
                tomb = Link(marketing_id=removal.key or "", crm=self.crm.name,
                            crm_object=self.object, crm_id=removal.merged_into or removal.crm_id,
                            external_id=removal.key or "", created_at=now, updated_at=now,
                            protected=bool(removal.merged_into),
                            deleted_at=None if removal.merged_into else removal.removed_at)
                owners[tomb.marketing_id] = tomb
                changed.append(tomb)
                if tomb.deleted_at is not None:
                    tombs.append(tomb)
                events.append(Event(tomb.marketing_id, "rebuilt",
                                    f"the CRM {'merged' if removal.merged_into else 'deleted'} "
                                    f"{self.object} {removal.crm_id} before this state "
                                    "database knew it: it is not re-created"))
            for removal in batch:
                cursor = advanced(cursor, removal.removed_at, removal.crm_id)
                for link in links.get(removal.crm_id, ()):
                    if removal.merged_into:
                        events.append(Event(link.marketing_id, "merged",
                                            f"{link.crm_object} {link.crm_id} was merged into "
                                            f"{removal.merged_into} in the CRM; the lead "
                                            "follows it"))
                        moved[link.marketing_id, link.crm_id] = removal.merged_into
                        link.crm_id = removal.merged_into
                        link.protected = True  # the survivor is who the CRM says it is
                        # what was written went to the other record: the next write
                        # carries the lead's fields in full (its identity kept)
                        link.payload_hash, link.field_hashes = None, "{}"
                        # a survivor's status history may hold the merged records' steps
                        # (a CRM that folds them in): what the lead heard is as of the
                        # merge, and it hears the survivor's status from there on
                        link.crm_status_at = max(link.crm_status_at or removal.removed_at,
                                                 removal.removed_at)
                        links.setdefault(removal.merged_into, []).append(link)
                    elif link.deleted_at is None:
                        link.deleted_at = removal.removed_at
                        events.append(Event(link.marketing_id, "deleted",
                                            f"a rep deleted {link.crm_object} {link.crm_id} "
                                            "in the CRM"))
                        if stage:
                            decided.updates.append((StageUpdate(
                                link.marketing_id, stage, CRM_DELETED,
                                removal.removed_at), link))
                    changed.append(link)
            if summary.dry_run:
                summary.counts["fed_back"] += len(decided.updates)
                continue
            # marketing first, the links after: the state database and the marketing
            # store are two databases, and a run killed between them must leave the
            # deletion unmarked, so the next run (which reads it again) tells marketing;
            # told twice, marketing takes no second step
            if decided.updates:
                self.write_stages(summary, decided)
            for tomb in tombs:  # found by key only: marketing may not have heard it yet
                self.hear_deleted([tomb], tomb.deleted_at or utcnow(), summary)
            if self.sla_store is not None:  # before the links: a run cut off between
                self.sla_store.follow(moved)  # the two reads the merge again
            self.state.save_links(changed)
            self.state.record_events(summary.run_id, events)
            if cursor is not None:
                self.state.set_cursor(stream, cursor)
        self.settle(stream, cursor, summary)

    def settle(self, stream: str, cursor: Cursor | None, summary: RunSummary) -> None:
        """A feed read to its end: its cursor moves to when it was opened if no change
        since was later, so the next look-back window starts at this run, not at the
        last change ever seen (after a big load, an idle run re-reads nothing)."""
        started = self._feeds.started
        if not summary.dry_run and (cursor is None or cursor.value < started):
            self.state.set_cursor(stream, Cursor(started))

    def take_back(self, batch: list[Change], links: dict[str, list[Link]],
                  summary: RunSummary) -> None:
        """CRM values of to_marketing / two_way / prefer_* fields, back to marketing,
        into every lead linked to the record.

        Every value read is remembered as what the CRM holds, so the next
        hand-off does not write it back, and our own writes read back are echoes.
        """
        latest = {crm_id: change for crm_id, change in latest_by_record(batch).items()
                  if crm_id in links}
        if not latest:
            return
        leads = {lead.id: lead for lead in self.marketing.leads(
            [link.marketing_id for crm_id in latest for link in links[crm_id]])}
        updates, events, seen = [], [], []
        pairs = [(c, link) for crm_id, c in latest.items() for link in links[crm_id]]
        values_of = {c.crm_id: {f: c.fields.get(f) for f in self.mapper.crm_fields_read_back
                                if f in c.fields} for c, _ in pairs}
        backs = [self.mapper.to_marketing(values_of[c.crm_id], link.crm_values(),
                                          leads.get(link.marketing_id), c.modified_at)
                 for c, link in pairs]
        disputed = sorted({c.crm_id for (c, _), back in zip(pairs, backs, strict=True)
                           if back.conflicts})
        if disputed:  # when did each disputed field change? the CRM's history knows
            fields = sorted({x.crm_field for back in backs for x in back.conflicts})
            times = self.crm.field_times(self.object, disputed, fields)
            backs = [self.mapper.to_marketing(values_of[c.crm_id], link.crm_values(),
                                              leads.get(link.marketing_id), c.modified_at,
                                              field_changed_at=times.get(c.crm_id))
                     if c.crm_id in times else back
                     for (c, link), back in zip(pairs, backs, strict=True)]
        for (change, link), back in zip(pairs, backs, strict=True):
            values = values_of[change.crm_id]
            held = link.crm_values()
            link.remember(values)
            if link.crm_values() != held:  # an echo of our own write changes nothing
                seen.append(link)
            for conflict in back.conflicts:
                summary.counts["conflicts"] += 1
                summary.warnings.append(f"lead {link.marketing_id}: conflict: "
                                        f"{conflict.describe()}")
                events.append(Event(link.marketing_id, "conflict", conflict.describe()))
            if back.updates:
                updates.append(FieldUpdate(link.marketing_id, back.updates, change.modified_at))
                self._taken[link.marketing_id] = (back.updates, link.crm_values())
                events.extend(Event(link.marketing_id, "taken_back",
                                    f"{name} = {value!r} from {back.reasons[name]}")
                              for name, value in back.updates.items())
        if summary.dry_run:
            summary.planned.extend({"lead": u.marketing_id, "action": "take back",
                                    "fields": u.fields} for u in updates)
            return
        written = self.marketing.write_fields(updates) if updates else set()
        self.state.save_links(seen)
        self.state.record_events(summary.run_id, [e for e in events if e.kind == "conflict"
                                                  or e.marketing_id in written])
        if written:
            log.info("fields taken back", leads=len(written))

    def write_stages(self, summary: RunSummary, decided: Decided) -> None:
        """Sales' verdicts into marketing's stage history; ``fed_back`` counts the leads
        whose stage they changed (two statuses that mean one stage change nothing)."""
        events = [Event(marketing_id, "unmapped_status", note)
                  for marketing_id, note in decided.unmapped_by_lead.items()]
        ids = [update.marketing_id for update, _ in decided.updates]
        before = {lead.id: lead.stage for lead in self.marketing.leads(ids)} if ids else {}
        written = self.marketing.write_stages([update for update, _ in decided.updates])
        moved: set[str] = set()
        changed = []
        for update, link in decided.updates:
            if update.marketing_id not in written:
                summary.warnings.append(f"lead {update.marketing_id}: not in the marketing "
                                        f"store any more; status {update.crm_status!r} kept "
                                        "in the CRM only")
                continue
            link.crm_status, link.crm_status_at = update.crm_status, update.at
            changed.append(link)
            if before.get(update.marketing_id) != update.stage:
                moved.add(update.marketing_id)
                before[update.marketing_id] = update.stage
            events.append(Event(update.marketing_id, "fed_back",
                                f"{update.crm_status} → {update.stage}"))
        self.state.save_links(changed)
        if self.sla_store is not None:
            self.sla_store.save(self.stage_clocks([
                (update, self.where(link, decided.owners.get(link.crm_id)))
                for update, link in decided.updates if update.marketing_id in written]))
        self.state.record_events(summary.run_id, events)
        summary.counts["fed_back"] += len(moved)
        if moved:
            log.info("statuses fed back", count=len(moved))

    def hear_deleted(self, links: list[Link], at: datetime, summary: RunSummary) -> None:
        """Marketing hears that a rep deleted these leads' records (mapping.status.deleted),
        however leadsync learnt it: the read-back, a refused write, a rebuilt link."""
        stage = self.config.mapping.status.deleted
        if not stage or not links or summary.dry_run:
            return
        decided = Decided(updates=[(StageUpdate(link.marketing_id, stage, CRM_DELETED,
                                                at), link) for link in links])
        self.write_stages(summary, decided)

    # leads due back to sales ----------------------------------------------------------
    def bring_back(self, summary: RunSummary) -> None:
        """Recycled leads after their cool-off, with a new activity and the score;
        could-not-reach leads after their wait, at most ``max_attempts`` times (then to
        the recycle stage). Each goes back to sales as a hand-off does: the hand-off
        stage's CRM status, the step in the stage history, SLA clocks, and a task for
        the record's owner. Never straight back: the wait counts from the step."""
        if summary.dry_run:
            return
        process, now = self.config.process, self.clock()
        due = [*self.marketing.leads_in_stages([process.recycle.stage],
                                               now - process.recycle.cool_off.wall),
               *self.marketing.leads_in_stages([process.could_not_reach.stage],
                                               now - process.could_not_reach.retry_after.wall)]
        if not due:
            return
        ids = [lead.id for lead in due]
        links = self.state.links_any_object(self.crm.name, ids, prefer=self.object)
        steps = self.marketing.stage_histories(ids)
        events: list[Event] = []
        back: list[tuple[Lead, Link, str]] = []
        try:
            for lead in due:
                link, history = links.get(lead.id), steps.get(lead.id, [])
                if link is None or link.converted or link.deleted_at is not None \
                        or not history:
                    continue
                normalized = normalize(lead, self.config.marketing.default_region).lead
                points = score(normalized, self.config.scoring, self.clock())
                verdict = due_back(lead, history, process, score_reason=points.reason,
                                   qualifies=bool(qualify(normalized, points,
                                                          self.config.scoring).value))
                if verdict is None:
                    continue
                if verdict.action == "back":
                    back.append((lead, link, verdict.reason))
                elif self.moved(lead.id, link, process.recycle.stage, verdict.reason, now,
                                summary, events):
                    events.append(Event(lead.id, "stage",
                                        f"{process.recycle.stage}: {verdict.reason}"))
            self.hand_back(back, now, summary, events)
        finally:
            self.state.record_events(summary.run_id, events)

    def moved(self, marketing_id: str, link: Link, stage: str, reason: str, now: datetime,
              summary: RunSummary, events: list[Event]) -> bool:
        """``move_to``, a refused status a warning naming the lead, record and field (the
        lead stays where it is; the next run tries again), not a failed run."""
        try:
            self.move_to(marketing_id, link, stage, reason, now)
        except StatusRefused as exc:
            summary.warnings.append(str(exc))
            events.append(Event(marketing_id, "status_refused", str(exc)))
            return False
        return True

    def hand_back(self, back: list[tuple[Lead, Link, str]], now: datetime, summary: RunSummary,
                  events: list[Event]) -> None:
        """Each lead (with its record, and why) to sales again: the hand-off stage and its
        status, the earlier hand-off's clocks closed and new ones started, and a task for
        the record's owner (owed with the link, made once)."""
        if not back:
            return
        owners = self.record_owners([link for _, link, _ in back])
        owed: list[TaskOwed] = []
        entered: list[tuple[StageUpdate, Where]] = []
        for lead, link, why in back:
            if not self.moved(lead.id, link, self.config.process.handoff_stage, why, now,
                              summary, events):
                continue
            owner = owners.get(link.crm_id)
            place = self.where(link, owner)
            entered.append((StageUpdate(lead.id, self.config.process.handoff_stage, "", now),
                            place))
            events.append(Event(lead.id, "handed_back", why))
            log.info("handed back to sales", lead=lead.id, why=why)
            if self.config.sync.handoff_task:
                normalized = normalize(lead, self.config.marketing.default_region).lead
                points = score(normalized, self.config.scoring, self.clock())
                task = self.follow_up(lead, link.crm_id, points.reason, points.value, owner,
                                      now, back=why)
                occasion = f"back-{now:%Y%m%d%H%M}"
                owed.append(TaskOwed(marketing_id=lead.id, crm=self.crm.name,
                                     crm_object=link.crm_object, crm_id=link.crm_id,
                                     occasion=occasion, created_at=now, verify=False,
                                     task=replace(task, key=f"{lead.id}-{occasion}").as_json()))
            if self.sla_store is not None:
                self.close_clocks(lead.id, f"handed back to sales {now:%Y-%m-%d %H:%M} UTC")
                self.sla_store.save(self.clocks.started(place, now))
        if self.sla_store is not None:
            self.sla_store.save(self.stage_clocks(entered))
        if owed:
            self.state.save_links([link for _, link, _ in back], owed)
            self.make_tasks(summary, events)

    def close_clocks(self, lead_id: str, why: str,
                     held: SlaClock | None = None) -> list[SlaClock]:
        """The lead's running clocks, closed with why (a breach they had stays recorded):
        their hand-off or owner is over. ``held``: one the caller has in hand and saves
        itself (closed here too). Returns those closed."""
        assert self.sla_store is not None
        running = [held if held is not None and c.id == held.id else c
                   for c in self.sla_store.of_leads([lead_id])
                   if not c.closed and c.met_at is None]
        for clock in running:
            clock.closed = True
            clock.evidence = f"{clock.evidence}; {why}" if clock.evidence else why
        self.sla_store.save([c for c in running if c is not held])
        return running

    def record_owners(self, links: list[Link]) -> dict[str, str]:
        """Record id → its owner in the CRM now (sales may have moved it)."""
        owner_field = self.crm.owner_field
        found: dict[str, str] = {}
        by_object: dict[str, list[Link]] = {}
        for link in links:
            by_object.setdefault(link.crm_object, []).append(link)
        for crm_object, group in by_object.items():
            for record in self.crm.read_by_keys(crm_object, self.key_field,
                                                [link.external_id for link in group],
                                                [owner_field]):
                if record.fields.get(owner_field):
                    found[record.crm_id] = str(record.fields[owner_field])
        return found

    # step 9, the other half: SLA clocks ----------------------------------------------
    def keep_time(self, summary: RunSummary) -> None:
        """Look at every open SLA clock: met (by a touch or a step, at its own time),
        warned ahead of its deadline, or breached: recorded once, with its evidence,
        and the configured actions carried out (those a cut-off run left, too)."""
        if summary.dry_run or self.sla_store is None:
            return
        clocks = self.sla_store.open(self.crm.name)
        if not clocks:
            return
        now = self.clock()
        evidence = self.evidence(clocks)
        events: list[Event] = []
        self._stopped.clear()
        try:
            for clock in clocks:
                if clock.marketing_id in self._stopped:
                    continue  # recycled by a breach of this run: its clocks are closed
                outcome = self.clocks.judge(clock, evidence.get(clock.marketing_id,
                                                                Evidence()), now)
                changed = self.took(outcome, now, summary, events)
                if clock.breached_at is not None and clock.met_at is None:
                    self.sla_store.save([clock])
                    self.breach_actions(clock, summary, events)  # those not done yet
                elif not changed:
                    continue
                self.sla_store.save([clock])
        finally:
            self.state.record_events(summary.run_id, events)

    def took(self, outcome: Outcome, now: datetime, summary: RunSummary,
             events: list[Event]) -> bool:
        """Write down what a look at a clock found; False when nothing changed."""
        clock, what = outcome.clock, f"{outcome.clock.clock}: {outcome.evidence}"
        if outcome.kind == "met":
            clock.met_at, clock.closed = outcome.at or now, True
            clock.evidence = (f"{clock.evidence}; then {outcome.evidence}"
                              if clock.breached_at is not None else outcome.evidence)
            events.append(Event(clock.marketing_id, "sla_met", what))
        elif outcome.kind == "warn":
            clock.warned_at = now
            summary.warnings.append(f"lead {clock.marketing_id}: SLA {what}")
            events.append(Event(clock.marketing_id, "sla_warning", what))
            log.warning("sla due soon", lead=clock.marketing_id, clock=clock.clock,
                        due=clock.due_at.isoformat())
        elif outcome.kind == "late":
            clock.breached_at, clock.met_at, clock.closed = now, outcome.at, True
            clock.evidence = outcome.evidence
            summary.warnings.append(f"lead {clock.marketing_id}: SLA breached, {what}")
            events.append(Event(clock.marketing_id, "sla_breach", what))
            log.warning("sla met late", lead=clock.marketing_id, clock=clock.clock,
                        evidence=outcome.evidence)
        elif outcome.kind == "breach":
            clock.breached_at, clock.evidence = now, outcome.evidence
            summary.warnings.append(f"lead {clock.marketing_id}: SLA breached, {what}")
            events.append(Event(clock.marketing_id, "sla_breach", what))
            log.warning("sla breached", lead=clock.marketing_id, clock=clock.clock,
                        evidence=outcome.evidence)
        return outcome.kind is not None

    def evidence(self, clocks: list[SlaClock]) -> dict[str, Evidence]:
        """Each lead's steps (marketing's stage history) and, for clocks that count
        touches, its record's activities: one history read per 100 records."""
        ids = sorted({clock.marketing_id for clock in clocks})
        steps = {lead: [StageStep(u.at, u.stage, CRM_DELETED if u.crm_status == CRM_DELETED
                                  else u.who) for u in updates]
                 for lead, updates in self.marketing.stage_histories(ids).items()}
        wanted = {(clock.crm_object, clock.crm_id) for clock in clocks
                  if clock.clock in TOUCH_CLOCKS}
        touches = self.crm.history([Candidate("lead" if crm_object == self.object
                                              else "contact", crm_object, crm_id, {})
                                    for crm_object, crm_id in sorted(wanted)],
                                   TOUCHES_READ) if wanted else {}
        return {clock.marketing_id: Evidence(touches.get(clock.crm_id, ()),
                                             steps.get(clock.marketing_id, ()))
                for clock in clocks}

    def breach_actions(self, clock: SlaClock, summary: RunSummary,
                       events: list[Event]) -> None:
        """The breach's actions not done yet, each saved as done as soon as it is: a
        failed one is tried again next run, the others are not repeated."""
        definition = self.clocks.definition(clock)
        for action in definition.on_breach if definition else ():
            if action == "warn" or action in clock.done():
                continue
            try:
                note = {"task": self.sla_task, "reroute": self.sla_reroute,
                        "webhook": self.sla_webhook, "recycle": self.sla_recycle}[action](clock)
            except LeadsyncError as exc:
                summary.warnings.append(f"lead {clock.marketing_id}: SLA breach action "
                                        f"{action} failed, tried again next run: {exc}")
                events.append(Event(clock.marketing_id, "sla_action_failed", f"{action}: {exc}"))
                return
            clock.mark_done(action)
            events.append(Event(clock.marketing_id, "sla_action", f"{clock.clock}: {action}: "
                                                                  f"{note}"))
            self.sla_store.save([clock])  # type: ignore[union-attr]
        # A breached clock stays open until it is met (the follow-up time, however
        # late) or the lead leaves sales; a touch count has nothing more to learn; a
        # re-route closed it for its old owner.
        clock.closed = clock.closed or clock.clock == "touches"

    def breach_text(self, clock: SlaClock) -> tuple[str, str]:
        """(subject, body) of a breach, in a manager's words."""
        [lead] = self.marketing.leads([clock.marketing_id]) or [None]
        who = person_shown(lead, clock.marketing_id)
        owner = next((o.name for o in self.owners() or () if o.id == clock.owner_id),
                     clock.owner_id or "the default owner")
        subject = f"{ESCALATION} ({CLOCK_NAMES.get(clock.clock, clock.clock)}): {who}"
        body = "\n".join([
            f"{who}, owned by {owner}, {self.crm.name} record {clock.crm_id}.",
            f"Clock started {clock.started_at:%Y-%m-%d %H:%M} UTC, due "
            f"{clock.due_at:%Y-%m-%d %H:%M} UTC.",
            f"Breach: {clock.evidence}."])
        return subject[:255], body

    def sla_task(self, clock: SlaClock) -> str:
        """A high-priority task on the record for the manager ([sla] manager), else the owner."""
        subject, body = self.breach_text(clock)
        owner = self.config.sla.manager or self.owner_now(clock)
        task = HandoffTask(key=f"sla-{clock.id}", crm_id=clock.crm_id, subject=subject,
                           body=body, due=self.clock(), owner_id=owner, priority="high")
        if self.crm.tasks_made([task]):  # made by a run cut off before it said so
            return "task made already"
        [result] = self.crm.add_tasks(clock.crm_object, [task])
        if not result.ok:
            raise SlaActionFailed(f"the CRM refused the task: {'; '.join(result.errors)}")
        return f"task {result.crm_id} for {owner or 'the owner'}"

    def owner_now(self, clock: SlaClock) -> str | None:
        """Who has the lead now, by the record's owner in the CRM (one read: a breach
        is rare): after a re-route, or a rep's reassignment, not the clock's owner."""
        link = self.state.links_any_object(self.crm.name, [clock.marketing_id],
                                           prefer=self.object).get(clock.marketing_id)
        found = self.record_owners([link]).get(clock.crm_id) if link is not None else None
        if found:
            return found
        current = (self.router.store.current([clock.marketing_id]).get(clock.marketing_id)
                   if self.router is not None else None)
        return (current.owner_id if current is not None else None) or clock.owner_id

    def sla_reroute(self, clock: SlaClock) -> str:
        """The lead to the next rep of its pool (`leadsync reroute`), whose own clock starts."""
        summary = RunSummary(self.run_id, dry_run=False)
        done = self.reroute([clock.marketing_id], summary, why=(
            f"{CLOCK_NAMES.get(clock.clock, clock.clock)} SLA breached"), breached=clock)
        moved = [r for r in done if r.written and r.owner_id]
        if moved:
            return f"from {moved[0].previous} to {moved[0].owner_id}"
        if any(r.owner_id is None or r.owner_id == r.previous for r in done) \
                and not summary.refused:  # routing's answer: nobody else; asking again won't help
            return "nobody else to re-route to: " + "; ".join(r.reason for r in done)
        raise SlaActionFailed("; ".join(summary.warnings) or "nobody to re-route to")

    def sla_webhook(self, clock: SlaClock) -> str:
        """A JSON POST (Slack's incoming-webhook shape: ``text``, plus the facts)."""
        env = self.config.sla.webhook_env or ""
        url = os.environ.get(env)
        if not url:
            raise SlaActionFailed(f"environment variable {env} (sla.webhook_env) is not set")
        subject, body = self.breach_text(clock)
        payload = {"text": f"{subject}\n{body}", "lead": clock.marketing_id,
                   "clock": clock.clock, "crm": clock.crm, "record": clock.crm_id,
                   "owner": clock.owner_id, "started_at": clock.started_at.isoformat(),
                   "due_at": clock.due_at.isoformat(), "evidence": clock.evidence}
        try:  # the URL is a secret: never in a message
            answer = requests.post(url, json=payload, timeout=WEBHOOK_SECONDS)
        except requests.RequestException as exc:
            raise SlaActionFailed(f"webhook not reached ({exc.__class__.__name__})") from None
        if answer.status_code >= 300:
            raise SlaActionFailed(f"webhook answered {answer.status_code}")
        return f"webhook answered {answer.status_code}"

    def sla_recycle(self, clock: SlaClock) -> str:
        """Back to marketing: the recycle stage, and the CRM status that means it."""
        now = self.clock()
        stage = self.config.process.recycle.stage
        link = self.state.links_any_object(self.crm.name, [clock.marketing_id],
                                           prefer=self.object).get(clock.marketing_id)
        reason = f"{CLOCK_NAMES.get(clock.clock, clock.clock)} SLA breached: {clock.evidence}"
        written = self.move_to(clock.marketing_id, link, stage, reason, now)
        self.close_clocks(clock.marketing_id, f"stopped: the lead went to {stage} "
                                              f"{now:%Y-%m-%d %H:%M} UTC", held=clock)
        self._stopped.add(clock.marketing_id)
        return f"recycled{written}"

    def move_to(self, marketing_id: str, link: Link | None, stage: str, reason: str,
                now: datetime) -> str:
        """leadsync moves a lead to ``stage``: marketing's stage history and, where the
        record takes writes, the CRM status that means the stage. Says what it wrote."""
        status = self.status_of(stage)
        written = ""
        if status and link is not None and not link.converted and link.deleted_at is None:
            [result] = self.crm.upsert(link.crm_object, self.key_field, [Write(
                link.external_id, {self.status_field: status}, known=True,
                crm_id=link.crm_id, stamp=False)])
            if not result.ok:
                raise StatusRefused(f"lead {marketing_id}: {link.crm_object} {link.crm_id} "
                                    f"refused {self.status_field} = {status!r} (moving it to "
                                    f"{stage}): {'; '.join(str(e) for e in result.errors)}")
            link.crm_status, link.crm_status_at = status, now
            self.state.save_links([link])
            written = f"; {self.status_field} = {status!r}"
        self.marketing.write_stages([StageUpdate(marketing_id, stage, status or "", now,
                                                 who=LEADSYNC, reason=reason)])
        return written

    def status_of(self, stage: str) -> str | None:
        """The CRM status that means ``stage``: the first of its crm_statuses (or of
        to_marketing's); for the hand-off stage, the status a new record is made with."""
        created = self.config.mapping.on_create.get(self.status_field)
        if stage == self.config.process.handoff_stage and created is not None:
            return str(created)
        own = self.config.process.stages[stage].crm_statuses \
            if stage in self.config.process.stages else []
        statuses = own or [s for s, st in self.config.mapping.status.to_marketing.items()
                           if st == stage]
        return statuses[0] if statuses else None


SHOWN = ("first_name", "last_name", "email", "phone", "company", "title", "street",
         "postal_code", "city", "state", "country")
"""The fields a review shows of the lead and of the record."""


def lead_shown(lead: Lead) -> str:
    """The lead as a review shows it (JSON of ``SHOWN``)."""
    return json.dumps({k: lead.get(k) for k in SHOWN if lead.get(k)}, default=str)


def unfit_value(lead: Lead) -> RecordError | None:
    """A field value no step can take: a structure where one value belongs (JSON
    lists and objects), or text that is not Unicode (a lone surrogate)."""
    for name, value in lead.fields.items():
        if isinstance(value, (dict, list, tuple, set)):
            return RecordError("INVALID_VALUE", f"{name}: a {type(value).__name__} where a "
                               "single value belongs", [name])
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return RecordError("INVALID_VALUE", f"{name}: not valid Unicode (a lone "
                                   "surrogate)", [name])
    return None


def answer_for(answers: dict[str, MatchReview], candidate: Prepared) -> str | None:
    """A reviewer's answer about this candidate (``asked_about``), or None."""
    review = asked_about(answers, candidate)
    return review.status if review is not None else None


def asked_about(answers: dict[str, MatchReview], candidate: Prepared) -> MatchReview | None:
    """The review of this lead about this candidate: asked about by its CRM id, or, for
    a lead of an earlier run that is in the CRM now, by our key on the record."""
    review = answers.get(candidate.person.id)
    ref = candidate.person.ref
    if review is None and isinstance(ref, Candidate) and ref.key:
        review = answers.get(ref.key)
    return review


def kept_by_record(handoff: Handoff, body: dict[str, Any]) -> dict[str, Any]:
    """A first write to an earlier record of the person leaves the record's own values
    (it fills blanks, keeps identity): marketing's values of the fields it did not
    carry are settled as they are now, and go out again only when marketing changes
    them, not with the lead's next unrelated change. Fields the CRM speaks for (two-way,
    prefer-CRM) are not settled here: the read-back says what the record holds."""
    if handoff.link is not None or handoff.target is None:
        return {}
    payload = handoff.payload
    return {name: value for name, value in payload.values.items()
            if name not in body and payload.sync.get(name) not in FROM_CRM}


def account_hint(handoff: Handoff) -> AccountHint | None:
    """Whose person this already is, from the match step: a matched CRM lead's own
    owner, else the account's (a contact's account, or one found by company or
    domain), else a matched contact's owner."""
    target, account = handoff.target, handoff.account
    if target is not None and target.kind == "lead" and target.owner_id:
        return AccountHint(target.owner_id, target.crm_id,
                           "the lead matched it; its owner keeps the person",
                           label="CRM lead")
    if account is not None and account.owner_id:
        return AccountHint(account.owner_id, account.name or account.account_id,
                           account.via)
    if target is not None and target.owner_id:
        return AccountHint(target.owner_id, target.crm_id,
                           "the lead matched it; its owner keeps the person",
                           label=f"CRM {target.kind}")
    return None

"""Runtime state: sync runs, cursors, the link table, record events, dead letters.

One store, SQLModel tables, SQLite by default and PostgreSQL by URL. Nothing
here holds a secret: payloads are lead data, errors are the CRM's words.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint, insert, update
from sqlalchemy import Text as SAText
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, select

from connector.db import HeldLock, UTCDateTime, make_engine, named_lock, rows_by_id
from connector.errors import LeadsyncError, RecordError, elide
from connector.migrations import STATE, drop, forget, prepare
from connector.records import Cursor, utcnow


class StateModel(SQLModel, registry=registry()):
    """Base of the state tables; their own metadata, apart from the marketing store's."""


def _when(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


RUN_COUNTS = ("read", "qualified", "matched", "held", "created", "updated", "unchanged",
              "refused", "not_written", "fed_back", "conflicts")


class SyncRun(StateModel, table=True):
    __tablename__ = "sync_run"
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = _when(nullable=False)
    finished_at: datetime | None = _when(nullable=True)
    status: str = "running"  # running | ok | failed | stopped | interrupted | abandoned
    dry_run: bool = False
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = _when(nullable=True)
    """Moved after every batch: a "running" run whose process is gone is found by the
    next start (which holds the lock, so nothing else can be running) and marked
    abandoned, with its last sign of life."""
    read: int = 0
    qualified: int = 0
    matched: int = 0
    """Leads found to be an earlier CRM record of the same person (updated, not created)."""
    held: int = 0
    """Leads held for a person's review: a possible, not a certain, duplicate."""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    fed_back: int = 0
    not_written: int = 0
    """Changes for records the CRM takes no more writes to (converted, deleted)."""
    conflicts: int = 0
    """Two-way fields both sides changed since the last sync (the newer won)."""
    error: str | None = Field(default=None, sa_column=Column(SAText, nullable=True))

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RUN_COUNTS}

    def as_dict(self) -> dict[str, Any]:
        """The run as `leadsync status --json` and the console show it."""
        return {"id": self.id, "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "status": self.status, "dry_run": self.dry_run, "error": self.error,
                **self.counts()}


class CursorRow(StateModel, table=True):
    __tablename__ = "cursor"
    stream: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(SAText, nullable=False))
    updated_at: datetime = _when(nullable=False)


class Link(StateModel, table=True):
    """A marketing lead and the CRM record it was handed to."""

    __tablename__ = "link"
    __table_args__ = (UniqueConstraint("crm", "crm_object", "marketing_id"),
                      Index("ix_link_crm_id", "crm", "crm_id"),
                      Index("ix_link_external_id", "crm", "crm_object", "external_id"))
    id: int | None = Field(default=None, primary_key=True)
    marketing_id: str
    crm: str
    crm_object: str
    crm_id: str
    external_id: str
    payload_hash: str | None = None
    """Hash of the last payload written, so an unchanged lead is not written again."""
    crm_status: str | None = None
    """The CRM status last seen or written, so a read-back of it is an echo."""
    crm_status_at: datetime | None = _when(nullable=True)
    """When the CRM says that status was set: steps of the field's history after it
    are the ones marketing has not heard yet."""
    converted: bool = False
    """Sales converted the record (into a contact and an opportunity); the CRM
    refuses writes to it from then on, so leadsync stops sending them."""
    deleted_at: datetime | None = _when(nullable=True)
    """A rep deleted the record in the CRM: nothing is written to it any more (and it is
    not re-created, unless ``[sync] on_crm_delete`` says so)."""
    protected: bool = False
    """The record was matched by something other than the same address: it is
    someone's own record, whose name, email and owner leadsync never overwrites."""
    other_email: str | None = None
    """The lead's address when the record keeps another (a match by name)."""
    field_hashes: str = Field(default="{}", sa_column=Column(SAText, nullable=False))
    """JSON {CRM field: hash of the value the CRM holds, as last written or read}.
    A value read back that matches is leadsync's own echo (no ping-pong between
    two-way fields), and a value to write that matches is not sent again."""

    def crm_values(self) -> dict[str, str]:
        return dict(json.loads(self.field_hashes or "{}"))

    def remember(self, values: dict[str, Any]) -> None:
        """Note what the CRM now holds for these fields."""
        known = self.crm_values()
        known.update({name: value_hash(value) for name, value in values.items()})
        self.field_hashes = json.dumps(known, sort_keys=True)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


LINK_COLUMNS = tuple(column.name for column in Link.__table__.columns)  # type: ignore[attr-defined]


class RecordEvent(StateModel, table=True):
    __tablename__ = "record_event"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    marketing_id: str | None = Field(default=None, index=True)
    kind: str  # created | updated | refused | fed_back | not_qualified | matched | routed
    # | rerouted | task …
    detail: str = Field(default="", sa_column=Column(SAText, nullable=False))
    at: datetime = _when(nullable=False)


class DeadLetter(StateModel, table=True):
    """A record the CRM refused, kept with the CRM's reason until it goes through."""

    __tablename__ = "dead_letter"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    marketing_id: str = Field(index=True)
    crm: str
    crm_object: str
    error_code: str
    message: str = Field(sa_column=Column(SAText, nullable=False))
    fields: str = "[]"
    payload: str = Field(default="{}", sa_column=Column(SAText, nullable=False))
    attempts: int = 1
    created_at: datetime = _when(nullable=False)
    resolved_at: datetime | None = _when(nullable=True)

    def errors(self) -> list[str]:
        return json.loads(self.fields)

    def as_dict(self) -> dict[str, Any]:
        """The letter as `leadsync status --json` and the console show it."""
        return {"id": self.id, "marketing_id": self.marketing_id, "crm": self.crm,
                "crm_object": self.crm_object, "error_code": self.error_code,
                "message": self.message, "fields": self.errors(), "attempts": self.attempts,
                "created_at": self.created_at.isoformat()}


class MatchReview(StateModel, table=True):
    """A possible duplicate waiting for a person: the lead is held, not written,
    until someone says "same" (update that record) or "different" (create)."""

    __tablename__ = "match_review"
    __table_args__ = (UniqueConstraint("crm", "marketing_id", "crm_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int
    marketing_id: str = Field(index=True)
    crm: str
    crm_object: str
    crm_id: str
    kind: str  # lead | contact: what the CRM record is
    score: float
    reason: str = Field(sa_column=Column(SAText, nullable=False))
    lead: str = Field(default="{}", sa_column=Column(SAText, nullable=False))
    """JSON of the lead's matching fields, as they were when it was held."""
    record: str = Field(default="{}", sa_column=Column(SAText, nullable=False))
    """JSON of the CRM record's matching fields, owner and key."""
    status: str = "pending"  # pending | same | different
    created_at: datetime = _when(nullable=False)
    decided_at: datetime | None = _when(nullable=True)
    applied_at: datetime | None = _when(nullable=True)
    """When a run acted on the decision (the lead was written)."""


class TaskOwed(StateModel, table=True):
    """A follow-up task a handoff owes its owner: saved with the link, in the same
    transaction, and marked made once the CRM has it (an outbox). A crash or a
    refused call leaves it owed; the next run makes it, after asking the CRM
    whether it is there already (its token is in the task), so never twice."""

    __tablename__ = "task_owed"
    __table_args__ = (UniqueConstraint("crm", "marketing_id", "crm_id"),)
    id: int | None = Field(default=None, primary_key=True)
    marketing_id: str = Field(index=True)
    crm: str
    crm_object: str
    crm_id: str
    occasion: str = ""
    """Which task of the lead's on this record: "" for the hand-off's, e.g.
    "back-202701081100" for a lead handed back to sales after recycling. One row a lead
    and record: a later occasion re-arms it (the CRM keeps the earlier tasks)."""
    task: str = Field(sa_column=Column(SAText, nullable=False))
    """JSON of the HandoffTask: subject, body, due, owner."""
    verify: bool = False
    """Ask the CRM first: the record was there before this link (lost state, a run cut
    off after its write), so its task may have been made already."""
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(SAText, nullable=True))
    task_id: str | None = None
    created_at: datetime = _when(nullable=False)
    made_at: datetime | None = _when(nullable=True)


@dataclass(frozen=True)
class Event:
    marketing_id: str | None
    kind: str
    detail: str = ""


class RunLocked(LeadsyncError):
    """Another run holds the pipeline lock on this state store."""


class StateStore:
    """The state database behind one connector instance."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            prepare(self.engine, STATE)
        except BaseException:
            self.engine.dispose()
            raise
        self.reviews = Reviews(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        forget(self.engine)  # the file may go before the next open: ask its schema again

    @contextmanager
    def run_lock(self, name: str = "pipeline") -> Iterator[HeldLock]:
        """Hold the pipeline lock for a run, or raise RunLocked at once: several
        instances on one state store never run the pipeline at the same time."""
        with named_lock(self.engine, name, wait=False) as held:
            if not held:
                raise RunLocked(f"another leadsync run holds the {name} lock on this state "
                                "database; this run was skipped")
            yield held

    def drop_all(self) -> None:
        """For tests: remove every state table (a new database for the next store)."""
        drop(self.engine, STATE, StateModel.metadata)

    # runs -----------------------------------------------------------------
    def start_run(self, *, dry_run: bool = False) -> int:
        """A new run; runs left "running" by a process that died are marked abandoned
        (call it holding the run lock: no other run can be live then)."""
        now = utcnow()
        with Session(self.engine) as session:
            for dead in session.exec(select(SyncRun).where(SyncRun.status == "running")):
                seen = dead.heartbeat_at or dead.started_at
                dead.status, dead.finished_at = "abandoned", now
                dead.error = (f"the process died (pid {dead.pid or '?'} on "
                              f"{dead.host or 'an unknown host'}); last sign of life "
                              f"{seen:%Y-%m-%d %H:%M:%S} UTC")
                session.add(dead)
            run = SyncRun(started_at=now, dry_run=dry_run, host=socket.gethostname(),
                          pid=os.getpid(), heartbeat_at=now)
            session.add(run)
            session.commit()
            assert run.id is not None
            return run.id

    def heartbeat(self, run_id: int, counts: dict[str, int] | None = None) -> None:
        """A sign of life after a batch, with the run's counts so far: a run whose
        process dies keeps what its finished batches did (status, metrics)."""
        with Session(self.engine) as session:
            run = session.get(SyncRun, run_id)
            if run is not None and run.status == "running":
                run.heartbeat_at = utcnow()
                for name, value in (counts or {}).items():
                    setattr(run, name, value)
                session.add(run)
                session.commit()

    def finish_run(self, run_id: int, counts: dict[str, int], *, status: str,
                   error: str | None = None) -> SyncRun:
        with Session(self.engine) as session:
            run = session.get(SyncRun, run_id)
            if run is None:
                raise LookupError(f"no sync run {run_id}")
            for name in RUN_COUNTS:
                setattr(run, name, counts.get(name, 0))
            run.status = status
            run.error = error
            run.finished_at = utcnow()
            session.add(run)
            session.commit()
            session.refresh(run)
            return run

    def runs(self, limit: int = 10) -> list[SyncRun]:
        with Session(self.engine) as session:
            query = select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)
            return list(session.exec(query))

    # cursors --------------------------------------------------------------
    def cursor(self, stream: str) -> Cursor | None:
        value = self._kept(stream)
        return Cursor.from_json(value) if value is not None else None

    def set_cursor(self, stream: str, cursor: Cursor) -> None:
        self._keep(stream, cursor.to_json())

    def mark(self, stream: str) -> str | None:
        """A value kept under a name beside the cursors (a fingerprint, say)."""
        return self._kept(f"mark:{stream}")

    def set_mark(self, stream: str, value: str) -> None:
        self._keep(f"mark:{stream}", value)

    def _kept(self, stream: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(CursorRow, stream)
            return row.value if row else None

    def _keep(self, stream: str, value: str) -> None:
        with Session(self.engine) as session:
            row = session.get(CursorRow, stream) or CursorRow(stream=stream, value="",
                                                              updated_at=utcnow())
            row.value, row.updated_at = value, utcnow()
            session.add(row)
            session.commit()

    def drop_cursor(self, stream: str) -> None:
        with Session(self.engine) as session:
            row = session.get(CursorRow, stream)
            if row is not None:
                session.delete(row)
                session.commit()

    # links ----------------------------------------------------------------
    def links(self, crm: str, crm_object: str, marketing_ids: Iterable[str]) -> dict[str, Link]:
        return self._links_by(crm, crm_object, "marketing_id", marketing_ids)

    def links_by_external_id(self, crm: str, crm_object: str,
                             external_ids: Iterable[str]) -> dict[str, Link]:
        return self._links_by(crm, crm_object, "external_id", external_ids)

    def _links_by(self, crm: str, crm_object: str, column: str,
                  values: Iterable[str]) -> dict[str, Link]:
        wanted = list(dict.fromkeys(values))
        found: dict[str, Link] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(Link).where(Link.crm == crm, Link.crm_object == crm_object,
                                           col(getattr(Link, column)).in_(
                                               wanted[start:start + 500]))
                found.update({getattr(link, column): link for link in session.exec(query)})
        return found

    def deleted_links(self, crm: str) -> list[Link]:
        """Links to records reps deleted: the people leadsync must not bring back."""
        with Session(self.engine) as session:
            return list(session.exec(select(Link).where(
                Link.crm == crm, col(Link.deleted_at).is_not(None))))

    def links_to_records(self, crm: str, crm_object: str,
                         crm_ids: Iterable[str]) -> dict[str, list[Link]]:
        """CRM record id → every link to it: one record may stand for several leads
        (one person's two addresses, a match, a merge in the CRM)."""
        wanted = list(dict.fromkeys(crm_ids))
        found: dict[str, list[Link]] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(Link).where(Link.crm == crm, Link.crm_object == crm_object,
                                           col(Link.crm_id).in_(wanted[start:start + 500]))
                for link in session.exec(query.order_by(col(Link.id))):
                    found.setdefault(link.crm_id, []).append(link)
        return found

    def links_any_object(self, crm: str, marketing_ids: Iterable[str],
                         prefer: str) -> dict[str, Link]:
        """Each lead's link to any object of this CRM (a lead matched to a contact is
        linked to the contact), ``prefer``'s when there are several."""
        wanted = list(dict.fromkeys(marketing_ids))
        found: dict[str, Link] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(Link).where(Link.crm == crm, col(Link.marketing_id).in_(
                    wanted[start:start + 500]))
                for link in session.exec(query):
                    if link.marketing_id not in found or link.crm_object == prefer:
                        found[link.marketing_id] = link
        return found

    def save_links(self, links: Sequence[Link], owed: Sequence[TaskOwed] = ()) -> None:
        """Links, and the tasks their handoffs owe, in one transaction: a link is
        never saved without what it owes."""
        if not links and not owed:
            return
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            owing: dict[tuple[str, str, str], TaskOwed] = {}
            for start in range(0, len(owed), 500):
                chunk = owed[start:start + 500]
                owing.update({(row.crm, row.marketing_id, row.crm_id): row
                              for row in session.exec(select(TaskOwed).where(
                                  col(TaskOwed.marketing_id).in_(
                                      [item.marketing_id for item in chunk])))})
            for item in owed:
                which = (item.crm, item.marketing_id, item.crm_id)
                row = owing.get(which)
                if row is None:
                    item.created_at = now
                    owing[which] = item
                    session.add(item)
                elif row.occasion != item.occasion:  # a hand-back: the row owes its task
                    row.occasion, row.task, row.verify = item.occasion, item.task, item.verify
                    row.attempts, row.last_error, row.task_id = 0, None, None
                    row.made_at, row.created_at = None, now
                    session.add(row)
            new = [link for link in links if link.id is None]
            if new:  # saved before in this run (merge leaves the caller's copy id-less)
                known: dict[tuple[str, str, str], int] = {}
                groups: dict[tuple[str, str], list[str]] = {}
                for link in new:
                    groups.setdefault((link.crm, link.crm_object), []).append(
                        link.marketing_id)
                # by the whole unique key (crm, object, lead): its index answers each
                # lead; by the lead alone, no index does and every link is read, each
                # batch of a run of 100,000 leads again (issue 18)
                for (crm, crm_object), ids in groups.items():
                    for start in range(0, len(ids), 500):
                        rows = session.exec(select(Link.id, Link.marketing_id).where(
                            Link.crm == crm, Link.crm_object == crm_object,
                            col(Link.marketing_id).in_(ids[start:start + 500])))
                        known.update({(crm, crm_object, mid): id_ for id_, mid in rows})
                for link in new:
                    link.id = known.get((link.crm, link.crm_object, link.marketing_id))
            rows = []  # known links: one bulk UPDATE by primary key, not a merge a link
            for link in links:
                link.updated_at = now
                if link.created_at is None:
                    link.created_at = now
                if link.id is None:
                    session.add(link)
                else:
                    rows.append({column: getattr(link, column) for column in LINK_COLUMNS})
            if rows:
                session.execute(update(Link), rows)
            session.commit()

    def tasks_owed(self, crm: str, *, limit: int = 10_000) -> list[TaskOwed]:
        with Session(self.engine) as session:
            return list(session.exec(select(TaskOwed).where(
                TaskOwed.crm == crm, col(TaskOwed.made_at).is_(None)
            ).order_by(col(TaskOwed.id)).limit(limit)))

    def tasks_settled(self, made: dict[int, str], failed: dict[int, str],
                      refused: dict[int, str] | None = None) -> None:
        """``made``: owed id → the CRM's task id; ``failed``: owed id → why not yet;
        ``refused``: owed id → why the CRM will not take it (settled, not retried)."""
        refused = refused or {}
        if not made and not failed and not refused:
            return
        now = utcnow()
        with Session(self.engine) as session:
            rows = rows_by_id(session, TaskOwed, [*made, *failed, *refused])
            for owed_id in [*made, *failed, *refused]:
                row = rows.get(owed_id)
                if row is None:
                    continue
                if owed_id in made:
                    row.made_at, row.task_id = now, made[owed_id]
                elif owed_id in refused:
                    row.made_at, row.last_error = now, refused[owed_id]
                else:
                    row.attempts, row.last_error = row.attempts + 1, failed[owed_id]
                    row.verify = True  # a failed call may still have landed
                session.add(row)
            session.commit()

    # events and dead letters -------------------------------------------------
    def record_events(self, run_id: int, events: Sequence[Event]) -> None:
        if not events:
            return
        now = utcnow()
        with Session(self.engine) as session:  # one executemany: no object a row
            session.execute(insert(RecordEvent), [
                {"run_id": run_id, "marketing_id": e.marketing_id, "kind": e.kind,
                 "detail": e.detail, "at": now} for e in events])
            session.commit()

    def events(self, run_id: int, kind: str | None = None) -> list[RecordEvent]:
        with Session(self.engine) as session:
            query = select(RecordEvent).where(RecordEvent.run_id == run_id)
            if kind:
                query = query.where(RecordEvent.kind == kind)
            return list(session.exec(query.order_by(col(RecordEvent.id))))

    def events_of(self, marketing_id: str, limit: int = 1000) -> list[RecordEvent]:
        """A lead's events over every run, oldest first: what `leadsync explain` tells."""
        with Session(self.engine) as session:
            query = (select(RecordEvent).where(RecordEvent.marketing_id == marketing_id)
                     .order_by(col(RecordEvent.id)).limit(limit))
            return list(session.exec(query))

    def add_dead_letter(self, run_id: int, *, marketing_id: str, crm: str, crm_object: str,
                        errors: list[RecordError], payload: dict[str, Any]) -> None:
        """Keep a refused record; a repeat refusal of the same record bumps its attempts."""
        first = errors[0] if errors else RecordError("UNKNOWN", "no reason given")
        message = elide("; ".join(e.message for e in errors) or first.message, limit=4_000)
        fields = sorted({f for e in errors for f in e.fields})
        with Session(self.engine) as session:
            query = select(DeadLetter).where(DeadLetter.marketing_id == marketing_id,
                                             DeadLetter.crm == crm,
                                             DeadLetter.crm_object == crm_object,
                                             col(DeadLetter.resolved_at).is_(None))
            letter = session.exec(query).first()
            if letter is None:
                letter = DeadLetter(run_id=run_id, marketing_id=marketing_id, crm=crm,
                                    crm_object=crm_object, error_code=first.code,
                                    message=message, created_at=utcnow())
            else:
                letter.attempts += 1
                letter.run_id = run_id
                letter.error_code = first.code
                letter.message = message
            letter.fields = json.dumps(fields)
            letter.payload = json.dumps(payload, default=str, sort_keys=True)
            session.add(letter)
            session.commit()

    def resolve_dead_letters(self, crm: str, crm_object: str, marketing_ids: Iterable[str]) -> int:
        """Mark dead letters resolved once their record went through."""
        ids = list(marketing_ids)
        if not ids:
            return 0
        resolved = 0
        now = utcnow()
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                query = select(DeadLetter).where(DeadLetter.crm == crm,
                                                 DeadLetter.crm_object == crm_object,
                                                 col(DeadLetter.marketing_id).in_(
                                                     ids[start:start + 500]),
                                                 col(DeadLetter.resolved_at).is_(None))
                for letter in session.exec(query):
                    letter.resolved_at = now
                    session.add(letter)
                    resolved += 1
            session.commit()
        return resolved

    def dead_letters(self, *, include_resolved: bool = False, limit: int = 100) -> list[DeadLetter]:
        with Session(self.engine) as session:
            query = select(DeadLetter)
            if not include_resolved:
                query = query.where(col(DeadLetter.resolved_at).is_(None))
            return list(session.exec(query.order_by(col(DeadLetter.id).desc()).limit(limit)))


class Reviews:
    """The review queue of possible duplicates (``leadsync review``)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def hold(self, reviews: Sequence[MatchReview]) -> None:
        """Queue these pairs; a pair already queued keeps its first entry and decision.
        A review with an id is that entry, asked again: its evidence, the lead as it is
        now, and what it asks about (the record a lead of its run has become, when it
        was asked about that lead) are the new ones."""
        if not reviews:
            return
        with Session(self.engine) as session:
            for review in reviews:
                known = session.get(MatchReview, review.id) if review.id is not None else \
                    session.exec(select(MatchReview).where(
                        MatchReview.crm == review.crm,
                        MatchReview.marketing_id == review.marketing_id,
                        MatchReview.crm_id == review.crm_id)).first()
                if known is None:
                    review.created_at = review.created_at or utcnow()
                    session.add(review)
                elif known.status == "pending":  # newer evidence for the same pair
                    known.crm_object, known.crm_id = review.crm_object, review.crm_id
                    known.kind = review.kind
                    known.score, known.reason = review.score, review.reason
                    known.lead, known.record = review.lead, review.record
                    session.add(known)
            session.commit()

    def of_leads(self, crm: str, marketing_ids: Iterable[str]) -> dict[str, list[MatchReview]]:
        wanted = list(dict.fromkeys(marketing_ids))
        found: dict[str, list[MatchReview]] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(MatchReview).where(
                    MatchReview.crm == crm,
                    col(MatchReview.marketing_id).in_(wanted[start:start + 500]))
                for review in session.exec(query):
                    found.setdefault(review.marketing_id, []).append(review)
        return found

    def listing(self, *, status: str | None = "pending", limit: int = 100) -> list[MatchReview]:
        with Session(self.engine) as session:
            query = select(MatchReview).order_by(col(MatchReview.id))
            if status is not None:
                query = query.where(MatchReview.status == status)
            return list(session.exec(query.limit(limit)))

    def get(self, review_id: int) -> MatchReview | None:
        with Session(self.engine) as session:
            return session.get(MatchReview, review_id)

    def answered(self, *, limit: int = 100) -> list[MatchReview]:
        """Answers the next run has yet to act on, the oldest first."""
        with Session(self.engine) as session:
            return list(session.exec(select(MatchReview).where(
                MatchReview.status != "pending", col(MatchReview.applied_at).is_(None))
                .order_by(col(MatchReview.id)).limit(limit)))

    def decide(self, review_id: int, choice: str) -> MatchReview:
        """Remember a person's answer; the next run acts on it."""
        if choice not in ("same", "different"):
            raise ValueError(f"choose 'same' or 'different', not {choice!r}")
        with Session(self.engine) as session:
            review = session.get(MatchReview, review_id)
            if review is None:
                raise LookupError(f"no review {review_id}")
            review.status, review.decided_at, review.applied_at = choice, utcnow(), None
            session.add(review)
            if choice == "same":  # one record per lead: other pending pairs are moot
                for other in session.exec(select(MatchReview).where(
                        MatchReview.crm == review.crm,
                        MatchReview.marketing_id == review.marketing_id,
                        MatchReview.id != review.id, MatchReview.status == "pending")):
                    other.status, other.decided_at = "different", utcnow()
                    session.add(other)
            session.commit()
            session.refresh(review)
            return review

    def to_apply(self, crm: str) -> list[str]:
        """Leads whose review was decided but not acted on yet."""
        with Session(self.engine) as session:
            query = select(MatchReview.marketing_id).where(
                MatchReview.crm == crm, MatchReview.status != "pending",
                col(MatchReview.applied_at).is_(None))
            return list(dict.fromkeys(session.exec(query)))

    def applied(self, crm: str, marketing_ids: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(marketing_ids))
        if not wanted:
            return
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                for review in session.exec(select(MatchReview).where(
                        MatchReview.crm == crm, MatchReview.status != "pending",
                        col(MatchReview.applied_at).is_(None),
                        col(MatchReview.marketing_id).in_(wanted[start:start + 500]))):
                    review.applied_at = utcnow()
                    session.add(review)
            session.commit()


def value_hash(value: Any) -> str:
    """A field value's fingerprint: blank values ("" and None) are one value, and a
    number hashes like the text a CRM shows for it (250, 250.0 and "250" agree:
    Salesforce answers 250.0, HubSpot "250")."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

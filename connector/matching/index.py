"""The local candidate index: the CRM's people and accounts, as matching needs them.

A lead is compared with earlier records of the same person. Asking the CRM for
them on every batch costs calls and misses whatever its exact filters cannot
express (accents, typos, word order, acronyms). Instead leadsync keeps the
match-relevant fields of every CRM lead, contact and account in the state
database, with their blocking keys (``connector.matching.blocking``), indexed:

- **filled once** by a bulk read (Salesforce Bulk API 2.0 query jobs, HubSpot
  list paging past the search API's 10,000 cap);
- **kept in step** each run by the change feed since the index cursor (records
  reps created, edited, merged, converted or deleted) and at once by what the
  run itself created;
- **asked locally**: a batch's keys are one indexed query, no CRM call.

The tables live beside the state tables (``StateModel``): SQLite or PostgreSQL,
whichever the state URL names. Rows are written with executemany in chunks,
never one ORM merge per record.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Column, Index, delete, func, insert, select
from sqlalchemy import Text as SAText
from sqlalchemy.engine import Engine
from sqlmodel import Field

from connector.db import IDS_PER_QUERY, UTCDateTime
from connector.matching import BLOCK_CAP, PER_LEAD, Matcher, Person, Prepared, closest
from connector.matching.blocking import (
    account_keys,
    lead_account_keys,
    person_keys,
)
from connector.migrations import STATE, prepare
from connector.records import Candidate, PersonChange
from connector.state import StateModel

CHUNK = IDS_PER_QUERY
"""Keys or ids per SQL statement."""
ACCOUNT_KEYS = ("c:", "w:")
"""Key prefixes only accounts carry (``blocking.account_keys``)."""
NAME_KEYS = "n:"
"""A person's name keys (family name sound, initial): one crowded means a common name."""
KEPT = ("key", "owner_id", "account_id", "account_name", "account_owner_id")


class CandidateRow(StateModel, table=True):
    __tablename__ = "crm_candidate"
    crm: str = Field(primary_key=True)
    crm_id: str = Field(primary_key=True)
    """The record's reference, ``Object/id`` (``ref``): HubSpot numbers contacts and
    companies apart, so a contact and a company may share an id."""
    kind: str
    crm_object: str
    record: str = Field(sa_column=Column(SAText, nullable=False))
    """The match-relevant fields (marketing names) and owner/account, as JSON."""
    modified_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CandidateKey(StateModel, table=True):
    __tablename__ = "crm_candidate_key"
    __table_args__ = (Index("ix_crm_candidate_key_record", "crm", "crm_id"),)
    crm: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    crm_id: str = Field(primary_key=True)


class CandidateKeying(StateModel, table=True):
    __tablename__ = "crm_candidate_keying"
    crm: str = Field(primary_key=True)
    fingerprint: str
    """What the keys were made under (``CandidateIndex.fingerprint``)."""


ROWS = CandidateRow.__table__  # type: ignore[attr-defined]
KEYS = CandidateKey.__table__  # type: ignore[attr-defined]
KEYING = CandidateKeying.__table__  # type: ignore[attr-defined]
KEY_SCHEME = 7
"""Raised whenever ``blocking.py`` or ``Matcher.prepare`` make different keys from
the same record, so indexes keyed the old way are keyed again (2: no acronym on
accounts; 3: a house number read out of a one-line street; 4: rows stored by
``ref``, object and id, not the bare id; 5: a street or town keyed by each word
that names it; 6: a CRM's placeholder, "[not provided]", is no value; 7: a street's
later lines are its second address line)."""


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _encode(candidate: Candidate) -> str:
    record: dict[str, Any] = {"fields": {k: v for k, v in candidate.fields.items()
                                         if v not in (None, "")}}
    record.update({k: getattr(candidate, k) for k in KEPT if getattr(candidate, k)})
    return json.dumps(record, default=str, separators=(",", ":"))


def ref(candidate: Candidate) -> str:
    """A record's reference in the index: its object and id (``Contact/003...``,
    ``companies/123``): an id is unique within its object only (HubSpot)."""
    return f"{candidate.crm_object}/{candidate.crm_id}"


def _decode(row: Any) -> Candidate:
    record = json.loads(row.record)
    crm_id = row.crm_id.partition("/")[2] or row.crm_id  # a bare id: stored before refs
    return Candidate(row.kind, row.crm_object, crm_id, record.pop("fields"), **record)


class CandidateIndex:
    """One CRM's people and accounts with their blocking keys; it stores and asks,
    and never talks to a CRM (the pipeline feeds it from the adapter's feeds).

    A record's keys are the robust keys of ``connector.matching.blocking`` and
    the admin's own ``[matching] blocking`` keys (prefixed ``b:``), so what the
    configuration says two records must share also decides what is fetched;
    a record carrying leadsync's external id has ``k:<id>`` too."""

    def __init__(self, engine: Engine, crm: str, matcher: Matcher) -> None:
        self.engine = engine
        self.crm = crm
        self.matcher = matcher
        mark = self._mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_keys = (f"INSERT INTO {KEYS.name} (crm, key, crm_id) "
                             f"VALUES ({mark}, {mark}, {mark})")
        self._covered = tuple(f"{i}|" for i, spec in enumerate(matcher.config.blocking)
                              if all(matcher.kinds.get(part.partition(":")[0])
                                     in ("email", "phone") for part in spec.split("+")))
        """Blocking keys of the admin's that ``e:`` and ``p:`` already cover."""
        prepare(engine, STATE)
        config = matcher.config
        made_by = {"scheme": KEY_SCHEME, "region": matcher.region, "kinds": matcher.kinds,
                   "names": config.names, "blocking": config.blocking,
                   "email": {name: sorted(value) if isinstance(value, list) else value
                             for name, value in config.email.model_dump(mode="json").items()}}
        # (the email lists are sets in all but type: their order may differ by process)
        self.fingerprint = hashlib.sha256(
            json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:16]
        """The settings a record's keys follow from: the key scheme, the region
        phones are read in, the field kinds, names, email rules and the admin's
        blocking keys. Another fingerprint means the stored keys are stale."""

    def keyed_alike(self) -> bool:
        """Whether the stored keys were made the way this configuration makes them
        (an empty index is)."""
        with self.engine.connect() as conn:
            stored = conn.execute(select(KEYING.c.fingerprint).where(
                KEYING.c.crm == self.crm)).scalar()
            if stored is None:
                return conn.execute(select(ROWS.c.crm_id).where(
                    ROWS.c.crm == self.crm).limit(1)).first() is None
        return bool(stored == self.fingerprint)

    def mark_keyed(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(KEYING).where(KEYING.c.crm == self.crm))
            conn.execute(insert(KEYING), [{"crm": self.crm, "fingerprint": self.fingerprint}])

    def rekey(self) -> int:
        """Every stored record written again, keys made anew from its stored fields
        (after the keying settings changed, or rows stored under a bare id before
        references): local work, no CRM call. Returns the records."""
        with self.engine.connect() as conn:
            stored = list(conn.execute(select(ROWS.c.crm_id).where(
                ROWS.c.crm == self.crm).order_by(ROWS.c.crm_id)).scalars())
        for chunk in _chunks(stored, CHUNK * 4):
            with self.engine.connect() as conn:
                rows = conn.execute(select(ROWS).where(ROWS.c.crm == self.crm,
                                                       ROWS.c.crm_id.in_(chunk))).all()
            with self.engine.begin() as conn:
                self._remove(conn, chunk)
                self._write(conn, [(_decode(row), None, row.modified_at) for row in rows])
        self.mark_keyed()
        return len(stored)

    def keys_of(self, candidate: Candidate) -> set[str]:
        if candidate.kind == "account":
            return account_keys(candidate.fields)
        return self.person_keys(self.matcher.prepare(
            Person(candidate.crm_id, candidate.kind, candidate.fields)), candidate.key)

    def person_keys(self, prepared: Prepared, key: str | None = None) -> set[str]:
        fields = prepared.person.fields
        keys = person_keys(fields, self.matcher.email_rules, self.matcher.name_pair)
        keys.update(f"b:{k}" for k in self.matcher.keys(prepared)
                    if not k.startswith(self._covered))
        if key:
            keys.add(f"k:{key}")
        return keys

    def lead_keys(self, prepared: Prepared) -> set[str]:
        """What a lead asks the index for: its people's keys and its accounts'."""
        return (self.person_keys(prepared)
                | lead_account_keys(prepared.person.fields, self.matcher.email_rules))

    # writes ----------------------------------------------------------------
    def put(self, records: Iterable[tuple[Candidate, set[str], datetime]]) -> int:
        """Add or replace records with their keys; returns how many were written."""
        written = 0
        for chunk in _chunks(records, CHUNK * 4):
            latest: dict[str, tuple[Candidate, set[str] | None, datetime]] = {}
            for candidate, keys, at in chunk:
                latest[ref(candidate)] = (candidate, keys, at)
            with self.engine.begin() as conn:
                self._remove(conn, list(latest))
                self._write(conn, list(latest.values()))
            written += len(latest)
        return written

    def _write(self, conn: Any,
               records: Sequence[tuple[Candidate, set[str] | None, datetime]]) -> None:
        """Rows and their keys (made here when None), for records not held."""
        if not records:
            return
        conn.execute(insert(ROWS), [
            {"crm": self.crm, "crm_id": ref(c), "kind": c.kind, "crm_object": c.crm_object,
             "record": _encode(c), "modified_at": at} for c, _, at in records])
        rows = [(self.crm, key, ref(c)) for c, keys, _ in records
                for key in (self.keys_of(c) if keys is None else keys)]
        if rows:  # the driver's own executemany: ~30 rows a record, no ORM work
            conn.exec_driver_sql(self._insert_keys, rows)

    def remove(self, refs: Iterable[str]) -> None:
        """Records gone, by reference (``ref``)."""
        for chunk in _chunks(refs):
            with self.engine.begin() as conn:
                self._remove(conn, chunk)

    def _remove(self, conn: Any, refs: Sequence[str]) -> None:
        for chunk in _chunks(refs):
            conn.execute(delete(KEYS).where(KEYS.c.crm == self.crm, KEYS.c.crm_id.in_(chunk)))
            conn.execute(delete(ROWS).where(ROWS.c.crm == self.crm, ROWS.c.crm_id.in_(chunk)))

    def apply(self, changes: Iterable[PersonChange]) -> tuple[int, int]:
        """A change feed laid over the index: removed records go, others are
        (re)written. Returns (written, removed)."""
        removed: list[str] = []

        def present() -> Iterator[PersonChange]:
            for change in changes:
                if change.removed:
                    removed.append(ref(change.candidate))
                else:
                    yield change

        def kept() -> Iterator[tuple[Candidate, set[str], datetime]]:
            for chunk in _chunks(present(), CHUNK * 4):
                chunk = list({ref(c.candidate): c for c in chunk}.values())  # the last wins
                stored = self._stored(ref(c.candidate) for c in chunk)
                for change in chunk:  # as stored already (a look-back re-read): no work
                    if stored.get(ref(change.candidate)) != (change.candidate.kind,
                                                             _encode(change.candidate)):
                        yield (change.candidate, self.keys_of(change.candidate),
                               change.modified_at)

        written = self.put(kept())
        self.remove(removed)
        return written, len(removed)

    def _stored(self, refs: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The kind and stored record of each reference the index holds."""
        with self.engine.connect() as conn:
            return {row.crm_id: (row.kind, row.record) for chunk in _chunks(sorted(set(refs)))
                    for row in conn.execute(select(ROWS.c.crm_id, ROWS.c.kind, ROWS.c.record)
                                            .where(ROWS.c.crm == self.crm,
                                                   ROWS.c.crm_id.in_(chunk)))}

    def clear(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(KEYS).where(KEYS.c.crm == self.crm))
            conn.execute(delete(ROWS).where(ROWS.c.crm == self.crm))
            conn.execute(delete(KEYING).where(KEYING.c.crm == self.crm))

    # reads -----------------------------------------------------------------
    def find(self, wanted: Mapping[str, set[str]], *, cap: int = BLOCK_CAP,
             best: int = PER_LEAD) -> tuple[dict[str, list[Candidate]], set[str]]:
        """The records sharing a key with each asker: {asker: candidates}, and the
        keys skipped because more than ``cap`` records share them.

        Each asker gets at most ``best`` people, the closest by the keys they share
        (``connector.matching.closest``: a record of the same person shares its
        mailbox, phone, name sounds and employer, rare keys; a namesake shares one
        or two common ones), so a lead is scored against a few records however
        common its name, and the rest never leave the database; and every account
        of its company and email domain. A crowded key is counted, never fetched."""
        holders: dict[str, list[str]] = defaultdict(list)
        all_keys = sorted({k for keys in wanted.values() for k in keys})
        crowded: set[str] = set()
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()  # the driver's own rows: ~200 a lead
            for chunk in _chunks(all_keys):
                marks = ", ".join([self._mark] * len(chunk))
                cursor.execute(f"SELECT key FROM {KEYS.name} WHERE crm = {self._mark} "
                               f"AND key IN ({marks}) GROUP BY key HAVING COUNT(*) > {int(cap)}",
                               (self.crm, *chunk))
                crowded.update(key for key, in cursor.fetchall())
                usable = [k for k in chunk if k not in crowded]
                if not usable:
                    continue
                marks = ", ".join([self._mark] * len(usable))
                cursor.execute(f"SELECT key, crm_id FROM {KEYS.name} WHERE crm = {self._mark} "
                               f"AND key IN ({marks})", (self.crm, *usable))
                for key, crm_id in cursor.fetchall():
                    holders[key].append(crm_id)
            cursor.close()
            chosen: dict[str, list[str]] = {}
            for asker, keys in wanted.items():
                mine = sorted(k for k in keys if k in holders)
                accounts = {crm_id for k in mine if k.startswith(ACCOUNT_KEYS)
                            for crm_id in holders[k]}  # an account's keys are its own
                chosen[asker] = [*closest((holders[k] for k in mine
                                           if not k.startswith(ACCOUNT_KEYS)),
                                          best, order=str),
                                 *sorted(accounts)]
            records = self._fetch(conn, {i for ids in chosen.values() for i in ids})
        found = {asker: [records[i] for i in sorted(set(ids)) if i in records]
                 for asker, ids in chosen.items()}
        return found, crowded

    def carried(self, keys: Iterable[str]) -> set[str]:
        """Which of these keys some record carries."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            for chunk in _chunks(sorted(set(keys))):
                marks = ", ".join([self._mark] * len(chunk))
                cursor.execute(f"SELECT DISTINCT key FROM {KEYS.name} WHERE crm = {self._mark} "
                               f"AND key IN ({marks})", (self.crm, *chunk))
                found.update(key for key, in cursor.fetchall())
            cursor.close()
        return found

    def get(self, refs: Iterable[str]) -> dict[str, Candidate]:
        """Records by reference (``ref``: ``Contact/003...``)."""
        with self.engine.connect() as conn:
            return self._fetch(conn, refs)

    def _fetch(self, conn: Any, refs: Iterable[str]) -> dict[str, Candidate]:
        out: dict[str, Candidate] = {}
        for chunk in _chunks(sorted(set(refs))):
            for row in conn.execute(select(ROWS).where(ROWS.c.crm == self.crm,
                                                       ROWS.c.crm_id.in_(chunk))):
                out[row.crm_id] = _decode(row)
        return out

    def sizes(self, *, by: str = "kind") -> dict[str, int]:
        """Records held, by kind (lead, contact, account: the pipeline's words, a HubSpot
        contact being a "lead" where contacts are the mapped object) or, with
        ``by="crm_object"``, by the CRM's own object names (Lead, Contact, Account;
        contacts, companies)."""
        column = ROWS.c[by]
        with self.engine.connect() as conn:
            return {name: int(count) for name, count in conn.execute(
                select(column, func.count()).where(ROWS.c.crm == self.crm)
                .group_by(column))}

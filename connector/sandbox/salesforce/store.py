"""The in-memory org: records, ids, audit stamps, and the org's JSON snapshot.

Records are stored as plain dicts in their wire form (ids 18 chars,
datetimes "2026-11-25T03:01:09.000+0000", dates ISO), with every field of
the object present, so a record is both what GET returns and what the state
file holds. The lock here is what makes "check unique, then write" atomic
across the threaded server's request threads.

Records hold only scalars (str, number, bool, None), so a shallow ``dict()``
copy is a full copy; deep copies made a 100,000-row bulk job crawl.

Unique and external-id fields are indexed (value key -> ids) so uniqueness
checks and upsert look-ups cost O(1) per record, not a scan of the table.
Those indexes hold live records only (a deleted record frees its value).

Queries get their own *lookup* indexes (``LOOKUP_FIELDS`` plus every
unique/external-id field), which hold deleted records too so ``queryAll``
plans the same way as ``query``, and a digits index over phone fields for
SOSL ``IN PHONE FIELDS`` (``PHONE_FIELDS``). A lookup index is not a
uniqueness rule: a key maps to one id (a str, the common case, to keep 1M
records cheap) or to a list of ids. Every record also has an ordinal (its
position in creation order) so index hits can be put back in the order a
scan would see them.

Every update compares the tracked fields (``track_history``) before and
after and writes LeadHistory/OpportunityFieldHistory rows stamped with the
update's own stamp, inside the same journal, so a rolled-back write leaves
no history. Server-made rows (history, LeadStatus) are stored by ``_put``:
no validation and no stamp of their own.

Audit stamps come from the injected clock but are made strictly increasing
(by at least a millisecond, the API's resolution) so a change feed that
reads "SystemModstamp > last seen" never misses or repeats a write, even
when the clock stands still in a test.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import ApiError, error
from .ids import make_id, normalize_id, short_id
from .objects import (
    BUILTIN_REPS,
    DEFAULT_FIELD_HISTORY,
    DERIVED,
    HISTORY_DATA_TYPES,
    HISTORY_OBJECTS,
    STAMPED,
    history_field_name,
)
from .schema import (
    BOOLEAN,
    ID,
    PICKLIST,
    REFERENCE,
    TEXT_TYPES,
    Field,
    Schema,
    SObject,
    deserialize,
    format_datetime,
    missing_required,
    normalize_values,
    parse_datetime,
    validate_write,
    value_errors,
)

STATE_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AUDIT_FIELDS = (
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)

Record = dict[str, Any]

# Non-unique fields a SOQL ``=``/``IN`` can be answered from (the dedupe
# look-ups: email, names, company, account, and a task's who/what).
LOOKUP_FIELDS: dict[str, tuple[str, ...]] = {
    "Lead": ("Email", "FirstName", "LastName", "Company"),
    "Contact": ("Email", "FirstName", "LastName", "AccountId"),
    "Account": ("Name", "Website"),
    "Opportunity": ("AccountId",),
    "Task": ("WhoId", "WhatId"),
    "Event": ("WhoId", "WhatId"),
    # History rows by parent: ``LeadId IN (...)`` and the rows a delete takes along.
    "LeadHistory": ("LeadId",),
    "OpportunityFieldHistory": ("OpportunityId",),
}

# Field pairs indexed together, as Salesforce indexes a person's Name: a query
# on a last name AND a first name costs the few people holding both, not every
# Smith (at 1,000,000 leads, thousands) checked one by one.
COMPOUND_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Lead": (("LastName", "FirstName"),),
    "Contact": (("LastName", "FirstName"),),
}

# The fields SOSL's PHONE FIELDS search group covers on each object.
PHONE_FIELDS: dict[str, tuple[str, ...]] = {
    "Lead": ("Phone", "MobilePhone"),
    "Contact": ("Phone", "MobilePhone"),
    "Account": ("Phone",),
}

_NOT_DIGIT = re.compile(r"[^0-9]+")

# A posting list: one id (most keys), a short list, or a set once a key is
# common (a first name shared by 50,000 leads) so adding and removing stay
# O(1). Order does not matter: hits are sorted by creation ordinal.
Postings = str | list[str] | set[str]
_LIST_POSTINGS = 16


class SeedError(ValueError):
    """A seed or state file the org cannot be built from."""


class Org:
    """One Salesforce org's data. All public methods are thread-safe."""

    def __init__(self, schema: Schema, clock: Callable[[], datetime]) -> None:
        self.schema = schema
        self.clock = clock
        self.lock = threading.RLock()
        self.org_id = make_id("00D", 1)
        self.admin_id = ""
        self._sequences: dict[str, int] = {}
        self._last_stamp_ms = 0
        self._tables: dict[str, dict[str, Record]] = {o.name: {} for o in schema}
        self._deleted_at: dict[str, str] = {}
        # (object, field) -> match key -> ids of live records holding that value.
        self._indexes: dict[tuple[str, str], dict[Any, list[str]]] = {
            (o.name, f.name): {} for o in schema for f in o.fields if f.unique or f.external_id
        }
        self._indexed_fields: dict[str, tuple[Field, ...]] = {
            o.name: tuple(f for f in o.fields if f.unique or f.external_id) for o in schema
        }
        # (object, field) -> match key -> ids of records (deleted too) holding it.
        self._lookup_fields: dict[str, tuple[Field, ...]] = {}
        for o in schema:
            wanted = set(LOOKUP_FIELDS.get(o.name, ())) | {
                f.name for f in self._indexed_fields[o.name]
            }
            # SOQL compares text case-insensitively; a case-sensitive key could miss.
            self._lookup_fields[o.name] = tuple(
                f
                for f in o.fields
                if f.name in wanted and not (f.case_sensitive and f.type in TEXT_TYPES)
            )
        self._lookups: dict[tuple[str, str], dict[Any, Postings]] = {
            (name, f.name): {} for name, fields in self._lookup_fields.items() for f in fields
        }
        self._phone_fields: dict[str, tuple[str, ...]] = {
            o.name: tuple(n for n in PHONE_FIELDS.get(o.name, ()) if o.field(n)) for o in schema
        }
        # (object, (field, field)) -> (key, key) -> ids (deleted too).
        self._compounds: dict[tuple[str, tuple[str, str]], dict[Any, Postings]] = {}
        for name, fields in self._lookup_fields.items():
            names = {f.name for f in fields}
            for pair in COMPOUND_FIELDS.get(name, ()):
                if set(pair) <= names:
                    self._compounds[(name, pair)] = {}
        self._compound_fields: dict[str, list[tuple[tuple[str, str], tuple[Field, Field]]]] = {
            name: [(pair, (sobject.field(pair[0]), sobject.field(pair[1])))  # type: ignore[misc]
                   for (n, pair) in self._compounds if n == name]
            for name, sobject in ((o.name, o) for o in schema)
        }
        # object -> phone digits -> ids (deleted too), for SOSL IN PHONE FIELDS.
        self._phones: dict[str, dict[str, Postings]] = {o.name: {} for o in schema}
        # object -> id -> position in creation order.
        self._ordinals: dict[str, dict[str, int]] = {o.name: {} for o in schema}
        self._next_ordinal = 0
        self._templates: dict[str, Record] = {}
        # An undo log while a transaction is open (allOrNone writes), else None.
        self._journal: list[tuple[str, str, Record | None, str | None]] | None = None
        # Parent object -> the fields whose changes write history rows.
        self._tracked: dict[str, tuple[Field, ...]] = {}
        self.track_history({
            name: fields for name, fields in DEFAULT_FIELD_HISTORY.items()
            if schema.get(name) is not None and schema.get(HISTORY_OBJECTS[name][0]) is not None
        })  # fmt: skip

    # --- construction ---------------------------------------------------

    @classmethod
    def fresh(cls, schema: Schema, clock: Callable[[], datetime], *, admin_username: str) -> Org:
        """A new org holding only the built-in users."""
        org = cls(schema, clock)
        user = schema.get("User")
        assert user is not None
        org.admin_id = make_id(user.key_prefix, 1)
        admin = {
            "FirstName": "Sandbox",
            "LastName": "Admin",
            "Username": admin_username,
            "Email": admin_username,
            "TimeZoneSidKey": "GMT",
        }
        for row in (admin, *BUILTIN_REPS):
            org.insert(user, dict(row), user_id=org.admin_id, system=True)
        org.sync_lead_statuses()
        return org

    @classmethod
    def from_state(
        cls, schema: Schema, clock: Callable[[], datetime], state: Mapping[str, Any]
    ) -> Org:
        if state.get("version") != STATE_VERSION:
            raise SeedError(f"unsupported sandbox state version: {state.get('version')!r}")
        org = cls(schema, clock)
        org.org_id = state["org_id"]
        org.admin_id = state["admin_id"]
        org._sequences = dict(state["sequences"])
        org._last_stamp_ms = int(state["last_stamp_ms"])
        org._deleted_at = dict(state.get("deleted_at", {}))
        for name, rows in state["records"].items():
            sobject = schema.get(name)
            if sobject is None:
                continue  # an object this version no longer models
            # Fields added since the file was written start out null.
            blank = org._blank(sobject)
            org._tables[sobject.name] = {row["Id"]: {**blank, **row} for row in rows}
            for record in org._tables[sobject.name].values():
                org._index(sobject.name, record)
                org._index_lookups(sobject.name, record)
        org.sync_lead_statuses()  # a state written before LeadStatus existed gains its rows
        return org

    def to_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "version": STATE_VERSION,
                "org_id": self.org_id,
                "admin_id": self.admin_id,
                "sequences": dict(self._sequences),
                "last_stamp_ms": self._last_stamp_ms,
                "deleted_at": dict(self._deleted_at),
                "records": {
                    name: [dict(r) for r in table.values()] for name, table in self._tables.items()
                },
            }

    def save(self, path: Path) -> None:
        """Write the snapshot atomically: a crash mid-write leaves the old file intact."""
        state = self.to_state()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_seed(self, seed: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Add seed records, users first so leads can name their owners.

        Seed rows may set read-only fields (Id, CreatedDate, ...) so demos can
        start from a realistic history; an ``OwnerId`` may be a Username
        instead of an id. Everything else is validated like an API write.
        """
        order = sorted(seed, key=lambda name: name.lower() != "user")
        for name in order:
            sobject = self.schema.get(name)
            if sobject is None:
                raise SeedError(f"seed names an unknown object: {name}")
            if sobject.name == "LeadStatus":
                # The picklist is part of the schema, built before the org: SalesforceSandbox
                # reads a seed's LeadStatus values first (lead_statuses()).
                raise SeedError(
                    "LeadStatus values are the Lead Status picklist; give them to "
                    "SalesforceSandbox(seed=...) or default_schema(statuses)"
                )
            for index, row in enumerate(seed[name]):
                values = {key: _seed_value(value) for key, value in row.items()}
                owner = values.get("OwnerId")
                if isinstance(owner, str) and normalize_id(owner) is None:
                    values["OwnerId"] = self._user_id_by_username(owner) or owner
                try:
                    coerced = deserialize(sobject, values, json.dumps(values))
                    errors = missing_required(sobject, coerced, creating=True) + value_errors(
                        sobject, coerced
                    )
                    if errors:
                        raise ApiError(400, errors)
                    self.insert(
                        sobject,
                        normalize_values(sobject, coerced),
                        user_id=self.admin_id,
                        system=True,
                    )
                except ApiError as exc:
                    raise SeedError(f"seed {name}[{index}] rejected: {exc.errors}") from exc

    def load(
        self, sobject: SObject, rows: Iterable[Mapping[str, Any]], *, user_id: str
    ) -> list[str]:
        """Create many records at once, validated like an API create; returns their ids.

        For benchmarks that need an org of 1,000,000 records: no HTTP, one
        lock for the whole load, no copy of each stored record handed back.
        A rejected row raises ``SeedError`` naming it; the rows before it stay.
        """
        if not sobject.createable:
            raise SeedError(
                f"{sobject.name} rejected: INSUFFICIENT_ACCESS_OR_READONLY (cannot create "
                f"{sobject.name})"
            )
        ids: list[str] = []
        with self.lock:
            for index, row in enumerate(rows):
                try:
                    try:
                        values = validate_write(sobject, row, "", creating=True)
                    except ApiError as exc:
                        if exc.errors and exc.errors[0]["errorCode"] != "JSON_PARSER_ERROR":
                            raise
                        # Only a parser error quotes the body: rebuild it for the message.
                        values = validate_write(sobject, row, json.dumps(row), creating=True)
                    ids.append(self._insert(sobject, values, user_id=user_id)["Id"])
                except ApiError as exc:
                    raise SeedError(f"{sobject.name}[{index}] rejected: {exc.errors}") from exc
        return ids

    # --- ids and stamps ---------------------------------------------------

    def mint_id(self, key_prefix: str) -> str:
        with self.lock:
            number = self._sequences.get(key_prefix, 0) + 1
            self._sequences[key_prefix] = number
            return make_id(key_prefix, number)

    def stamp(self) -> str:
        """Now, in wire format, strictly after every stamp handed out before."""
        with self.lock:
            now = self.clock()
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            now_ms = int((now - _EPOCH) / timedelta(milliseconds=1))
            self._last_stamp_ms = max(now_ms, self._last_stamp_ms + 1)
            return format_datetime(_EPOCH + timedelta(milliseconds=self._last_stamp_ms))

    def _observe_stamp(self, text: str | None) -> None:
        """Keep later stamps after any explicit (seeded) one."""
        parsed = parse_datetime(text) if text else None
        if parsed is not None:
            ms = int((parsed - _EPOCH) / timedelta(milliseconds=1))
            self._last_stamp_ms = max(self._last_stamp_ms, ms)

    # --- reads ------------------------------------------------------------

    def lookup(self, sobject: SObject, record_id: str) -> Record | None:
        """The stored record (deleted or not) for an id in any accepted form."""
        canonical = normalize_id(record_id)
        if canonical is None:
            return None
        with self.lock:
            return self._tables[sobject.name].get(canonical)

    def get(
        self, sobject: SObject, record_id: str, *, include_deleted: bool = False
    ) -> Record | None:
        record = self.lookup(sobject, record_id)
        if record is None or (record.get("IsDeleted") and not include_deleted):
            return None
        return dict(record)

    def rows(self, sobject: SObject, *, include_deleted: bool = False) -> list[Record]:
        """A snapshot of the object's records, in creation order."""
        with self.lock:
            return [
                dict(r)
                for r in self._tables[sobject.name].values()
                if include_deleted or not r.get("IsDeleted")
            ]

    def recent(self, sobject: SObject, count: int) -> list[Record]:
        """Copies of the last ``count`` live records created, oldest first."""
        with self.lock:
            found: list[Record] = []
            for record in reversed(self._tables[sobject.name].values()):
                if len(found) == count:
                    break
                if not record.get("IsDeleted"):
                    found.append(dict(record))
            return found[::-1]

    def stored(self, sobject: SObject) -> dict[str, Record]:
        """The live table itself (id -> record, creation order), not a copy.

        Only for readers that hold ``lock`` and copy what they hand on; a
        1,000,000-row table is too big to copy per query.
        """
        return self._tables[sobject.name]

    def peek(self, record_id: str) -> Record | None:
        """The stored record for a canonical id, uncopied (hold ``lock``)."""
        sobject = self.schema.by_prefix(record_id[:3])
        return self._tables[sobject.name].get(record_id) if sobject else None

    def lookup_field(self, sobject: SObject, field_name: str) -> bool:
        """Whether ``probe`` can answer ``=``/``IN`` on this field."""
        return (sobject.name, field_name) in self._lookups or field_name == "Id"

    def probe(self, sobject: SObject, field_name: str, keys: Iterable[Any]) -> set[str] | None:
        """Ids (deleted ones too) whose field matches any of ``keys``; None if not indexed.

        ``keys`` are already match keys (casefolded text, canonical ids), as
        SOQL's binder produces them. Hold ``lock``.
        """
        if field_name == "Id":
            table = self._tables[sobject.name]
            return {k for k in keys if isinstance(k, str) and k in table}
        index = self._lookups.get((sobject.name, field_name))
        if index is None:
            return None
        return _collect(index, keys)

    def probe_compound(self, sobject: SObject,
                       keyed: Mapping[str, list[Any]]) -> set[str] | None:
        """Ids (deleted too) matching the keys of two fields at once, from the first
        compound index both fields of which ``keyed`` holds; None if there is none."""
        for pair, _ in self._compound_fields[sobject.name]:
            if pair[0] in keyed and pair[1] in keyed:
                index = self._compounds[(sobject.name, pair)]
                return _collect(index, itertools.product(keyed[pair[0]], keyed[pair[1]]))
        return None

    def probe_size(self, sobject: SObject, field_name: str, keys: Iterable[Any]) -> int | None:
        """How many ids ``probe`` would return (deleted too, before de-duplication)."""
        if field_name == "Id":
            return sum(1 for _ in keys)
        index = self._lookups.get((sobject.name, field_name))
        if index is None:
            return None
        total = 0
        for key in keys:
            held = index.get(key)
            if held is not None:
                total += 1 if isinstance(held, str) else len(held)
        return total

    def probe_phones(self, sobject: SObject, digits: Iterable[str]) -> set[str]:
        """Ids (deleted ones too) with a phone field whose digits equal one of ``digits``."""
        return _collect(self._phones[sobject.name], digits)

    def phone_keys(self, sobject: SObject) -> Iterable[str]:
        """Every distinct phone-digits key of an object (for wildcard terms). Hold ``lock``."""
        return self._phones[sobject.name].keys()

    def lookup_keys(self, sobject: SObject, field_name: str) -> Iterable[Any]:
        """Every distinct match key of a lookup-indexed field (for wildcard terms)."""
        return self._lookups.get((sobject.name, field_name), {}).keys()

    def in_creation_order(self, sobject: SObject, ids: Iterable[str]) -> list[str]:
        ordinals = self._ordinals[sobject.name]
        return sorted(ids, key=ordinals.__getitem__)

    def find(self, sobject: SObject, field_name: str, value: Any) -> list[Record]:
        """Live records whose ``field_name`` equals ``value`` (case rules of the field)."""
        f = sobject.field(field_name)
        if f is None:
            return []
        wanted = _match_key(f.type, f.case_sensitive, value)
        with self.lock:
            table = self._tables[sobject.name]
            index = self._indexes.get((sobject.name, f.name))
            if index is not None:
                return [dict(table[i]) for i in index.get(wanted, ())]
            return [
                dict(r)
                for r in table.values()
                if not r.get("IsDeleted")
                and r.get(f.name) is not None
                and _match_key(f.type, f.case_sensitive, r[f.name]) == wanted
            ]

    def record_by_id(self, record_id: str) -> tuple[SObject, Record] | None:
        """Find a record by id alone, using the key prefix to pick the object."""
        canonical = normalize_id(record_id)
        sobject = self.schema.by_prefix(canonical[:3]) if canonical else None
        if sobject is None or canonical is None:
            return None
        record = self.lookup(sobject, canonical)
        return (sobject, dict(record)) if record else None

    def deleted_at(self, record_id: str) -> str | None:
        return self._deleted_at.get(record_id)

    def children(self, sobject: SObject, field_name: str, parent_id: str) -> list[str]:
        """Ids of live ``sobject`` records whose ``field_name`` is ``parent_id``, oldest first."""
        with self.lock:
            table = self._tables[sobject.name]
            ids = self.probe(sobject, field_name, [parent_id])
            if ids is None:
                ids = {i for i, r in table.items() if r.get(field_name) == parent_id}
            ordered = self.in_creation_order(sobject, ids)
            return [i for i in ordered if not table[i].get("IsDeleted")]

    # --- org setup: field history and the Lead Status picklist --------------------

    def track_history(self, tracked: Mapping[str, Iterable[str]]) -> None:
        """Set the tracked fields of the objects named in ``tracked`` (others keep theirs).

        Only objects with a history object (Lead, Opportunity) can be tracked;
        an unknown object or field raises ValueError naming what exists.
        """
        chosen: dict[str, tuple[Field, ...]] = {}
        for name, field_names in tracked.items():
            sobject = self.schema.get(name)
            if sobject is None or sobject.name not in HISTORY_OBJECTS:
                raise ValueError(
                    f"no field history for {name!r}; tracked objects: {sorted(HISTORY_OBJECTS)}"
                )
            if self.schema.get(HISTORY_OBJECTS[sobject.name][0]) is None:
                continue  # a schema without the history object (a test's own) tracks nothing
            fields = []
            for field_name in field_names:
                f = sobject.field(field_name)
                if f is None or not f.updateable:
                    raise ValueError(
                        f"{sobject.name}.{field_name} cannot be tracked: not an editable field"
                    )
                fields.append(f)
            chosen[sobject.name] = tuple(fields)
        with self.lock:
            self._tracked.update(chosen)

    def tracked_fields(self, sobject_name: str) -> tuple[str, ...]:
        return tuple(f.name for f in self._tracked.get(sobject_name, ()))

    def sync_lead_statuses(self) -> None:
        """Make the LeadStatus rows mirror the schema's Lead Status picklist.

        LeadStatus "represents a value in the lead status picklist" (Object
        Reference, "LeadStatus"): one row per value, SortOrder its position,
        IsDefault/IsConverted its flags. Rows are org metadata: making them
        takes no audit stamp (they carry the org's creation time), so the
        stamps of records are what they were before LeadStatus existed.
        """
        lead, statuses = self.schema.get("Lead"), self.schema.get("LeadStatus")
        status = lead.field("Status") if lead else None
        if statuses is None or status is None:
            return
        with self.lock:
            table = self._tables[statuses.name]
            by_name = {str(r.get("ApiName", "")).casefold(): r for r in table.values()}
            admin = self._tables.get("User", {}).get(self.admin_id, {})
            created = admin.get("CreatedDate") or format_datetime(self.clock())
            for order, value in enumerate(status.picklist, start=1):
                row = {
                    "MasterLabel": value.label or value.value,
                    "ApiName": value.value,
                    "SortOrder": order,
                    "IsDefault": value.default,
                    "IsConverted": value.converted,
                }
                existing = by_name.get(value.value.casefold())
                if existing is not None:
                    existing.update(row)
                    continue
                audit = {"CreatedDate": created, "LastModifiedDate": created,
                         "SystemModstamp": created, "CreatedById": self.admin_id or None,
                         "LastModifiedById": self.admin_id or None}  # fmt: skip
                self._put(statuses, {**row, **audit})

    # --- writes -------------------------------------------------------------

    def insert(
        self, sobject: SObject, values: Mapping[str, Any], *, user_id: str, system: bool = False
    ) -> Record:
        """Create a record from validated values; ``system`` lets seeds set audit fields."""
        return dict(self._insert(sobject, values, user_id=user_id, system=system))

    def _insert(
        self, sobject: SObject, values: Mapping[str, Any], *, user_id: str, system: bool = False
    ) -> Record:
        with self.lock:
            record = dict(self._defaults(sobject))
            if "OwnerId" in record:
                record["OwnerId"] = user_id
            record.update(values)
            self._check_integrity(sobject, record, set(values), record_id=None)
            table = self._tables[sobject.name]
            if system and values.get("Id"):
                record["Id"] = values["Id"]
                if record["Id"] in table:
                    raise ApiError(400, [error("DUPLICATE_VALUE", f"duplicate id: {record['Id']}")])
            else:
                record["Id"] = self.mint_id(sobject.key_prefix)
                while record["Id"] in table:  # a seeded id took this number
                    record["Id"] = self.mint_id(sobject.key_prefix)
            self._derive(sobject, record, set(values))
            stamp = self.stamp()
            for name in _AUDIT_FIELDS:
                if name not in record:
                    continue
                given = values.get(name) if system else None
                if given is not None:
                    record[name] = given
                    self._observe_stamp(given if "Date" in name or "Stamp" in name else None)
                elif name.endswith("ById"):
                    record[name] = user_id
                else:
                    record[name] = stamp
            if (stamped := STAMPED.get(sobject.name)) is not None:
                stamped(record, None, stamp)
            self._tables[sobject.name][record["Id"]] = record
            self._index(sobject.name, record)
            self._index_lookups(sobject.name, record)
            if self._journal is not None:
                self._journal.append((sobject.name, record["Id"], None, None))
            return record

    def update(
        self,
        sobject: SObject,
        record_id: str,
        values: Mapping[str, Any],
        *,
        user_id: str,
        history_event: str | None = None,
    ) -> Record:
        """Write ``values``; tracked fields that change get history rows stamped like the write.

        ``history_event`` adds a row for what the write is part of
        ("leadConverted", "leadMerged"), as Salesforce's history shows them.
        """
        with self.lock:
            current = self._live(sobject, record_id)
            if current.get("IsConverted") and sobject.name == "Lead":
                # Salesforce freezes a converted lead; every API write to it is refused.
                raise ApiError(
                    400, [error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")]
                )
            merged = {**current, **values}
            self._check_integrity(sobject, merged, set(values), record_id=current["Id"])
            self._derive(sobject, merged, set(values))
            changes = [
                (f, current.get(f.name), merged.get(f.name))
                for f in self._tracked.get(sobject.name, ())
                if current.get(f.name) != merged.get(f.name)
            ]
            stamp = self.stamp()
            for name, value in (
                ("LastModifiedDate", stamp),
                ("SystemModstamp", stamp),
                ("LastModifiedById", user_id),
            ):
                if name in merged:
                    merged[name] = value
            if (stamped := STAMPED.get(sobject.name)) is not None:
                stamped(merged, current, stamp)
            self._remember(sobject.name, current)
            self._unindex(sobject.name, current)
            self._unindex_lookups(sobject.name, current)
            current.clear()
            current.update(merged)
            self._index(sobject.name, current)
            self._index_lookups(sobject.name, current)
            if changes or history_event:
                self._write_history(
                    sobject, current["Id"], changes, stamp=stamp, user_id=user_id,
                    event=history_event,
                )  # fmt: skip
            return dict(current)

    def delete(
        self,
        sobject: SObject,
        record_id: str,
        *,
        user_id: str,
        master_record_id: str | None = None,
    ) -> None:
        """Soft delete: the record stays, flagged, for queryAll and change feeds.

        ``master_record_id`` is set by merge() on each losing record. The
        record's field history goes to the Recycle Bin with it (IsDeleted on
        LeadHistory: "Indicates whether the object has been moved to the
        Recycle Bin"), still readable through queryAll.
        """
        with self.lock:
            current = self._live(sobject, record_id)
            self._remember(sobject.name, current)
            self._unindex(sobject.name, current)
            stamp = self.stamp()
            current["IsDeleted"] = True
            current["SystemModstamp"] = stamp
            if master_record_id is not None and "MasterRecordId" in current:
                current["MasterRecordId"] = master_record_id
            self._deleted_at[current["Id"]] = stamp
            history = HISTORY_OBJECTS.get(sobject.name)
            index = self._lookups.get(history) if history else None
            if history is None or index is None:
                return
            rows = self._tables[history[0]]
            for row_id in _collect(index, [current["Id"]]):
                row = rows[row_id]
                if not row.get("IsDeleted"):
                    self._remember(history[0], row)
                    row["IsDeleted"] = True
                    self._deleted_at[row_id] = stamp

    @contextmanager
    def transaction(self) -> Iterator[Callable[[], None]]:
        """Hold the org and journal every write; the yielded ``rollback`` undoes them.

        This is what allOrNone needs: writes are made (so later records of the
        same request see earlier ones, as in Salesforce) and then undone if
        any record failed. Nested use joins the outer transaction.
        """
        with self.lock:
            if self._journal is not None:
                yield lambda: None
                return
            self._journal = []

            def rollback() -> None:
                journal, self._journal = self._journal or [], []
                for name, record_id, before, deleted_at in reversed(journal):
                    table = self._tables[name]
                    current = table.get(record_id)
                    if current is not None:
                        self._unindex(name, current)
                        self._unindex_lookups(name, current)
                    if before is None:
                        table.pop(record_id, None)
                        self._ordinals[name].pop(record_id, None)
                        continue
                    table[record_id] = before
                    self._index(name, before)
                    self._index_lookups(name, before)
                    if deleted_at is None:
                        self._deleted_at.pop(record_id, None)
                    else:
                        self._deleted_at[record_id] = deleted_at

            try:
                yield rollback
            finally:
                self._journal = None

    # --- internals ------------------------------------------------------------

    def _remember(self, name: str, record: Record) -> None:
        if self._journal is not None:
            self._journal.append(
                (name, record["Id"], dict(record), self._deleted_at.get(record["Id"]))
            )

    def _put(self, sobject: SObject, values: Mapping[str, Any]) -> Record:
        """Store a server-made record (a history row, a LeadStatus) as given: no checks, no stamp.

        Journalled like an insert, so a rolled-back write takes its history rows along.
        """
        table = self._tables[sobject.name]
        record = {**self._blank(sobject), **values}
        record["Id"] = self.mint_id(sobject.key_prefix)
        while record["Id"] in table:  # history objects share a key prefix, not a table
            record["Id"] = self.mint_id(sobject.key_prefix)
        table[record["Id"]] = record
        self._index(sobject.name, record)
        self._index_lookups(sobject.name, record, canonical_ids=True)
        if self._journal is not None:
            self._journal.append((sobject.name, record["Id"], None, None))
        return record

    def _write_history(
        self,
        sobject: SObject,
        parent_id: str,
        changes: list[tuple[Field, Any, Any]],
        *,
        stamp: str,
        user_id: str,
        event: str | None,
    ) -> None:
        """History rows for one write, all stamped with the write's own stamp.

        A changed lookup writes two rows under its relationship name (Owner):
        one with the records' names, one with their ids, as Salesforce does
        ("Two rows are added to this object when foreign key fields change",
        Object Reference, "EntityHistory", https://developer.salesforce.com/docs/
        atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_entityhistory.htm).
        """
        spec = HISTORY_OBJECTS.get(sobject.name)
        history = self.schema.get(spec[0]) if spec else None
        if spec is None or history is None:
            return
        rows: list[tuple[str, str | None, Any, Any]] = []
        for f, old, new in changes:
            name = history_field_name(f)
            if f.type == REFERENCE:
                rows.append((name, "Text", self._display_name(old), self._display_name(new)))
                rows.append((name, "EntityId", old, new))
            else:
                rows.append((name, HISTORY_DATA_TYPES.get(f.type, "Text"), old, new))
        if event:
            rows.append((event, None, None, None))
        for field_name, data_type, old, new in rows:
            self._put(history, {
                spec[1]: parent_id, "Field": field_name, "DataType": data_type,
                "OldValue": old, "NewValue": new, "CreatedDate": stamp, "CreatedById": user_id,
            })  # fmt: skip

    def _display_name(self, record_id: Any) -> Any:
        """What the UI shows for a referenced record: its Name, or the id if not modelled."""
        if not isinstance(record_id, str):
            return record_id
        found = self.peek(record_id)
        return (found.get("Name") or record_id) if found else record_id

    def _index(self, name: str, record: Record) -> None:
        if record.get("IsDeleted"):
            return
        for f in self._indexed_fields[name]:
            value = record.get(f.name)
            if value is not None:
                key = _match_key(f.type, f.case_sensitive, value)
                self._indexes[(name, f.name)].setdefault(key, []).append(record["Id"])

    def _index_lookups(self, name: str, record: Record, *, canonical_ids: bool = False) -> None:
        """Add a record (deleted or not) to its object's lookup and phone indexes.

        ``canonical_ids``: the record's id fields hold 18-character ids already
        (server-made rows), so they are their own keys and skip the checksum.
        """
        record_id = record["Id"]
        ordinals = self._ordinals[name]
        if record_id not in ordinals:
            ordinals[record_id] = self._next_ordinal
            self._next_ordinal += 1
        for f in self._lookup_fields[name]:
            value = record.get(f.name)
            if value is not None:
                trusted = canonical_ids and f.type in (ID, REFERENCE)
                key = value if trusted else _lookup_key(f, value)
                _post(self._lookups[(name, f.name)], key, record_id)
        for pair, key in self._compound_keys(name, record):
            _post(self._compounds[(name, pair)], key, record_id)
        for digits in _phone_digits(record, self._phone_fields[name]):
            _post(self._phones[name], digits, record_id)

    def _unindex_lookups(self, name: str, record: Record) -> None:
        record_id = record["Id"]
        for f in self._lookup_fields[name]:
            value = record.get(f.name)
            if value is not None:
                _unpost(self._lookups[(name, f.name)], _lookup_key(f, value), record_id)
        for pair, key in self._compound_keys(name, record):
            _unpost(self._compounds[(name, pair)], key, record_id)
        for digits in _phone_digits(record, self._phone_fields[name]):
            _unpost(self._phones[name], digits, record_id)

    def _compound_keys(self, name: str,
                       record: Record) -> Iterator[tuple[tuple[str, str], tuple[Any, Any]]]:
        for pair, (one, other) in self._compound_fields[name]:
            a, b = record.get(one.name), record.get(other.name)
            if a is not None and b is not None:
                yield pair, (_lookup_key(one, a), _lookup_key(other, b))

    def _unindex(self, name: str, record: Record) -> None:
        for f in self._indexed_fields[name]:
            value = record.get(f.name)
            if value is None:
                continue
            index = self._indexes[(name, f.name)]
            key = _match_key(f.type, f.case_sensitive, value)
            ids = index.get(key)
            if ids and record["Id"] in ids:
                ids.remove(record["Id"])
                if not ids:
                    del index[key]

    def _defaults(self, sobject: SObject) -> Record:
        """A new record before the caller's values: nulls, picklist defaults, active."""
        cached = self._templates.get(sobject.name)
        if cached is None:
            cached = self._blank(sobject)
            for f in sobject.fields:
                if f.type == PICKLIST and f.defaulted_on_create and f.picklist_default:
                    cached[f.name] = f.picklist_default
            if "IsActive" in cached:
                cached["IsActive"] = True
            self._templates[sobject.name] = cached
        return cached

    def _blank(self, sobject: SObject) -> Record:
        return {f.name: (False if f.type == BOOLEAN else None) for f in sobject.fields}

    def _live(self, sobject: SObject, record_id: str) -> Record:
        record = self.lookup(sobject, record_id)
        if record is None:
            raise ApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
        if record.get("IsDeleted"):
            raise ApiError(404, [error("ENTITY_IS_DELETED", "entity is deleted")])
        return record

    def _derive(self, sobject: SObject, record: Record, changed: set[str]) -> None:
        """Server-maintained fields: compound Name, and the object's own rules."""
        if "LastName" in record and "Name" in record:
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None
        derive = DERIVED.get(sobject.name)
        if derive is not None:
            derive(record, changed)

    def _user_id_by_username(self, username: str) -> str | None:
        wanted = username.lower()
        for user in self._tables.get("User", {}).values():
            if (user.get("Username") or "").lower() == wanted:
                return user["Id"]
        return None

    def _check_integrity(
        self, sobject: SObject, record: Record, changed: set[str], *, record_id: str | None
    ) -> None:
        """Checks that need other records: references, owners, unique values."""
        errors: list[dict[str, Any]] = []
        for name in changed:
            f = sobject.field(name)
            value = record.get(name)
            if f is None or f.type != REFERENCE or value is None:
                continue
            target = self.schema.by_prefix(value[:3])
            if target is None or target.name not in f.reference_to:
                if target is None and _known_elsewhere(value[:3], f.reference_to):
                    errors.append(
                        error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
                    )
                else:
                    errors.append(
                        error(
                            "FIELD_INTEGRITY_EXCEPTION",
                            f"{f.label}: id value of incorrect type: {value}",
                            [f.name],
                        )
                    )
                continue
            referenced = self._tables[target.name].get(value)
            if referenced is None or referenced.get("IsDeleted"):
                errors.append(
                    error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
                )
            elif name == "OwnerId" and not referenced.get("IsActive", True):
                errors.append(
                    error(
                        "INACTIVE_OWNER_OR_USER",
                        f"operation performed with inactive user [{value}] as owner of "
                        f"{sobject.name.lower()}",
                    )
                )
        for f in self._indexed_fields[sobject.name]:
            value = record.get(f.name)
            if not f.unique or f.name not in changed or value is None:
                continue
            wanted = _match_key(f.type, f.case_sensitive, value)
            holders = self._indexes[(sobject.name, f.name)].get(wanted, ())
            other_id = next((i for i in holders if i != record_id), None)
            if other_id is not None:
                errors.append(
                    error(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record "
                        f"with id: {short_id(other_id)}",
                    )
                )
        if errors:
            raise ApiError(400, errors)


# Key prefixes of objects referenced by the model but not stored in the
# sandbox (yet): a well-formed id of one of these cannot be resolved.
_UNMODELLED_PREFIXES = {"Group": "00G", "Account": "001", "Contact": "003", "Opportunity": "006"}


def _seed_value(value: Any) -> Any:
    """Python dates in a dict seed become the API's text forms."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _known_elsewhere(prefix: str, reference_to: tuple[str, ...]) -> bool:
    return any(_UNMODELLED_PREFIXES.get(name) == prefix for name in reference_to)


def _lookup_key(f: Field, value: Any) -> Any:
    key = _match_key(f.type, f.case_sensitive, value)
    # Most stored text is already folded (emails, ids): share the record's
    # string instead of keeping an equal copy per index entry.
    return value if key == value and type(key) is type(value) else key


def phone_digits(text: str) -> str:
    """A phone value as SOSL compares it: its digits only, formatting ignored."""
    return _NOT_DIGIT.sub("", text)


def _phone_digits(record: Record, fields: tuple[str, ...]) -> set[str]:
    found = set()
    for name in fields:
        value = record.get(name)
        if value:
            digits = phone_digits(str(value))
            if digits:
                found.add(digits)
    return found


def _post(index: dict[Any, Postings], key: Any, record_id: str) -> None:
    held = index.get(key)
    if held is None:
        index[key] = record_id
    elif isinstance(held, str):
        if held != record_id:
            index[key] = [held, record_id]
    elif isinstance(held, set):
        held.add(record_id)
    elif record_id not in held:
        held.append(record_id)
        if len(held) > _LIST_POSTINGS:
            index[key] = set(held)


def _unpost(index: dict[Any, Postings], key: Any, record_id: str) -> None:
    held = index.get(key)
    if held is None:
        return
    if isinstance(held, str):
        if held == record_id:
            del index[key]
        return
    if isinstance(held, set):
        held.discard(record_id)
    elif record_id in held:
        held.remove(record_id)
    if len(held) == 1:
        index[key] = next(iter(held))


def _collect(index: dict[Any, Postings], keys: Iterable[Any]) -> set[str]:
    found: set[str] = set()
    for key in keys:
        held = index.get(key)
        if held is None:
            continue
        if isinstance(held, str):
            found.add(held)
        else:
            found.update(held)
    return found


def _match_key(field_type: str, case_sensitive: bool, value: Any) -> Any:
    """How two stored values compare for equality (external ids, unique checks)."""
    if value is None:
        return None
    if field_type in TEXT_TYPES:
        text = str(value)
        canonical = normalize_id(text) if field_type in ("id", "reference") else None
        if canonical:
            return canonical
        return text if case_sensitive else text.casefold()
    return value

"""The portal's data: records, property definitions, owners, associations, and their indexes.

Every write goes through ``prepare`` (validate every value against the
property definitions, all errors at once, as HubSpot reports them) and then
``apply`` (stamps, computed deal fields, indexes). Batches call ``prepare``
for every input before applying any, because HubSpot refuses a whole batch
when one input has an invalid value.

Indexes keep the 10,000-record benchmark cheap: live values of each unique
property (email, leadsync_id...) map to their record id, and each object
type keeps its records sorted by last-modified time, so "changed since the
cursor" searches bisect instead of scanning. Ids come from one counter, so
they are unique across object types and increase with creation time.

Every property change is kept in the record's history, oldest first, with
who made it (``sourceType``/``sourceId``/``updatedByUserId``), which is what
``propertiesWithHistory`` returns newest first. A merge makes a new record
from two (see ``Portal.merge``) and leaves the two old ids as aliases of it.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers

from . import schema
from .errors import PropertyError, conflict, property_errors, validation
from .schema import ENGAGEMENTS, MODIFIED, SINGULAR, PropertyDef, iso, to_millis

STATE_VERSION = 1
"""Version 1 files without ``history``/``merged`` (written before merges) still load."""

PRIVATE_APP_ID = "3160001"
"""The sandbox token's private app: ``sourceId`` of API writes in property history.
Real histories of private-app writes show ``sourceType: INTEGRATION`` with the
app's numeric id as ``sourceId`` and no user (bodies recorded from the v3 API
in public client test fixtures); the number itself is made up."""

API_SOURCE = "INTEGRATION"
CALCULATED = "CALCULATED"
"""``sourceType`` of values the portal computes (stamps, ids, merge bookkeeping).
HubSpot's history shows calculated properties this way; which properties it
counts as calculated is our reading, not documented per property."""

SYSTEM_PROPERTIES = frozenset({
    "hs_object_id", "hs_lastmodifieddate", "lastmodifieddate", "hs_updated_by_user_id",
    "hs_object_source", "hs_merged_object_ids", "hs_calculated_merged_vids",
    "hs_additional_emails", "hs_searchable_calculated_phone_number",
    "hs_searchable_calculated_mobile_number", "hs_is_closed", "hs_is_closed_won",
})
"""Properties a merge computes afresh instead of taking from either record."""

SINGLE_PRIMARY_TYPES = frozenset({1, 5})
"""Labelled "Primary" types a record holds once (its primary company). On a merge
the primary record's is kept and the other's dropped (developer changelog
"Updated merge functionality for contacts and companies")."""

HistoryEntry = tuple[str, str, str, str | None, int | None]
"""(value, ISO timestamp, sourceType, sourceId, updatedByUserId), oldest first in a list."""

ASSOCIATION_TYPES: dict[int, tuple[str, str, str | None]] = {
    1: ("contacts", "companies", "Primary"),
    2: ("companies", "contacts", "Primary"),
    3: ("deals", "contacts", None),
    4: ("contacts", "deals", None),
    5: ("deals", "companies", "Primary"),
    6: ("companies", "deals", "Primary"),
    181: ("companies", "calls", None),
    182: ("calls", "companies", None),
    185: ("companies", "emails", None),
    186: ("emails", "companies", None),
    187: ("companies", "meetings", None),
    188: ("meetings", "companies", None),
    189: ("companies", "notes", None),
    190: ("notes", "companies", None),
    191: ("companies", "tasks", None),
    192: ("tasks", "companies", None),
    193: ("contacts", "calls", None),
    194: ("calls", "contacts", None),
    197: ("contacts", "emails", None),
    198: ("emails", "contacts", None),
    199: ("contacts", "meetings", None),
    200: ("meetings", "contacts", None),
    201: ("contacts", "notes", None),
    202: ("notes", "contacts", None),
    203: ("contacts", "tasks", None),
    204: ("tasks", "contacts", None),
    205: ("deals", "calls", None),
    206: ("calls", "deals", None),
    209: ("deals", "emails", None),
    210: ("emails", "deals", None),
    211: ("deals", "meetings", None),
    212: ("meetings", "deals", None),
    213: ("deals", "notes", None),
    214: ("notes", "deals", None),
    215: ("deals", "tasks", None),
    216: ("tasks", "deals", None),
    279: ("contacts", "companies", None),
    280: ("companies", "contacts", None),
    341: ("deals", "companies", None),
    342: ("companies", "deals", None),
}
"""HUBSPOT_DEFINED association type ids (the values of the client's ``AssociationType``)."""

DEFAULT_TYPE: dict[tuple[str, str], int] = {}
for _type_id, (_from, _to, _label) in ASSOCIATION_TYPES.items():
    if _label is None:
        DEFAULT_TYPE[(_from, _to)] = _type_id
INVERSE: dict[int, int] = {
    a: b
    for a, (fa, ta, la) in ASSOCIATION_TYPES.items()
    for b, (fb, tb, lb) in ASSOCIATION_TYPES.items()
    if fa == tb and ta == fb and la == lb
}

DEFAULT_OWNERS = [
    ("avery.chen", "Avery", "Chen", False),
    ("jordan.patel", "Jordan", "Patel", False),
    ("morgan.diaz", "Morgan", "Diaz", False),
    ("riley.okafor", "Riley", "Okafor", False),
    ("casey.brooks", "Casey", "Brooks", True),
    ("drew.nakamura", "Drew", "Nakamura", True),
]
"""The reps: the same people as the Salesforce sandbox, the last two no longer active."""


@dataclass
class Record:
    id: int
    object_type: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "properties": self.properties,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": self.archived,
        }
        if self.archived_at is not None:
            body["archivedAt"] = iso(self.archived_at)
        if self.history:
            body["history"] = {name: [list(e) for e in entries]
                               for name, entries in self.history.items()}
        return body

    def history_json(self, name: str) -> list[dict[str, Any]]:
        """One property's ``ValueWithTimestamp`` list, newest first (as the API orders it)."""
        out = []
        for value, stamp, source_type, source_id, user_id in reversed(self.history.get(name, [])):
            entry: dict[str, Any] = {"value": value, "timestamp": stamp, "sourceType": source_type}
            if source_id is not None:
                entry["sourceId"] = source_id
            if user_id is not None:
                entry["updatedByUserId"] = user_id
            out.append(entry)
        return out


@dataclass
class Owner:
    id: str
    email: str
    first_name: str
    last_name: str
    user_id: int
    created_at: str
    updated_at: str
    archived: bool = False
    teams: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.teams:
            body["teams"] = self.teams
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Owner:
        return cls(
            id=str(body["id"]),
            email=str(body.get("email") or ""),
            first_name=str(body.get("firstName") or ""),
            last_name=str(body.get("lastName") or ""),
            user_id=int(body.get("userId") or body.get("userIdIncludingInactive") or 0),
            created_at=str(body.get("createdAt") or "2024-01-02T09:00:00.000Z"),
            updated_at=str(body.get("updatedAt") or "2024-01-02T09:00:00.000Z"),
            archived=bool(body.get("archived", False)),
            teams=list(body.get("teams") or []),
        )


SEARCHABLE_PHONES = {"phone": "hs_searchable_calculated_phone_number",
                     "mobilephone": "hs_searchable_calculated_mobile_number"}


def searchable_phone(value: str | None) -> str | None:
    """HubSpot's calculated phone properties: the number's digits without country
    code or formatting, so a search finds "(415) 555-0100" by 4155550100."""
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", value).lstrip("0")
        return digits or None
    return phonenumbers.national_significant_number(number) or None


class Portal:
    """One HubSpot account's CRM data; callers hold ``lock`` around a request."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.properties = schema.default_properties()
        self.records: dict[str, dict[int, Record]] = {t: {} for t in self.properties}
        self.order: dict[str, list[int]] = {t: [] for t in self.properties}
        self.unique: dict[str, dict[str, dict[str, int]]] = {t: {} for t in self.properties}
        self.modified: dict[str, list[tuple[float, int]]] = {t: [] for t in self.properties}
        self.associations: dict[tuple[str, int, str], dict[int, list[int]]] = {}
        self.merged: dict[str, dict[int, int]] = {t: {} for t in self.properties}
        """Ids merged away, per type, to the id of the record they became (one hop)."""
        self.owners: list[Owner] = []
        self.next_id = 1001
        self._index_uniques()

    # --- construction -----------------------------------------------------------

    @classmethod
    def fresh(cls, clock: Callable[[], datetime]) -> Portal:
        portal = cls(clock)
        for number, (login, first, last, archived) in enumerate(DEFAULT_OWNERS):
            portal.owners.append(
                Owner(
                    id=str(70_000_001 + number),
                    email=f"{login}@leadsync.sandbox",
                    first_name=first,
                    last_name=last,
                    user_id=9_000_001 + number,
                    created_at="2024-01-02T09:00:00.000Z",
                    updated_at="2024-01-02T09:00:00.000Z",
                    archived=archived,
                )
            )
        return portal

    def _index_uniques(self) -> None:
        for object_type, props in self.properties.items():
            for name, definition in props.items():
                if definition.has_unique_value:
                    self.unique[object_type].setdefault(name, {})

    def owner_ids(self) -> set[str]:
        return {o.id for o in self.owners if not o.archived}

    # --- reading ------------------------------------------------------------------

    def get(self, object_type: str, object_id: str | int) -> Record | None:
        try:
            number = int(str(object_id))
        except ValueError:
            return None
        return self.records[object_type].get(number)

    def resolve(self, object_type: str, object_id: str | int) -> Record | None:
        """The record an id names, following a merge: HubSpot's developer changelog
        ("Updated merge functionality for contacts and companies") says both previous
        ids point to the merged record, and fetching by them returns it, new id and all."""
        record = self.get(object_type, object_id)
        if record is not None:
            return record
        try:
            number = int(str(object_id))
        except ValueError:
            return None
        target = self.merged[object_type].get(number)
        return self.records[object_type].get(target) if target is not None else None

    def live(self, object_type: str, object_id: str | int) -> Record | None:
        record = self.resolve(object_type, object_id)
        return record if record is not None and not record.archived else None

    def find_unique(self, object_type: str, prop: str, value: str) -> Record | None:
        """The live record whose unique ``prop`` is ``value`` (emails compare lower-cased)."""
        if prop == "hs_object_id":
            return self.live(object_type, value)
        index = self.unique[object_type].get(prop)
        if index is None:
            return None
        found = index.get(self._unique_key(prop, value))
        return self.records[object_type][found] if found is not None else None

    @staticmethod
    def _unique_key(prop: str, value: str) -> str:
        return value.strip().lower() if prop == "email" else value

    def is_unique(self, object_type: str, prop: str) -> bool:
        return prop == "hs_object_id" or prop in self.unique[object_type]

    # --- writing ------------------------------------------------------------------

    def prepare(
        self, object_type: str, values: dict[str, Any], existing: Record | None
    ) -> dict[str, str]:
        """Validated, normalized changes; ``PropertyError``s raised together as one 400."""
        definitions = self.properties[object_type]
        owners = self.owner_ids()
        changes: dict[str, str] = {}
        errors: list[PropertyError] = []
        for name, raw in (values or {}).items():
            definition = definitions.get(name)
            if definition is None:
                errors.append(
                    PropertyError(
                        "PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist'
                    )
                )
                continue
            if definition.read_only:
                # Guessed code/wording: HubSpot refuses values for calculated/system fields.
                errors.append(
                    PropertyError(
                        "READ_ONLY_VALUE",
                        name,
                        f'"{name}" is a read only property; its value cannot be set.',
                        None if raw is None else str(raw),
                    )
                )
                continue
            try:
                changes[name] = definition.normalize(raw, owner_ids=owners)
            except PropertyError as exc:
                errors.append(exc)
        if errors:
            raise property_errors(errors)
        stage = changes.get("lifecyclestage")
        if stage and existing is not None:
            current = existing.properties.get("lifecyclestage")
            order = [o.value for o in definitions["lifecyclestage"].options]
            if current in order and order.index(stage) < order.index(current):
                # HubSpot moves lifecycle stages forward only: an earlier stage is
                # dropped silently (200, value unchanged) until the field is cleared.
                del changes["lifecyclestage"]
        return changes

    def check_unique(
        self,
        object_type: str,
        changes: dict[str, str],
        own_id: int | None,
        claimed: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """409 if a unique value belongs to another live record (or an earlier batch input)."""
        for prop, index in self.unique[object_type].items():
            value = changes.get(prop)
            if not value:
                continue
            key = self._unique_key(prop, value)
            holder = index.get(key)
            if holder is None and claimed is not None:
                holder = claimed.get((prop, key))
            if holder is not None and holder != own_id:
                raise conflict(
                    f"{SINGULAR[object_type].capitalize()} already exists. Existing ID: {holder}"
                )
            if claimed is not None:
                claimed[(prop, key)] = own_id if own_id is not None else -1

    def allocate_id(self) -> int:
        number = self.next_id
        self.next_id += 1
        return number

    def create(
        self,
        object_type: str,
        changes: dict[str, str],
        *,
        source: str = API_SOURCE,
        user_id: int | None = None,
        record_id: int | None = None,
    ) -> Record:
        now = self.clock()
        number = record_id if record_id is not None else self.allocate_id()
        properties = {k: v for k, v in changes.items() if v != ""}
        stamp = iso(now)
        properties.setdefault("createdate", stamp)
        if object_type in ENGAGEMENTS:
            properties["hs_createdate"] = stamp
            properties.setdefault("hs_timestamp", stamp)
        if object_type == "tasks":
            properties.setdefault("hs_task_status", "NOT_STARTED")
        if object_type == "deals":
            properties.setdefault("pipeline", "default")
        properties["hs_object_id"] = str(number)
        properties["hs_object_source"] = source
        record = Record(number, object_type, properties, now, now)
        self._stamp(record, now, user_id)
        self._remember(record, {}, set(changes), stamp, source, user_id)
        self.records[object_type][number] = record
        self.order[object_type].append(number)
        self._index(record)
        return record

    def update(
        self,
        record: Record,
        changes: dict[str, str],
        *,
        user_id: int | None = None,
        source: str = API_SOURCE,
    ) -> Record:
        """Apply validated changes; ``source`` is the history's ``sourceType`` for them."""
        now = self.clock()
        before = dict(record.properties)
        self._unindex(record)
        for name, value in changes.items():
            if value == "":
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        self._stamp(record, now, user_id)
        self._remember(record, before, set(changes), iso(now), source, user_id)
        self._index(record)
        return record

    def _remember(
        self,
        record: Record,
        before: dict[str, str],
        written: set[str],
        stamp: str,
        source: str,
        user_id: int | None,
    ) -> None:
        """Add a history entry for every property whose value changed (a cleared one
        records ``""``); what the writer gave is its own, the rest ``CALCULATED``."""
        writer = (source, _source_id(source, user_id),
                  user_id if source != API_SOURCE else None)
        for name in record.properties.keys() | before.keys():
            value = record.properties.get(name, "")
            if value == before.get(name, ""):
                continue
            who = writer if name in written else (CALCULATED, None, None)
            record.history.setdefault(name, []).append((value, stamp, *who))

    def archive(self, record: Record) -> None:
        if record.archived:
            return
        self._unindex(record)
        record.archived = True
        record.archived_at = self.clock()
        for key in [k for k in self.associations if k[0] == record.object_type and k[1] ==
                    record.id]:
            for other in list(self.associations.get(key, {})):
                self.unlink(record.object_type, record.id, key[2], other)

    def merge_pair(
        self, object_type: str, primary_id: str | int, merged_id: str | int
    ) -> tuple[Record, Record]:
        """The two live records a merge names, or HubSpot's 400 VALIDATION_ERROR.

        The wording is ours: no real body for these refusals could be found.
        A merged-away id resolves to its merged record, so merging it into
        the record it became is a merge into itself.
        """
        primary, secondary = self.live(object_type, primary_id), self.live(object_type, merged_id)
        if primary is None or secondary is None:
            unknown = [str(i) for i, r in ((primary_id, primary), (merged_id, secondary))
                       if r is None]
            raise validation(
                f"Unable to merge: no {SINGULAR[object_type]} with id {', '.join(unknown)} "
                "exists.",
                context={"ids": unknown},
            )
        if primary.id == secondary.id:
            raise validation(
                f"Unable to merge {SINGULAR[object_type]} {primary_id} into {merged_id}: "
                "a record cannot be merged into itself.",
                context={"ids": [str(primary_id), str(merged_id)]},
            )
        return primary, secondary

    def merge(
        self,
        primary: Record,
        secondary: Record,
        *,
        source: str = API_SOURCE,
        user_id: int | None = None,
    ) -> Record:
        """Merge two live records of one type into a new record with a new id.

        What this follows, and from where:

        * A new record with a new id; both old ids then point to it (developer
          changelog "Updated merge functionality for contacts and companies",
          developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-
          and-companies, which brought contacts and companies in line with the
          other objects).
        * Current values are the primary's; the secondary fills only what the
          primary lacks (same changelog; knowledge base "Merge records",
          knowledge.hubspot.com/records/merge-records, linked from the merge
          operation of the v3 contacts spec).
        * Exceptions from the knowledge base: the primary's email stays the
          email and the secondary's joins ``hs_additional_emails``; the
          lifecycle stage furthest down the funnel wins.
        * Both records' property histories are kept; where both hold an entry
          for a property at the same timestamp only the primary's is kept
          (changelog). A current value that is not its history's newest gets
          an entry at the merge time, so history and value agree.
        * ``hs_merged_object_ids`` lists every id folded into the record
          (knowledge base: "Merged [record] IDs"); contacts also get
          ``hs_calculated_merged_vids`` as ``id:epochMillis`` pairs, the format
          HubSpot's property description gives (quoted in Fivetran's HubSpot
          docs).
        * Associations of both move to the new record; the primary's are kept
          first, and a second "Primary" company is dropped (changelog).

        Chosen where nothing says: ``createdAt`` is the merge time (a new record),
        ``createdate`` follows the primary-wins rule.
        """
        kind = primary.object_type
        now = self.clock()
        stamp = iso(now)
        number = self.allocate_id()
        properties = {
            name: value
            for record in (secondary, primary)  # the primary's values overwrite
            for name, value in record.properties.items()
            if name not in SYSTEM_PROPERTIES and value != ""
        }
        properties["hs_object_source"] = primary.properties.get("hs_object_source", source)
        definitions = self.properties[kind]
        stage = definitions.get("lifecyclestage")
        if stage is not None:
            order = [o.value for o in stage.options]
            stages = [r.properties.get("lifecyclestage") for r in (primary, secondary)]
            known = [v for v in stages if v in order]
            if known:
                properties["lifecyclestage"] = max(known, key=order.index)
        if kind == "contacts":
            emails = [primary.properties.get("email", ""),
                      *primary.properties.get("hs_additional_emails", "").split(";"),
                      secondary.properties.get("email", ""),
                      *secondary.properties.get("hs_additional_emails", "").split(";")]
            emails = [e for e in dict.fromkeys(emails) if e]
            if emails:
                properties["email"] = emails[0]
            if emails[1:]:
                properties["hs_additional_emails"] = ";".join(emails[1:])
            millis = str(int(to_millis(stamp)))
            vids = [v for r in (primary, secondary)
                    for v in r.properties.get("hs_calculated_merged_vids", "").split(";") if v]
            vids += [f"{primary.id}:{millis}", f"{secondary.id}:{millis}"]
            properties["hs_calculated_merged_vids"] = ";".join(vids)
        folded = {int(v) for r in (primary, secondary)
                  for v in r.properties.get("hs_merged_object_ids", "").split(";") if v}
        folded |= {primary.id, secondary.id}
        properties["hs_merged_object_ids"] = ";".join(str(i) for i in sorted(folded))
        properties["hs_object_id"] = str(number)

        record = Record(number, kind, properties, now, now,
                        history=_merged_history(primary, secondary))
        self._stamp(record, now, user_id)
        writer = (source, _source_id(source, user_id), user_id if source != API_SOURCE else None)
        for name in record.properties.keys() | record.history.keys():
            value = record.properties.get(name, "")
            entries = record.history.get(name)
            if (entries[-1][0] if entries else "") != value:
                who = (CALCULATED, None, None) if name in SYSTEM_PROPERTIES else writer
                record.history.setdefault(name, []).append((value, stamp, *who))

        for old in (primary, secondary):
            self._unindex(old)
            del self.records[kind][old.id]
            self.order[kind].remove(old.id)
        self.records[kind][number] = record
        self.order[kind].append(number)
        self._index(record)
        aliases = self.merged[kind]
        for old_id, target in list(aliases.items()):
            if target in (primary.id, secondary.id):
                aliases[old_id] = number
        aliases[primary.id] = aliases[secondary.id] = number
        for old in (primary, secondary):
            self._move_associations(old, record, keep_primaries=old is primary)
        return record

    def _move_associations(self, old: Record, new: Record, *, keep_primaries: bool) -> None:
        kind = old.object_type
        for key in [k for k in self.associations if k[0] == kind and k[1] == old.id]:
            to_type = key[2]
            for to_id, types in list(self.associations.get(key, {}).items()):
                for type_id in types:
                    held = any(type_id in t for t in self.linked(kind, new.id, to_type).values())
                    if type_id in SINGLE_PRIMARY_TYPES and held and not keep_primaries:
                        continue
                    self.link(kind, new.id, to_type, to_id, type_id)
                self.unlink(kind, old.id, to_type, to_id)

    def _stamp(self, record: Record, now: datetime, user_id: int | None) -> None:
        stamp = iso(now)
        record.updated_at = now
        record.properties["hs_lastmodifieddate"] = stamp
        modified = MODIFIED.get(record.object_type)
        if modified:
            record.properties[modified] = stamp
        if user_id is not None:
            record.properties["hs_updated_by_user_id"] = str(user_id)
        else:
            record.properties.pop("hs_updated_by_user_id", None)
        if record.object_type == "contacts":
            for source, target in SEARCHABLE_PHONES.items():
                digits = searchable_phone(record.properties.get(source))
                if digits:
                    record.properties[target] = digits
                else:
                    record.properties.pop(target, None)
        if record.object_type == "deals":
            stage = record.properties.get("dealstage", "")
            record.properties["hs_is_closed"] = str(stage in ("closedwon", "closedlost")).lower()
            record.properties["hs_is_closed_won"] = str(stage == "closedwon").lower()

    @staticmethod
    def _unique_values(record: Record, prop: str) -> list[str]:
        """A record's values of a unique property; a merged contact's additional
        emails count as its emails (knowledge base "Merge records": a merged-away
        address cannot be used for a new contact)."""
        value = record.properties.get(prop)
        values = [value] if value else []
        if prop == "email":
            values += [v for v in record.properties.get("hs_additional_emails", "").split(";")
                       if v]
        return values

    def _index(self, record: Record) -> None:
        if record.archived:
            return
        for prop, index in self.unique[record.object_type].items():
            for value in self._unique_values(record, prop):
                index[self._unique_key(prop, value)] = record.id
        bisect.insort(self.modified[record.object_type], (self._modified_key(record), record.id))

    def _unindex(self, record: Record) -> None:
        if record.archived:
            return
        for prop, index in self.unique[record.object_type].items():
            for value in self._unique_values(record, prop):
                if index.get(self._unique_key(prop, value)) == record.id:
                    del index[self._unique_key(prop, value)]
        entries = self.modified[record.object_type]
        key = (self._modified_key(record), record.id)
        position = bisect.bisect_left(entries, key)
        if position < len(entries) and entries[position] == key:
            del entries[position]

    @staticmethod
    def _modified_key(record: Record) -> float:
        return to_millis(record.properties["hs_lastmodifieddate"])

    # --- properties ---------------------------------------------------------------

    def add_property(self, object_type: str, definition: PropertyDef) -> None:
        self.properties[object_type][definition.name] = definition
        if definition.has_unique_value:
            index = self.unique[object_type].setdefault(definition.name, {})
            for record in self.records[object_type].values():
                if record.archived:
                    continue
                for value in self._unique_values(record, definition.name):
                    index[self._unique_key(definition.name, value)] = record.id

    # --- associations -------------------------------------------------------------

    def link(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        """Associate both ways: HubSpot stores the inverse type on the other record."""
        forward = self.associations.setdefault((from_type, from_id, to_type), {})
        types = forward.setdefault(to_id, [])
        if type_id not in types:
            types.append(type_id)
        inverse = INVERSE.get(type_id)
        if inverse is not None:
            back = self.associations.setdefault((to_type, to_id, from_type), {})
            back_types = back.setdefault(from_id, [])
            if inverse not in back_types:
                back_types.append(inverse)

    def unlink(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        for a, a_id, b, b_id in ((from_type, from_id, to_type, to_id),
                                 (to_type, to_id, from_type, from_id)):
            linked = self.associations.get((a, a_id, b))
            if linked is not None:
                linked.pop(b_id, None)
                if not linked:
                    del self.associations[(a, a_id, b)]

    def linked(self, from_type: str, from_id: int, to_type: str) -> dict[int, list[int]]:
        return self.associations.get((from_type, from_id, to_type), {})

    # --- persistence --------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        custom = {
            t: [p.to_state() for p in props.values() if not p.hubspot_defined]
            for t, props in self.properties.items()
        }
        return {
            "version": STATE_VERSION,
            "nextId": self.next_id,
            "owners": [o.to_json() for o in self.owners],
            "properties": custom,
            "records": {
                t: [r.to_state() for r in records.values()] for t, records in self.records.items()
            },
            "associations": [
                {"fromType": f, "fromId": fid, "toType": t, "toId": tid, "types": types}
                for (f, fid, t), linked in self.associations.items()
                for tid, types in linked.items()
            ],
            "merged": {t: {str(old): new for old, new in aliases.items()}
                       for t, aliases in self.merged.items() if aliases},
        }

    @classmethod
    def from_state(cls, clock: Callable[[], datetime], state: dict[str, Any]) -> Portal:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported HubSpot sandbox state version {state.get('version')}")
        portal = cls(clock)
        portal.next_id = int(state["nextId"])
        portal.owners = [Owner.from_json(o) for o in state.get("owners", [])]
        for object_type, props in state.get("properties", {}).items():
            for body in props:
                portal.add_property(object_type, PropertyDef.from_json(body))
        for object_type, rows in state.get("records", {}).items():
            for row in sorted(rows, key=lambda r: int(r["id"])):
                record = Record(
                    id=int(row["id"]),
                    object_type=object_type,
                    properties=dict(row["properties"]),
                    created_at=schema.parse_datetime(row["createdAt"]),
                    updated_at=schema.parse_datetime(row["updatedAt"]),
                    archived=bool(row.get("archived", False)),
                    archived_at=schema.parse_datetime(row["archivedAt"])
                    if row.get("archivedAt")
                    else None,
                    history={
                        name: [(str(e[0]), str(e[1]), str(e[2]), e[3], e[4]) for e in entries]
                        for name, entries in (row.get("history") or {}).items()
                    },
                )
                portal.records[object_type][record.id] = record
                portal.order[object_type].append(record.id)
                portal._index(record)
        for link in state.get("associations", []):
            portal.associations.setdefault(
                (link["fromType"], int(link["fromId"]), link["toType"]), {}
            )[int(link["toId"])] = [int(t) for t in link["types"]]
        for object_type, aliases in (state.get("merged") or {}).items():
            portal.merged[object_type].update({int(k): int(v) for k, v in aliases.items()})
        return portal

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a portal."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            text = json.dumps(self.to_state(), separators=(",", ":"))
        handle, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)


def _source_id(source: str, user_id: int | None) -> str | None:
    """``sourceId`` of a history entry: the app for API writes, ``userId:N`` for a
    person's edit (the form in published examples of the v3 history body)."""
    if source == API_SOURCE:
        return PRIVATE_APP_ID
    if user_id is not None:
        return f"userId:{user_id}"
    return None


def _merged_history(primary: Record, secondary: Record) -> dict[str, list[HistoryEntry]]:
    """Both records' histories per property, oldest first; on a timestamp both hold
    for one property the primary's entry alone is kept."""
    merged: dict[str, list[HistoryEntry]] = {}
    for name in primary.history.keys() | secondary.history.keys():
        mine = primary.history.get(name, [])
        taken = {entry[1] for entry in mine}
        theirs = [e for e in secondary.history.get(name, []) if e[1] not in taken]
        merged[name] = sorted([*theirs, *mine], key=lambda e: e[1])
    return merged

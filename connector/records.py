"""The nouns that travel through a sync cycle.

Adapters produce and consume these; the engine never sees a client
library's own types. Plain dataclasses: cheap to build in bulk and easy to
compare in tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Generic, TypeVar

from connector.errors import RecordError

T = TypeVar("T")


ACTIVITY_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""An activity's kind: any the marketing store holds (form_fill, page_visit,
email_open, webinar_attended, unsubscribe …), lower-case letters, digits and _."""


@dataclass(frozen=True)
class Activity:
    kind: str
    occurred_at: datetime
    detail: str = ""


@dataclass
class Lead:
    """A marketing lead as the marketing store holds it.

    ``fields`` keeps every profile attribute by its marketing name (email,
    first_name, company, ...), so mappings can name custom fields the same
    way as standard ones.
    """

    id: str
    fields: dict[str, Any]
    updated_at: datetime
    stage: str | None = None
    activities: list[Activity] = field(default_factory=list)
    field_times: dict[str, datetime] = field(default_factory=dict)
    """When each field last changed, where the store knows it (else ``updated_at``)."""

    def get(self, name: str, default: Any = None) -> Any:
        if name == "id":
            return self.id
        if name == "stage":
            return self.stage
        return self.fields.get(name, default)


@dataclass(frozen=True)
class Decision(Generic[T]):
    """A pure function's answer and the reason a person can read."""

    value: T
    reason: str


@dataclass(frozen=True)
class Write:
    """One record for the CRM: its external id, the fields to write, and the
    fields to add only if the CRM ends up creating it (never on an update, so
    a status sales already set is not reset)."""

    key: str
    payload: dict[str, Any]
    on_create: dict[str, Any] = field(default_factory=dict)
    known: bool = False
    """We hold a link to it: the CRM most likely has it, so try an update first."""
    crm_id: str | None = None
    """Update this record by its id: an earlier record of the same person that
    matching found (it may not carry our external id yet)."""
    stamp: bool = True
    """With ``crm_id``: also write ``key`` into the external id field, so later
    writes find the record by it (not when it already holds another lead's key)."""
    email_shared: bool = False
    """The email is a team's mailbox (info@, sales@): matching found this lead a
    person of their own, so a CRM that keeps one record per address (HubSpot) makes
    theirs without it rather than hand the lead to whoever holds the address."""
    unindexed_id: bool = False
    """The candidate index, brought in step with the CRM at this run's start, holds
    no record with this external id: an adapter need not look it up by the id."""
    unindexed_email: bool = False
    """... nor one with this person's mailbox: nor look it up by email before
    creating it (a record made since meets the CRM's own refusal of a taken
    address, which names the record)."""

    def body(self, *, created: bool) -> dict[str, Any]:
        return {**self.payload, **self.on_create} if created else dict(self.payload)


TASK_PRIORITIES = ("high", "normal", "low")


@dataclass(frozen=True)
class HandoffTask:
    """A to-do for the rep who now owns a lead: who it is and what they did so far."""

    key: str          # the lead's external id (results are matched by it)
    crm_id: str       # the record the task is attached to
    subject: str
    body: str
    due: datetime
    owner_id: str | None = None
    priority: str = "normal"
    """One of ``TASK_PRIORITIES``; each adapter writes it in its CRM's words."""

    @property
    def token(self) -> str:
        """What makes this task itself, written into its text: found on the record,
        it says the task was made already (a run cut off after the call)."""
        return f"leadsync-task:{self.key}:{self.crm_id}"

    @property
    def mark(self) -> str:
        """What a task of this lead carries whatever record it was made on: a merge
        moves tasks to the survivor, and the lead's task there is still its task."""
        return f"leadsync-task:{self.key}:"

    @property
    def text(self) -> str:
        """The body as written to the CRM: the token on its last line."""
        return f"{self.body[:30_000]}\n({self.token})"

    def as_json(self) -> str:
        return json.dumps({"key": self.key, "crm_id": self.crm_id, "subject": self.subject,
                           "body": self.body, "due": self.due.isoformat(),
                           "owner_id": self.owner_id, "priority": self.priority})

    @classmethod
    def from_json(cls, text: str) -> HandoffTask:
        data = json.loads(text)  # tasks owed before priorities were written have none
        return cls(data["key"], data["crm_id"], data["subject"], data["body"],
                   datetime.fromisoformat(data["due"]), data.get("owner_id"),
                   data.get("priority") or "normal")


@dataclass
class WriteResult:
    """What the CRM said about one record of a batch write."""

    key: str  # the external id the record was written under
    ok: bool
    crm_id: str | None = None
    created: bool = False
    errors: list[RecordError] = field(default_factory=list)
    gone: str | None = None
    """The record takes no more writes: "converted" or "deleted" (merged away too).
    Not a refusal of the values: news about the record, never a dead letter."""


@dataclass(frozen=True)
class CrmRecord:
    """One CRM record, in terms the engine can use without knowing the CRM."""

    crm_id: str
    key: str | None  # our external id, if the record carries one
    fields: dict[str, Any]


@dataclass(frozen=True)
class Removal:
    """A record gone from the CRM: deleted by a rep, or merged into ``merged_into``."""

    crm_id: str
    key: str | None
    removed_at: datetime
    merged_into: str | None = None
    crm_object: str | None = None
    """The record's object (a lead or a contact leads were matched to); None: the
    object the run hands leads to."""


@dataclass(frozen=True)
class Deletions:
    """Where a run looks for deleted records, for a CRM that lists them apart from its
    changes and cannot ask for those since a time (HubSpot's archived listing pages
    through every archived record): ``since`` as a change feed's, and ``listed``
    False when this run does not list them (an earlier one did, recently)."""

    since: datetime | None
    listed: bool = True


@dataclass(frozen=True)
class Deal:
    """The sales opportunity a lead became, as far as the closed loop needs it."""

    crm_id: str
    stage: str | None
    amount: float | None
    closed: bool
    won: bool


@dataclass(frozen=True)
class Change(CrmRecord):
    """One record as a CRM change feed returns it."""

    modified_at: datetime
    owner_id: str | None = None
    converted: bool = False
    deal: Deal | None = None


@dataclass(frozen=True)
class Candidate:
    """A CRM record that may be an earlier record of an incoming lead.

    ``fields`` uses the marketing names (first_name, email, company, phone,
    mobile_phone, street, city, postal_code, country, website) whatever the
    CRM calls them, so matching never names a CRM.
    """

    kind: str          # lead | contact | account
    crm_object: str    # the CRM's object name (Lead, Contact, contacts, companies ...)
    crm_id: str
    fields: dict[str, Any]
    key: str | None = None          # our external id, if the record carries one
    owner_id: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    account_owner_id: str | None = None
    converted: bool = False


@dataclass(frozen=True)
class PersonChange:
    """A CRM lead, contact or account as the candidate index keeps it, from a bulk
    read or a change feed. ``removed``: deleted, merged away or converted, so no
    longer an earlier record anyone should be matched with."""

    candidate: Candidate
    modified_at: datetime
    removed: bool = False
    deleted: bool = False
    """Removed because deleted (a rep deleted it, or merged it into ``merged_into``)."""
    merged_into: str | None = None


@dataclass(frozen=True)
class Touch:
    """Earlier outreach on a CRM record: who reached out, when, how, and how it went."""

    crm_id: str        # the record it is attached to
    at: datetime | None
    """When it happened (a call's or email's own time, a task's date), not when the
    CRM record of it was made: a call logged a week late happened a week earlier."""
    who: str | None    # the rep's name (or owner id when the name is unknown)
    what: str          # subject or type of the activity
    outcome: str | None = None
    channel: str | None = None
    """call, email, meeting, task or note (or linkedin, where the CRM tells it apart)."""
    notes: str | None = None
    """What the rep wrote on it (call notes, the email's text), as plain text."""
    activity_id: str | None = None
    """The activity's own id: one call linked to a contact and to its account is
    found on both records and is still one touch."""
    who_id: str | None = None
    """The owner's CRM id (user or owner), where the CRM gives it: SLA clocks count
    the record owner's own touches."""

    @property
    def pending(self) -> bool:
        """Not the rep reaching out (yet): its outcome is one of ``NOT_A_TOUCH``."""
        return (self.outcome or "").strip().lower().replace("_", " ") in NOT_A_TOUCH


NOT_A_TOUCH = {
    "not started", "in progress", "waiting on someone else", "deferred", "waiting",
    "received", "bounced", "failed", "scheduled", "rescheduled", "canceled", "cancelled",
    "queued", "ringing", "connecting"}
"""Outcomes that are not the rep reaching out (yet): an open task (Salesforce's Status
picklist, HubSpot's hs_task_status), an email received or not delivered, a meeting only
booked, a call that never went out. A call nobody answered is a touch: the rep tried."""


@dataclass(frozen=True)
class StatusStep:
    """One change of a record's status field, as the CRM's field history keeps it:
    the steps a record took between two syncs, not only where it ended."""

    crm_id: str
    at: datetime
    old: str | None
    new: str | None
    who: str | None = None  # the user who made the change, by name where the CRM says


@dataclass(frozen=True)
class Cursor:
    """High-water mark of a change feed.

    ``value`` is the largest modification time seen; ``boundary`` holds the
    hashes of the records seen *at* that time, so an inclusive re-read (>=)
    drops them instead of processing them twice, and a record committed later
    with the same timestamp is still picked up.
    """

    value: datetime
    boundary: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps({"value": self.value.isoformat(), "boundary": sorted(self.boundary)})

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        raw = json.loads(text)
        return cls(datetime.fromisoformat(raw["value"]), frozenset(raw.get("boundary", ())))

    def advance(self, when: datetime, ident: str) -> Cursor:
        """The cursor after also having seen ``ident`` modified at ``when``."""
        if when > self.value:
            return Cursor(when, frozenset({ident}))
        if when == self.value:
            return Cursor(self.value, self.boundary | {ident})
        return self

    def seen(self, when: datetime, ident: str) -> bool:
        return when < self.value or (when == self.value and ident in self.boundary)


def payload_hash(payload: dict[str, Any]) -> str:
    """Stable hash of a payload, for "nothing changed, write nothing"."""
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def utcnow() -> datetime:
    return datetime.now(UTC)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (itertools.batched arrives with Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class FieldSchema:
    """One field as the CRM describes it: what the mapping language is checked against."""

    name: str
    type: str
    label: str = ""
    length: int | None = None
    required: bool = False
    """Must be given on create (not nillable and not defaulted)."""
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: Mapping[str, FieldSchema] = field(default_factory=dict)

    def field(self, name: str) -> FieldSchema | None:
        """Case-insensitive lookup, as CRMs treat field names."""
        if name in self.fields:
            return self.fields[name]
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)

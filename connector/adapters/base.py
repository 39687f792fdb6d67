"""The adapter contracts.

A CRM adapter is everything the engine knows about a CRM: batch upsert by a
stable external id, read by keys, read changes since a time, describe an
object. The engine never names a CRM; if it needs to, this contract is
missing something. Every CRM adapter passes ``tests/conformance``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

from connector.records import (  # FieldSchema, ObjectSchema: shared nouns, named here too
    Candidate,
    Change,
    CrmRecord,
    Deletions,
    HandoffTask,
    Lead,
    ObjectSchema,
    PersonChange,
    Removal,
    StatusStep,
    Touch,
    Write,
    WriteResult,
)


@dataclass(frozen=True)
class TaskMove:
    """The open tasks on one record, from one owner to another (a re-route). Tasks whose
    subject starts with ``ESCALATION`` stay: an SLA breach's task is for the manager,
    not the rep's follow-up, whoever owned the record."""

    crm_id: str
    from_owner: str | None
    to_owner: str


ESCALATION = "SLA breached"
"""How the subject of an SLA breach's task starts (the pipeline writes it so)."""


@dataclass(frozen=True)
class CrmOwner:
    """A CRM user (or owner) records can be assigned to."""

    id: str
    name: str
    active: bool


@runtime_checkable
class CrmAdapter(Protocol):
    """One CRM, reached through its real client library."""

    name: ClassVar[str]
    owner_field: ClassVar[str]
    """The field of a lead or person record that holds its owner's id: routing's choice
    is written there, so the engine never needs to know what the CRM calls it."""
    account_object: ClassVar[str]
    """The object a company is (Salesforce Account, HubSpot companies)."""
    deleted_every: timedelta | None
    """None: deleted records come with the changes since a time, cheaply, every run.
    Else the CRM lists them apart, at a cost that grows with every deletion there is:
    a run that reads changed leads lists them, an idle run once in this long
    (``connector.deletions``); a record deleted since meets a write as gone, which
    the engine follows."""

    def check(self) -> list[str]:
        """Problems reaching the CRM (empty when it answers and we may log in)."""
        ...

    def describe(self, object_name: str) -> ObjectSchema: ...

    def upsert(self, object_name: str, external_id_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        """Create or update each record by its external id; one result per record, in order.

        A record the CRM already holds under that id is updated, never duplicated,
        and then ``on_create`` is not written. The adapter picks the cheapest calls.

        Record-level refusals come back as results with ``ok=False`` and the
        CRM's errors; only a failure of the whole call raises.
        """
        ...

    def add_tasks(self, object_name: str, tasks: Sequence[HandoffTask]) -> list[WriteResult]:
        """Create each task attached to its record; one result per task (by ``key``)."""
        ...

    def field_times(self, object_name: str, crm_ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """When each field of each record last changed, where the CRM keeps field
        history (a tracked field); records or fields it does not know are left out.
        Asked only for two-way conflicts, so a few calls at most."""
        ...

    def status_history(self, object_name: str, field: str, crm_ids: Sequence[str],
                       since: datetime | None) -> dict[str, list[StatusStep]]:
        """Each change of ``field`` on these records at or after ``since``, oldest first,
        where the CRM keeps the field's history: the steps sales took between two syncs.
        Records without history are left out (the record's current value decides)."""
        ...

    def read_removed(self, object_name: str, key_field: str, since: datetime | None,
                     deletions: Deletions | None = None) -> Iterator[Removal]:
        """Records deleted (or merged away, with the survivor's id) at or after
        ``since``: what the engine must stop writing to, or follow. ``deletions``:
        where a CRM that lists deleted records apart looks for them (None: ``since``)."""
        ...

    def tasks_made(self, tasks: Sequence[HandoffTask]) -> dict[str, str]:
        """Which of these tasks the CRM already holds (its ``token`` in a task on its
        record): task key → the CRM's task id. Asked before making a task that an
        earlier, interrupted run may have made."""
        ...

    def move_open_tasks(self, moves: Sequence[TaskMove]) -> int:
        """Give the open tasks on each record that ``from_owner`` holds (any owner when
        None) to ``to_owner``: a re-routed lead takes its follow-up with it. Returns
        how many tasks moved."""
        ...

    def read_by_keys(self, object_name: str, key_field: str, keys: Sequence[str],
                     fields: Sequence[str]) -> list[CrmRecord]:
        """The records whose ``key_field`` is one of ``keys``, in as few calls as the CRM allows."""
        ...

    def read_verdicts(self, object_name: str, key_field: str, keys: Sequence[str],
                      fields: Sequence[str]) -> list[Change]:
        """The records under ``keys`` as the read-back sees them (``read_changes``):
        their fields, owner, conversion and latest deal, so a lead linked to one late
        hears its whole verdict, won or lost included."""
        ...

    def account_values(self, account_ids: Sequence[str],
                       fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Account (Salesforce Account, HubSpot company) id → the values of ``fields``:
        whether a lead's company is a customer ([routing.expansion])."""
        ...

    def read_changes(self, object_name: str, key_field: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Change]:
        """Records carrying a ``key_field`` value, modified at or after ``since``, oldest first.

        Inclusive on purpose: the engine's cursor drops what it already saw at
        the boundary, so a record written in the same millisecond is not lost.
        """
        ...

    def read_people(self, object_name: str, key_field: str, kinds: Sequence[str],
                    since: datetime | None, deletions: Deletions | None = None
                    ) -> Iterator[PersonChange]:
        """Every lead (``object_name``), contact and account (``kinds``) modified at or
        after ``since`` -- every one there is when ``since`` is None, read in bulk --
        as the candidate index keeps them. Deleted, merged-away and converted
        records come as ``removed`` (from a delta read; a full read leaves them out)."""
        ...

    def history(self, records: Sequence[Candidate], limit: int) -> dict[str, list[Touch]]:
        """Activities on these records (and a contact's account), newest first, at
        most ``limit`` per record: what the new owner should know before calling."""
        ...

    def owners(self) -> list[CrmOwner]:
        """Every user/owner the CRM lists, active or not, in one or a few calls: routing
        skips inactive reps, reasons name owners, and `leadsync check` tells a
        deactivated rep from a mistyped id."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StageUpdate:
    """A step of a lead through the process, on its way to marketing's stage history:
    a sales verdict, or the hand-off itself."""

    marketing_id: str
    stage: str
    crm_status: str
    at: datetime
    """When it happened: the CRM's own time of the change where it says."""
    amount: float | None = None
    who: str | None = None
    """Who made it: a rep's name, "leadsync", "marketing"."""
    reason: str | None = None
    from_stage: str | None = None
    """The stage it left (set by the store when it records the step)."""


@dataclass(frozen=True)
class FieldUpdate:
    """CRM values taken back into a marketing lead's fields (to_marketing, two_way…)."""

    marketing_id: str
    fields: dict[str, Any]
    at: datetime


@runtime_checkable
class MarketingAdapter(Protocol):
    """The marketing-automation side: where leads come from and verdicts go to."""

    name: ClassVar[str]

    def read_changes(self, since: datetime | None, *, page_size: int = 500) -> Iterator[Lead]:
        """Leads whose profile or activities changed at or after ``since``, oldest first."""
        ...

    def count_changes(self, since: datetime | None) -> int | None:
        """About how many leads ``read_changes(since)`` yields, for a progress display's
        total and time left; None when the store cannot tell without reading them."""
        ...

    def leads(self, marketing_ids: Sequence[str]) -> list[Lead]:
        """The current leads with these ids (with activities); unknown ids are left out."""
        ...

    def find(self, email: str) -> list[str]:
        """Ids of the leads with this email address (any case): `leadsync explain` and
        `reroute` accept an address where a person has no lead id at hand."""
        ...

    def write_stages(self, updates: Sequence[StageUpdate]) -> set[str]:
        """Write the stages; return the ids actually written (a lead may be gone)."""
        ...

    def leads_in_stages(self, stages: Sequence[str],
                        entered_before: datetime | None = None) -> list[Lead]:
        """Leads (with activities) whose current stage is one of ``stages``, entered at or
        before ``entered_before`` if given: recycled and could-not-reach leads due back
        to sales, the open hand-offs of `leadsync queue`."""
        ...

    def stage_histories(self, marketing_ids: Sequence[str]) -> dict[str, list[StageUpdate]]:
        """Each lead's steps through the process, oldest first (from_stage filled in)."""
        ...

    def write_fields(self, updates: Sequence[FieldUpdate]) -> set[str]:
        """Write field values into leads; return the ids actually written."""
        ...

    def known_fields(self) -> set[str]:
        """Every field name a lead can hold here (standard and custom): `leadsync check`
        holds the names config.toml's rules use against it."""
        ...

    def close(self) -> None: ...

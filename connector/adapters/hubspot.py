"""HubSpot CRM v3, through the real hubspot-api-client (v12).

The client is pointed at ``api.hubapi.com``, or at a sandbox's ``host:port``
(``route_to``); nothing in it is patched. Its own urllib3 retries are turned
off so that the one retry policy (connector/retry.py) decides. Client
exceptions are translated by one table (``classify``).

Writes are batch upserts by a unique property (``leadsync_id``), 100 inputs a
call. Leads we hold no link for are first looked up by that property with one
search per up to 500 keys (five filter groups of 100 values), so that a
contact HubSpot already has is never sent the creation-only fields (a lead
status sales already set is not reset). A contact that exists with the same
email but without our id (sales created it) is adopted, not duplicated: found
by a search by email beside that look-up and updated by its id, in batches (HubSpot
refuses a whole batch upsert for one email that is taken); one the search does
not show yet meets HubSpot's 409, which names the existing id.

Reads back: the feeds a run opens together (removals, sales' changes, the
candidate index) share one search of the contacts changed since (``_later``),
200 a page by change time; deleted records come from the archived listing,
which the search never shows. Properties are asked when a field is first looked
at, so a run with nothing to hand off costs a search per object type and the two
archived listings.
"""

from __future__ import annotations

import heapq
import html
import json
import re
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import structlog
import urllib3
from hubspot import HubSpot
from tenacity.wait import wait_base

from connector.adapters.base import ESCALATION, CrmOwner, TaskMove
from connector.adapters.registry import register_crm
from connector.config import HubSpotConfig, secret
from connector.errors import (
    AdapterError,
    BatchInterrupted,
    FatalError,
    QuotaReserved,
    RecordError,
    RecordRejected,
    TransientError,
)
from connector.records import (
    Candidate,
    Change,
    CrmRecord,
    Deal,
    Deletions,
    FieldSchema,
    HandoffTask,
    ObjectSchema,
    PersonChange,
    Removal,
    StatusStep,
    Touch,
    Write,
    WriteResult,
    batched,
)
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from connector.config import Config

T = TypeVar("T")
log = structlog.get_logger("leadsync.hubspot")

SEARCH_LIMIT = 200          # results per search page
ARCHIVED_FRESH_S = 30.0
"""How long one listing of archived records serves the feeds of a run."""
DESCRIBE_TTL_S = 3600.0
"""How long an object's properties are trusted before they are asked again."""
ASSOCIATION_READ = 1000
"""Ids per association batch read: HubSpot's limit since February 2025 (objects' own
batch reads stay at 100)."""
SEARCH_WINDOW = 10_000      # HubSpot returns no result past the 10,000th of one search
IN_VALUES = 100             # values per IN filter
FILTER_GROUPS = 5           # filter groups per search (ORed)
EMAIL = "email"             # the contact property HubSpot keeps unique (a 409 on a second)
MERGED = "hs_merged_object_ids"  # on the record a merge made: the ids merged into it, ";"-joined
DEAL_FIELDS = ("dealstage", "amount", "hs_is_closed", "hs_is_closed_won", "hs_lastmodifieddate",
               "createdate")

TASK_ASSOCIATION = {"contacts": 204, "companies": 192, "deals": 216}
"""HubSpot-defined association type ids, task → record."""
DEAL_STAGES_OF_LIFE = frozenset({"opportunity", "customer", "evangelist"})

Outcome = Literal["record", "conflict", "transient", "quota", "fatal"]

CONFIG_CODES = frozenset({"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE", "INVALID_ID_PROPERTY"})
"""Error codes that are about the mapping, not the record: every record would fail."""


def classify(status: int, category: str | None, policy: str | None = None,
             codes: frozenset[str] = frozenset()) -> Outcome:
    """The one table: what a HubSpot error means for the run.

    - 429 is transient (wait the interval HubSpot names) unless the daily
      limit is spent (policyName DAILY): then the run stops cleanly.
    - 423 Locked (fast writes to one record) is transient; 477 Migration in
      Progress (the portal is moving data centres) stops the run cleanly.
    - 409 CONFLICT: a unique value (email) belongs to another record.
    - 400 about a record's values: the record's fault; about a property the
      portal does not have or will not take: the mapping's fault, fatal.
    - 401/403: the token or its scopes are wrong; every call would fail.
    """
    if status == 429:
        return "quota" if policy == "DAILY" else "transient"
    if status == 477:
        return "quota"
    if status >= 500 or status in (0, 423):
        return "transient"
    if status == 409:
        return "conflict"
    if status in (401, 403):
        return "fatal"
    if status == 400 and codes & CONFIG_CODES:
        return "fatal"
    if status == 400 and category not in ("INVALID_AUTHENTICATION", "MISSING_SCOPES"):
        return "record"
    return "fatal"


def _errors(body: dict[str, Any]) -> list[RecordError]:
    """HubSpot's error body (``message``, ``category``, ``errors[{message, code, context}]``)."""
    details = body.get("errors") or []
    found = []
    for detail in details if isinstance(details, list) else []:
        context = detail.get("context") or {}
        fields = [str(f) for f in context.get("propertyName") or []]
        found.append(RecordError(str(detail.get("code") or body.get("category") or "ERROR"),
                                 str(detail.get("message") or body.get("message") or ""),
                                 fields))
    return found or [RecordError(str(body.get("category") or "ERROR"),
                                 str(body.get("message") or ""))]


class HubSpotError(Exception):
    """A translated client exception that keeps HubSpot's body for the adapter."""


def _body(exc: Any) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    try:
        data = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        data = {"message": str(raw)}
    return data if isinstance(data, dict) else {"message": str(data)}


def _is_api_exception(exc: BaseException) -> bool:
    """Each hubspot sub-package has its own ApiException class; they share a shape."""
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status") \
        and hasattr(exc, "body")


def _header(exc: Any, name: str) -> str | None:
    headers = getattr(exc, "headers", None) or {}
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return None


class Conflict(RecordRejected):
    """A unique value (email) is already another record's; ``existing_id`` names it."""

    def __init__(self, errors: list[RecordError], existing_id: str | None) -> None:
        super().__init__(errors)
        self.existing_id = existing_id


_EXISTING_ID = re.compile(r"Existing (?:ID|id):\s*(\d+)")


def _translate(exc: BaseException) -> BaseException:
    if _is_api_exception(exc):
        status = int(getattr(exc, "status", 0) or 0)
        body = _body(exc)
        errors = _errors(body)
        outcome = classify(status, body.get("category"), body.get("policyName"),
                           frozenset(e.code for e in errors))
        message = f"HubSpot {status}: {body.get('message') or getattr(exc, 'reason', '')}"
        if outcome == "record":
            return RecordRejected(errors)
        if outcome == "conflict":
            match = _EXISTING_ID.search(str(body.get("message") or ""))
            return Conflict(errors, match.group(1) if match else None)
        if outcome == "quota":
            why = ("the portal is migrating" if status == 477
                   else "the daily API limit is spent")
            return QuotaReserved(f"{message} ({why}; the next run resumes where this one "
                                 "stopped)", system="hubspot", status=status,
                                 code="MIGRATION" if status == 477 else "DAILY")
        if outcome == "transient":
            wait = _header(exc, "Retry-After") or ("2" if status == 423 else None)
            interval = _header(exc, "X-HubSpot-RateLimit-Interval-Milliseconds")
            retry_after = float(wait) if wait else (
                float(interval) / 1000 if status == 429 and interval else None)
            return TransientError(message, system="hubspot", status=status,
                                  code=body.get("policyName") or body.get("category"),
                                  retry_after=retry_after)
        detail = "; ".join(str(e) for e in errors if e.code in CONFIG_CODES)
        return FatalError(f"{message} {detail}".strip(), system="hubspot", status=status,
                          code=body.get("category"))
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return TransientError(f"HubSpot unreachable: {exc.__class__.__name__}", system="hubspot")
    return exc


def hs_datetime(value: str) -> datetime:
    """HubSpot's ``2026-11-25T03:01:09.123Z`` (or epoch milliseconds) → aware datetime."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def hs_millis(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


class UsageMeter:
    """HubSpot's daily allowance as the last response's ``X-HubSpot-RateLimit-Daily*`` said."""

    def __init__(self) -> None:
        self.daily: int | None = None
        self.remaining: int | None = None

    def observe(self, headers: Any) -> None:
        values = {k.lower(): v for k, v in dict(headers or {}).items()}
        if "x-hubspot-ratelimit-daily-remaining" in values:
            self.remaining = int(values["x-hubspot-ratelimit-daily-remaining"])
        if "x-hubspot-ratelimit-daily" in values:
            self.daily = int(values["x-hubspot-ratelimit-daily"])

    @property
    def used(self) -> int | None:
        return None if self.daily is None or self.remaining is None \
            else self.daily - self.remaining


class HubSpotAdapter:
    name: ClassVar[str] = "hubspot"
    owner_field: ClassVar[str] = "hubspot_owner_id"
    account_object: ClassVar[str] = "companies"

    def __init__(self, settings: HubSpotConfig, *, token: str,
                 retry: RetryPolicy = DEFAULT_POLICY, wait: wait_base | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.deleted_every: timedelta | None = timedelta(minutes=settings.deleted_check_minutes)
        self._token = token
        self._retry = retry
        self._wait = wait
        self._sleep = sleep
        self._clock = clock
        self._client: HubSpot | None = None
        self._apis: dict[str, Any] = {}
        self._describes: dict[str, tuple[float, ObjectSchema]] = {}
        """Each object's schema, with when it was made (``describe``)."""
        self._searches: deque[float] = deque()
        """When the searches of the last second were sent (``_pace_search``)."""
        self._archived: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        """Archived records by object type, with when they were listed (``_archived_rows``)."""
        self._pending: dict[str, list[weakref.ref[_Feed]]] = {}
        """Feeds opened and not read yet, by object type: the first read serves them all."""
        self.usage = UsageMeter()

    def __repr__(self) -> str:  # never show the token
        return f"HubSpotAdapter(route_to={self.settings.route_to!r})"

    # plumbing ---------------------------------------------------------------
    def _api(self, path: str) -> Any:
        """One API object per kind (``crm.objects.batch_api`` …), built once: the client's
        discovery makes a new connection pool on every attribute access."""
        if path not in self._apis:
            if self._client is None:
                config: dict[str, Any] = {"access_token": self._token, "retry": False}
                if self.settings.route_to:
                    config["host"] = f"http://{self.settings.route_to}"
                self._client = HubSpot(**config)
            target: Any = self._client
            for part in path.split("."):
                target = getattr(target, part)
            self._apis[path] = target
        return self._apis[path]

    def _call(self, path: str, method: str, *args: Any, search: bool = False,
              once: bool = False, **kwargs: Any) -> Any:
        """One API call with the one retry policy; reads the rate-limit headers, keeps
        the daily reserve, and paces searches under HubSpot's per-second limit."""
        def attempt() -> Any:
            self._keep_reserve()
            if search:
                self._pace_search()
            call = getattr(self._api(path), f"{method}_with_http_info")
            try:
                data, _status, headers = call(*args, _request_timeout=self.settings.timeout_s,
                                              **kwargs)
            except Exception as exc:
                self.usage.observe(getattr(exc, "headers", None))
                error = _translate(exc)
                if error is exc:
                    raise
                raise error from exc
            self.usage.observe(headers)
            return data
        # ``once``: a create that failed in transit may have landed; a retry could make it
        # twice, so it is reported instead
        return call_with_retry(attempt, RetryPolicy(attempts=1) if once else self._retry,
                               wait=self._wait)

    def _pace_search(self) -> None:
        """No more than ``searches_per_second`` searches in any one second (HubSpot
        refuses a sixth within a second): a run's few searches go out at once, and only
        a longer read waits for its oldest search to leave the window."""
        rate = self.settings.searches_per_second
        burst = max(1, int(rate))
        window = burst / rate  # 4 a second: four in any second; 0.5: one in two seconds
        recent = self._searches
        while recent and self._clock() - recent[0] >= window:
            recent.popleft()
        if len(recent) >= burst:
            wait = recent.popleft() + window - self._clock()
            if wait > 0:
                self._sleep(wait)
        recent.append(self._clock())

    def _keep_reserve(self) -> None:
        remaining, reserve = self.usage.remaining, self.settings.api_reserve
        if remaining is not None and remaining <= reserve:
            raise QuotaReserved(
                f"HubSpot daily API limit: {remaining:,} calls left of "
                f"{self.usage.daily or 0:,}, within the reserve of {reserve:,} kept for other "
                "integrations (crm.hubspot.api_reserve). Stopped before the next call; the "
                "next run resumes where this one stopped.", system="hubspot", code="API_RESERVE")

    def close(self) -> None:
        self._apis.clear()
        self._client = None

    # contract ---------------------------------------------------------------
    def check(self) -> list[str]:
        try:
            self._call("crm.owners.owners_api", "get_page", limit=1)
        except FatalError as exc:
            return [str(exc)]
        except TransientError as exc:
            return [f"{exc} (tried {self._retry.attempts} times)"]
        return []

    def describe(self, object_name: str) -> ObjectSchema:
        """An object's properties, asked when a field is first looked at (a run with
        nothing to hand off never is) and again after an hour at most: a daemon keeps
        one adapter across runs, and an admin's new property or option is seen within
        the hour."""
        cached = self._describes.get(object_name)
        if cached is None or self._clock() - cached[0] > DESCRIBE_TTL_S:
            cached = self._describes[object_name] = (self._clock(), ObjectSchema(
                object_name, _Described(lambda: self._properties(object_name))))
        return cached[1]

    def _properties(self, object_name: str) -> dict[str, FieldSchema]:
        page = self._call("crm.properties.core_api", "get_all", object_name)
        fields = {}
        for prop in page.results:
            read_only = bool(prop.modification_metadata
                             and prop.modification_metadata.read_only_value)
            unique = bool(prop.has_unique_value) or prop.name == "email"
            fields[prop.name] = FieldSchema(
                name=prop.name, type=prop.type, label=prop.label or "", length=None,
                required=False, createable=not read_only, updateable=not read_only,
                external_id=unique, unique=unique,
                picklist=tuple(o.value for o in prop.options or () if not o.hidden),
                restricted=prop.type == "enumeration")
        return fields

    # writes -------------------------------------------------------------------
    def upsert(self, object_name: str, external_id_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        out: dict[str, WriteResult] = {}
        try:
            by_id = [w for w in records if w.crm_id]
            for chunk in batched(by_id, self.settings.batch_size):
                for write, result in self._update_chunk(object_name, external_id_field, chunk):
                    out[write.key] = result
            # a look-up per 500 leads, then their upserts: the searches (5 a second at
            # most) are spaced out by the writes between them instead of waiting
            for group in batched([w for w in records if not w.crm_id],
                                 IN_VALUES * FILTER_GROUPS):
                self._upsert_group(object_name, external_id_field, group, out)
        except RecordRejected as exc:  # a look-up refused: not one record's fault
            raise BatchInterrupted(list(out.values()), FatalError(
                f"HubSpot refused a look-up: {exc}", system="hubspot")) from exc
        except AdapterError as exc:
            raise BatchInterrupted(list(out.values()), exc) from exc
        return [_news(out[w.key]) for w in records]

    def _upsert_group(self, object_name: str, key_field: str, group: list[Write],
                      out: dict[str, WriteResult]) -> None:
        asked = [w.key for w in group if not (w.known or w.unindexed_id)]
        found = {r.key for r in self.read_by_keys(object_name, key_field, asked, [])}
        new = [w for w in group if not (w.known or w.key in found)]
        shared: dict[str, Write] = {}
        taken = self._adopt_all(object_name, key_field,
                                [w for w in new if not w.unindexed_email], out, shared)
        group = [shared.get(w.key, w) for w in group]
        inputs = [(w, w.body(created=not (w.known or w.key in found)))
                  for w in group if w.key not in taken]
        reborn: list[Write] = []
        for chunk in batched(inputs, self.settings.batch_size):
            for write, result in self._upsert_chunk(object_name, key_field, chunk):
                out[write.key] = result
                if result.ok and result.created and write.on_create and \
                        (write.known or write.key in found):
                    reborn.append(write)  # gone from HubSpot since: give it on_create
        for write in reborn:  # rare: one call each, so a refusal is pinned on its record
            try:
                self._update_by_id(object_name, [(out[write.key].crm_id or "", write.on_create)])
            except RecordRejected as exc:
                out[write.key] = WriteResult(write.key, ok=False, crm_id=out[write.key].crm_id,
                                             errors=exc.errors)

    def _upsert_chunk(self, object_name: str, key_field: str,
                      chunk: list[tuple[Write, dict[str, Any]]]
                      ) -> Iterator[tuple[Write, WriteResult]]:
        """One batch upsert; a batch HubSpot refuses as a whole is halved until the
        refusal is pinned on its record, so one bad lead never holds back the rest."""
        body = {"inputs": [{"idProperty": key_field, "id": w.key, "objectWriteTraceId": w.key,
                            "properties": {**_strings(props), key_field: w.key}}
                           for w, props in chunk]}
        try:
            answer = self._call("crm.objects.batch_api", "upsert", object_name, body)
        except RecordRejected as exc:
            if len(chunk) > 1:
                half = len(chunk) // 2
                yield from self._upsert_chunk(object_name, key_field, chunk[:half])
                yield from self._upsert_chunk(object_name, key_field, chunk[half:])
                return
            write, props = chunk[0]
            if isinstance(exc, Conflict) and exc.existing_id:
                yield write, self._adopt(object_name, key_field, write, exc.existing_id)
            else:
                yield write, WriteResult(write.key, ok=False, errors=exc.errors)
            return
        by_key = {}
        for result in answer.results or []:  # in any order: matched by trace id (or key)
            key = result.object_write_trace_id or (result.properties or {}).get(key_field)
            by_key[key] = WriteResult(key, ok=True, crm_id=result.id, created=bool(result.new))
        failed = [(w, props) for w, props in chunk if w.key not in by_key]
        if failed and len(chunk) > 1:  # 207: send each failed input alone for its own reason
            for write, _ in chunk:
                if write.key in by_key:
                    yield write, by_key[write.key]
            for pair in failed:
                yield from self._upsert_chunk(object_name, key_field, [pair])
            return
        for write, _ in chunk:
            if write.key in by_key:
                yield write, by_key[write.key]
            else:
                errors = [e for error in getattr(answer, "errors", None) or []
                          for e in _errors(error.to_dict() if hasattr(error, "to_dict")
                                           else dict(error))]
                yield write, WriteResult(write.key, ok=False, errors=errors or [
                    RecordError("ERROR", "HubSpot returned no result for this input")])

    def _update_chunk(self, object_name: str, key_field: str,
                      chunk: list[Write]) -> Iterator[tuple[Write, WriteResult]]:
        """Updates by record id (earlier records matching found), halved like upserts
        until a refusal is pinned on its record."""
        body = {"inputs": [{"id": w.crm_id, "properties": _strings(
            {**w.payload, **({key_field: w.key} if w.stamp else {})})} for w in chunk]}
        try:
            answer = self._call("crm.objects.batch_api", "update", object_name, body)
        except RecordRejected as exc:
            if len(chunk) > 1:
                half = len(chunk) // 2
                yield from self._update_chunk(object_name, key_field, chunk[:half])
                yield from self._update_chunk(object_name, key_field, chunk[half:])
            else:
                yield chunk[0], WriteResult(chunk[0].key, ok=False, errors=exc.errors)
            return
        done = {str(row.id) for row in answer.results or []}
        for write in chunk:
            if write.crm_id in done:
                yield write, WriteResult(write.key, ok=True, crm_id=write.crm_id)
            elif len(chunk) > 1:
                yield from self._update_chunk(object_name, key_field, [write])
            else:
                yield write, WriteResult(write.key, ok=False, errors=[
                    RecordError("OBJECT_NOT_FOUND", f"{object_name} {write.crm_id} was not "
                                "updated (deleted or merged since it was matched)")])

    # earlier records of a person ----------------------------------------------
    def read_people(self, object_name: str, key_field: str, kinds: Sequence[str],
                    since: datetime | None, deletions: Deletions | None = None
                    ) -> Iterator[PersonChange]:
        """Contacts and companies for the candidate index.

        A full read lists every record, 100 a page (the list API has no 10,000
        cap, unlike search). A delta takes the records changed since from the
        run's search of changed records (``_later``, paged by change time, see
        ``_changed``), and lists the archived records (the search API never
        returns them) to take out those archived since (``deletions``: from when, or
        not in this run). A merge makes a new record whose ``hs_merged_object_ids``
        names the records merged away: those leave the index too."""
        sources = []
        if "leads" in kinds or "contacts" in kinds:
            sources.append((object_name, [key_field, *CONTACT_FIELDS, "hs_lastmodifieddate"],
                            lambda row: _contact(object_name, row, key_field)))
        if "accounts" in kinds:
            sources.append(("companies", [*COMPANY_FIELDS, "hs_lastmodifieddate"], _company))
        if since is None:
            return (PersonChange(make(row), _stamp(row)) for object_type, props, make in sources
                    for row in self._listed(object_type, props, archived=False))
        feeds = [(object_type, make, self._later(object_type, [*props, MERGED], since))
                 for object_type, props, make in sources]  # opened now, read together
        deleted = deletions or Deletions(since)
        return (change for object_type, make, rows in feeds
                for change in self._people_delta(object_type, key_field, make, rows,
                                                 deleted))

    def _people_delta(self, object_type: str, key_field: str,
                      make: Callable[[dict[str, Any]], Candidate],
                      rows: Iterator[dict[str, Any]], deletions: Deletions
                      ) -> Iterator[PersonChange]:
        for row in rows:
            candidate = make(row)
            yield PersonChange(candidate, _stamp(row))
            for old in _merged_away(row):
                yield PersonChange(replace(candidate, crm_id=old, key=None), _stamp(row),
                                   removed=True, deleted=True, merged_into=row["id"])
        for row in self._archived_rows(object_type, key_field, deletions):
            candidate = make(row)
            for old in _merged_away(row):  # merged, then archived before a search saw it
                yield PersonChange(replace(candidate, crm_id=old, key=None), row["archived_at"],
                                   removed=True, deleted=True, merged_into=row["id"])
            yield PersonChange(candidate, row["archived_at"], removed=True, deleted=True)

    def _archived_rows(self, object_type: str, key_field: str,
                       deletions: Deletions) -> list[dict[str, Any]]:
        """The records of a type archived at or after ``deletions.since``; none when this
        run does not list them. The list API has no "since": every archived record is
        listed, once for the feeds a run opens together -- removals and the candidate
        index both ask -- and again once half a minute has passed (the next run:
        schedules are a minute or more apart)."""
        if not deletions.listed:
            return []
        listed = self._archived.get(object_type)
        if listed is None or self._clock() - listed[0] > ARCHIVED_FRESH_S:
            rows = list(self._listed(object_type, [key_field, "hs_lastmodifieddate", MERGED],
                                     archived=True))
            listed = self._archived[object_type] = (self._clock(), rows)
        since = deletions.since
        return [row for row in listed[1] if row["archived_at"] is not None
                and (since is None or row["archived_at"] >= since)]

    def _listed(self, object_type: str, properties: list[str], *, archived: bool
                ) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            page = self._call("crm.objects.basic_api", "get_page", object_type, limit=100,
                              after=after, properties=properties, archived=archived)
            for row in page.results or []:
                props = dict(row.properties or {})
                props.setdefault("hs_lastmodifieddate",
                                 (row.updated_at or row.created_at).isoformat())
                at = row.archived_at.astimezone(UTC) if row.archived_at else None
                yield {"id": str(row.id), "properties": props, "archived_at": at}
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return

    def owners(self) -> list[CrmOwner]:
        """Owners, active and archived (HubSpot lists the two apart), 100 a page."""
        return [CrmOwner(str(owner.id), _owner_name(owner), not archived)
                for owner, archived in self._all_owners()]

    def _all_owners(self) -> Iterator[tuple[Any, bool]]:
        """(owner, archived) for every owner, active ones first."""
        for archived in (False, True):
            after: str | None = None
            while True:
                page = self._call("crm.owners.owners_api", "get_page", limit=100,
                                  archived=archived, **({"after": after} if after else {}))
                for owner in page.results or []:
                    yield owner, archived
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break

    def history(self, records: Sequence[Candidate], limit: int) -> dict[str, list[Touch]]:
        """Calls, emails, meetings, notes and tasks associated with the contacts and
        companies, newest first by their own time (``hs_timestamp``), with the owner's
        name, the outcome and the body as plain text. An activity on a contact and on
        its company is listed under both, as the same activity (its type and id): the
        engine shows it once. Costs an association read per activity type and object
        type, a batch read per 100 of each type found, the owners (when an activity
        has one) and the call outcomes' labels (when a call has one)."""
        out: dict[str, list[Touch]] = {r.crm_id: [] for r in records}
        if limit <= 0 or not records:
            return out
        linked: dict[str, dict[str, list[str]]] = {}  # activity type → record → activity ids
        for object_type in ("contacts", "companies"):
            ids = [r.crm_id for r in records
                   if (r.kind == "account") == (object_type == "companies")]
            for activity in ACTIVITIES if ids else ():
                for record_id, found in self._associated(object_type, activity, ids).items():
                    linked.setdefault(activity, {}).setdefault(record_id, []).extend(found)
        rows = {activity: self._read(activity, sorted({a for ids in by_record.values()
                                                       for a in ids}),
                                     [*ACTIVITY_DATES, *ACTIVITIES[activity].fields])
                for activity, by_record in linked.items()}
        every = [props for by_id in rows.values() for props in by_id.values()]
        owners = ({o.id: o.name for o in self.owners()}
                  if any(p.get("hubspot_owner_id") for p in every) else {})
        outcomes = self._call_outcomes() if any(
            p.get("hs_call_disposition") for p in rows.get("calls", {}).values()) else {}
        oldest = datetime.min.replace(tzinfo=UTC)
        for activity, by_record in linked.items():
            for record_id, activity_ids in by_record.items():
                touches = out.setdefault(record_id, [])
                touches.extend(_touch(record_id, activity, i, rows[activity][i], owners,
                                      outcomes)
                               for i in dict.fromkeys(activity_ids) if i in rows[activity])
        for touches in out.values():
            touches.sort(key=lambda t: t.at or oldest, reverse=True)
            del touches[limit:]
        return out

    def _call_outcomes(self) -> dict[str, str]:
        """The portal's call outcomes, GUID → label, from ``hs_call_disposition``'s options
        (the calls API: custom outcomes are found "using the properties API")."""
        try:
            prop = self._call("crm.properties.core_api", "get_by_name", "calls",
                              "hs_call_disposition")
        except FatalError as exc:  # a label for the rep's task is not worth failing a run
            log.warning("call outcomes unreadable; the call status is shown instead",
                        error=str(exc))
            return {}
        return {o.value: o.label for o in prop.options or () if o.value and o.label}

    def field_times(self, object_name: str, crm_ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """From each property's history (``propertiesWithHistory`` on a batch read,
        newest first): HubSpot keeps it for every property."""
        out: dict[str, dict[str, datetime]] = {}
        for chunk in batched(sorted(crm_ids), self.settings.batch_size):
            page = self._call("crm.objects.batch_api", "read", object_name,
                              {"inputs": [{"id": i} for i in chunk], "properties": [],
                               "propertiesWithHistory": list(fields)})
            for row in page.results or []:
                for name, versions in (row.properties_with_history or {}).items():
                    if versions and versions[0].timestamp is not None:
                        out.setdefault(str(row.id), {})[name] = \
                            versions[0].timestamp.astimezone(UTC)
        return out

    def status_history(self, object_name: str, field: str, crm_ids: Sequence[str],
                       since: datetime | None) -> dict[str, list[StatusStep]]:
        """From the property's history (``propertiesWithHistory`` on a batch read, newest
        first), which HubSpot keeps for every property; who made a change is the user
        id of its version, named through the owners list."""
        out: dict[str, list[StatusStep]] = {}
        names: dict[str, str] | None = None
        for chunk in batched(sorted(crm_ids), self.settings.batch_size):
            page = self._call("crm.objects.batch_api", "read", object_name,
                              {"inputs": [{"id": i} for i in chunk], "properties": [],
                               "propertiesWithHistory": [field]})
            for row in page.results or []:
                versions = [v for v in reversed((row.properties_with_history or {})
                                                .get(field) or []) if v.timestamp is not None]
                steps: list[StatusStep] = []
                for before, version in zip([None, *versions], versions, strict=False):
                    at = version.timestamp.astimezone(UTC)
                    if since is not None and at < since:
                        continue
                    if names is None and version.updated_by_user_id is not None:
                        names = self._user_names()
                    user = version.updated_by_user_id
                    steps.append(StatusStep(
                        str(row.id), at, before.value or None if before else None,
                        version.value or None,
                        (names or {}).get(str(user), f"user {user}") if user is not None
                        else (version.source_type or None)))
                if steps:
                    out[str(row.id)] = steps
        return out

    def _user_names(self) -> dict[str, str]:
        """User id → the owner's name: a property version names the user, not the owner."""
        return {str(owner.user_id): _owner_name(owner) for owner, _ in self._all_owners()
                if owner.user_id is not None}

    def read_removed(self, object_name: str, key_field: str, since: datetime | None,
                     deletions: Deletions | None = None) -> Iterator[Removal]:
        """Contacts of ours archived (a rep deleted them) at or after ``since``, and
        contacts merged away. Archived ones are listed with ``archived=true`` (the
        search API does not return them); a merge makes a new record listing the old
        ids in ``hs_merged_object_ids`` (HubSpot changelog, "Updated merge
        functionality for contacts and companies"), found in the run's search of
        changed contacts (``_later``)."""
        merges = self._later(object_name, [MERGED, key_field, "hs_lastmodifieddate"], since,
                             MERGED)
        return self._removals(object_name, key_field, deletions or Deletions(since), merges)

    def _removals(self, object_name: str, key_field: str, deletions: Deletions,
                  merges: Iterator[dict[str, Any]]) -> Iterator[Removal]:
        for row in self._archived_rows(object_name, key_field, deletions):
            # a merge the search never showed (the record was archived first): its
            # links move to the record, then hear that it was deleted
            merged = _merged_away(row)
            for old in merged:
                yield Removal(old, None, row["archived_at"], merged_into=row["id"])
            key = row["properties"].get(key_field)
            if key or merged:
                yield Removal(row["id"], key, row["archived_at"])
        for row in merges:
            for old in _merged_away(row):
                yield Removal(old, None, _stamp(row), merged_into=row["id"])

    def tasks_made(self, tasks: Sequence[HandoffTask]) -> dict[str, str]:
        """Tasks associated with the contacts whose body carries the token."""
        by_record: dict[str, list[HandoffTask]] = {}
        for task in tasks:
            by_record.setdefault(task.crm_id, []).append(task)
        linked = self._associated("contacts", "tasks", sorted(by_record))
        bodies = self._read("tasks", sorted({t for ts in linked.values() for t in ts}),
                            ["hs_task_body"])
        found: dict[str, str] = {}
        for contact_id, task_ids in linked.items():
            for task_id in task_ids:
                text = (bodies.get(task_id) or {}).get("hs_task_body") or ""
                for task in by_record.get(contact_id, ()):
                    if task.mark in text:
                        found[task.key] = task_id
        return found

    def move_open_tasks(self, moves: Sequence[TaskMove]) -> int:
        """Tasks associated with the contacts, not completed and the old owner's, to
        the new owner: an association read, a task read and an update per 100."""
        wanted = {m.crm_id: m for m in moves}
        linked = self._associated("contacts", "tasks", sorted(wanted))
        tasks = self._read("tasks", sorted({t for ts in linked.values() for t in ts}),
                           TASK_FIELDS)
        updates = []
        for contact_id, task_ids in linked.items():
            move = wanted[contact_id]
            for task_id in task_ids:
                props = tasks.get(task_id)
                if props is None or props.get("hs_task_status") == "COMPLETED" or (
                        props.get("hs_task_subject") or "").startswith(ESCALATION):
                    continue
                if move.from_owner is None or props.get("hubspot_owner_id") == move.from_owner:
                    updates.append((task_id, {"hubspot_owner_id": move.to_owner}))
        self._update_by_id("tasks", updates)
        return len(updates)

    def _read(self, object_type: str, ids: list[str],
              properties: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for chunk in batched(ids, self.settings.batch_size):
            page = self._call("crm.objects.batch_api", "read", object_type,
                              {"inputs": [{"id": i} for i in chunk],
                               "properties": list(properties)})
            rows.update({str(row.id): dict(row.properties or {}) for row in page.results or []})
        return rows

    def _adopt_all(self, object_name: str, key_field: str, new: list[Write],
                   out: dict[str, WriteResult], shared: dict[str, Write]) -> set[str]:
        """Leads about to be created whose email a contact already has, adopted before the
        upsert (one search per 500, then batch updates), as ``_adopt`` would after a 409.

        HubSpot refuses a whole batch for one email that is taken, naming only the
        first record it met, so finding them by refusal costs a batch split in halves
        per lead. The search index lags a few seconds behind writes: a contact it does
        not show yet still meets the 409 path. Returns the keys written or refused;
        ``shared`` gets the leads on a team's mailbox that another contact holds, as
        they are to be created: without the address."""
        by_email: dict[str, list[Write]] = {}
        for write in new:
            email = str(write.payload.get(EMAIL) or "").strip().lower()
            if email:
                by_email.setdefault(email, []).append(write)
        if not by_email:
            return set()
        done: set[str] = set()
        updates: list[Write] = []
        for holder in self.read_by_keys(object_name, EMAIL, sorted(by_email), [key_field]):
            theirs = holder.fields.get(key_field)
            for write in by_email.pop(str(holder.key or "").lower(), ()):
                if write.email_shared and theirs != write.key:
                    # info@ is someone else's here: their own contact, without the address
                    # (HubSpot keeps one contact per email)
                    shared[write.key] = _without_email(write)
                elif theirs and theirs != write.key:
                    out[write.key] = _taken_by(object_name, holder.crm_id, theirs, write)
                    done.add(write.key)
                else:
                    updates.append(replace(write, crm_id=holder.crm_id, stamp=True))
                    theirs = write.key  # a second lead with this email finds this one's id
        for writes in by_email.values():  # no contact has it yet: the first lead takes it
            for write in writes[1:]:
                if write.email_shared:  # two people on info@ in one run: the others without
                    shared[write.key] = _without_email(write)
        for chunk in batched(updates, self.settings.batch_size):
            for write, result in self._update_chunk(object_name, key_field, chunk):
                if result.ok or not any(e.code == "OBJECT_NOT_FOUND" for e in result.errors):
                    out[write.key] = result
                    done.add(write.key)  # else archived since the search: upserted anew
        return done

    def _adopt(self, object_name: str, key_field: str, write: Write,
               existing_id: str) -> WriteResult:
        """Sales already has this person (same email): write to that contact, giving it
        our id, instead of creating a second one; its creation-only fields stay as set.

        A contact that already carries another lead's id is not taken over (two
        marketing leads would flip one contact between them): the lead is refused
        with the conflict, for a person to merge.
        """
        current = self._call("crm.objects.basic_api", "get_by_id", object_name, existing_id,
                             properties=[key_field])
        theirs = (current.properties or {}).get(key_field)
        if theirs and theirs != write.key:
            return _taken_by(object_name, existing_id, theirs, write)
        try:
            self._update_by_id(object_name, [(existing_id, {**write.payload,
                                                            key_field: write.key})])
        except RecordRejected as exc:
            return WriteResult(write.key, ok=False, errors=exc.errors)
        return WriteResult(write.key, ok=True, crm_id=existing_id, created=False)

    def _update_by_id(self, object_name: str, updates: list[tuple[str, dict[str, Any]]]) -> None:
        for chunk in batched(updates, self.settings.batch_size):
            self._call("crm.objects.batch_api", "update", object_name,
                       {"inputs": [{"id": crm_id, "properties": _strings(props)}
                                   for crm_id, props in chunk]})

    def add_tasks(self, object_name: str, tasks: Sequence[HandoffTask]) -> list[WriteResult]:
        """Tasks associated to their records, 100 a batch create."""
        type_id = TASK_ASSOCIATION.get(object_name)
        if type_id is None:
            raise FatalError(f"HubSpot tasks cannot be associated with {object_name!r} records "
                             f"(known: {', '.join(TASK_ASSOCIATION)})", system="hubspot")
        results: list[WriteResult] = []
        for chunk in batched(tasks, self.settings.batch_size):
            body = {"inputs": [{
                "objectWriteTraceId": t.key,  # results come back in any order
                "properties": _strings({
                    "hs_task_subject": t.subject, "hs_task_body": t.text,
                    "hs_timestamp": hs_millis(t.due), "hs_task_status": "NOT_STARTED",
                    "hs_task_priority": TASK_PRIORITY[t.priority], "hs_task_type": "TODO",
                    **({"hubspot_owner_id": t.owner_id} if t.owner_id else {})}),
                "associations": [{"to": {"id": t.crm_id}, "types": [{
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": type_id}]}]} for t in chunk]}
            try:
                answer = self._call("crm.objects.batch_api", "create", "tasks", body, once=True)
            except RecordRejected as exc:
                results.extend(WriteResult(t.key, ok=False, errors=exc.errors) for t in chunk)
                continue
            made = {row.object_write_trace_id: row.id for row in answer.results or []}
            results.extend(
                WriteResult(t.key, ok=True, crm_id=made[t.key], created=True) if t.key in made
                else WriteResult(t.key, ok=False, errors=[
                    RecordError("ERROR", "HubSpot returned no task for this input")])
                for t in chunk)
        return results

    # reads --------------------------------------------------------------------
    def read_by_keys(self, object_name: str, key_field: str, keys: Sequence[str],
                     fields: Sequence[str]) -> list[CrmRecord]:
        """Records by many keys: one search per 500 keys (5 ORed groups × 100 values)."""
        found: list[CrmRecord] = []
        for chunk in batched(list(dict.fromkeys(keys)), IN_VALUES * FILTER_GROUPS):
            groups = [{"filters": [{"propertyName": key_field, "operator": "IN",
                                    "values": part}]} for part in batched(chunk, IN_VALUES)]
            for row in self._search(object_name, groups, [key_field, *fields],
                                    sorts=[{"propertyName": "hs_object_id",
                                            "direction": "ASCENDING"}]):
                found.append(CrmRecord(row["id"], row["properties"].get(key_field),
                                       row["properties"]))
        return found

    def read_verdicts(self, object_name: str, key_field: str, keys: Sequence[str],
                      fields: Sequence[str]) -> list[Change]:
        """A search per 500 keys, each contact with its latest deal (``_with_deals``)."""
        select = list(dict.fromkeys([key_field, *fields, "hubspot_owner_id",
                                     "lifecyclestage", "hs_lastmodifieddate"]))
        rows = [{"id": record.crm_id, "properties": record.fields}
                for record in self.read_by_keys(object_name, key_field, keys, select)]
        return list(self._with_deals(object_name, key_field, rows))

    def account_values(self, account_ids: Sequence[str],
                       fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """A batch read of companies per 100 ids."""
        return self._read(self.account_object, sorted(set(account_ids)), list(fields)) \
            if account_ids else {}

    def _search(self, object_name: str, groups: list[dict[str, Any]], properties: list[str],
                *, sorts: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Every page of one search over a set that does not move while it is read
        (offset paging; HubSpot stops at the 10,000th result)."""
        after: str | None = None
        while True:
            rows, after = self._search_page(object_name, groups, properties, sorts, after)
            yield from rows
            if not after or int(after) >= SEARCH_WINDOW:
                return

    def _search_page(self, object_name: str, groups: list[dict[str, Any]],
                     properties: list[str], sorts: list[dict[str, str]],
                     after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        body: dict[str, Any] = {"filterGroups": groups, "properties": properties,
                                "sorts": sorts, "limit": SEARCH_LIMIT}
        if after:
            body["after"] = after
        page = self._call("crm.objects.search_api", "do_search", object_name, body,
                          search=True)
        rows = [{"id": str(row.id), "properties": dict(row.properties or {})}
                for row in page.results or []]
        nxt = page.paging.next if page.paging else None
        return rows, (nxt.after if nxt and nxt.after else None)

    def read_changes(self, object_name: str, key_field: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Change]:
        """Records changed at or after ``since``, oldest first, with owner and latest deal.

        A rep moving a deal does not touch the contact, so deals changed since
        are read too and reported on their contacts; the two ordered streams are
        merged by change time. The contacts come from the run's one search of
        changed contacts (``_later``), which the removals and the candidate
        index share.
        """
        select = list(dict.fromkeys([key_field, *fields, "hubspot_owner_id",
                                     "lifecyclestage", "hs_lastmodifieddate"]))
        own = self._later(object_name, select, since, key_field)
        mine = (change for rows in batched(own, SEARCH_LIMIT)
                for change in self._with_deals(object_name, key_field, rows))
        if since is None:
            return mine
        return heapq.merge(mine, self._deal_changes(object_name, key_field, select, since),
                           key=lambda change: change.modified_at)

    def _later(self, object_type: str, properties: Sequence[str], since: datetime | None,
               must_have: str | None = None) -> Iterator[dict[str, Any]]:
        """Rows changed at or after ``since`` (carrying ``must_have``, if named), oldest
        first, from one search shared by every feed of the type opened before any of
        them is read.

        A run opens its feeds together (removals, sales' changes, the candidate
        index) and each would search the same contacts by change time: the
        previous run's own writes, read back, three times over. Instead the first
        feed read runs one search from the earliest ``since``, with the union of
        the properties and no ``HAS_PROPERTY`` filter when one feed wants every
        record, and each feed takes its own rows from it. A feed opened after that
        read (the next run) searches anew."""
        feed = _Feed(since, must_have, tuple(properties))
        self._pending.setdefault(object_type, []).append(weakref.ref(feed))
        return self._feed_rows(object_type, feed)

    def _feed_rows(self, object_type: str, feed: _Feed) -> Iterator[dict[str, Any]]:
        if feed.rows is None:
            opened = [f for ref in self._pending.pop(object_type, []) if (f := ref()) is not None]
            self._read_together(object_type, opened if feed in opened else [*opened, feed])
        rows, feed.rows = feed.rows or (), ()  # read once; the other feeds keep theirs
        for row in rows:
            props = row["properties"]
            if feed.must_have and not props.get(feed.must_have):
                continue
            if feed.since is not None and _stamp(row) < feed.since:
                continue
            # as a search of its own would have answered: without the others' properties
            yield {"id": row["id"], "properties": {k: v for k, v in props.items()
                                                   if k not in feed.others}}

    def _read_together(self, object_type: str, feeds: list[_Feed]) -> None:
        """Rows for each feed: one search for the deltas, kept for each to take its own;
        a feed on its own (a first read, all there is) streams from its own search."""
        deltas = [f for f in feeds if f.since is not None]
        alone = [f for f in feeds if f.since is None] + (deltas if len(deltas) == 1 else [])
        for feed in alone:
            feed.rows = self._changed(object_type, list(feed.properties), feed.since,
                                      (feed.must_have,) if feed.must_have else ())
        if len(deltas) < 2:
            return
        asked = list(dict.fromkeys(p for f in deltas for p in f.properties))
        wanted = [f.must_have for f in deltas]
        rows = list(self._changed(object_type, asked,
                                  min(f.since for f in deltas if f.since is not None),
                                  () if None in wanted else tuple(dict.fromkeys(
                                      w for w in wanted if w is not None))))
        for feed in deltas:
            feed.rows = rows
            feed.others = frozenset(asked) - set(feed.properties)

    def _changed(self, object_name: str, properties: list[str], since: datetime | None,
                 must_have: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Rows changed at or after ``since`` (carrying any of ``must_have``), oldest first.

        Paged by change time, not by offset: each page is a new search from the
        last change time read (inclusive, dropping ids already read at it). A
        record edited while we read moves past the end instead of shifting the
        unread rows under an offset, and HubSpot's 10,000-result cap never
        applies. Only when one change time holds more than a page of records are
        those read by offset, with an EQ filter on that time (a set that edits can
        only leave).
        """
        sort = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
        start, seen = since, set[str]()   # ids already read whose change time is `start`

        def groups(op: str, at: datetime | None) -> list[dict[str, Any]]:
            when = [] if at is None else [{"propertyName": "hs_lastmodifieddate",
                                           "operator": op, "value": hs_millis(at)}]
            return [{"filters": [{"propertyName": name, "operator": "HAS_PROPERTY"}, *when]}
                    for name in must_have] or ([{"filters": when}] if when else [])

        op = "GTE"
        while True:
            rows, _ = self._search_page(object_name, groups(op, start), properties, sort)
            op = "GTE"
            fresh = [r for r in rows if not (_stamp(r) == start and r["id"] in seen)]
            for row in fresh:
                stamp = _stamp(row)
                if stamp != start:
                    start, seen = stamp, set()
                seen.add(row["id"])
                yield row
            if len(rows) < SEARCH_LIMIT:
                return
            if not fresh:  # a whole page at one change time, all read: page within it
                assert start is not None
                for row in self._search(object_name, groups("EQ", start), properties,
                                        sorts=[{"propertyName": "hs_object_id",
                                                "direction": "ASCENDING"}]):
                    if row["id"] not in seen:
                        seen.add(row["id"])
                        yield row
                op = "GT"  # then on past that change time

    def _deal_changes(self, object_name: str, key_field: str, select: list[str],
                      since: datetime) -> Iterator[Change]:
        """Contacts whose deals changed, each once per page of changed deals, reported
        at its latest deal change with its latest deal (an edit to an old lost deal
        must not outvote a newer open one)."""
        for deals in batched(self._changed("deals", list(DEAL_FIELDS), since), SEARCH_LIMIT):
            linked = self._associated("deals", object_name, [d["id"] for d in deals])
            changed_at: dict[str, datetime] = {}
            for deal in deals:
                for record_id in linked.get(deal["id"], []):
                    changed_at[record_id] = max(changed_at.get(record_id, _stamp(deal)),
                                                _stamp(deal))
            latest = self._deals_of(object_name, sorted(changed_at))
            records: dict[str, dict[str, Any]] = {}
            for chunk in batched(sorted(changed_at), self.settings.batch_size):
                page = self._call("crm.objects.batch_api", "read", object_name,
                                  {"inputs": [{"id": i} for i in chunk], "properties": select})
                records.update({str(r.id): dict(r.properties or {}) for r in page.results or []})
            for record_id, at in sorted(changed_at.items(), key=lambda item: item[1]):
                props = records.get(record_id)
                if props is None or not props.get(key_field):
                    continue
                yield Change(crm_id=record_id, key=props.get(key_field), fields=props,
                             modified_at=at, owner_id=props.get("hubspot_owner_id") or None,
                             deal=latest.get(record_id))

    def _associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        linked: dict[str, list[str]] = {}
        for chunk in batched(ids, ASSOCIATION_READ):
            page = self._call("crm.associations.v4.batch_api", "get_page", from_type, to_type,
                              {"inputs": [{"id": i} for i in chunk]})
            for item in page.results or []:
                linked[str(item._from.id)] = [str(t.to_object_id) for t in item.to or []]
        return linked

    def _with_deals(self, object_name: str, key_field: str,
                    rows: list[dict[str, Any]]) -> Iterator[Change]:
        """The rows as Changes, each with the latest deal associated to it."""
        if not rows:
            return
        # HubSpot moves a contact to "opportunity" when a deal is associated with it;
        # only those can have a deal, so only those cost an association look-up.
        deals = self._deals_of(object_name, [
            row["id"] for row in rows
            if row["properties"].get("lifecyclestage") in DEAL_STAGES_OF_LIFE])
        for row in rows:
            props = row["properties"]
            yield Change(crm_id=row["id"], key=props.get(key_field), fields=props,
                         modified_at=hs_datetime(props["hs_lastmodifieddate"]),
                         owner_id=props.get("hubspot_owner_id") or None,
                         converted=False, deal=deals.get(row["id"]))

    def _deals_of(self, object_name: str, ids: list[str]) -> dict[str, Deal]:
        """Each record's newest deal (by creation; two batch calls per 100 records): the
        latest opportunity speaks for the person, not an old one someone edited."""
        linked = self._associated(object_name, "deals", ids)
        deals: dict[str, dict[str, Any]] = {}
        for chunk in batched(sorted({d for ds in linked.values() for d in ds}),
                             self.settings.batch_size):
            page = self._call("crm.objects.batch_api", "read", "deals",
                              {"inputs": [{"id": i} for i in chunk],
                               "properties": list(DEAL_FIELDS)})
            deals.update({str(row.id): dict(row.properties or {}) for row in page.results or []})
        out = {}
        for record_id, ds in linked.items():
            known = [(deals[d].get("createdate") or "", int(d) if d.isdigit() else 0, d)
                     for d in ds if d in deals]
            if known:
                *_, deal_id = max(known)
                out[record_id] = _deal(deal_id, deals[deal_id])
        return out


CONTACT_FIELDS = ("email", "firstname", "lastname", "phone", "mobilephone", "company",
                  "jobtitle", "address", "city", "state", "zip", "country", "website",
                  "hubspot_owner_id", "lifecyclestage")
COMPANY_FIELDS = ("name", "domain", "website", "phone", "city", "zip", "country",
                  "hubspot_owner_id")
TASK_FIELDS = ("hs_task_subject", "hs_task_status", "hs_timestamp", "hs_createdate",
               "hubspot_owner_id")
# HubSpot property → the marketing name matching compares on
CONTACT_NAMES = {"email": "email", "firstname": "first_name", "lastname": "last_name",
                 "company": "company", "jobtitle": "title", "address": "street",
                 "city": "city", "state": "state", "zip": "postal_code", "country": "country",
                 "website": "website"}
CUSTOMER_STAGES = frozenset({"salesqualifiedlead", "opportunity", "customer", "evangelist"})
def _contact(object_name: str, row: dict[str, Any], key_field: str) -> Candidate:
    props = row["properties"]
    fields = {name: props[prop] for prop, name in CONTACT_NAMES.items() if props.get(prop)}
    phones = [props[p] for p in ("phone", "mobilephone") if props.get(p)]
    if phones:
        fields["phone"] = phones if len(phones) > 1 else phones[0]
    kind = "contact" if props.get("lifecyclestage") in CUSTOMER_STAGES else "lead"
    return Candidate(kind, object_name, row["id"], fields, key=props.get(key_field) or None,
                     owner_id=props.get("hubspot_owner_id") or None)


def _company(row: dict[str, Any]) -> Candidate:
    props = row["properties"]
    fields = {"company": props.get("name"), "website": props.get("domain") or props.get("website"),
              "phone": props.get("phone"), "city": props.get("city"),
              "postal_code": props.get("zip"), "country": props.get("country")}
    owner = props.get("hubspot_owner_id") or None
    return Candidate("account", "companies", row["id"], fields, owner_id=owner,
                     account_id=row["id"], account_name=props.get("name"),
                     account_owner_id=owner)


@dataclass(frozen=True)
class Engagement:
    """How one activity object tells a rep's touch: its channel, its title property,
    its body properties (the first one set is the notes), the properties its outcome
    is read from (``_outcome``)."""

    channel: str
    title: str | None
    bodies: tuple[str, ...]
    outcome: tuple[str, ...] = ()

    @property
    def fields(self) -> list[str]:
        return [f for f in (self.title, *self.bodies, *self.outcome) if f]


ACTIVITIES = {
    "calls": Engagement("call", "hs_call_title", ("hs_call_body",),
                        ("hs_call_disposition", "hs_call_status")),
    "emails": Engagement("email", "hs_email_subject", ("hs_email_text", "hs_email_html"),
                         ("hs_email_status", "hs_email_direction")),
    # the rep's own notes before the invitation's text
    "meetings": Engagement("meeting", "hs_meeting_title",
                           ("hs_internal_meeting_notes", "hs_meeting_body"),
                           ("hs_meeting_outcome",)),
    "notes": Engagement("note", None, ("hs_note_body",)),
    "tasks": Engagement("task", "hs_task_subject", ("hs_task_body",), ("hs_task_status",)),
}
"""The engagement objects a rep's earlier contact is made of (CRM API, "Activities")."""
ACTIVITY_DATES = ("hs_timestamp", "hs_createdate", "hubspot_owner_id")
EMAIL_DIRECTIONS = {"EMAIL": "Sent", "INCOMING_EMAIL": "Received",
                    "FORWARDED_EMAIL": "Forwarded"}
TASK_PRIORITY = {"high": "HIGH", "normal": "MEDIUM", "low": "LOW"}
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|h\d)>")


def _touch(record_id: str, activity: str, activity_id: str, props: dict[str, Any],
           owners: dict[str, str], outcomes: dict[str, str]) -> Touch:
    kind = ACTIVITIES[activity]
    stamp = props.get("hs_timestamp") or props.get("hs_createdate")
    owner = props.get("hubspot_owner_id")
    notes = next((text for f in kind.bodies if (text := _plain(props.get(f)))), None)
    return Touch(crm_id=record_id, at=hs_datetime(stamp) if stamp else None,
                 who=owners.get(owner, f"owner {owner}") if owner else None,
                 what=(props.get(kind.title) if kind.title else None) or "",
                 outcome=_outcome(activity, props, outcomes), channel=kind.channel,
                 notes=notes, activity_id=f"{activity}:{activity_id}", who_id=owner or None)


def _outcome(activity: str, props: dict[str, Any], outcomes: dict[str, str]) -> str | None:
    """How it went, in words: a call's outcome label (else its status), an email's
    direction (or its failure), a meeting's outcome, a task's status."""
    if activity == "calls":
        label = outcomes.get(props.get("hs_call_disposition") or "")
        return label or _word(props.get("hs_call_status"))
    if activity == "emails":
        status = props.get("hs_email_status")
        if status in ("BOUNCED", "FAILED"):
            return _word(status)
        return EMAIL_DIRECTIONS.get(props.get("hs_email_direction") or "")
    fields = ACTIVITIES[activity].outcome
    return _word(props.get(fields[0])) if fields else None


def _word(value: str | None) -> str | None:
    """``NOT_STARTED`` → ``Not started``."""
    return value.replace("_", " ").capitalize() if value else None


def _plain(text: str | None) -> str | None:
    """An HTML body (notes, tasks, meetings are rich text) as plain text on one line."""
    if not text:
        return None
    plain = html.unescape(_TAG.sub("", _BREAK.sub(" ", text)))
    return " ".join(plain.split()) or None


def _taken_by(object_name: str, existing_id: str, theirs: str, write: Write) -> WriteResult:
    """A contact with this lead's email carries another lead's id: not taken over (two
    marketing leads would flip one contact between them), refused for a person to merge."""
    return WriteResult(write.key, ok=False, errors=[RecordError(
        "CONFLICT", f"{object_name} {existing_id} has this lead's unique value (email) "
        f"but belongs to lead {theirs}; merge the two leads in marketing", [EMAIL])])


def _news(result: WriteResult) -> WriteResult:
    """An update by id that found no record: the contact was archived (a rep deleted
    it) since; a merged-away id would still have resolved to its merge."""
    if not result.ok and any(e.code == "OBJECT_NOT_FOUND" for e in result.errors):
        return replace(result, gone="deleted")
    return result


class _Described(Mapping[str, FieldSchema]):
    """An object's properties, fetched on the first look: the mapping is parsed at the
    start of every run, but only a run that maps a lead reads a field's length or
    options, so an idle run never asks for them."""

    def __init__(self, fetch: Callable[[], dict[str, FieldSchema]]) -> None:
        self._fetch: Callable[[], dict[str, FieldSchema]] | None = fetch
        self._fields: dict[str, FieldSchema] = {}

    def _loaded(self) -> dict[str, FieldSchema]:
        if self._fetch is not None:
            self._fields = self._fetch()
            self._fetch = None  # only once the answer came: a failed fetch is tried again
        return self._fields

    def __getitem__(self, name: str) -> FieldSchema:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


class _Feed:
    """One feed's share of a search of changed records (``HubSpotAdapter._later``)."""

    __slots__ = ("__weakref__", "must_have", "others", "properties", "rows", "since")

    def __init__(self, since: datetime | None, must_have: str | None,
                 properties: tuple[str, ...]) -> None:
        self.since = since
        self.must_have = must_have
        self.properties = properties
        self.rows: Iterable[dict[str, Any]] | None = None
        """Set when the search is read: a list shared by the feeds opened together."""
        self.others: frozenset[str] = frozenset()
        """Properties only the other feeds asked for, left out of this one's rows."""


def _without_email(write: Write) -> Write:
    """A lead on a team's mailbox another contact holds, to be created without it."""
    return replace(write, payload={k: v for k, v in write.payload.items() if k != EMAIL})


def _merged_away(row: dict[str, Any]) -> list[str]:
    """The ids a merge folded into this record (``hs_merged_object_ids``), itself aside."""
    merged = str(row["properties"].get(MERGED) or "")
    return [old for old in (part.strip() for part in merged.split(";"))
            if old and old != row["id"]]


def _stamp(row: dict[str, Any]) -> datetime:
    return hs_datetime(row["properties"]["hs_lastmodifieddate"])


def _deal(deal_id: str, p: dict[str, Any]) -> Deal:
    return Deal(crm_id=deal_id, stage=p.get("dealstage"),
                amount=float(p["amount"]) if p.get("amount") else None,
                closed=p.get("hs_is_closed") == "true", won=p.get("hs_is_closed_won") == "true")


def _strings(properties: dict[str, Any]) -> dict[str, str]:
    """HubSpot takes every property value as a string (booleans as true/false)."""
    out = {}
    for name, value in properties.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


@contextmanager
def open_hubspot(config: Config, *, credentials: Mapping[str, str] | None = None
                 ) -> Iterator[HubSpotAdapter]:
    """The adapter for one run: the token as given (the wiring's, for a sandbox it
    started), else from the environment variable config.toml names."""
    settings = config.crm.hubspot
    assert settings is not None
    token = (credentials["token"] if credentials is not None else
             secret(settings.access_token_env, what="crm.hubspot.access_token_env"
                    ).get_secret_value())
    adapter = HubSpotAdapter(settings, token=token)
    try:
        yield adapter
    finally:
        adapter.close()


register_crm("hubspot", open_hubspot)


def _owner_name(owner: Any) -> str:
    """An owner as people know them: the name, else the email, else the id."""
    name = " ".join(p for p in (owner.first_name, owner.last_name) if p)
    return name or owner.email or str(owner.id)


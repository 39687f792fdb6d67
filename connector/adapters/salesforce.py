"""Salesforce, through the real simple-salesforce client.

The client builds its own ``https://`` URLs; to reach a sandbox we hand it a
session whose transport sends them to ``route_to`` (connector/transport.py).
Client exceptions are translated by one table into Transient/Fatal errors or
record-level errors carrying Salesforce's errorCode, message and fields.
"""

from __future__ import annotations

import csv
import heapq
import io
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import quote_plus

import requests
import structlog
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import ResultsType, _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceOperationError,
)
from simple_salesforce.format import format_soql
from tenacity.wait import wait_base

from connector.adapters.base import ESCALATION, CrmOwner, TaskMove
from connector.adapters.registry import register_crm
from connector.config import SalesforceConfig, secret
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
from connector.transport import make_session

if TYPE_CHECKING:
    from connector.config import Config

T = TypeVar("T")
log = structlog.get_logger("leadsync.salesforce")

QUERY_URL_BUDGET = 12_000
"""Bytes of URL-encoded SOQL per GET query. Salesforce caps a call's URI plus headers at
16,384 bytes (414 URI Too Long beyond), far below SOQL's 100,000-character statement limit,
so key look-ups are chunked by the encoded length, leaving room for the path and headers."""


def record_errors(content: Any) -> list[RecordError]:
    """Salesforce's ``[{"message","errorCode","fields"}]`` body, kept unchanged."""
    items = content if isinstance(content, list) else [content]
    errors = []
    for item in items:
        if isinstance(item, dict):
            errors.append(RecordError(str(item.get("errorCode") or item.get("statusCode")
                                          or "UNKNOWN"),
                                      str(item.get("message", "")),
                                      [str(f) for f in item.get("fields") or []]))
        else:
            errors.append(RecordError("UNKNOWN", str(item)))
    return errors


Outcome = Literal["record", "transient", "session", "quota", "fatal"]

TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE",
                             "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"})
"""Codes Salesforce sends with a 4xx that still clear up by themselves."""

FATAL_CODES = frozenset({
    "INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "INVALID_FIELD_FOR_INSERT_UPDATE",
    "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED", "JSON_PARSER_ERROR", "MALFORMED_QUERY",
    "INVALID_QUERY_LOCATOR", "INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
    "FUNCTIONALITY_NOT_ENABLED",
})
"""Codes that mean the mapping, the org or the credentials are wrong: every record would fail."""

CONTENT_CODES = frozenset({"JSON_PARSER_ERROR", "MALFORMED_QUERY"})
"""Of those, the ones one record's value can cause (a body Salesforce cannot parse, a
query a value broke): the engine looks for that record before failing the run."""


def classify(status: int, code: str | None, message: str = "") -> Outcome:
    """The one table: what a Salesforce error means for the run.

    - session: the session expired; log in again and repeat the call.
    - quota: the org's daily allocation is spent (``TotalRequests Limit exceeded``);
      stop cleanly. The same code for a concurrency limit
      (``ConcurrentPerOrgLongTxn Limit exceeded``) clears up by itself: transient.
    - Unknown 400 codes count as record-level: the record waits as a dead letter
      with the CRM's words and the rest of the batch goes on.
    """
    if status == 401 or code == "INVALID_SESSION_ID":
        return "session"
    if code == "REQUEST_LIMIT_EXCEEDED":
        return "transient" if "Concurrent" in message else "quota"
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return "transient"
    if code in FATAL_CODES:
        return "fatal"
    if status in (300, 400):  # 300: two records share the external id (MULTIPLE_CHOICES)
        return "record"
    return "fatal"


class SessionExpired(TransientError):
    """Retried after a fresh login (the adapter drops its client on seeing it)."""


_NOT_TRANSPORT = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                  requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)


def _translate(exc: Exception) -> Exception:
    """Client exception → TransientError | SessionExpired | QuotaReserved | FatalError |
    RecordRejected, by ``classify``."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return FatalError(f"Salesforce login failed: {exc.code}: {exc.auth_message}",
                          system="salesforce", code=str(exc.code))
    if isinstance(exc, SalesforceError):
        errors = record_errors(exc.content)
        code = errors[0].code if errors else None
        outcome = classify(exc.status, code, errors[0].message if errors else "")
        if outcome == "record":
            return RecordRejected(errors)
        message = f"Salesforce {exc.status}: " + ("; ".join(str(e) for e in errors)
                                                  or str(exc.content))
        if outcome == "quota":
            message += (" The org's daily API allocation is used up; the next run resumes "
                        "where this one stopped.")
        cls = {"transient": TransientError, "session": SessionExpired,
               "quota": QuotaReserved}.get(outcome, FatalError)
        if cls is FatalError:
            return FatalError(message, system="salesforce", status=exc.status, code=code,
                              content=code in CONTENT_CODES or exc.status == 414)
        return cls(message, system="salesforce", status=exc.status, code=code)
    if isinstance(exc, SalesforceOperationError):  # Bulk API 2.0 upload/job errors
        return FatalError(f"Salesforce Bulk API: {exc}", system="salesforce")
    if isinstance(exc, _NOT_TRANSPORT):
        return FatalError(f"Salesforce request malformed: {exc}", system="salesforce")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"Salesforce unreachable: {exc.__class__.__name__}",
                              system="salesforce")
    return exc


def sf_datetime(value: str) -> datetime:
    """Salesforce's ``2026-11-25T03:01:09.000+0000`` → aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


GONE_CODES = {"CANNOT_UPDATE_CONVERTED_LEAD": "converted", "ENTITY_IS_DELETED": "deleted"}
"""Refusals that say the record takes no more writes: a rep converted or deleted it
(or merged it away) since leadsync last saw it."""


def _news(result: WriteResult) -> WriteResult:
    gone = next((GONE_CODES[e.code] for e in result.errors if e.code in GONE_CODES), None)
    return replace(result, gone=gone) if gone and not result.ok else result


def soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class QueryPage:
    """One page of a query's answer: its rows (without ``attributes``), the whole
    query's ``totalSize``, and the locator of the next page (None when done)."""

    rows: list[dict[str, Any]]
    total: int
    more: str | None

    @classmethod
    def of(cls, page: dict[str, Any]) -> QueryPage:
        return cls([{k: v for k, v in r.items() if k != "attributes"}
                    for r in page.get("records", [])], int(page.get("totalSize") or 0),
                   None if page.get("done", True) else page["nextRecordsUrl"])


class UsageMeter:
    """The org's daily API allocation as the last response's ``Sforce-Limit-Info`` said.

    A response hook on the client's session, so every call is seen — REST,
    collections and Bulk 2.0 alike (the client parses the header only for some).
    """

    def __init__(self) -> None:
        self.used: int | None = None
        self.total: int | None = None

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        match = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.used, self.total = int(match["used"]), int(match["total"])

    @property
    def remaining(self) -> int | None:
        return None if self.total is None or self.used is None else self.total - self.used


_USAGE = re.compile(r"(?:^|[^-])api-usage=(?P<used>\d+)/(?P<total>\d+)")


class SalesforceAdapter:
    name: ClassVar[str] = "salesforce"
    owner_field: ClassVar[str] = "OwnerId"
    account_object: ClassVar[str] = "Account"
    deleted_every: timedelta | None = None  # queryAll reads them with the changes
    reads_together: ClassVar[bool] = True
    """Feeds opened before any is read share composite requests (``_later``), and a
    delta of ``read_people`` carries the deleted and merged records ``read_removed``
    would read (queryAll with IsDeleted and MasterRecordId): one query, not two."""

    def __init__(self, settings: SalesforceConfig, *, password: str, security_token: str,
                 consumer_key: str | None = None, consumer_secret: str | None = None,
                 retry: RetryPolicy = DEFAULT_POLICY, wait: wait_base | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._password = password
        self._token = security_token
        self._consumer = (consumer_key, consumer_secret)
        self._retry = retry
        self._wait = wait
        self._sleep = sleep
        self._clock = clock
        self._client: Salesforce | None = None
        self._describes: dict[str, ObjectSchema] = {}
        self._described_at: dict[str, float] = {}
        self._absent: dict[str, float] = {}
        """Objects the org has not got (a describe answered 404), and when that was seen."""
        self._pending: dict[tuple[str, bool], None] = {}
        """Queries registered by ``_later`` whose first page is not fetched yet."""
        self._pages: dict[tuple[str, bool], QueryPage] = {}
        self.usage = UsageMeter()

    def __repr__(self) -> str:  # never show credentials
        return f"SalesforceAdapter(username={self.settings.username!r})"

    @property
    def client(self) -> Salesforce:
        """The logged-in client (logging in, with retries, on first use)."""
        return self._call(lambda client: client)

    def _login(self) -> Salesforce:
        if self._client is None:
            session = make_session(self.settings.route_to, timeout=self.settings.timeout_s)
            session.hooks["response"].append(self.usage)
            common: dict[str, Any] = {"domain": self.settings.domain, "session": session,
                                      "version": self.settings.api_version}
            key, secret_ = self._consumer
            try:
                if self.settings.auth == "soap":
                    client = Salesforce(username=self.settings.username,
                                        password=self._password,
                                        security_token=self._token, **common)
                elif self.settings.auth == "oauth_password":
                    client = Salesforce(username=self.settings.username,
                                        password=self._password + self._token,
                                        consumer_key=key, consumer_secret=secret_, **common)
                else:
                    client = Salesforce(consumer_key=key, consumer_secret=secret_, **common)
            except BaseException:
                session.close()
                raise
            self._client = client
        return self._client

    def _call(self, fn: Callable[[Salesforce], T], *, once: bool = False) -> T:
        """One API call with the one retry policy. Each attempt takes the current
        client, so an expired session is replaced by a fresh login and the call
        goes on; the allocation reserve is checked before anything is sent."""
        def attempt() -> T:
            try:
                client = self._login()
                self._keep_reserve()
                return fn(client)
            except (SalesforceError, SalesforceOperationError,
                    requests.RequestException) as exc:
                error = _translate(exc)
                if isinstance(error, SessionExpired):
                    self._drop_client()  # the next attempt logs in again
                raise error from exc
        # ``once``: a create that failed in transit may have landed; a retry could make it
        # twice, so it is reported instead
        return call_with_retry(attempt, RetryPolicy(attempts=1) if once else self._retry,
                               wait=self._wait)

    def _keep_reserve(self) -> None:
        remaining, reserve = self.usage.remaining, self.settings.api_reserve
        if remaining is not None and remaining <= reserve:
            raise QuotaReserved(
                f"Salesforce API allocation: {self.usage.used:,} of {self.usage.total:,} calls "
                f"used today; {remaining:,} left is within the reserve of {reserve:,} kept for "
                "other integrations (crm.salesforce.api_reserve). Stopped before the next call; "
                "the next run resumes where this one stopped.",
                system="salesforce", code="API_RESERVE")

    def _know_usage(self) -> None:
        """Before a first write: the allocation must be known, so the reserve holds.
        Every response carries it (``Sforce-Limit-Info``); only when no call was made
        yet (a run whose reads all came from elsewhere) is ``/limits`` asked."""
        if self.usage.remaining is None:
            self._call(lambda c: c.limits())

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.session.close()
            self._client = None

    def close(self) -> None:
        self._drop_client()

    # contract ---------------------------------------------------------------
    def check(self) -> list[str]:
        try:
            self.client  # noqa: B018  (logs in)
        except FatalError as exc:
            return [str(exc)]
        except TransientError as exc:
            return [f"{exc} (tried {self._retry.attempts} times)"]
        return []

    def describe_or_none(self, object_name: str) -> ObjectSchema | None:
        """The object's describe, or None where the org has no such object (404, not
        asked again for the hour a describe is kept)."""
        if self._absent_now(object_name):
            return None
        try:
            return self.describe(object_name)
        except FatalError as exc:
            if exc.code in ("NOT_FOUND", "INVALID_TYPE"):
                self._absent[object_name] = self._clock()
                return None
            raise

    def _absent_now(self, object_name: str) -> bool:
        """The org answered 404 for this object within the hour a describe is kept."""
        seen = self._absent.get(object_name)
        return seen is not None and self._clock() - seen <= DESCRIBE_TTL_S

    def describe(self, object_name: str) -> ObjectSchema:
        """An object's fields, asked once an hour at most: a daemon keeps one adapter
        across runs, and an admin's new field or picklist value is seen within the hour."""
        now = self._clock()
        for name, at in list(self._described_at.items()):
            if now - at > DESCRIBE_TTL_S:
                self._describes.pop(name, None)
                del self._described_at[name]
        if object_name not in self._describes:  # a person object: both, in one request
            self._describe_all([object_name, *(PERSON_OBJECTS if object_name in
                                               PERSON_OBJECTS else ())])
        return self._describes[object_name]

    def _describe_all(self, names: Sequence[str]) -> None:
        """Describe what is not cached of these objects, together in one request."""
        wanted = [n for n in dict.fromkeys(names)
                  if n not in self._describes and not self._absent_now(n)]
        if not wanted:
            return
        for name, raw in zip(wanted, self._describe_raw(wanted), strict=True):
            if raw is not None:
                self._describes[name] = _schema(raw)
                self._described_at[name] = self._clock()

    def _describe_raw(self, names: list[str]) -> Iterator[dict[str, Any] | None]:
        """Describes of several objects in one composite request; the first is asked
        alone again if the composite could not give it (so its error is raised as
        any other), the others are left out (None) to be asked when needed."""
        if len(names) == 1:
            yield self._call(lambda c: getattr(c, names[0]).describe())
            return
        version = self.settings.api_version
        body = {"allOrNone": False, "compositeRequest": [
            {"method": "GET", "referenceId": f"d{i}",
             "url": f"/services/data/v{version}/sobjects/{name}/describe"}
            for i, name in enumerate(names)]}
        try:
            answer = self._call(lambda c: c.restful("composite", method="POST", json=body))
        except (FatalError, TransientError):  # no composite for this user: one at a time
            yield self._call(lambda c: getattr(c, names[0]).describe())
            yield from (None for _ in names[1:])
            return
        for i, sub in enumerate(answer["compositeResponse"]):
            ok = sub.get("httpStatusCode") == 200 and isinstance(sub.get("body"), dict)
            if ok:
                yield sub["body"]
            elif i == 0:
                yield self._call(lambda c: getattr(c, names[0]).describe())
            else:
                yield None

    # writes -------------------------------------------------------------------
    def upsert(self, object_name: str, external_id_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        """Create what is new, update what exists, in the fewest calls.

        New records are *created* (no look-up first: that is the common case);
        one the CRM already holds fails on its unique external id and is then
        updated, so lost state never makes a duplicate nor re-sends ``on_create``.
        Records we hold a link to are upserted directly. (Only when the external
        id field is Unique: otherwise Salesforce would accept the duplicate, so
        every record is upserted, at one more call per chunk of new records for
        their ``on_create`` fields.) Batches above
        ``bulk_threshold`` go through Bulk API 2.0, the rest through sObject
        Collections, 200 records a call.
        """
        out: dict[str, WriteResult] = {}
        by_id = [w for w in records if w.crm_id]
        rest = [w for w in records if not w.crm_id]
        key = self.describe(object_name).field(external_id_field)
        self._know_usage()  # the describe's answer told it, unless it was cached
        try:
            self._write("update", object_name, external_id_field, by_id, out)
            if key is not None and key.unique:
                exists = self._write("insert", object_name, external_id_field,
                                     [w for w in rest if not w.known], out)
                self._write("upsert", object_name, external_id_field,
                            [w for w in rest if w.known] + exists, out)
            else:  # an insert would not be refused for an id already there: upsert all
                self._write("upsert", object_name, external_id_field, rest, out)
        except AdapterError as exc:
            raise BatchInterrupted(list(out.values()), exc) from exc
        return [_news(out[w.key]) for w in records]

    def _write(self, operation: Literal["insert", "upsert", "update"], object_name: str,
               key_field: str, writes: list[Write], out: dict[str, WriteResult]) -> list[Write]:
        """Write ``writes`` into ``out``; returns those an insert found already there."""
        if not writes:
            return []
        results = (self._bulk(operation, object_name, key_field, writes)
                   if len(writes) > self.settings.bulk_threshold and operation != "update"
                   else self._collections(operation, object_name, key_field, writes))
        exists, reborn = [], []
        for write, result in results:  # as each call returns: a later failure keeps these
            if operation == "insert" and _already_there(result, key_field):
                exists.append(write)
            elif operation == "upsert" and result.created and write.on_create:
                reborn.append(write)  # deleted in the CRM since: created without on_create
                out[write.key] = result
            else:
                out[write.key] = result
        if reborn:  # the record is new after all: give it its creation-only fields
            done: dict[str, WriteResult] = {}
            self._write("upsert", object_name, key_field,
                        [Write(w.key, w.on_create, known=True) for w in reborn], done)
            for write in reborn:
                if not done[write.key].ok:
                    out[write.key] = replace(done[write.key], crm_id=out[write.key].crm_id)
        return exists

    def _collections(self, operation: Literal["insert", "upsert", "update"], object_name: str,
                     key_field: str, writes: list[Write]) -> Iterator[tuple[Write, WriteResult]]:
        creating = operation == "insert"
        path = ("composite/sobjects" if operation != "upsert"
                else f"composite/sobjects/{object_name}/{key_field}")
        chunks = list(batched(writes, self.settings.collection_size))
        bodies = [{"allOrNone": False, "records": [
            {"attributes": {"type": object_name}, **w.body(created=creating),
             **({"id": w.crm_id} if operation == "update" else {}),
             **({key_field: w.key} if operation != "update" or w.stamp else {})}
            for w in chunk]} for chunk in chunks]
        for chunk, answer in zip(chunks, self._collection_calls(
                path, "POST" if creating else "PATCH", bodies), strict=True):
            if isinstance(answer, RecordRejected):  # the whole call refused for a record
                for w in chunk:
                    yield w, WriteResult(w.key, ok=False, errors=answer.errors)
                continue
            for write, item in zip(chunk, answer, strict=True):
                if item.get("success"):
                    yield write, WriteResult(write.key, ok=True, crm_id=item.get("id"),
                                             created=creating or bool(item.get("created")))
                else:
                    yield write, WriteResult(write.key, ok=False,
                                             errors=record_errors(item.get("errors")))

    def _collection_calls(self, path: str, method: str, bodies: list[dict[str, Any]], *,
                          once: bool = False) -> Iterator[list[dict[str, Any]] | RecordRejected]:
        """The answers of sObject Collections calls, five to a composite request (one
        API call for up to 1,000 records instead of five). A subrequest the composite
        could not run is sent again alone, so its error is classified like any other;
        ``once``: a create is never sent twice (a retry could make it twice)."""
        version = self.settings.api_version
        for group in batched(bodies, COMPOSITE_QUERIES):
            if len(group) > 1:
                request = {"allOrNone": False, "compositeRequest": [
                    {"method": method, "referenceId": f"c{i}", "body": body,
                     "url": f"/services/data/v{version}/{path}"}
                    for i, body in enumerate(group)]}
                answer = self._call(lambda c, r=request: c.restful(
                    "composite", method="POST", json=r), once=once)
                subs = answer["compositeResponse"]
            else:
                subs = [None]
            for body, sub in zip(group, subs, strict=True):
                if sub is not None and sub.get("httpStatusCode") in (200, 201) \
                        and isinstance(sub.get("body"), list):
                    yield sub["body"]
                    continue
                try:
                    yield self._call(lambda c, b=body: c.restful(path, method=method, json=b),
                                     once=once)
                except RecordRejected as exc:
                    yield exc

    def _bulk(self, operation: Literal["insert", "upsert"], object_name: str, key_field: str,
              writes: list[Write]) -> Iterator[tuple[Write, WriteResult]]:
        """One Bulk API 2.0 ingest job per ~90 MB of CSV: create, upload, close, poll, results.

        A job that failed, was aborted or left records unprocessed still reports
        what it did; those results are yielded, then the batch stops, so the
        cursor holds the records Salesforce never looked at for the next run.
        """
        creating = operation == "insert"
        by_key = {w.key: w for w in writes}
        for keys, rows in _csv_chunks(
                [{**w.body(created=creating), key_field: w.key} for w in writes], key_field):
            info = self._bulk_job(operation, object_name, key_field, rows)
            results = self._bulk_results(info, key_field, created_by_default=creating)
            for key in keys:
                if key in results:
                    yield by_key[key], results[key]
            if info["state"] != "JobComplete":
                raise FatalError(f"Salesforce Bulk API job {info['id']} "
                                 f"{info['state'].lower()}: "
                                 f"{info.get('errorMessage') or 'no reason given'}",
                                 system="salesforce", code=info["state"])
            if len(results) < len(keys):
                raise TransientError(f"Salesforce Bulk API job {info['id']} left "
                                     f"{len(keys) - len(results)} records unprocessed; they "
                                     "are sent again on the next run", system="salesforce")

    def _bulk_job(self, operation: str, object_name: str, key_field: str,
                  csv_text: str) -> dict[str, Any]:
        """Run one ingest job to its end; its final job info (JobComplete, Failed or Aborted)."""
        def start(client: Salesforce) -> str:
            bulk = _bulk_api(client, object_name)
            job = bulk.create_job(operation, external_id_field=key_field
                                  if operation == "upsert" else None)
            try:
                bulk.upload_job_data(job["id"], csv_text)
                bulk.close_job(job["id"])
            except Exception:
                with suppress(Exception):  # an open job left behind is abandoned, not run
                    bulk.abort_job(job["id"], False)
                raise
            return str(job["id"])

        return self._await_job(self._call(start), object_name, query=False)

    def _await_job(self, job_id: str, object_name: str, *, query: bool) -> dict[str, Any]:
        """Poll a Bulk 2.0 job, backing off, until it ends; abort it past the timeout."""
        deadline = self._clock() + self.settings.bulk_timeout_s
        delay = self.settings.bulk_poll_s
        while True:
            self._sleep(delay)
            info = self._call(lambda c: _bulk_api(c, object_name).get_job(job_id, query))
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return dict(info)
            if self._clock() > deadline:
                with suppress(AdapterError):  # stop it: the next run sends these rows again
                    self._call(lambda c: _bulk_api(c, object_name).abort_job(job_id, query))
                raise TransientError(f"Salesforce Bulk API job {job_id} still "
                                     f"{info['state']} after {self.settings.bulk_timeout_s:.0f} "
                                     "s; aborted, it runs again on the next run",
                                     system="salesforce")
            delay = min(delay * 2, 30.0)

    def _bulk_query(self, object_name: str, soql: str, *,
                    everything: bool = False) -> Iterator[dict[str, Any]]:
        """The rows of a Bulk API 2.0 query job, page by page (``Sforce-Locator``),
        as the REST query shapes them: ``None`` for an empty cell, a relationship's
        ``Account.Name`` column as ``{"Account": {"Name": ...}}``. ``everything``:
        a ``queryAll`` job, deleted and merged records included."""
        operation = "queryAll" if everything else "query"
        job = self._call(lambda c: _bulk_api(c, object_name).create_job(operation, query=soql))
        info = self._await_job(str(job["id"]), object_name, query=True)
        if info["state"] != "JobComplete":
            raise FatalError(f"Salesforce Bulk API query job {info['id']} "
                             f"{info['state'].lower()}: "
                             f"{info.get('errorMessage') or 'no reason given'}",
                             system="salesforce", code=info["state"])
        locator = ""
        while True:
            page = self._call(lambda c, at=locator: _bulk_api(c, object_name).get_query_results(
                info["id"], at, BULK_QUERY_PAGE))
            for row in csv.DictReader(io.StringIO(page["records"])):
                yield _nested(row)
            locator = page["locator"]
            if not locator:
                return

    def _bulk_results(self, info: dict[str, Any], key_field: str, *,
                      created_by_default: bool) -> dict[str, WriteResult]:
        out: dict[str, WriteResult] = {}

        def fetch(kind: str) -> str:
            return self._call(lambda c: _bulk_api(c, info["object"]).get_ingest_results(
                info["id"], kind))

        if int(info.get("numberRecordsProcessed") or 0) > int(
                info.get("numberRecordsFailed") or 0):
            for row in csv.DictReader(io.StringIO(fetch(ResultsType.successful))):
                created = row.get("sf__Created", "").lower() == "true" or (
                    created_by_default and "sf__Created" not in row)
                out[row[key_field]] = WriteResult(row[key_field], ok=True,
                                                  crm_id=row.get("sf__Id"), created=created)
        if int(info.get("numberRecordsFailed") or 0):
            for row in csv.DictReader(io.StringIO(fetch(ResultsType.failed))):
                out[row[key_field]] = WriteResult(row[key_field], ok=False,
                                                  errors=bulk_errors(row.get("sf__Error", "")))
        return out

    def add_tasks(self, object_name: str, tasks: Sequence[HandoffTask]) -> list[WriteResult]:
        """Task records on the leads (WhoId), 200 a collections call."""
        self._know_usage()
        results: list[WriteResult] = []
        chunks = list(batched(tasks, self.settings.collection_size))
        bodies = [{"allOrNone": False, "records": [{
            "attributes": {"type": "Task"}, "WhoId": t.crm_id, "Subject": t.subject,
            "Description": t.text, "Status": "Not Started",
            "Priority": TASK_PRIORITY[t.priority],
            "ActivityDate": t.due.date().isoformat(),
            **({"OwnerId": t.owner_id} if t.owner_id else {})} for t in chunk]}
            for chunk in chunks]
        for chunk, answer in zip(chunks, self._collection_calls(
                "composite/sobjects", "POST", bodies, once=True), strict=True):
            if isinstance(answer, RecordRejected):
                results.extend(WriteResult(t.key, ok=False, errors=answer.errors)
                               for t in chunk)
                continue
            results.extend(
                WriteResult(t.key, ok=True, crm_id=item.get("id"), created=True)
                if item.get("success") else
                WriteResult(t.key, ok=False, errors=record_errors(item.get("errors")))
                for t, item in zip(chunk, answer, strict=True))
        return results

    def field_times(self, object_name: str, crm_ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """From the object's field history (LeadHistory, ContactHistory; Object
        Reference, "LeadHistory"): only fields the org tracks have rows. An org without
        history on the object answers nothing here, and the record's stamp decides."""
        history, parent = _history_object(object_name)
        if self.describe_or_none(history) is None:
            return {}
        out: dict[str, dict[str, datetime]] = {}
        for chunk in batched(sorted(crm_ids), 200):
            soql = format_soql(f"SELECT {parent}, Field, CreatedDate FROM {history} "
                               f"WHERE {parent} IN {{}} AND Field IN {{}} "
                               "ORDER BY CreatedDate DESC", chunk, sorted(fields))
            for row in self._rows(soql):
                out.setdefault(row[parent], {}).setdefault(row["Field"],
                                                           sf_datetime(row["CreatedDate"]))
        return out

    def status_history(self, object_name: str, field: str, crm_ids: Sequence[str],
                       since: datetime | None) -> dict[str, list[StatusStep]]:
        """From the object's field history, where the org tracks the field (Setup,
        "Field History Tracking"): OldValue, NewValue, CreatedDate and CreatedBy of
        each change. One query per 200 records; nothing when the org keeps none."""
        history, parent = _history_object(object_name)
        if not crm_ids or self.describe_or_none(history) is None:
            return {}
        out: dict[str, list[StatusStep]] = {}
        after = f" AND CreatedDate >= {soql_datetime(since)}" if since else ""
        for chunk in batched(sorted(crm_ids), 200):
            soql = format_soql(f"SELECT {parent}, OldValue, NewValue, CreatedDate, "
                               f"CreatedBy.Name FROM {history} WHERE {parent} IN {{}} "
                               f"AND Field = {{}}{after} ORDER BY CreatedDate, Id",
                               chunk, field)
            for row in self._rows(soql):
                out.setdefault(row[parent], []).append(StatusStep(
                    row[parent], sf_datetime(row["CreatedDate"]),
                    _text_or_none(row.get("OldValue")), _text_or_none(row.get("NewValue")),
                    (row.get("CreatedBy") or {}).get("Name")))
        return out

    def read_removed(self, object_name: str, key_field: str, since: datetime | None,
                     deletions: Deletions | None = None) -> Iterator[Removal]:
        """Deleted and merged-away records, from ``queryAll``: "queryAll() ...
        includes records that have been deleted because of a merge or delete", with
        IsDeleted and, for a merge loser, MasterRecordId (SOAP API Developer Guide,
        queryAll()). The Recycle Bin keeps them 15 days: a run at least that often
        sees every one. A first read takes ours (our key); later ones every record
        deleted since, with a key or without: a rep's own record that leads followed
        through a merge is ours too, and the pipeline keeps only the linked ones."""
        soql = (f"SELECT Id, {key_field}, MasterRecordId, SystemModstamp FROM {object_name} "
                "WHERE IsDeleted = true"
                + (f" AND SystemModstamp >= {soql_datetime(since)}" if since
                   else f" AND {key_field} != null")  # later, keyless too (merge survivors)
                + " ORDER BY SystemModstamp, Id")
        return (Removal(row["Id"], row.get(key_field), sf_datetime(row["SystemModstamp"]),
                        merged_into=row.get("MasterRecordId") or None)
                for row in self._later(soql, deleted=True))

    def tasks_made(self, tasks: Sequence[HandoffTask]) -> dict[str, str]:
        """Tasks on the records (WhoId) whose Description carries the token: a long
        text area can be read but not filtered in SOQL, so the few tasks of each
        record are read and searched here."""
        by_record: dict[str, list[HandoffTask]] = {}
        for task in tasks:
            by_record.setdefault(task.crm_id, []).append(task)
        found: dict[str, str] = {}
        for chunk in batched(sorted(by_record), 500):
            soql = format_soql("SELECT Id, WhoId, Description FROM Task WHERE WhoId IN {}",
                               chunk)
            for row in self._rows(soql):
                text = row.get("Description") or ""
                for task in by_record.get(row.get("WhoId") or "", ()):
                    if task.mark in text:
                        found[task.key] = row["Id"]
        return found

    def move_open_tasks(self, moves: Sequence[TaskMove]) -> int:
        """Open Tasks on the records (WhoId), the old owner's, to the new owner: one
        query per ~500 records and a collections update per 200 tasks."""
        wanted = {m.crm_id: m for m in moves}
        updates: list[dict[str, Any]] = []
        for chunk in batched(sorted(wanted), 500):
            soql = format_soql("SELECT Id, WhoId, OwnerId FROM Task WHERE IsClosed = false "
                               "AND WhoId IN {} AND (NOT Subject LIKE {})", chunk,
                               f"{ESCALATION}%")
            for row in self._rows(soql):
                move = wanted[row["WhoId"]]
                if move.from_owner is None or row.get("OwnerId") == move.from_owner:
                    updates.append({"attributes": {"type": "Task"}, "id": row["Id"],
                                    "OwnerId": move.to_owner})
        moved = 0
        for chunk in batched(updates, self.settings.collection_size):
            answer = self._call(lambda c, b=chunk: c.restful(
                "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": b}))
            moved += sum(1 for item in answer if item.get("success"))
        return moved

    # reads --------------------------------------------------------------------
    def read_by_keys(self, object_name: str, key_field: str, keys: Sequence[str],
                     fields: Sequence[str]) -> list[CrmRecord]:
        select = ", ".join(dict.fromkeys(["Id", key_field, *fields]))
        head = f"SELECT {select} FROM {object_name} WHERE {key_field} IN "
        found: list[CrmRecord] = []
        chunk: list[str] = []
        size = len(quote_plus(head + "()"))
        for key in keys:
            quoted = len(quote_plus(format_soql("{}", key) + ","))
            if chunk and size + quoted > QUERY_URL_BUDGET:
                found.extend(self._query(head + format_soql("{}", chunk), key_field))
                chunk, size = [], len(quote_plus(head + "()"))
            chunk.append(key)
            size += quoted
        if chunk:
            found.extend(self._query(head + format_soql("{}", chunk), key_field))
        return found

    def account_values(self, account_ids: Sequence[str],
                       fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """One query on Account per URL's worth of ids."""
        if not account_ids:
            return {}
        return {r.crm_id: r.fields for r in self.read_by_keys(
            self.account_object, "Id", sorted(set(account_ids)), [f for f in fields if f != "Id"])}

    def _first_pages(self, queries: Sequence[tuple[str, bool]]) -> Iterator[QueryPage]:
        """The first page of each (SOQL, through queryAll) query, five to a composite
        request: one API call against the daily allocation instead of five. A query
        that fails in there is sent again alone, so its error is classified like any
        other. The caller pages on (``_more``) or not."""
        version = self.settings.api_version
        for chunk in batched(queries, COMPOSITE_QUERIES):
            if len(chunk) == 1:
                yield self._first_page(*chunk[0])
                continue
            body = {"allOrNone": False, "compositeRequest": [
                {"method": "GET", "referenceId": f"q{i}",
                 "url": f"/services/data/v{version}/{'queryAll' if every else 'query'}/"
                        f"?q={quote_plus(soql)}"}
                for i, (soql, every) in enumerate(chunk)]}
            answer = self._call(lambda c, b=body: c.restful("composite", method="POST",
                                                            json=b))
            for (soql, every), sub in zip(chunk, answer["compositeResponse"], strict=True):
                page = sub.get("body") or {}
                if sub.get("httpStatusCode") != 200 or not isinstance(page, dict):
                    yield self._first_page(soql, every)
                else:
                    yield QueryPage.of(page)

    def read_people(self, object_name: str, key_field: str, kinds: Sequence[str],
                    since: datetime | None, deletions: Deletions | None = None
                    ) -> Iterator[PersonChange]:
        """Leads, contacts and accounts for the candidate index.

        A delta (``since``) is one composite request of ``queryAll`` subrequests,
        one per object, ordered by SystemModstamp: deleted and merged-away records
        come with IsDeleted, converted leads with IsConverted, both as removed.
        A full read asks for every object's first page in one composite request;
        an object with more than ``BULK_READ_FROM`` records is read by a Bulk API
        2.0 query job instead of 2,000-row pages (one job reads a million records
        in a handful of calls).
        """
        sources = self._people_sources(object_name, key_field, kinds)
        if since is None:
            return self._all_people(sources, key_field)
        after = soql_datetime(since)
        feeds = []
        for kind, sobject, fields in sources:
            soql = (f"SELECT {', '.join(fields)}, IsDeleted, MasterRecordId FROM {sobject} "
                    f"WHERE SystemModstamp >= {after}")
            feeds.append((kind, sobject, self._later(
                f"{soql} ORDER BY SystemModstamp, Id", deleted=True, bulk=(sobject, soql))))
        return (_person_change(kind, sobject, row, key_field)
                for kind, sobject, rows in feeds for row in rows)

    def _all_people(self, sources: list[tuple[str, str, list[str]]],
                    key_field: str) -> Iterator[PersonChange]:
        soqls = [f"SELECT {', '.join(fields)} FROM {sobject}"
                 + (" WHERE IsConverted = false" if "IsConverted" in fields else "")
                 for _, sobject, fields in sources]
        for (kind, sobject, _), soql, first in zip(
                sources, soqls, self._first_pages([(q, False) for q in soqls]), strict=True):
            rows: Iterable[dict[str, Any]] = first.rows
            if first.more is not None and first.total > BULK_READ_FROM:
                rows = self._bulk_query(sobject, soql)
            elif first.more is not None:
                rows = [*rows, *self._more(first.more)]
            for row in rows:
                yield _person_change(kind, sobject, row, key_field)

    def _people_sources(self, object_name: str, key_field: str, kinds: Sequence[str]
                        ) -> list[tuple[str, str, list[str]]]:
        """(kind, object, fields) of each object the index reads."""
        self._describe_all([object_name, *PERSON_OBJECTS])
        sources = []
        for kinds_name, kind, sobject in (("leads", "lead", object_name),
                                          ("contacts", "contact", "Contact")):
            if kinds_name in kinds:
                fields = _person_fields(self.describe(sobject), key_field)
                sources.append((kind, sobject, [*fields, "SystemModstamp"]))
        if "accounts" in kinds:
            sources.append(("account", "Account", [*ACCOUNT_FIELDS, "SystemModstamp"]))
        return sources

    def history(self, records: Sequence[Candidate], limit: int) -> dict[str, list[Touch]]:
        """Tasks and Events (meetings) on the leads and contacts (WhoId) and on the
        accounts (WhatId), newest first by when they happened (``_task_time``, an
        event's start), with their kind (TaskSubtype, Type), call result and notes. A
        task on a contact and its account is listed under both, as the same activity
        (its Id): the engine shows it once."""
        out: dict[str, list[Touch]] = {r.crm_id: [] for r in records}
        if limit <= 0 or not records:
            return out
        people = [r.crm_id for r in records if r.kind != "account"]
        accounts = [r.crm_id for r in records if r.kind == "account"]
        terms = [format_soql("WhoId IN {}", chunk) for chunk in batched(people, 100)]
        terms += [format_soql("WhatId IN {}", chunk) for chunk in batched(accounts, 100)]
        self._describe_all(["Task", "Event"])  # together, in one request
        feeds = []  # every query opened first: their first pages come in one request
        # call fields need Call Center, an org may hide Event: fields come and go
        for sobject, wanted, touch, described in (
                ("Task", TASK_FIELDS, _task_touch, self.describe),
                ("Event", EVENT_FIELDS, _event_touch, self.describe_or_none)):
            schema = described(sobject)
            if schema is None:
                continue
            head = (f"SELECT {', '.join(f for f in wanted if schema.field(f))}, Owner.Name "
                    f"FROM {sobject} WHERE ")
            feeds += [(touch, self._later(soql)) for soql in _or_queries(head, terms)]
        for touch, rows in feeds:
            for row in rows:
                for crm_id in dict.fromkeys((row.get("WhoId"), row.get("WhatId"))):
                    if crm_id in out:
                        out[crm_id].append(touch(crm_id, row))
        oldest = datetime.min.replace(tzinfo=UTC)
        for touches in out.values():
            touches.sort(key=lambda t: t.at or oldest, reverse=True)
            del touches[limit:]
        return out

    def owners(self) -> list[CrmOwner]:
        """Users, active and deactivated, in one query (an org has thousands at most).

        Queues are not listed: reading Group needs a permission integration users
        often lack, and routing only asks whether *reps* are active."""
        return [CrmOwner(row["Id"], row.get("Name") or row["Id"], bool(row.get("IsActive")))
                for row in self._later("SELECT Id, Name, IsActive FROM User ORDER BY Id")]

    def _query(self, soql: str, key_field: str) -> list[CrmRecord]:
        return [CrmRecord(row["Id"], row.get(key_field), row) for row in self._rows(soql)]

    def _later(self, soql: str, *, deleted: bool = False,
               bulk: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """The rows of a query, its first page fetched together with every other query
        registered before any of them is read: the change feeds of one run open
        their queries first, and their first pages cost one composite request per
        five queries instead of a call each.

        ``bulk`` (object, the query without ORDER BY, which Bulk API 2.0 refuses):
        an answer of more than ``BULK_READ_FROM`` rows is read by a query job and
        put in order here (the delta after a load of 100,000 leads: a handful of
        calls instead of 50 pages). Only for rows whose values are all text, ids
        and flags: a job's CSV has no numbers."""
        self._pending[soql, deleted] = None
        return self._deferred(soql, deleted, bulk)

    def _deferred(self, soql: str, deleted: bool,
                  bulk: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
        if (soql, deleted) not in self._pages:
            pending, self._pending = list(self._pending), {}
            if (soql, deleted) not in pending:
                pending.append((soql, deleted))
            for key, first in zip(pending, self._first_pages(pending), strict=True):
                self._pages[key] = first
        first = self._pages.pop((soql, deleted))
        if first.more is not None and bulk is not None and first.total > BULK_READ_FROM:
            rows = list(self._bulk_query(*bulk, everything=deleted))
            yield from sorted(rows, key=lambda row: (row["SystemModstamp"], row["Id"]))
            return
        yield from first.rows
        if first.more is not None:
            yield from self._more(first.more)

    def _rows(self, soql: str, *, deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every row of a query, page by page (nextRecordsUrl), each page retried alone;
        ``deleted``: through queryAll, which also returns deleted and merged records."""
        first = self._first_page(soql, deleted)
        yield from first.rows
        if first.more is not None:
            yield from self._more(first.more)

    def _first_page(self, soql: str, deleted: bool) -> QueryPage:
        return QueryPage.of(self._call(lambda c: c.query(soql, include_deleted=deleted)))

    def _more(self, locator: str) -> Iterator[dict[str, Any]]:
        while locator:
            page = QueryPage.of(self._call(
                lambda c, loc=locator: c.query_more(loc, identifier_is_url=True)))
            yield from page.rows
            locator = page.more

    def read_changes(self, object_name: str, key_field: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Change]:
        """Records changed at or after ``since``, oldest first, with their owner,
        conversion and the converted opportunity's stage, amount and outcome.

        A rep closing the opportunity does not touch the lead, so converted
        leads are also read by their opportunity's SystemModstamp; the two
        ordered streams are merged, keeping the feed ordered by change time.
        """
        self._describe_all([object_name, *PERSON_OBJECTS])  # read_people needs them too
        columns, deal = self._verdict_columns(object_name, key_field, fields)
        head = f"SELECT {', '.join(columns)} FROM {object_name} WHERE "
        if since is None:  # a first read: every record under our key
            return self._changes(self._later(f"{head}{key_field} != null "
                                             "ORDER BY SystemModstamp, Id"), key_field, deal)
        # then every record changed, under our key or not: a rep may merge our record
        # into their own, which has no key, and its leads follow it
        after = f" >= {soql_datetime(since)}"
        own = self._changes(self._later(f"{head}SystemModstamp{after} "
                                        "ORDER BY SystemModstamp, Id"), key_field, deal)
        if deal is None:
            return own
        deals = self._changes(self._later(f"{head}{deal}.SystemModstamp{after} "
                                          f"ORDER BY {deal}.SystemModstamp, Id"),
                              key_field, deal, stamp_of=deal)
        return heapq.merge(own, deals, key=lambda change: change.modified_at)

    def _verdict_columns(self, object_name: str, key_field: str, fields: Sequence[str]
                         ) -> tuple[list[str], str | None]:
        """The columns a verdict is read from, and the converted opportunity's
        relationship (None where the object converts into none)."""
        schema = self.describe(object_name)
        extra = [f for f in CLOSED_LOOP_FIELDS if schema.field(f)]
        deal = "ConvertedOpportunity" if schema.field("ConvertedOpportunityId") else None
        return list(dict.fromkeys(["Id", key_field, *fields, *extra, "SystemModstamp",
                                   *(f"{deal}.{f}" for f in DEAL_FIELDS if deal)])), deal

    def read_verdicts(self, object_name: str, key_field: str, keys: Sequence[str],
                      fields: Sequence[str]) -> list[Change]:
        """``read_by_keys`` (as few queries as the URL allows) with the columns
        ``read_changes`` reads."""
        columns, deal = self._verdict_columns(object_name, key_field, fields)
        records = self.read_by_keys(object_name, key_field, keys, columns)
        return list(self._changes((record.fields for record in records), key_field, deal))

    def _changes(self, rows: Iterator[dict[str, Any]], key_field: str, deal: str | None, *,
                 stamp_of: str | None = None) -> Iterator[Change]:
        for row in rows:
            opportunity = row.pop(deal, None) if deal else None
            stamp = (opportunity if stamp_of else row)["SystemModstamp"]
            yield Change(
                crm_id=row["Id"], key=row.get(key_field), fields=row,
                modified_at=sf_datetime(stamp), owner_id=row.get("OwnerId"),
                converted=bool(row.get("IsConverted")),
                deal=Deal(crm_id=row.get("ConvertedOpportunityId") or "",
                          stage=opportunity.get("StageName"), amount=opportunity.get("Amount"),
                          closed=bool(opportunity.get("IsClosed")),
                          won=bool(opportunity.get("IsWon"))) if opportunity else None)


# Salesforce field → the marketing name matching compares on
PERSON_FIELDS = {"FirstName": "first_name", "LastName": "last_name", "Email": "email",
                 "Phone": "phone", "MobilePhone": "mobile_phone", "Company": "company",
                 "Title": "title", "Street": "street", "City": "city", "State": "state",
                 "PostalCode": "postal_code", "Country": "country", "Website": "website",
                 "MailingStreet": "street", "MailingCity": "city", "MailingState": "state",
                 "MailingPostalCode": "postal_code", "MailingCountry": "country"}
ACCOUNT_FIELDS = ("Id", "Name", "Website", "Phone", "OwnerId", "BillingStreet", "BillingCity",
                  "BillingPostalCode", "BillingCountry")
PERSON_OBJECTS = ("Lead", "Contact")
"""Described together, in one request, by the first change feed of a run."""
DESCRIBE_TTL_S = 3600
"""How long a describe is trusted before it is asked again."""
BULK_READ_FROM = 10_000
"""Records of one object from which a full read is a Bulk API 2.0 query job rather
than REST pages of 2,000 (about four calls for a job of any size)."""
BULK_QUERY_PAGE = 100_000
"""Rows per page of a Bulk query job's results (``maxRecords``)."""
COMPOSITE_QUERIES = 5
"""Query subrequests Salesforce allows in one composite request."""


def _person_fields(schema: ObjectSchema, key_field: str) -> list[str]:
    wanted = ["Id", *PERSON_FIELDS, "OwnerId", "IsConverted", key_field, "AccountId"]
    fields = [f for f in wanted if schema.field(f)]
    if schema.field("AccountId"):
        fields += ["Account.Name", "Account.OwnerId", "Account.Website"]
    return fields


def _or_queries(head: str, terms: list[str], tail: str = "") -> Iterator[str]:
    """``head (t1 OR t2 ...) tail`` queries, as few as fit the URL budget."""
    budget = QUERY_URL_BUDGET - len(quote_plus(head + "()" + tail))
    chunk: list[str] = []
    size = 0
    for term in terms:
        cost = len(quote_plus(term + " OR "))
        if chunk and size + cost > budget:
            yield f"{head}({' OR '.join(chunk)}){tail}"
            chunk, size = [], 0
        chunk.append(term)
        size += cost
    if chunk:
        yield f"{head}({' OR '.join(chunk)}){tail}"


TASK_FIELDS = ("Id", "WhoId", "WhatId", "Subject", "Status", "ActivityDate",
               "CompletedDateTime", "CreatedDate", "TaskSubtype", "Type", "CallDisposition",
               "Description", "OwnerId")
"""What the rep's task tells of an earlier Task (those the org has: ``describe``)."""
TASK_CHANNELS = {"Call": "call", "Email": "email", "ListEmail": "email",
                 "LinkedIn": "linkedin", "Meeting": "meeting"}
"""TaskSubtype (how the task was made: Log a Call, an email sent from Salesforce) and
Type (what the rep picked) → channel; anything else is a task."""
TASK_PRIORITY = {"high": "High", "normal": "Normal", "low": "Low"}
EVENT_FIELDS = ("Id", "WhoId", "WhatId", "Subject", "ActivityDateTime", "ActivityDate",
                "IsAllDayEvent", "Type", "Location", "Description", "OwnerId")
"""What the rep's task tells of an earlier Event (a meeting the rep logged or booked)."""


def _task_touch(crm_id: str, row: dict[str, Any]) -> Touch:
    subtype, kind = row.get("TaskSubtype"), row.get("Type")
    channel = TASK_CHANNELS.get(subtype or "") or TASK_CHANNELS.get(kind or "") or "task"
    return Touch(crm_id=crm_id, at=_task_time(row), who=(row.get("Owner") or {}).get("Name"),
                 what=row.get("Subject") or "", outcome=row.get("CallDisposition")
                 or row.get("Status"), channel=channel, notes=row.get("Description") or None,
                 activity_id=row.get("Id"), who_id=row.get("OwnerId"))


def _event_touch(crm_id: str, row: dict[str, Any]) -> Touch:
    """A meeting, at its start (an all-day event at 00:00 UTC of its day): one still to
    come is only booked, and SLA clocks take no touch dated after their run."""
    at = sf_datetime(row["ActivityDateTime"]) if row.get("ActivityDateTime") else None
    if at is None and row.get("ActivityDate"):
        day = date.fromisoformat(row["ActivityDate"])
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Touch(crm_id=crm_id, at=at, who=(row.get("Owner") or {}).get("Name"),
                 what=row.get("Subject") or "", channel="meeting",
                 notes=row.get("Description") or None, activity_id=row.get("Id"),
                 who_id=row.get("OwnerId"))


def _task_time(row: dict[str, Any]) -> datetime | None:
    """When a task happened: its date (ActivityDate: the day of a logged call, a to-do's
    due day), at the time it was closed when that was the same day (CompletedDateTime);
    the closing time when it has no date; its creation only when it has neither."""
    done = sf_datetime(row["CompletedDateTime"]) if row.get("CompletedDateTime") else None
    if row.get("ActivityDate"):
        day = date.fromisoformat(row["ActivityDate"])
        if done is not None and done.date() == day:
            return done
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if done is not None:
        return done
    return sf_datetime(row["CreatedDate"]) if row.get("CreatedDate") else None


def _candidate(kind: str, sobject: str, row: dict[str, Any], key_field: str) -> Candidate:
    account = row.get("Account") or {}
    if kind == "account":
        fields = {"company": row.get("Name"), "website": row.get("Website"),
                  "phone": row.get("Phone"), "street": row.get("BillingStreet"),
                  "city": row.get("BillingCity"), "postal_code": row.get("BillingPostalCode"),
                  "country": row.get("BillingCountry")}
        return Candidate("account", "Account", row["Id"], fields, owner_id=row.get("OwnerId"),
                         account_id=row["Id"], account_name=row.get("Name"),
                         account_owner_id=row.get("OwnerId"))
    fields: dict[str, Any] = {}
    for api, name in PERSON_FIELDS.items():
        if row.get(api) is not None:
            fields.setdefault(name, row[api])
    phones = [row[f] for f in ("Phone", "MobilePhone") if row.get(f)]
    fields.pop("mobile_phone", None)
    if phones:
        fields["phone"] = phones if len(phones) > 1 else phones[0]
    if account.get("Name") and "company" not in fields:
        fields["company"] = account["Name"]
    if account.get("Website") and "website" not in fields:
        fields["website"] = account["Website"]
    kind = "contact" if sobject == "Contact" else kind
    return Candidate(kind, sobject, row["Id"], fields, key=row.get(key_field),
                     owner_id=row.get("OwnerId"), account_id=row.get("AccountId"),
                     account_name=account.get("Name"), account_owner_id=account.get("OwnerId"),
                     converted=bool(row.get("IsConverted")))


def _schema(raw: dict[str, Any]) -> ObjectSchema:
    fields = {}
    for item in raw["fields"]:
        fields[item["name"]] = FieldSchema(
            name=item["name"], type=item["type"], label=item.get("label", ""),
            length=item.get("length") or None,
            required=not item.get("nillable", True)
            and not item.get("defaultedOnCreate", False)
            and item.get("createable", False),
            createable=item.get("createable", False),
            updateable=item.get("updateable", False),
            external_id=item.get("externalId", False), unique=item.get("unique", False),
            picklist=tuple(p["value"] for p in item.get("picklistValues") or ()
                           if p.get("active", True)),
            restricted=item.get("restrictedPicklist", False))
    return ObjectSchema(raw["name"], fields)


def _person_change(kind: str, sobject: str, row: dict[str, Any],
                   key_field: str) -> PersonChange:
    deleted = bool(row.get("IsDeleted"))
    return PersonChange(_candidate(kind, sobject, row, key_field),
                        sf_datetime(row["SystemModstamp"]),
                        removed=deleted or bool(row.get("IsConverted")), deleted=deleted,
                        merged_into=row.get("MasterRecordId") or None)


def _nested(row: dict[str, str]) -> dict[str, Any]:
    """A Bulk API CSV row as the REST API shapes it: empty cells are null, and
    ``Account.Name`` is ``{"Account": {"Name": ...}}``."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        cell: Any = value if value != "" else None
        if cell in ("true", "false") and column.split(".")[-1].startswith("Is"):
            cell = cell == "true"
        head, dot, tail = column.partition(".")
        if dot:
            out.setdefault(head, {})[tail] = cell
        else:
            out[column] = cell
    return out


CLOSED_LOOP_FIELDS = ("OwnerId", "IsConverted", "ConvertedOpportunityId")
DEAL_FIELDS = ("StageName", "Amount", "IsClosed", "IsWon", "SystemModstamp")


def _bulk_api(client: Salesforce, object_name: str) -> _Bulk2Client:
    """The client's own Bulk 2.0 requests, built on the current session (a re-login
    replaces the session id, so it is never cached across calls)."""
    return _Bulk2Client(object_name, client.bulk2_url,
                        {"Authorization": f"Bearer {client.session_id}"}, client.session)


def _already_there(result: WriteResult, key_field: str) -> bool:
    """An insert refused as a duplicate: most likely a record with this external id
    exists. Salesforce's wording varies (``fields`` is often empty, the message may
    say ``<unknown>``), so any DUPLICATE_VALUE goes on to the upsert by key, which
    updates that record or, if another unique field collided, says so itself."""
    return not result.ok and any(e.code == "DUPLICATE_VALUE" for e in result.errors)


_FIELD_LIST = re.compile(r"[A-Za-z0-9_]+(?:,[A-Za-z0-9_]+)*")


def bulk_errors(text: str) -> list[RecordError]:
    """A Bulk API ``sf__Error`` cell, ``CODE:message:Field1,Field2 --``, as record errors."""
    code, _, rest = text.strip().removesuffix("--").strip().partition(":")
    message, _, tail = rest.rpartition(":")
    if message and (tail == "" or _FIELD_LIST.fullmatch(tail.strip())):
        return [RecordError(code or "UNKNOWN", message.strip(),
                            [f for f in tail.strip().split(",") if f])]
    return [RecordError(code or "UNKNOWN", rest.strip())]


BULK_UPLOAD_BYTES = 90_000_000
"""Bulk API 2.0 takes at most 150 MB of base64-encoded CSV (about 100 MB raw) per job."""


def _csv_value(value: Any) -> str:
    if value is None or value == "":
        return "#N/A"  # Bulk API's null; an empty cell would leave the field as it is
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_chunks(rows: list[dict[str, Any]],
                key_field: str) -> Iterator[tuple[list[str], str]]:
    """(keys, CSV text) per upload, each under BULK_UPLOAD_BYTES, all with one header."""
    columns = list(dict.fromkeys([key_field, *(k for row in rows for k in row)]))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)
    buffer, keys, size = io.StringIO(), [], 0
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\n")
    for row in rows:
        line.seek(0)
        line.truncate()
        writer.writerow([_csv_value(row[c]) if c in row else "" for c in columns])
        text = line.getvalue()
        length = len(text.encode())  # the cap is in bytes; StringIO counts characters
        if keys and size + length > BULK_UPLOAD_BYTES:
            yield keys, header.getvalue() + buffer.getvalue()
            buffer, keys, size = io.StringIO(), [], 0
        buffer.write(text)
        size += length
        keys.append(str(row[key_field]))
    if keys:
        yield keys, header.getvalue() + buffer.getvalue()


@contextmanager
def open_salesforce(config: Config, *, credentials: Mapping[str, str] | None = None
                    ) -> Iterator[SalesforceAdapter]:
    """The adapter for one run: credentials as given (the wiring's, for a sandbox it
    started), else from the environment variables config.toml names."""
    settings = config.crm.salesforce
    assert settings is not None
    if credentials is None:
        credentials = {"password": secret(settings.password_env,
                                          what="crm.salesforce.password_env").get_secret_value(),
                       "security_token": secret(settings.security_token_env,
                                                fallback="").get_secret_value()}
        if settings.auth != "soap":
            for name, env in (("consumer_key", settings.consumer_key_env),
                              ("consumer_secret", settings.consumer_secret_env)):
                credentials[name] = secret(env, what=f"crm.salesforce.{name}_env"
                                           ).get_secret_value()
    adapter = SalesforceAdapter(settings, password=credentials["password"],
                                security_token=credentials.get("security_token", ""),
                                consumer_key=credentials.get("consumer_key"),
                                consumer_secret=credentials.get("consumer_secret"))
    try:
        yield adapter
    finally:
        adapter.close()


register_crm("salesforce", open_salesforce)


def _history_object(object_name: str) -> tuple[str, str]:
    """The field history object of ``object_name`` and its parent id field: LeadHistory
    (LeadId), Opportunity's OpportunityFieldHistory, a custom object's X__History."""
    if object_name.endswith("__c"):
        return f"{object_name[:-3]}__History", "ParentId"
    if object_name == "Opportunity":
        return "OpportunityFieldHistory", "OpportunityId"
    return f"{object_name}History", f"{object_name}Id"


def _text_or_none(value: Any) -> str | None:
    """A history value (anyType): None stays None, anything else as text."""
    return None if value is None else str(value)


"""Bulk API 2.0 query: ``/services/data/vXX.X/jobs/query``.

How a client reads a large object in a few calls: it creates a job with a
SOQL query (``UploadComplete`` at once, nothing to upload), polls it through
``InProgress`` to ``JobComplete`` and then pages through the results as CSV,
``maxRecords`` rows at a time, following the ``Sforce-Locator`` header until
it reads the literal string ``null``. ``queryAll`` adds deleted and merged
records, as the REST ``queryAll`` does.

Without threads, as for ingest (``bulk.py``): the query runs on the first
poll, against the org as it is then, and the job answers ``InProgress``
until the shared ``Pace`` says a job of that many records is done. Rows
are kept as the REST query projects them and written as CSV a page at a
time, so a 1,000,000-row job's first poll pays for the query only.

What mirrors Salesforce, because clients parse it:

* the query is parsed and bound when the job is created, so a bad one is a
  400 with the REST query's error list (MALFORMED_QUERY, INVALID_FIELD,
  INVALID_TYPE, the caret banner); what Bulk API 2.0 documents as
  unsupported in a query job (aggregate functions such as COUNT(), OFFSET)
  is a 400 too. GROUP BY, TYPEOF and parent-to-child subqueries, also
  unsupported there, are already MALFORMED_QUERY in the sandbox's SOQL;
* job info keys in the documented order (``jobType`` ``V2Query`` on a poll,
  ``numberRecordsProcessed``, ``retries``, ``totalProcessingTime`` in ms);
* results: a header row of the selected paths (``Account.Name`` for a
  relationship), every value quoted, null as an empty value, booleans
  ``true``/``false``, datetimes in ``Z`` form; headers ``Sforce-Locator``
  (an opaque string, base64 of the offset as API 49.0+ locators look, and
  ``null`` on the last page) and ``Sforce-NumberOfRecords``.

Wording the sandbox could not check against a real org, kept in one place
below: the errorCode and text for unsupported query features, for results
asked of an unfinished job, and for a bad ``maxRecords`` or locator.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import planner, soql
from .bulk import (
    DELIMITERS,
    JOB_PREFIX,
    LINE_ENDINGS,
    Pace,
    RawBody,
    Route,
    Stopwatch,
    finished,
)
from .errors import ApiError, SoqlError, method_not_allowed, not_found
from .schema import format_datetime
from .store import Org

if TYPE_CHECKING:
    from .server import SalesforceApp, _Context

OPERATIONS = ("query", "queryAll")
DEFAULT_PAGE_ROWS = 50_000
"""Rows in a page when the client sends no ``maxRecords``; Salesforce cuts pages
by size instead, and simple-salesforce asks for 50,000 by default."""
DONE = ("JobComplete", "Aborted", "Failed")

# Wording not checked against a real org (see the module doc).
UNSUPPORTED_CODE = "FUNCTIONALITY_NOT_ENABLED"
UNSUPPORTED_AGGREGATE = "Aggregate queries are not supported in Bulk API 2.0 query jobs"
UNSUPPORTED_OFFSET = "OFFSET is not supported in Bulk API 2.0 query jobs"


@dataclass
class QueryJob:
    id: str
    operation: str
    bound: soql.BoundQuery
    line_ending: str
    delimiter: str
    created_by: str
    created_date: str
    api_version: str
    stopwatch: Stopwatch
    polls_left: int
    state: str = "UploadComplete"
    modstamp: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)  # projected, as REST has them

    @property
    def object(self) -> str:
        return self.bound.sobject.name

    @property
    def records(self) -> int:
        return len(self.rows)

    def info(self, pace: Pace, *, listed: bool = False, full: bool = False) -> dict[str, Any]:
        """Job info as created (neither flag), as listed, or as polled (``full``)."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
        }
        if listed or full:
            out["jobType"] = "V2Query"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.delimiter
        if full:
            processed, milliseconds = self._progress(pace)
            out.update(
                {
                    "numberRecordsProcessed": processed,
                    "retries": 0,
                    "totalProcessingTime": milliseconds,
                    "isPkChunkingSupported": True,
                }
            )
        return out

    def _progress(self, pace: Pace) -> tuple[int, int]:
        if self.state == "InProgress":
            elapsed = self.stopwatch.elapsed()
            return pace.progress(self.records, elapsed), int(elapsed * 1000)
        if self.state == "JobComplete":
            return self.records, int(pace.seconds(self.records) * 1000)
        return 0, 0


class BulkQuery:
    """The org's Bulk API 2.0 query jobs (in memory, like ingest jobs)."""

    def __init__(self, org: Org, clock: Callable[[], datetime], pace: Pace) -> None:
        self.org = org
        self.clock = clock
        self.pace = pace
        self.jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()

    def handle(self, app: SalesforceApp, ctx: _Context, path: list[str]) -> Route:
        """Route ``jobs/query[/{id}[/results]]``."""
        method = ctx.request.method
        if not path:
            if method == "POST":
                return 200, self.create(app, ctx), {}
            if method == "GET":
                jobs = [j.info(self.pace, listed=True) for j in list(self.jobs.values())]
                return 200, {"done": True, "records": jobs, "nextRecordsUrl": None}, {}
            raise method_not_allowed(method, ["GET", "POST"])
        job = self.jobs.get(path[0])
        if job is None:
            raise not_found()
        if len(path) == 1:
            if method == "GET":
                return 200, self.poll(job, ctx.user_id, app.record_url(ctx.version)), {}
            if method == "PATCH":
                body, _raw = app.body(ctx)
                return 200, self.abort(job, str(body.get("state") or "")), {}
            if method == "DELETE":
                self.delete(job)
                return 204, None, {}
            raise method_not_allowed(method, ["GET", "PATCH", "DELETE"])
        if len(path) == 2 and path[1] == "results":
            if method != "GET":
                raise method_not_allowed(method, ["GET"])
            return self.results(job, ctx.request.args)
        raise not_found()

    # --- job lifecycle ------------------------------------------------------------

    def create(self, app: SalesforceApp, ctx: _Context) -> dict[str, Any]:
        body, _raw = app.body(ctx)
        operation = str(body.get("operation") or "")
        if operation not in OPERATIONS:
            raise ApiError.one(400, "INVALIDJOB", f"Invalid operation: {operation or 'null'}")
        line_ending = str(body.get("lineEnding") or "LF")
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise ApiError.one(
                400,
                "JSON_PARSER_ERROR",
                f"Invalid lineEnding or columnDelimiter: {line_ending}, {delimiter}",
            )
        if str(body.get("contentType") or "CSV") != "CSV":
            raise ApiError.one(400, "INVALIDJOB", "Unsupported content type: only CSV is supported")
        text = str(body.get("query") or "")
        job = QueryJob(
            id=self.org.mint_id(JOB_PREFIX),
            operation=operation,
            bound=self._bind(app, ctx, text),
            line_ending=line_ending,
            delimiter=delimiter,
            created_by=ctx.user_id,
            created_date=self._now(),
            api_version=ctx.version,
            stopwatch=Stopwatch(self.clock),
            polls_left=self.pace.in_progress_polls,
        )
        with self._lock:
            self.jobs[job.id] = job
        return job.info(self.pace)

    def poll(
        self, job: QueryJob, user_id: str, record_url: Callable[[str, str], str]
    ) -> dict[str, Any]:
        """Job info; the first poll runs the query (see the module doc)."""
        if job.state == "UploadComplete":
            self.run(job, record_url)
            job.state = "InProgress"
        elif job.state == "InProgress":
            job.polls_left -= 1
        if job.state == "InProgress" and finished(
            self.pace, job.stopwatch, job.polls_left, job.records
        ):
            job.state = "JobComplete"
        job.modstamp = self._now()
        return job.info(self.pace, full=True)

    def abort(self, job: QueryJob, state: str) -> dict[str, Any]:
        if state != "Aborted" or job.state not in ("UploadComplete", "InProgress"):
            raise ApiError.one(
                400,
                "INVALIDJOBSTATE",
                f"Cannot change the state of job {job.id} from {job.state} to {state or 'null'}",
            )
        job.state, job.modstamp, job.rows = "Aborted", self._now(), []
        return job.info(self.pace)

    def delete(self, job: QueryJob) -> None:
        if job.state not in DONE:
            raise ApiError.one(
                400, "INVALIDJOBSTATE", f"Cannot delete job {job.id} in state {job.state}"
            )
        with self._lock:
            self.jobs.pop(job.id, None)

    # --- the query and its CSV ------------------------------------------------------

    def run(self, job: QueryJob, record_url: Callable[[str, str], str]) -> None:
        """Run the bound query once; its rows become CSV a page at a time, when read."""
        _total, job.rows = planner.select(
            self.org,
            job.bound,
            include_deleted=job.operation == "queryAll",
            record_url=record_url,
        )

    def results(self, job: QueryJob, args: Any) -> Route:
        if job.state != "JobComplete":
            raise ApiError.one(
                400,
                "INVALIDJOBSTATE",
                f"Cannot get results of job {job.id} in state {job.state}; wait for JobComplete",
            )
        start = _offset(args.get("locator"), job.records)
        size = _max_records(args.get("maxRecords"))
        end = min(start + size, job.records)
        body = _csv(job, job.rows[start:end])
        headers = {
            "Sforce-Locator": _locator(end) if end < job.records else "null",
            "Sforce-NumberOfRecords": str(end - start),
        }
        return 200, RawBody(body), headers

    def _bind(self, app: SalesforceApp, ctx: _Context, text: str) -> soql.BoundQuery:
        """Parse and bind as the REST query does; then refuse what Bulk query cannot run."""
        now = self.clock()
        try:
            query = soql.parse(text)
            bound = soql.bind(
                query,
                self.org.schema,
                now=now if now.tzinfo else now.replace(tzinfo=UTC),
                zone=app.user_zone(ctx.user_id),
            )
        except SoqlError as exc:
            raise exc.to_api_error(text) from None
        if bound.count:
            raise ApiError.one(400, UNSUPPORTED_CODE, UNSUPPORTED_AGGREGATE)
        if query.offset is not None:
            raise ApiError.one(400, UNSUPPORTED_CODE, UNSUPPORTED_OFFSET)
        return bound

    def _now(self) -> str:
        return format_datetime(self.clock())


def _csv(job: QueryJob, records: list[dict[str, Any]]) -> str:
    """A page: the header of selected paths, then one row a record, every value quoted."""
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=DELIMITERS[job.delimiter],
        quoting=csv.QUOTE_ALL,
        lineterminator=LINE_ENDINGS[job.line_ending],
    )
    fields = job.bound.fields
    writer.writerow([".".join(f.names) for f in fields])
    writer.writerows([_cell(_value(record, f)) for f in fields] for record in records)
    return out.getvalue()


def _value(record: dict[str, Any], bound: soql.BoundField) -> Any:
    """A selected path's value in a projected record (``Owner.Name`` reads the nested one)."""
    if bound.reference is None:
        return record.get(bound.leaf.name)
    parent = record.get(bound.names[0])
    return parent.get(bound.leaf.name) if isinstance(parent, dict) else None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if len(text) == 28 and text.endswith("+0000") and text[10] == "T":
        return text[:-5] + "Z"  # Bulk's CSV writes UTC datetimes with Z, REST with +0000
    return text


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None, records: int) -> int:
    if not locator:
        return 0
    try:
        raw = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raw = ""
    if not raw.isdigit() or int(raw) > records:
        raise ApiError.one(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return int(raw)


def _max_records(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_ROWS
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError.one(
            400, "INVALID_QUERY_LOCATOR", f"maxRecords must be a positive integer: {raw}"
        )
    return int(raw)

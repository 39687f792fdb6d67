"""Bulk API 2.0 ingest: ``/services/data/vXX.X/jobs/ingest``.

A job is created (``Open``), gets one CSV upload, is closed
(``UploadComplete``) and is then processed asynchronously; clients poll the
job until ``JobComplete`` (or ``Failed``) and then read three CSV result
sets. The sandbox keeps that shape without threads: a closed job is
processed on the first poll after ``UploadComplete`` and then answers
``InProgress`` until its modelled processing time (``Pace``: a base plus a
cost per record) has passed and it has answered ``in_progress_polls`` polls,
so a big job is polled many times, as against a real org. A client that
never polls never sees its records written, as with the real service.
Query jobs (``bulk_query.py``) share the pace.

What mirrors Salesforce, because clients parse it:

* job info keys and values (``apiVersion`` a number, ``contentUrl`` relative,
  ``jobType`` ``V2Ingest``, ``errorMessage`` only on a failed job);
* result CSVs: ``"sf__Id","sf__Created"`` / ``"sf__Id","sf__Error"`` then the
  uploaded columns, every value quoted; an error reads
  ``CODE:message:Field1,Field2 --`` (``CODE:message:--`` without fields);
* ``#N/A`` sets a field to null, an empty cell leaves it alone;
* a header naming an unknown field fails the whole job
  (``InvalidBatch : Field name not found : X``), as does a line ending other
  than the job's;
* upsert rows sharing an external id within one 200-row chunk all fail with
  ``DUPLICATE_VALUE``, as Salesforce's chunked processing does.

Each row is written through ``writes`` (the REST path's validation), under
one hold of the org lock; 100,000 rows take seconds, not minutes, because
the store's unique and external-id look-ups are indexed.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import writes
from .errors import ApiError, method_not_allowed, not_found
from .schema import SObject, coerce, format_datetime
from .store import Org

if TYPE_CHECKING:
    from .server import SalesforceApp, _Context

JOB_PREFIX = "750"
CHUNK = 200
NULL = "#N/A"
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
DELIMITERS = {
    "COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`",
}  # fmt: skip
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
CSV_TYPE = "text/csv"

Route = tuple[int, Any, dict[str, str]]

DEFAULT_BASE_SECONDS = 0.0
"""A real job waits in Salesforce's queue for seconds to minutes; the sandbox's
default is no wait, so a small job in a test or the demo ends on its next poll."""
DEFAULT_SECONDS_PER_RECORD = 0.000025
"""25 µs a record: 200 records take 5 ms, 1,000,000 take 25 s, the order of
magnitude a real org shows for a large extract."""


@dataclass
class Pace:
    """How long the sandbox takes over a Bulk job, ingest or query alike.

    A job of N records is done ``base_seconds + N * seconds_per_record``
    after it was queued (closed, for ingest; created, for a query), and not
    before it has answered ``in_progress_polls`` polls ``InProgress``.
    """

    base_seconds: float = DEFAULT_BASE_SECONDS
    seconds_per_record: float = DEFAULT_SECONDS_PER_RECORD
    in_progress_polls: int = 1

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.seconds_per_record < 0:
            raise ValueError("Bulk processing times must not be negative")

    def seconds(self, records: int) -> float:
        return self.base_seconds + records * self.seconds_per_record

    def progress(self, records: int, elapsed: float) -> int:
        """Records processed ``elapsed`` seconds after queueing (numberRecordsProcessed)."""
        working = elapsed - self.base_seconds
        if working <= 0:
            return 0
        if self.seconds_per_record == 0:
            return records
        return min(records, int(working / self.seconds_per_record))


class Stopwatch:
    """Seconds since a job was queued: the further ahead of the org's clock and the machine's.

    The org's clock is what a test moves (``FakeClock.advance``) to finish a
    slow job without sleeping; the machine's monotonic clock keeps a job
    moving when a test froze the org's clock for its timestamps and a real
    client (simple-salesforce's ``wait_for_job``) polls in real time.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._org_start = clock()
        self._machine_start = time.monotonic()

    def elapsed(self) -> float:
        org = (self._clock() - self._org_start).total_seconds()
        return max(org, time.monotonic() - self._machine_start)


@dataclass(frozen=True)
class RawBody:
    """A non-JSON response body (the result CSVs); the server sends it as is."""

    data: str
    content_type: str = CSV_TYPE


@dataclass
class _Outcome:
    success: bool
    record_id: str
    detail: str  # "true"/"false" (created) for a success, the error text for a failure
    row: list[str]


@dataclass
class Job:
    id: str
    operation: str
    object: str
    external_id: str | None
    line_ending: str
    delimiter: str
    created_by: str
    created_date: str
    api_version: str
    state: str = "Open"
    modstamp: str = ""
    uploads: list[bytes] = field(default_factory=list)
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    outcomes: list[_Outcome] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    polls_left: int = 0
    processed: bool = False
    stopwatch: Stopwatch | None = None
    pace: Pace | None = None

    def info(self, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
        }
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        out.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(self.api_version),
            }
        )
        if full:
            out["jobType"] = "V2Ingest"
        if self.state == "Open":
            out["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.delimiter
        if full:
            processed, milliseconds = self._progress()
            failed = sum(1 for o in self.outcomes[:processed] if not o.success)
            out.update(
                {
                    "numberRecordsProcessed": processed,
                    "numberRecordsFailed": failed,
                    "retries": 0,
                    "totalProcessingTime": milliseconds,
                    "apiActiveProcessingTime": milliseconds,
                    "apexProcessingTime": 0,
                }
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out

    def _progress(self) -> tuple[int, int]:
        """(records processed, processing milliseconds) as the pace has it now."""
        records = len(self.outcomes)
        if self.pace is None or self.stopwatch is None:
            return records, 0
        if self.state == "InProgress":
            elapsed = self.stopwatch.elapsed()
            return self.pace.progress(records, elapsed), int(elapsed * 1000)
        return records, int(self.pace.seconds(records) * 1000)


class BulkIngest:
    """The org's Bulk API 2.0 ingest jobs (kept in memory, not in the state file)."""

    def __init__(self, org: Org, clock: Callable[[], datetime], pace: Pace) -> None:
        self.org = org
        self.clock = clock
        self.pace = pace
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # --- routing ------------------------------------------------------------

    def handle(self, app: SalesforceApp, ctx: _Context, path: list[str]) -> Route:
        """Route ``jobs/ingest[/{id}[/batches|/successfulResults|...]]``."""
        method = ctx.request.method
        if not path:
            if method == "POST":
                return 200, self.create(app, ctx), {}
            if method == "GET":
                jobs = [j.info(full=True) for j in self.jobs.values()]
                return 200, {"done": True, "records": jobs, "nextRecordsUrl": None}, {}
            raise method_not_allowed(method, ["GET", "POST"])
        job = self.jobs.get(path[0])
        if job is None:
            raise not_found()
        if len(path) == 1:
            if method == "GET":
                return 200, self.poll(job), {}
            if method == "PATCH":
                body, _raw = app.body(ctx)
                return 200, self.set_state(job, str(body.get("state", ""))), {}
            if method == "DELETE":
                self.delete(job)
                return 204, None, {}
            raise method_not_allowed(method, ["GET", "PATCH", "DELETE"])
        if len(path) == 2:
            resource = path[1].lower()
            if resource == "batches":
                if method != "PUT":
                    raise method_not_allowed(method, ["PUT"])
                self.upload(job, ctx.request.get_data())
                return 201, None, {}
            if method != "GET":
                raise method_not_allowed(method, ["GET"])
            if resource == "successfulresults":
                return 200, RawBody(self.successful(job)), {}
            if resource == "failedresults":
                return 200, RawBody(self.failed(job)), {}
            if resource == "unprocessedrecords":
                return 200, RawBody(self.unprocessed_csv(job)), {}
        raise not_found()

    # --- job lifecycle ------------------------------------------------------------

    def create(self, app: SalesforceApp, ctx: _Context) -> dict[str, Any]:
        body, _raw = app.body(ctx)
        name = str(body.get("object") or "")
        operation = str(body.get("operation") or "")
        sobject = app.schema.get(name)
        if operation not in OPERATIONS:
            raise _invalid_job(f"Invalid operation: {operation or 'null'}")
        if sobject is None:
            raise _invalid_job(f"Unable to find object: {name}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external:
                raise _invalid_job(
                    f"External ID was blank for {sobject.name}. An External ID must be "
                    "specified for upsert."
                )
            f = sobject.field(str(external))
            if f is None or not (f.external_id or f.name == "Id"):
                raise _invalid_job(
                    f"Field name provided, {external} does not match an External ID, Salesforce "
                    f"Id, or indexed field for {sobject.name}"
                )
            external = f.name
        else:
            external = None
        line_ending = str(body.get("lineEnding") or "LF")
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise ApiError.one(
                400,
                "JSON_PARSER_ERROR",
                f"Invalid lineEnding or columnDelimiter: {line_ending}, {delimiter}",
            )
        if str(body.get("contentType") or "CSV") != "CSV":
            raise _invalid_job("Unsupported content type: only CSV is supported")
        job = Job(
            id=self.org.mint_id(JOB_PREFIX),
            operation=operation,
            object=sobject.name,
            external_id=external,
            line_ending=line_ending,
            delimiter=delimiter,
            created_by=ctx.user_id,
            created_date=self._now(),
            api_version=ctx.version,
        )
        with self._lock:
            self.jobs[job.id] = job
        return job.info(full=False)

    def upload(self, job: Job, data: bytes) -> None:
        if job.state != "Open":
            raise ApiError.one(
                409, "INVALIDJOBSTATE", f"Unable to upload data: the job is in state {job.state}"
            )
        job.uploads.append(data)

    def set_state(self, job: Job, state: str) -> dict[str, Any]:
        if state == "UploadComplete" and job.state == "Open":
            if len(job.uploads) > 1:
                raise _invalid_job(
                    f"Found multipe contents for job: <{job.id}>, please 'Close' / 'Abort' / "
                    "'Delete' the current Job then create a new Job and make sure you only do "
                    "'PUT' once on a given Job."
                )
            job.state = "UploadComplete"
            job.polls_left = self.pace.in_progress_polls
            job.stopwatch, job.pace = Stopwatch(self.clock), self.pace
        elif state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
            if not job.processed:
                job.header, job.unprocessed = _split_upload(job)
        else:
            raise ApiError.one(
                400,
                "INVALIDJOBSTATE",
                f"Cannot change the state of job {job.id} from {job.state} to {state or 'null'}",
            )
        job.modstamp = self._now()
        return job.info(full=False)

    def poll(self, job: Job) -> dict[str, Any]:
        """Job info; the poll is what moves a closed job along (see the module doc)."""
        if job.state == "UploadComplete":
            self.process(job)  # may fail the job outright
            if job.state == "UploadComplete":
                job.state = "InProgress"
        elif job.state == "InProgress":
            job.polls_left -= 1
        if job.state == "InProgress" and finished(
            self.pace, job.stopwatch, job.polls_left, len(job.outcomes)
        ):
            job.state = "JobComplete"
        job.modstamp = self._now()
        return job.info(full=True)

    def delete(self, job: Job) -> None:
        if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
            raise ApiError.one(
                400, "INVALIDJOBSTATE", f"Cannot delete job {job.id} in state {job.state}"
            )
        with self._lock:
            self.jobs.pop(job.id, None)

    # --- processing ------------------------------------------------------------

    def process(self, job: Job) -> None:
        """Write every row; a bad upload fails the job as a whole instead."""
        job.processed = True
        header, rows, problem = _parse(job)
        job.header = header
        sobject = self.org.schema.get(job.object)
        assert sobject is not None
        if problem is None:
            problem = _check_header(sobject, job, header)
        if problem is not None:
            job.state, job.error_message, job.unprocessed = "Failed", problem, rows
            return
        key_field = sobject.field(job.external_id) if job.external_id else None
        with self.org.lock:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                duplicated: set[Any] = set()
                if key_field is not None and key_field.name != "Id":
                    column = _column(header, key_field.name)
                    duplicated = writes.duplicate_keys(key_field, (r[column] for r in chunk))
                for row in chunk:
                    job.outcomes.append(self._row(job, sobject, header, row, duplicated))

    def _row(
        self, job: Job, sobject: SObject, header: list[str], row: list[str], duplicated: set[Any]
    ) -> _Outcome:
        body: dict[str, Any] = {}
        for name, value in zip(header, row, strict=False):
            if value != "":
                body[name] = None if value == NULL else value
        user_id = job.created_by
        try:
            if job.operation == "insert":
                record = writes.create(self.org, sobject, body, user_id=user_id, raw="{}")
                return _Outcome(True, record["Id"], "true", row)
            if job.operation == "update":
                record_id = next((v for k, v in body.items() if k.lower() == "id"), None)
                if not record_id:
                    raise writes.RecordError(
                        [
                            writes.record_error(
                                "MISSING_ARGUMENT", "Id not specified in an update call"
                            )
                        ]
                    )
                record = writes.update(
                    self.org, sobject, record_id, body, user_id=user_id, raw="{}"
                )
                return _Outcome(True, record["Id"], "false", row)
            if job.operation in ("delete", "hardDelete"):
                record_id = next((v for k, v in body.items() if k.lower() == "id"), "")
                deleted = writes.delete(self.org, sobject, record_id or "", user_id=user_id)
                return _Outcome(True, deleted, "false", row)
            key_field = sobject.field(job.external_id or "Id")
            assert key_field is not None
            value = next((v for k, v in body.items() if k.lower() == key_field.name.lower()), None)
            if duplicated and value is not None and writes.key_of(key_field, value) in duplicated:
                raise writes.RecordError([writes.duplicate_key_error(key_field, value)])
            record, created = writes.upsert(
                self.org, sobject, key_field, body, user_id=user_id, raw="{}"
            )
            return _Outcome(True, record["Id"], "true" if created else "false", row)
        except writes.RecordError as exc:
            errors = _bulk_errors(sobject, header, row, exc.errors)
            return _Outcome(False, exc.record_id or "", error_text(errors), row)
        except ApiError as exc:  # a fault of the whole body (deserialisation)
            errors = _bulk_errors(sobject, header, row, writes.save_errors(exc))
            return _Outcome(False, "", error_text(errors), row)

    # --- results ------------------------------------------------------------

    def successful(self, job: Job) -> str:
        rows = [[o.record_id, o.detail, *o.row] for o in job.outcomes if o.success]
        return _csv(job, ("sf__Id", "sf__Created"), rows)

    def failed(self, job: Job) -> str:
        rows = [[o.record_id, o.detail, *o.row] for o in job.outcomes if not o.success]
        return _csv(job, ("sf__Id", "sf__Error"), rows)

    def unprocessed_csv(self, job: Job) -> str:
        rows = job.unprocessed
        if not job.processed and job.state in ("Open", "UploadComplete"):
            _header, rows = _split_upload(job)
        return _csv(job, (), rows)

    def _now(self) -> str:
        return format_datetime(self.clock())


def finished(pace: Pace, stopwatch: Stopwatch | None, polls_left: int, records: int) -> bool:
    """Whether an InProgress job has answered its polls and had its modelled time."""
    elapsed = stopwatch.elapsed() if stopwatch is not None else 0.0
    return polls_left <= 0 and elapsed >= pace.seconds(records)


def error_text(errors: list[dict[str, Any]]) -> str:
    """Bulk's sf__Error: ``CODE:message:Field1,Field2 --`` per error."""
    parts = []
    for e in errors:
        fields = ",".join(e.get("fields") or [])
        parts.append(f"{e['statusCode']}:{e['message']}:{fields + ' ' if fields else ''}--")
    return " ".join(parts)


def _bulk_errors(
    sobject: SObject, header: list[str], row: list[str], errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace REST's JSON deserialiser wording, which means nothing for a CSV row."""
    out = []
    for e in errors:
        if e["statusCode"] != "JSON_PARSER_ERROR":
            out.append(e)
            continue
        for position, (name, value) in enumerate(zip(header, row, strict=False), start=1):
            f = sobject.field(name)
            if f is None or value in ("", NULL):
                continue
            try:
                coerce(f, value)
            except ValueError:
                soap_type = f.describe()["soapType"]
                out.append(
                    writes.record_error(
                        "INVALID_FIELD",
                        f"Failed to deserialize field at col {position}. Due to, '{value}' is "
                        f"not a valid value for the type {soap_type}",
                        [f.name],
                    )
                )
                break
        else:
            out.append(e)
    return out


def _invalid_job(message: str) -> ApiError:
    return ApiError.one(400, "INVALIDJOB", message)


def _column(header: list[str], name: str) -> int:
    return next(i for i, h in enumerate(header) if h.lower() == name.lower())


def _text(job: Job) -> str:
    return b"".join(job.uploads).decode("utf-8-sig", errors="replace")


def _reader(job: Job, text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter]))


def _split_upload(job: Job) -> tuple[list[str], list[list[str]]]:
    rows = _reader(job, _text(job)) if job.uploads else []
    return (rows[0], rows[1:]) if rows else ([], [])


def _parse(job: Job) -> tuple[list[str], list[list[str]], str | None]:
    text = _text(job)
    rows = _reader(job, text) if text else []
    header, body = (rows[0], [r for r in rows[1:] if r]) if rows else ([], [])
    crlf = "\r\n" in text
    bare_lf = text.count("\n") > text.count("\r\n")
    if (job.line_ending == "LF" and crlf) or (job.line_ending == "CRLF" and bare_lf):
        return (
            header,
            body,
            (
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
                f"is {job.line_ending}"
            ),
        )
    return header, body, None


def _check_header(sobject: SObject, job: Job, header: list[str]) -> str | None:
    if not header:
        return "InvalidBatch : Empty CSV file"
    for name in header:
        if sobject.field(name) is None:
            return f"InvalidBatch : Field name not found : {name}"
    names = {h.lower() for h in header}
    if job.operation in ("update", "delete", "hardDelete") and "id" not in names:
        return "InvalidBatch : Field name not found : Id"
    if job.operation in ("delete", "hardDelete") and names != {"id"}:
        return "InvalidBatch : The 'delete' batch must contain only 'Id' column"
    if job.external_id and job.external_id.lower() not in names:
        return f"InvalidBatch : Field name not found : {job.external_id}"
    return None


def _csv(job: Job, prefix: tuple[str, ...], rows: list[list[str]]) -> str:
    """A result set: quoted ``sf__`` columns, then the uploaded header as it came."""
    delimiter = DELIMITERS[job.delimiter]
    out = io.StringIO()
    head = [json.dumps(p) for p in prefix] + list(job.header)
    out.write(delimiter.join(head) + "\n")
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue()

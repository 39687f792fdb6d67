"""The WSGI app: routing, authentication, and the REST and SOAP handlers.

Routing is on the path alone (never the Host header): the transport sends
every call for login.salesforce.com and for the instance to the same socket.
Paths are split on the *raw* request URI so an external id containing an
encoded slash stays one segment.

Every REST response carries what clients read from real Salesforce:
``Content-Type: application/json;charset=UTF-8`` and
``Sforce-Limit-Info: api-usage=N/M`` (simple-salesforce parses it into
``sf.api_usage``; M is the configurable daily allocation, ``limits.py``).
Faults are the JSON error lists of ``errors.py``; injected ones (503s,
dropped connections, timeouts) are decided in ``__call__`` (``faults.py``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from . import bulk, bulk_query, composite, feeds, oauth, partner, planner, soap, soql, sosl
from .dates import user_zone
from .errors import (
    ApiError,
    SoqlError,
    invalid_session,
    json_parser_error,
    method_not_allowed,
    not_found,
)
from .faults import (
    BAD_GATEWAY_HTML,
    SERVER_UNAVAILABLE,
    FaultEvent,
    FaultInjector,
    Faults,
    drop_connection,
)
from .ids import looks_like_id, make_id, normalize_id
from .limits import DEFAULT_DAILY_API_ALLOCATION, ApiUsage
from .pretty import pretty as jackson_pretty
from .schema import Field, SObject, coerce, validate_write
from .store import Org

MAX_URI_BYTES = 16_384
"""Salesforce's cap on a REST call's URI (with headers); a longer URI gets 414."""

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "text/xml;charset=UTF-8"
DAILY_API_ALLOCATION = DEFAULT_DAILY_API_ALLOCATION
MAX_OPEN_CURSORS = 50
MIN_BATCH, MAX_BATCH = 200, 2000

_VERSION_LABELS = {
    "57.0": "Spring '23",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}


@dataclass
class _Session:
    user_id: str
    last_seen: datetime


@dataclass
class _Cursor:
    """The rest of a query result, kept server-side like a real query locator."""

    records: list[dict[str, Any]]
    total: int


class SalesforceApp:
    """The org behind one socket: credentials, sessions, cursors and counters."""

    def __init__(
        self,
        org: Org,
        *,
        username: str,
        password: str,
        security_token: str,
        page_size: int,
        api_version: str,
        instance_host: str,
        clock: Callable[[], datetime],
        session_seconds: int = soap.SESSION_SECONDS_VALID,
        daily_api_allocation: int = DAILY_API_ALLOCATION,
        consumer_key: str = oauth.DEFAULT_CONSUMER_KEY,
        consumer_secret: str = oauth.DEFAULT_CONSUMER_SECRET,
        client_credentials_user: str | None = None,
        faults: Faults | None = None,
        bulk_pace: bulk.Pace | None = None,
    ) -> None:
        self.org = org
        self.schema = org.schema
        self.username = username
        self.secret = password + security_token
        self.page_size = page_size
        self.api_version = api_version
        self.instance_host = instance_host
        self.clock = clock
        self.request_count = 0
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_seq = 0
        self.session_seconds = session_seconds
        self.usage = ApiUsage(self._now, daily_api_allocation)
        self.oauth = oauth.OAuthApp(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            client_credentials_user=client_credentials_user or username,
        )
        self.faulted_count = 0
        self.fault_log: list[FaultEvent] = []
        self.injector: FaultInjector | None = FaultInjector(faults) if faults else None
        self.bulk_pace = bulk_pace or bulk.Pace()
        self.bulk = bulk.BulkIngest(org, clock, self.bulk_pace)
        self.bulk_query = bulk_query.BulkQuery(org, clock, self.bulk_pace)

    # --- WSGI -------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            self.request_count += 1
        request = Request(environ)
        uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
        if len(uri.encode()) > MAX_URI_BYTES:
            # Salesforce answers a URI over 16,384 bytes with 414 before any API logic.
            return Response("URI Too Long", 414, content_type="text/plain")(environ, start_response)
        fault = self.fault_for(request)
        if fault == "503":
            response = self.json_response(request, 503, SERVER_UNAVAILABLE, self.usage.header())
            return response(environ, start_response)
        if fault == "502":
            return Response(BAD_GATEWAY_HTML, 502, content_type="text/html")(
                environ, start_response
            )
        if fault == "drop":
            drop_connection(environ)
        try:
            response = self.dispatch(request)
        except ApiError as exc:
            response = self.json_response(request, exc.status, exc.body, exc.headers)
        except soap.SoapFault as exc:
            response = Response(exc.envelope(), 500, content_type=XML_TYPE)
        except Exception:  # a sandbox bug must still answer like Salesforce does
            log.error(
                "sandbox error on %s %s\n%s", request.method, request.path, traceback.format_exc()
            )
            body = [
                {
                    "message": "An unexpected error occurred. Please include this ErrorId if you "
                    f"contact support: {secrets.randbelow(10**9)}-{secrets.randbelow(10**5)}",
                    "errorCode": "UNKNOWN_EXCEPTION",
                }
            ]
            response = self.json_response(request, 500, body)
        if self.injector is not None:
            self.injector.after(fault, environ)
        return response(environ, start_response)

    def fault_for(self, request: Request) -> str | None:
        """Apply injected latency and pick this request's fault; see ``faults.py``."""
        injector = self.injector
        if injector is None:
            return None
        segments = _segments(request)
        rest = segments[:2] == ["services", "data"]
        login = segments[:3] in (["services", "Soap", "u"], ["services", "oauth2", "token"])
        if not (rest or (login and injector.faults.include_login)):
            return None
        event = injector.play(request.method, request.path)
        if event is None:
            return None
        with self._lock:
            self.faulted_count += 1
            self.fault_log.append(event)
        return event.kind

    def dispatch(self, request: Request) -> Response:
        segments = _segments(request)
        if segments[:3] == ["services", "Soap", "u"] and len(segments) >= 4:
            if request.method != "POST":
                raise method_not_allowed(request.method, ["POST"])
            if soap.operation(request.get_data()) not in (None, "login"):
                # convertLead, merge...: on .../u/{version} and .../u/{version}/{orgId} alike.
                return partner.handle(self, request)
            return self.soap_login(request, segments[3])
        if segments[:3] == ["services", "oauth2", "token"] and len(segments) == 3:
            return self.oauth_token(request)
        if segments[:2] == ["services", "data"]:
            return self.rest(request, segments[2:])
        raise not_found()

    # --- SOAP login ---------------------------------------------------------

    def soap_login(self, request: Request, version: str) -> Response:
        username, password = soap.parse_login(request.get_data())
        if username.lower() != self.username.lower() or password != self.secret:
            raise soap.invalid_login()
        users = self.schema.get("User")
        user = self.org.get(users, self.org.admin_id) if users else None
        if user is None:
            raise soap.invalid_login()  # an org without its admin user cannot log anyone in
        org15 = self.org.org_id[:15]
        session_id = self.open_session(user["Id"])
        result = soap.LoginResult(
            session_id=session_id,
            server_url=f"https://{self.instance_host}/services/Soap/u/{version}/{org15}",
            metadata_server_url=f"https://{self.instance_host}/services/Soap/m/{version}/{org15}",
            user_id=user["Id"],
            org_id=self.org.org_id,
            org_name="Leadsync Sandbox",
            username=user["Username"],
            user_email=user["Email"],
            user_full_name=user["Name"],
            user_time_zone=user["TimeZoneSidKey"],
            session_seconds=self.session_seconds,
        )
        return Response(result.envelope(), 200, content_type=XML_TYPE)

    def oauth_token(self, request: Request) -> Response:
        """``/services/oauth2/token``: the password and client-credentials grants."""
        status, body = self.oauth.token(request, self)
        response = Response(json.dumps(body), status, content_type=JSON_TYPE)
        response.headers["Cache-Control"] = "no-cache,must-revalidate,max-age=0,no-store,private"
        return response

    def open_session(self, user_id: str) -> str:
        """A new session id for ``user_id``, shaped like Salesforce's (org id ! token)."""
        session_id = f"{self.org.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            self._sessions[session_id] = _Session(user_id, self._now())
        return session_id

    def expire_sessions(self) -> int:
        """End every session now (as an admin's "expire all sessions" would); returns how many."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    # --- REST plumbing ------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def authenticate(self, request: Request) -> str:
        """The user id behind the request's session, or a 401 INVALID_SESSION_ID."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise invalid_session()
        now = self._now()
        with self._lock:
            session = self._sessions.get(token.strip())
            if session is None:
                raise invalid_session()
            if now - session.last_seen > timedelta(seconds=self.session_seconds):
                del self._sessions[token.strip()]
                raise invalid_session()
            session.last_seen = now
            return session.user_id

    def count_api_call(self) -> int:
        """The org's daily API request counter; 403 REQUEST_LIMIT_EXCEEDED once it is spent."""
        return self.usage.consume()

    @property
    def api_usage(self) -> int:
        return self.usage.used

    def json_response(
        self,
        request: Request,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if payload is None:
            response = Response(status=status)
        elif isinstance(payload, bulk.RawBody):
            response = Response(payload.data, status=status, content_type=payload.content_type)
        else:
            pretty = request.headers.get("X-PrettyPrint", "") not in ("", "0", "false")
            text = (
                jackson_pretty(payload)
                if pretty
                else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            )
            response = Response(text, status=status, content_type=JSON_TYPE)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def rest(self, request: Request, path: list[str]) -> Response:
        if not path:
            if request.method != "GET":
                raise method_not_allowed(request.method, ["GET", "HEAD"])
            return self.json_response(request, 200, self.versions())
        version = path[0][1:] if path[0][:1] == "v" else ""
        if not _is_version(version):
            raise not_found()
        user_id = self.authenticate(request)
        self.count_api_call()
        limit_info = self.usage.header()
        try:
            status, payload, headers = self.route(_Context(request, version, user_id), path[1:])
        except ApiError as exc:
            exc.headers.update(limit_info)
            raise
        return self.json_response(request, status, payload, {**headers, **limit_info})

    def route(self, ctx: _Context, path: list[str]) -> tuple[int, Any, dict[str, str]]:
        method = ctx.request.method
        if not path:
            _allow(method, "GET")
            return 200, self.resources(ctx.version), {}
        head, rest = path[0], path[1:]
        if head == "sobjects":
            return self.sobjects(ctx, rest)
        if head == "composite" and rest[:1] == ["sobjects"]:
            return composite.handle(self, ctx, rest[1:])
        if head == "composite" and not rest:
            return composite.handle_composite(self, ctx)
        if head == "jobs" and rest[:1] == ["ingest"]:
            return self.bulk.handle(self, ctx, rest[1:])
        if head == "jobs" and rest[:1] == ["query"]:
            return self.bulk_query.handle(self, ctx, rest[1:])
        if head in ("query", "queryAll") and len(rest) <= 1:
            _allow(method, "GET")
            if rest:
                return 200, self.query_more(ctx, rest[0]), {}
            return 200, self.query(ctx, include_deleted=head == "queryAll"), {}
        if head == "search" and not rest:
            _allow(method, "GET")
            return 200, self.search(ctx), {}
        if head == "limits" and not rest:
            _allow(method, "GET")
            return 200, self.usage.limits(), {}
        raise not_found()

    def versions(self) -> list[dict[str, str]]:
        major = int(float(self.api_version))
        return [
            {
                "label": _VERSION_LABELS.get(f"{v}.0", f"v{v}.0"),
                "url": f"/services/data/v{v}.0",
                "version": f"{v}.0",
            }
            for v in range(min(57, major), major + 1)
        ]

    def resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {
            "composite": f"{base}/composite",
            "limits": f"{base}/limits",
            "query": f"{base}/query",
            "queryAll": f"{base}/queryAll",
            "search": f"{base}/search",
            "sobjects": f"{base}/sobjects",
        }

    # --- sobjects -------------------------------------------------------------

    def sobjects(self, ctx: _Context, path: list[str]) -> tuple[int, Any, dict[str, str]]:
        method = ctx.request.method
        if not path:
            _allow(method, "GET")
            return (
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [o.summary(ctx.version) for o in self.schema],
                },
                {},
            )
        sobject = self.schema.get(path[0])
        if sobject is None:
            raise not_found()
        rest = path[1:]
        if not rest:
            _allow(method, "GET", "POST")
            if method == "POST":
                return self.create(ctx, sobject)
            recent = [
                self.render(ctx, sobject, r, ["Id", "Name"] if sobject.field("Name") else ["Id"])
                for r in self.org.recent(sobject, 5)
            ]
            return 200, {"objectDescribe": sobject.summary(ctx.version), "recentItems": recent}, {}
        if rest == ["describe"]:
            _allow(method, "GET")
            return 200, sobject.describe(ctx.version), {}
        if rest in (["updated"], ["deleted"]):
            _allow(method, "GET")
            now = self._now()
            return 200, feeds.feed(rest[0], self.org, sobject, ctx.request.args, now), {}
        if len(rest) == 1:
            if rest[0] == "Id" and method == "POST":
                # POST .../sobjects/Lead/Id: upsert "by Id" with no Id is a create.
                return self.create(ctx, sobject)
            _allow(method, "GET", "PATCH", "DELETE", "HEAD")
            return self.record(ctx, sobject, rest[0])
        if len(rest) == 2:
            _allow(method, "GET", "PATCH", "DELETE", "HEAD")
            return self.by_external_id(ctx, sobject, rest[0], rest[1])
        raise not_found()

    def user_zone(self, user_id: str) -> tzinfo:
        """The user's time zone, which SOQL date literals count days in."""
        users = self.schema.get("User")
        user = self.org.get(users, user_id) if users else None
        return user_zone(user.get("TimeZoneSidKey") if user else None)

    def record_url(self, version: str) -> Callable[[str, str], str]:
        return lambda name, record_id: f"/services/data/v{version}/sobjects/{name}/{record_id}"

    def render(
        self,
        ctx: _Context,
        sobject: SObject,
        record: dict[str, Any],
        fields: list[str] | None = None,
    ) -> dict[str, Any]:
        names = fields or sobject.field_names
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject.name,
                "url": self.record_url(ctx.version)(sobject.name, record["Id"]),
            }
        }
        out.update({name: record.get(name) for name in names})
        return out

    def body(self, ctx: _Context) -> tuple[dict[str, Any], str]:
        raw = ctx.request.get_data(as_text=True)
        if not raw.strip():
            raise json_parser_error(
                "The HTTP entity body is required, but this request has no entity body."
            )
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise json_parser_error(
                f"Unexpected character ('{raw[exc.pos : exc.pos + 1]}' (code "
                f"{ord(raw[exc.pos]) if exc.pos < len(raw) else -1})): {exc.msg.lower()} "
                f"at [line:{exc.lineno}, column:{exc.colno}]"
            ) from None
        if not isinstance(body, dict):
            raise json_parser_error(
                "Cannot deserialize instance of object from START_ARRAY value [ "
                "at [line:1, column:1]"
            )
        return body, raw

    def create(self, ctx: _Context, sobject: SObject) -> tuple[int, Any, dict[str, str]]:
        if not sobject.createable:
            raise _insufficient_access(sobject, "create")
        body, raw = self.body(ctx)
        values = validate_write(sobject, body, raw, creating=True)
        record = self.org.insert(sobject, values, user_id=ctx.user_id)
        url = self.record_url(ctx.version)(sobject.name, record["Id"])
        return 201, {"id": record["Id"], "success": True, "errors": []}, {"Location": url}

    def record(
        self, ctx: _Context, sobject: SObject, record_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        method = ctx.request.method
        if not looks_like_id(record_id) or normalize_id(record_id) is None:
            # Salesforce reads a non-id segment as an external id field name.
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        if method in ("GET", "HEAD"):
            record = self.org.get(sobject, record_id)
            if record is None:
                raise not_found()
            return 200, self.render(ctx, sobject, record, self.field_param(ctx, sobject)), {}
        if method == "PATCH":
            if not sobject.updateable:
                raise _insufficient_access(sobject, "update")
            body, raw = self.body(ctx)
            values = validate_write(sobject, body, raw, creating=False)
            self.org.update(sobject, record_id, values, user_id=ctx.user_id)
            return 204, None, {}
        if not sobject.deletable:
            raise _insufficient_access(sobject, "delete")
        self.org.delete(sobject, record_id, user_id=ctx.user_id)
        return 204, None, {}

    def field_param(self, ctx: _Context, sobject: SObject) -> list[str] | None:
        wanted = ctx.request.args.get("fields")
        if not wanted:
            return None
        names = []
        for name in (n.strip() for n in wanted.split(",") if n.strip()):
            f = sobject.field(name)
            if f is None:
                raise ApiError.one(
                    400,
                    "INVALID_FIELD",
                    soql.NO_SUCH_COLUMN.format(name=name, entity=sobject.name),
                )
            names.append(f.name)
        return names

    def by_external_id(
        self, ctx: _Context, sobject: SObject, field_name: str, raw_value: str
    ) -> tuple[int, Any, dict[str, str]]:
        """GET/PATCH(upsert)/DELETE on ``sobjects/{Object}/{ExtIdField}/{value}``."""
        f = sobject.field(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        method = ctx.request.method
        if f.name == "Id":
            if method == "PATCH":
                self.record(ctx, sobject, raw_value)
                return 200, _upsert_result(normalize_id(raw_value) or raw_value, False), {}
            return self.record(ctx, sobject, raw_value)
        value = _url_value(f, raw_value)
        with self.org.lock:
            matches = self.org.find(sobject, f.name, value)
            if len(matches) > 1:
                urls = [self.record_url(ctx.version)(sobject.name, m["Id"]) for m in matches]
                raise ApiError(300, [], body=urls)
            if method in ("GET", "HEAD", "DELETE"):
                if not matches:
                    raise not_found()
                if method == "DELETE":
                    self.org.delete(sobject, matches[0]["Id"], user_id=ctx.user_id)
                    return 204, None, {}
                return (
                    200,
                    self.render(ctx, sobject, matches[0], self.field_param(ctx, sobject)),
                    {},
                )
            return self.upsert(ctx, sobject, f, value, matches[0] if matches else None)

    def upsert(
        self,
        ctx: _Context,
        sobject: SObject,
        f: Field,
        value: Any,
        existing: dict[str, Any] | None,
    ) -> tuple[int, Any, dict[str, str]]:
        body, raw = self.body(ctx)
        creating = existing is None
        if creating and ctx.request.args.get("updateOnly", "").lower() == "true":
            raise not_found()
        values = validate_write(sobject, body, raw, creating=creating)
        in_body = values.get(f.name)
        if f.name in values and (in_body is None or _fold(f, in_body) != _fold(f, value)):
            # The URL names the record; a body that names a different one is refused.
            raise ApiError.one(
                400,
                "INVALID_FIELD",
                f"The value of external ID field {f.name} in the request body ({in_body}) "
                f"does not match the value in the URL ({value})",
                [f.name],
            )
        if creating:
            if not sobject.createable:
                raise _insufficient_access(sobject, "create")
            values[f.name] = value
            record = self.org.insert(sobject, values, user_id=ctx.user_id)
            url = self.record_url(ctx.version)(sobject.name, record["Id"])
            return 201, _upsert_result(record["Id"], True), {"Location": url}
        assert existing is not None
        values.pop(f.name, None)
        self.org.update(sobject, existing["Id"], values, user_id=ctx.user_id)
        return 200, _upsert_result(existing["Id"], False), {}

    # --- query ------------------------------------------------------------------

    def batch_size(self, request: Request) -> int:
        """``Sforce-Query-Options: batchSize=N`` (200..2000), capped by the sandbox page size."""
        size = self.page_size
        options = request.headers.get("Sforce-Query-Options", "")
        for part in options.split(","):
            key, _, raw = part.partition("=")
            if key.strip().lower() == "batchsize" and raw.strip().isdigit():
                size = min(size, max(MIN_BATCH, min(MAX_BATCH, int(raw))))
        return max(size, 1)

    def query(self, ctx: _Context, *, include_deleted: bool) -> dict[str, Any]:
        text = ctx.request.args.get("q", "")
        try:
            bound = soql.bind(
                soql.parse(text), self.schema, now=self._now(), zone=self.user_zone(ctx.user_id)
            )
        except SoqlError as exc:
            raise exc.to_api_error(text) from None
        total, records = planner.select(
            self.org,
            bound,
            include_deleted=include_deleted,
            record_url=self.record_url(ctx.version),
        )
        return self.page(ctx, total, records, start=0)

    def search(self, ctx: _Context) -> dict[str, Any]:
        """``GET search/?q=<SOSL>``: what ``Salesforce.search`` calls; see ``sosl.py``."""
        text = ctx.request.args.get("q", "")
        try:
            search = sosl.parse(
                text, self.schema, now=self._now(), zone=self.user_zone(ctx.user_id)
            )
        except SoqlError as exc:
            raise exc.to_api_error(text) from None
        return sosl.run(self.org, search, record_url=self.record_url(ctx.version))

    def page(
        self, ctx: _Context, total: int, records: list[dict[str, Any]], *, start: int
    ) -> dict[str, Any]:
        size = self.batch_size(ctx.request)
        chunk = records[start : start + size]
        result: dict[str, Any] = {"totalSize": total, "done": start + size >= len(records)}
        if not result["done"]:
            locator = self.open_cursor(records, total)
            # Real locators are "<cursor id>-<rows already returned>", and the
            # URL says query/ even for queryAll.
            result["nextRecordsUrl"] = (
                f"/services/data/v{ctx.version}/query/{locator}-{start + size}"
            )
        result["records"] = chunk
        return result

    def open_cursor(self, records: list[dict[str, Any]], total: int) -> str:
        with self._lock:
            for locator, cursor in self._cursors.items():
                if cursor.records is records:
                    return locator
            self._cursor_seq += 1
            locator = make_id("01g", self._cursor_seq)
            self._cursors[locator] = _Cursor(records, total)
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
            return locator

    def query_more(self, ctx: _Context, locator_and_offset: str) -> dict[str, Any]:
        locator, _, offset = locator_and_offset.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit() or int(offset) > len(cursor.records):
            raise ApiError.one(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self.page(ctx, cursor.total, cursor.records, start=int(offset))


@dataclass
class _Context:
    request: Request
    version: str
    user_id: str


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise method_not_allowed(method, list(allowed))


def _is_version(text: str) -> bool:
    major, dot, minor = text.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


def _segments(request: Request) -> list[str]:
    """Path segments from the raw URI, each percent-decoded on its own."""
    raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")
    if raw:
        path = urlsplit(raw).path
        parts = [unquote(p) for p in path.split("/")]
    else:
        parts = request.path.split("/")
    return [p for p in parts if p]


def _upsert_result(record_id: str, created: bool) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": [], "created": created}


def _insufficient_access(sobject: SObject, action: str) -> ApiError:
    return ApiError.one(
        403,
        "INSUFFICIENT_ACCESS_OR_READONLY",
        f"insufficient access rights on object id (cannot {action} {sobject.name})",
    )


def _url_value(f: Field, raw: str) -> Any:
    try:
        value = coerce(f, raw)
    except ValueError:
        raise not_found() from None
    if value is None:
        raise not_found()
    return value


def _fold(f: Field, value: Any) -> Any:
    return value.casefold() if isinstance(value, str) and not f.case_sensitive else value

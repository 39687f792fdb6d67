"""Salesforce, through the real simple-salesforce client.

The client builds its own ``https://`` URLs; to reach a sandbox we hand it a
session whose transport sends them to ``route_to`` (connector/transport.py).
Client exceptions are translated by one table into Transient/Fatal errors or
record-level errors carrying Salesforce's errorCode, message and fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import quote_plus

import requests
import structlog
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError
from simple_salesforce.format import format_external_id, format_soql
from tenacity.wait import wait_base

from connector.adapters.base import FieldSchema, ObjectSchema
from connector.adapters.registry import register_crm
from connector.config import SalesforceConfig, secret
from connector.errors import (
    AdapterError,
    BatchInterrupted,
    FatalError,
    RecordError,
    RecordRejected,
    TransientError,
)
from connector.records import Change, CrmRecord, WriteResult
from connector.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry
from connector.transport import make_session

if TYPE_CHECKING:
    from connector.config import Config

T = TypeVar("T")
log = structlog.get_logger("leadsync.salesforce")

SANDBOX_PASSWORD = "sandbox"
"""The sandbox's documented password, used only when it runs embedded and no env var is set."""

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


Outcome = Literal["record", "transient", "fatal"]

TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE",
                             "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"})
"""Codes Salesforce sends with a 4xx that still clear up by themselves."""

FATAL_CODES = frozenset({
    "INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "INVALID_FIELD_FOR_INSERT_UPDATE",
    "REQUEST_LIMIT_EXCEEDED", "INVALID_SESSION_ID", "API_DISABLED_FOR_ORG",
    "API_CURRENTLY_DISABLED", "JSON_PARSER_ERROR", "MALFORMED_QUERY", "INVALID_QUERY_LOCATOR",
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "FUNCTIONALITY_NOT_ENABLED",
})
"""Codes that mean the mapping, the org or the credentials are wrong: every record would fail."""


def classify(status: int, code: str | None) -> Outcome:
    """The one table: what a Salesforce error means for the run.

    Unknown 400 codes count as record-level: the record waits as a dead letter
    with the CRM's words and the rest of the batch goes on.
    """
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return "transient"
    if code in FATAL_CODES:
        return "fatal"
    if status in (300, 400):  # 300: two records share the external id (MULTIPLE_CHOICES)
        return "record"
    return "fatal"


_NOT_TRANSPORT = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                  requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)


def _translate(exc: Exception) -> Exception:
    """Client exception → TransientError | FatalError | RecordRejected."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return FatalError(f"Salesforce login failed: {exc.code}: {exc.auth_message}",
                          system="salesforce", code=str(exc.code))
    if isinstance(exc, SalesforceError):
        errors = record_errors(exc.content)
        code = errors[0].code if errors else None
        outcome = classify(exc.status, code)
        if outcome == "record":
            return RecordRejected(errors)
        message = f"Salesforce {exc.status}: " + ("; ".join(str(e) for e in errors)
                                                  or str(exc.content))
        cls = TransientError if outcome == "transient" else FatalError
        return cls(message, system="salesforce", status=exc.status, code=code)
    if isinstance(exc, _NOT_TRANSPORT):
        return FatalError(f"Salesforce request malformed: {exc}", system="salesforce")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"Salesforce unreachable: {exc.__class__.__name__}",
                              system="salesforce")
    return exc


def sf_datetime(value: str) -> datetime:
    """Salesforce's ``2026-11-25T03:01:09.000+0000`` → aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


class SalesforceAdapter:
    name: ClassVar[str] = "salesforce"

    def __init__(self, settings: SalesforceConfig, *, password: str, security_token: str,
                 retry: RetryPolicy = DEFAULT_POLICY, wait: wait_base | None = None) -> None:
        self.settings = settings
        self._password = password
        self._token = security_token
        self._retry = retry
        self._wait = wait
        self._client: Salesforce | None = None
        self._describes: dict[str, ObjectSchema] = {}

    def __repr__(self) -> str:  # never show credentials
        return f"SalesforceAdapter(username={self.settings.username!r})"

    @property
    def client(self) -> Salesforce:
        """The logged-in client. Take it before a retried call, so retries never nest."""
        if self._client is None:
            session = make_session(self.settings.route_to)
            self._client = self._call(lambda: Salesforce(
                username=self.settings.username, password=self._password,
                security_token=self._token, domain=self.settings.domain,
                version=self.settings.api_version, session=session))
        return self._client

    def _call(self, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except (SalesforceError, requests.RequestException) as exc:
                raise _translate(exc) from exc
        return call_with_retry(attempt, self._retry, wait=self._wait)

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
            self._client = None

    # contract ---------------------------------------------------------------
    def check(self) -> list[str]:
        try:
            self.client  # noqa: B018  (logs in)
        except FatalError as exc:
            return [str(exc)]
        except TransientError as exc:
            return [f"{exc} (tried {self._retry.attempts} times)"]
        return []

    def describe(self, object_name: str) -> ObjectSchema:
        if object_name not in self._describes:
            sobject = getattr(self.client, object_name)
            raw = self._call(sobject.describe)
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
            self._describes[object_name] = ObjectSchema(raw["name"], fields)
        return self._describes[object_name]

    def upsert(self, object_name: str, external_id_field: str,
               records: Sequence[tuple[str, dict[str, Any]]]) -> list[WriteResult]:
        sobject = getattr(self.client, object_name)
        results: list[WriteResult] = []
        for key, payload in records:
            body = {k: v for k, v in payload.items() if k != external_id_field}
            ref = format_external_id(external_id_field, key)
            try:
                response = self._call(lambda r=ref, b=body: sobject.upsert(r, b,
                                                                           raw_response=True))
            except RecordRejected as exc:
                results.append(WriteResult(key, ok=False, errors=exc.errors))
                continue
            except AdapterError as exc:
                raise BatchInterrupted(results, exc) from exc
            data = response.json() if response.content else {}
            created = response.status_code == 201 or bool(data.get("created"))
            results.append(WriteResult(key, ok=True, crm_id=data.get("id"), created=created))
        return results

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

    def _query(self, soql: str, key_field: str) -> list[CrmRecord]:
        return [CrmRecord(row["Id"], row.get(key_field), row) for row in self._rows(soql)]

    def _rows(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every row of a query, page by page (nextRecordsUrl), each page retried alone."""
        client = self.client
        page = self._call(lambda: client.query(soql))
        while True:
            for row in page["records"]:
                yield {k: v for k, v in row.items() if k != "attributes"}
            if page.get("done", True):
                return
            locator = page["nextRecordsUrl"]
            page = self._call(lambda loc=locator: client.query_more(loc, identifier_is_url=True))

    def read_changes(self, object_name: str, key_field: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Change]:
        select = ", ".join(dict.fromkeys(["Id", key_field, *fields, "SystemModstamp"]))
        where = f"{key_field} != null"
        if since is not None:
            where += f" AND SystemModstamp >= {soql_datetime(since)}"
        soql = f"SELECT {select} FROM {object_name} WHERE {where} ORDER BY SystemModstamp, Id"
        for row in self._rows(soql):
            yield Change(crm_id=row["Id"], key=row.get(key_field), fields=row,
                         modified_at=sf_datetime(row["SystemModstamp"]))


@contextmanager
def open_salesforce(config: Config) -> Iterator[SalesforceAdapter]:
    """The adapter for one run; starts the embedded sandbox first when configured."""
    settings = config.crm.salesforce
    assert settings is not None
    embedded = settings.sandbox is not None and settings.sandbox.embedded
    password = secret(settings.password_env, what="crm.salesforce.password_env",
                      fallback=SANDBOX_PASSWORD if embedded else None).get_secret_value()
    token = secret(settings.security_token_env, fallback="").get_secret_value()
    with ExitStack() as stack:
        if embedded:
            stack.enter_context(embedded_sandbox(config, password=password, token=token))
        adapter = SalesforceAdapter(settings, password=password, security_token=token)
        stack.callback(adapter.close)
        yield adapter


@contextmanager
def embedded_sandbox(config: Config, *, password: str, token: str) -> Iterator[Any]:
    from connector.sandbox.salesforce import SalesforceSandbox

    settings = config.crm.salesforce
    assert settings is not None and settings.sandbox is not None
    if not settings.route_to:
        from connector.errors import ConfigError
        raise ConfigError("crm.salesforce.route_to: the embedded sandbox needs host:port")
    host, _, port = settings.route_to.rpartition(":")
    sandbox = SalesforceSandbox(
        username=settings.username, password=password, security_token=token,
        state_path=config.resolve_path(settings.sandbox.state),
        seed=config.resolve_path(settings.sandbox.seed) if settings.sandbox.seed else None,
        api_version=settings.api_version)
    try:
        sandbox.start(host, int(port))
    except OSError as exc:
        raise FatalError(f"cannot start the embedded Salesforce sandbox on {settings.route_to}: "
                         f"{exc.strerror}; is `leadsync sandbox` already running there? "
                         "Then set crm.salesforce.sandbox.embedded = false.",
                         system="salesforce") from exc
    log.info("sandbox started", crm="salesforce", address=sandbox.address)
    try:
        yield sandbox
    finally:
        sandbox.stop()


register_crm("salesforce", open_salesforce)

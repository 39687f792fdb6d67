"""Faults the sandbox answers with, shaped like the real API's.

Clients (simple-salesforce, and our adapter behind it) branch on the HTTP
status and on the ``errorCode`` inside the JSON list, so both must match what
Salesforce sends. The wording of each message is copied from real responses
where we could find them (see the module that raises each one); callers that
parse messages (e.g. "duplicates value on record with id: ...") then work
against the sandbox unchanged.
"""

from __future__ import annotations

from typing import Any

NOT_FOUND_MESSAGE = "The requested resource does not exist"


class ApiError(Exception):
    """A REST fault: an HTTP status plus Salesforce's list of error objects.

    The body of every REST fault is a JSON *list* even for one error; a
    ``fields`` key is present only on the codes where Salesforce sends one
    (record-level DML errors), so it is optional here too.
    """

    def __init__(
        self,
        status: int,
        errors: list[dict[str, Any]],
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}
        # A few faults (300 Multiple Choices on upsert) carry a body that is
        # not an error list; ``body`` overrides ``errors`` when given.
        self.body = body if body is not None else errors

    @classmethod
    def one(cls, status: int, code: str, message: str, fields: list[str] | None = None) -> ApiError:
        error: dict[str, Any] = {"message": message, "errorCode": code}
        if fields is not None:
            error["fields"] = fields
        return cls(status, [error])


def error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One entry of an error list; DML errors always carry ``fields``."""
    return {"message": message, "errorCode": code, "fields": list(fields or [])}


def not_found(message: str = NOT_FOUND_MESSAGE) -> ApiError:
    return ApiError.one(404, "NOT_FOUND", message)


def invalid_session() -> ApiError:
    # simple-salesforce re-logs in when it sees exactly this errorCode on a 401.
    return ApiError.one(401, "INVALID_SESSION_ID", "Session expired or invalid")


def json_parser_error(message: str) -> ApiError:
    return ApiError.one(400, "JSON_PARSER_ERROR", message)


def method_not_allowed(method: str, allowed: list[str]) -> ApiError:
    return ApiError.one(
        405,
        "METHOD_NOT_ALLOWED",
        f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
    )


class SoqlError(Exception):
    """A query the parser or binder rejects, with where it went wrong.

    ``position`` is an offset into the query text; the server turns it into
    Salesforce's "ERROR at Row:R:Column:C" banner with a caret under the
    offending token, which is what real MALFORMED_QUERY / INVALID_FIELD
    query faults look like.
    """

    def __init__(self, code: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position

    def to_api_error(self, query: str) -> ApiError:
        return ApiError.one(400, self.code, render_query_error(query, self.message, self.position))


def render_query_error(query: str, message: str, position: int | None) -> str:
    """Salesforce's query-fault text: the query line, a caret, row/column, message."""
    if position is None:
        return message
    position = max(0, min(position, len(query)))
    line_start = query.rfind("\n", 0, position) + 1
    line_end = query.find("\n", position)
    line = query[line_start : line_end if line_end != -1 else len(query)]
    row = query.count("\n", 0, position) + 1
    column = position - line_start + 1
    caret = " " * (column - 1) + "^"
    return f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}"

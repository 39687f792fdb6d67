"""HubSpot's error bodies, so a client's error handling is tested against the real shapes.

Every CRM v3/v4 error is one JSON object: ``status: "error"``, ``message``,
``correlationId`` (a UUID a support ticket would quote) and ``category``;
validation failures add ``errors`` (``code``, ``message``, ``context``) and
rate limits add ``errorType``/``policyName`` instead of a category. The
wording of the messages below follows bodies seen from the real API (quoted
in HubSpot client issues); where none could be found it is marked as a guess.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

OAUTH_DOCS = "https://developers.hubspot.com/docs/methods/auth/oauth-overview"


class ApiError(Exception):
    """An HTTP error answer: status, the JSON body, extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {body.get('message')}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    body["category"] = category
    return body


def invalid_authentication() -> ApiError:
    """401 for a missing or unknown token (body as returned for a bad private-app token)."""
    return ApiError(
        401,
        error_body(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            f"and you can find more details at {OAUTH_DOCS}",
        ),
    )


def object_not_found(object_id: str) -> ApiError:
    """404 for an id (or idProperty value) that names no live record."""
    return ApiError(
        404,
        error_body(
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
            context={"id": [object_id]},
        ),
    )


def resource_not_found() -> ApiError:
    """404 for a path no endpoint serves."""
    return ApiError(404, error_body("OBJECT_NOT_FOUND", "resource not found"))


def unknown_object_type(name: str) -> ApiError:
    return ApiError(
        400, error_body("VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    )


def validation(message: str, **extra: Any) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **extra))


def conflict(message: str) -> ApiError:
    """409, e.g. "Contact already exists. Existing ID: 123" (body verified against the API)."""
    return ApiError(409, error_body("CONFLICT", message))


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, error_body("VALIDATION_ERROR", f"HTTP method {method} is not supported"))


def bad_json(detail: str) -> ApiError:
    return validation(f"Invalid input JSON on line 1: {detail}")


class PropertyError(Exception):
    """One property value HubSpot would refuse; several make one VALIDATION_ERROR."""

    def __init__(self, code: str, name: str, message: str, value: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message
        self.value = value

    def detail(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "context": {"propertyName": [self.name]},
        }

    def legacy(self) -> dict[str, Any]:
        """The entry HubSpot still embeds, JSON-encoded, in the top-level message."""
        entry: dict[str, Any] = {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }
        if self.value is not None:
            entry["propertyValue"] = self.value
        return entry


def property_errors(errors: list[PropertyError]) -> ApiError:
    """400 "Property values were not valid: [...]" with one ``errors`` entry per value.

    The shape (legacy JSON list inside ``message``, structured ``errors`` with
    ``code`` and ``context.propertyName``) is the one the real API sends.
    """
    legacy = json.dumps([e.legacy() for e in errors], separators=(",", ":"))
    return validation(
        f"Property values were not valid: {legacy}", errors=[e.detail() for e in errors]
    )


def standard_error(
    category: str, message: str, context: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    """An entry of a batch response's ``errors`` (the spec's ``StandardError``)."""
    entry: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context or {},
        "errors": [],
        "links": {},
    }
    entry.update(extra)
    return entry

"""One record write, as every bulk-style API (collections, Bulk 2.0, convertLead) makes it.

The REST record endpoints, sObject Collections, Bulk API 2.0 ingest and
lead conversion must refuse the same values with the same codes, because a
client that falls back from one API to another (our adapter does, from bulk
to collections) must see the same reasons. So each of them calls
``schema.validate_write`` (the REST path's own validation) and then
``Org.insert``/``Org.update``; this module only adds the record-by-record
plumbing they share: upsert matching and turning a fault into a save
result's error list.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ApiError
from .ids import normalize_id
from .schema import Field, SObject, coerce, validate_write
from .store import Org, Record, _match_key


class RecordError(Exception):
    """A record-level failure: the ``errors`` a save result carries for that record."""

    def __init__(self, errors: list[dict[str, Any]], record_id: str | None = None) -> None:
        super().__init__(errors[0]["message"] if errors else "record failed")
        self.errors = errors
        self.record_id = record_id


def save_errors(exc: ApiError) -> list[dict[str, Any]]:
    """A REST fault's errors in the save-result shape: ``statusCode``, ``message``, ``fields``."""
    return [
        {"statusCode": e["errorCode"], "message": e["message"], "fields": list(e.get("fields", []))}
        for e in exc.errors
    ]


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": list(fields or [])}


def create(
    org: Org, sobject: SObject, body: Mapping[str, Any], *, user_id: str, raw: str | None = None
) -> Record:
    """Validate and insert one record; RecordError carries Salesforce's reasons."""
    if not sobject.createable:
        raise RecordError([_insufficient(sobject, "create")])
    try:
        values = validate_write(sobject, body, raw or json.dumps(body), creating=True)
        return org.insert(sobject, values, user_id=user_id)
    except ApiError as exc:
        raise RecordError(save_errors(exc)) from None


def update(
    org: Org,
    sobject: SObject,
    record_id: str,
    body: Mapping[str, Any],
    *,
    user_id: str,
    raw: str | None = None,
) -> Record:
    """Validate and update one record named by ``record_id``."""
    canonical = normalize_id(record_id) if isinstance(record_id, str) else None
    if canonical is None:
        raise RecordError(
            [record_error("MALFORMED_ID", f"{sobject.label} ID: id value of incorrect type: "
                          f"{record_id}", ["Id"])]
        )  # fmt: skip
    if not sobject.updateable:
        raise RecordError([_insufficient(sobject, "update")], canonical)
    try:
        values = validate_write(sobject, body, raw or json.dumps(body), creating=False)
        return org.update(sobject, canonical, values, user_id=user_id)
    except ApiError as exc:
        raise RecordError([_dml_not_found(e) for e in save_errors(exc)], canonical) from None


def delete(org: Org, sobject: SObject, record_id: str, *, user_id: str) -> str:
    canonical = normalize_id(record_id)
    if canonical is None:
        raise RecordError([record_error("MALFORMED_ID", f"malformed id {record_id}")])
    if not sobject.deletable:
        raise RecordError([_insufficient(sobject, "delete")], canonical)
    try:
        org.delete(sobject, canonical, user_id=user_id)
    except ApiError as exc:
        raise RecordError([_dml_not_found(e) for e in save_errors(exc)], canonical) from None
    return canonical


def upsert(
    org: Org,
    sobject: SObject,
    key_field: Field,
    body: Mapping[str, Any],
    *,
    user_id: str,
    raw: str | None = None,
) -> tuple[Record, bool]:
    """Create or update by ``key_field`` (an external id, or Id); returns (record, created).

    A value matching several records is DUPLICATE_EXTERNAL_ID, as in the
    REST upsert's 300; a missing value is a create when the key is Id and an
    error otherwise.
    """
    given = next((v for k, v in body.items() if k.lower() == key_field.name.lower()), None)
    if key_field.name == "Id":
        if given in (None, ""):
            rest = {k: v for k, v in body.items() if k.lower() != "id"}
            return create(org, sobject, rest, user_id=user_id), True
        return update(org, sobject, str(given), body, user_id=user_id, raw=raw), False
    if given in (None, ""):
        raise RecordError(
            [record_error("MISSING_ARGUMENT", f"{key_field.name} not specified", [key_field.name])]
        )
    try:
        value = coerce(key_field, given)
    except ValueError:
        raise RecordError(
            [record_error("INVALID_FIELD", f"{key_field.label}: invalid value: {given}",
                          [key_field.name])]
        ) from None  # fmt: skip
    matches = org.find(sobject, key_field.name, value)
    if len(matches) > 1:
        ids = ", ".join(m["Id"] for m in matches)
        raise RecordError(
            [record_error("DUPLICATE_EXTERNAL_ID",
                          f"{key_field.name}: more than one record found for external id field: "
                          f"[{ids}]", [key_field.name])]
        )  # fmt: skip
    if not matches:
        return create(org, sobject, body, user_id=user_id, raw=raw), True
    rest = {k: v for k, v in body.items() if k.lower() != key_field.name.lower()}
    return update(org, sobject, matches[0]["Id"], rest, user_id=user_id), False


def duplicate_keys(key_field: Field, values: Iterable[Any]) -> set[Any]:
    """Keys given more than once in one request (compared as the field compares them).

    Salesforce refuses every record sharing such a key ("Duplicate external
    id specified") rather than guessing which one wins.
    """
    counts = Counter(
        _match_key(key_field.type, key_field.case_sensitive, v)
        for v in values
        if v not in (None, "")
    )
    return {key for key, n in counts.items() if n > 1}


def duplicate_key_error(key_field: Field, value: Any) -> dict[str, Any]:
    return record_error(
        "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [key_field.name]
    )


def key_of(key_field: Field, value: Any) -> Any:
    return _match_key(key_field.type, key_field.case_sensitive, value)


def _insufficient(sobject: SObject, action: str) -> dict[str, Any]:
    return record_error(
        "INSUFFICIENT_ACCESS_OR_READONLY",
        f"insufficient access rights on object id (cannot {action} {sobject.name})",
    )


def _dml_not_found(e: dict[str, Any]) -> dict[str, Any]:
    """The store's REST-style NOT_FOUND is a save result's INVALID_CROSS_REFERENCE_KEY."""
    if e["statusCode"] == "NOT_FOUND":
        return record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    return e


__all__ = [
    "RecordError",
    "create",
    "delete",
    "duplicate_key_error",
    "duplicate_keys",
    "key_of",
    "record_error",
    "save_errors",
    "update",
    "upsert",
]

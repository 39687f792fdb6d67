"""sObject Collections: ``/services/data/vXX.X/composite/sobjects``.

Up to 200 records per call, which is how the connector writes a batch of
leads and tasks in one round trip. The shapes follow Salesforce's
documentation and real responses:

* the answer is HTTP 200 with one result per record, in request order;
  a result is ``{"id", "success", "errors"}`` (upsert adds ``created``) and
  its errors use ``statusCode`` (not the ``errorCode`` of REST faults);
  a failed create carries no ``id``;
* a body Salesforce cannot deserialise (unknown field, wrong JSON type) or
  over 200 records fails the whole call with a REST fault (HTTP 400);
* ``allOrNone: true`` with any failure undoes every write and marks the
  records that had no error of their own ``ALL_OR_NONE_OPERATION_ROLLED_BACK``;
* two records of one upsert sharing an external id value both fail with
  ``DUPLICATE_VALUE`` "Duplicate external id specified: <value>".

Each record goes through ``writes`` (the same validation as a REST write).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import writes
from .errors import ApiError, method_not_allowed, not_found
from .ids import normalize_id
from .schema import SObject, deserialize

if TYPE_CHECKING:
    from .server import SalesforceApp, _Context

MAX_RECORDS = 200
MAX_RETRIEVE_IDS = 2000
ROLLED_BACK = writes.record_error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)

Result = dict[str, Any]
Route = tuple[int, Any, dict[str, str]]


def handle(app: SalesforceApp, ctx: _Context, path: list[str]) -> Route:
    """Route ``composite/sobjects[/{SObject}[/{ExternalIdField}]]``."""
    method = ctx.request.method
    if not path:
        if method == "POST":
            return 200, _write(app, ctx, _create), {}
        if method == "PATCH":
            return 200, _write(app, ctx, _update), {}
        if method == "DELETE":
            return 200, _delete(app, ctx), {}
        raise method_not_allowed(method, ["DELETE", "PATCH", "POST"])
    sobject = app.schema.get(path[0])
    if sobject is None:
        raise not_found()
    if len(path) == 1:
        if method not in ("GET", "POST"):
            raise method_not_allowed(method, ["GET", "POST"])
        return 200, _retrieve(app, ctx, sobject), {}
    if len(path) == 2:
        if method != "PATCH":
            raise method_not_allowed(method, ["PATCH"])
        return 200, _upsert(app, ctx, sobject, path[1]), {}
    raise not_found()


def too_many() -> ApiError:
    return ApiError.one(
        400,
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )


def _records(app: SalesforceApp, ctx: _Context) -> tuple[list[Any], bool]:
    body, _raw = app.body(ctx)
    records = body.get("records")
    if not isinstance(records, list):
        raise ApiError.one(
            400, "JSON_PARSER_ERROR", "The request body must contain a list named records"
        )
    if len(records) > MAX_RECORDS:
        raise too_many()
    all_or_none = body.get("allOrNone", False)
    all_or_none = all_or_none is True or str(all_or_none).lower() == "true"
    for record in records:
        # Salesforce deserialises the whole list before saving anything, so a
        # field it cannot map fails the call, not just that record.
        sobject = _type_of(app, record)
        if isinstance(sobject, SObject):
            deserialize(sobject, record, json.dumps(record))
    return records, all_or_none


def _type_of(app: SalesforceApp, record: Any) -> SObject | dict[str, Any]:
    """The record's object, or the save error explaining why it has none."""
    attributes = record.get("attributes") if isinstance(record, dict) else None
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not name:
        return writes.record_error("INVALID_TYPE", "Must send a concrete entity type.")
    sobject = app.schema.get(str(name))
    if sobject is None:
        return writes.record_error("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return sobject


Saver = Callable[["SalesforceApp", "_Context", dict[str, Any], SObject], Result]


def _write(app: SalesforceApp, ctx: _Context, save: Saver) -> list[Result]:
    records, all_or_none = _records(app, ctx)

    def one(record: Any) -> Result:
        sobject = _type_of(app, record)
        if not isinstance(sobject, SObject):
            return _failure([sobject], _given_id(record) if save is _update else None)
        return save(app, ctx, record, sobject)

    return _all_or_none(
        app, all_or_none, [lambda r=r: one(r) for r in records], keep_ids=save is _update
    )


def _create(app: SalesforceApp, ctx: _Context, record: dict[str, Any], sobject: SObject) -> Result:
    try:
        created = writes.create(app.org, sobject, record, user_id=ctx.user_id)
    except writes.RecordError as exc:
        return _failure(exc.errors)
    return {"id": created["Id"], "success": True, "errors": []}


def _update(app: SalesforceApp, ctx: _Context, record: dict[str, Any], sobject: SObject) -> Result:
    record_id = _given_id(record)
    if record_id is None:
        return _failure(
            [writes.record_error("MISSING_ARGUMENT", "Id not specified in an update call")]
        )
    try:
        updated = writes.update(app.org, sobject, record_id, record, user_id=ctx.user_id)
    except writes.RecordError as exc:
        return _failure(exc.errors, exc.record_id)
    return {"id": updated["Id"], "success": True, "errors": []}


def _upsert(app: SalesforceApp, ctx: _Context, sobject: SObject, field_name: str) -> list[Result]:
    key_field = sobject.field(field_name)
    if key_field is None or not (key_field.external_id or key_field.name == "Id"):
        raise not_found(
            f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    records, all_or_none = _records(app, ctx)

    def key_value(record: Any) -> Any:
        if not isinstance(record, dict):
            return None
        return next((v for k, v in record.items() if k.lower() == key_field.name.lower()), None)

    duplicated = writes.duplicate_keys(key_field, (key_value(r) for r in records))

    def one(record: Any) -> Result:
        found = _type_of(app, record)
        if not isinstance(found, SObject):
            return _failure([found])
        value = key_value(record)
        if value not in (None, "") and writes.key_of(key_field, value) in duplicated:
            return _failure([writes.duplicate_key_error(key_field, value)])
        try:
            saved, created = writes.upsert(app.org, sobject, key_field, record, user_id=ctx.user_id)
        except writes.RecordError as exc:
            return _failure(exc.errors, exc.record_id)
        return {"id": saved["Id"], "success": True, "errors": [], "created": created}

    return _all_or_none(app, all_or_none, [lambda r=r: one(r) for r in records])


def _delete(app: SalesforceApp, ctx: _Context) -> list[Result]:
    raw_ids = ctx.request.args.get("ids", "")
    ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
    if not ids:
        raise ApiError.one(400, "MISSING_ARGUMENT", "The ids parameter is required")
    if len(ids) > MAX_RECORDS:
        raise too_many()
    all_or_none = ctx.request.args.get("allOrNone", "false").lower() == "true"

    def one(given: str) -> Result:
        canonical = normalize_id(given)
        sobject = app.schema.by_prefix(canonical[:3]) if canonical else None
        if canonical is None:
            return _failure([writes.record_error("MALFORMED_ID", f"malformed id {given}")])
        if sobject is None:
            return _failure(
                [writes.record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")],
                canonical,
            )
        try:
            deleted = writes.delete(app.org, sobject, canonical, user_id=ctx.user_id)
        except writes.RecordError as exc:
            return _failure(exc.errors, exc.record_id)
        return {"id": deleted, "success": True, "errors": []}

    return _all_or_none(app, all_or_none, [lambda i=i: one(i) for i in ids], keep_ids=True)


def _retrieve(app: SalesforceApp, ctx: _Context, sobject: SObject) -> list[dict[str, Any] | None]:
    """GET ``?ids=&fields=`` or POST ``{"ids": [...], "fields": [...]}``; null for a miss."""
    if ctx.request.method == "POST":
        body, _raw = app.body(ctx)
        ids = [str(i) for i in body.get("ids") or []]
        fields = _field_names(sobject, [str(f) for f in body.get("fields") or []])
    else:
        ids = [i.strip() for i in ctx.request.args.get("ids", "").split(",") if i.strip()]
        fields = app.field_param(ctx, sobject)
    if not ids:
        raise ApiError.one(400, "MISSING_ARGUMENT", "The ids parameter is required")
    if len(ids) > MAX_RETRIEVE_IDS:
        raise ApiError.one(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RETRIEVE_IDS} records into "
            "this call",
        )
    out: list[dict[str, Any] | None] = []
    for given in ids:
        record = app.org.get(sobject, given) if normalize_id(given) else None
        out.append(app.render(ctx, sobject, record, fields) if record else None)
    return out


def _field_names(sobject: SObject, names: list[str]) -> list[str] | None:
    resolved = []
    for name in names:
        f = sobject.field(name)
        if f is None:
            raise ApiError.one(
                400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'"
            )
        resolved.append(f.name)
    return resolved or None


def _all_or_none(
    app: SalesforceApp,
    all_or_none: bool,
    steps: list[Callable[[], Result]],
    *,
    keep_ids: bool = False,
) -> list[Result]:
    """Run every record's write; with allOrNone, undo them all if one failed.

    A rolled-back update or delete still names its record; a rolled-back
    create has no id any more, so its result carries none.
    """
    if not all_or_none:
        return [step() for step in steps]
    with app.org.transaction() as rollback:
        results = [step() for step in steps]
        if all(r["success"] for r in results):
            return results
        rollback()
    return [
        r if not r["success"] else _failure([ROLLED_BACK], r["id"] if keep_ids else None)
        for r in results
    ]


def _failure(errors: list[dict[str, Any]], record_id: str | None = None) -> Result:
    result: Result = {"success": False, "errors": errors}
    if record_id is not None:
        result = {"id": record_id, **result}
    return result


def _given_id(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    value = next((v for k, v in record.items() if k.lower() == "id"), None)
    return str(value) if value not in (None, "") else None


# --- the composite resource: ``/services/data/vXX.X/composite`` ------------------

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
"""Salesforce's documented caps for one composite request: 25 subrequests, of which
at most 5 may be queries (query/queryAll) or sObject Collections. The whole request
counts as one call against the org's daily API allocation."""


def handle_composite(app: SalesforceApp, ctx: _Context) -> Route:
    """Run each subrequest as its own REST call inside one request.

    The answer is HTTP 200 whatever the subrequests did; each gets
    ``{"body", "httpHeaders", "httpStatusCode", "referenceId"}`` in order. Only
    independent subrequests are modelled (no ``@{ref.field}`` substitution).
    """
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from .server import _Context as Context

    if ctx.request.method != "POST":
        raise method_not_allowed(ctx.request.method, ["POST"])
    try:
        body = json.loads(ctx.request.get_data() or b"{}")
    except ValueError:
        raise ApiError(400, [{"errorCode": "JSON_PARSER_ERROR",
                              "message": "The request body is not valid JSON"}]) from None
    subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, [{"errorCode": "INVALID_INPUT",
                              "message": "compositeRequest must be a non-empty list"}])
    # errorCode and wording of the two caps are not documented; these are ours
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(400, [{"errorCode": "LIMIT_EXCEEDED", "message":
                              f"A composite request can have at most {MAX_SUBREQUESTS} "
                              "subrequests"}])
    heavy = sum(1 for s in subrequests if isinstance(s, dict) and any(
        f"/{part}" in str(s.get("url", "")) for part in ("query", "queryAll",
                                                          "composite/sobjects")))
    if heavy > MAX_QUERIES:
        raise ApiError(400, [{"errorCode": "LIMIT_EXCEEDED", "message":
                              f"A composite request can have at most {MAX_QUERIES} query or "
                              "sObject Collections subrequests"}])
    answers = []
    for sub in subrequests:
        url = str(sub.get("url", ""))
        path, _, query = url.partition("?")
        segments = [s for s in path.split("/") if s]
        reference = sub.get("referenceId")
        if segments[:2] != ["services", "data"] or len(segments) < 3:
            answers.append(_sub(404, [{"errorCode": "NOT_FOUND",
                                       "message": "The requested resource does not exist"}],
                                reference))
            continue
        builder = EnvironBuilder(method=str(sub.get("method", "GET")), path=path,
                                 query_string=query, headers=dict(ctx.request.headers),
                                 json=sub.get("body") if "body" in sub else None)
        request = Request(builder.get_environ())
        try:
            status, payload, _ = app.route(Context(request, ctx.version, ctx.user_id),
                                           segments[3:])
        except ApiError as exc:
            status, payload = exc.status, exc.body
        answers.append(_sub(status, payload, reference))
    return 200, {"compositeResponse": answers}, {}


def _sub(status: int, body: Any, reference: Any) -> dict[str, Any]:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}

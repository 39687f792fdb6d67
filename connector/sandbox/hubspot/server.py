"""The WSGI app: authentication, limits, faults and the CRM v3/v4 endpoints.

Paths and bodies are the ones ``hubspot-api-client`` 12 sends (its generated
``*_api.py`` files), checked against HubSpot's published OpenAPI specs. The
order of gates on every ``/crm/`` request is the real one as far as a client
can observe it: an injected fault (``connector.sandbox.faults``) first, then
the bearer token (401), then the rate limits (429, not counted), then the
endpoint. Every answered API request carries the ``X-HubSpot-RateLimit-*``
headers.

Batch endpoints take at most 100 inputs. A batch is refused whole when any
input has an invalid value (400) or takes a unique value another record
holds (409), as HubSpot does; inputs naming records that do not exist are
reported per id in a 207 multi-status answer while the rest succeed.

Reads follow HubSpot's published OpenAPI spec for contacts
(HubSpot-public-api-spec-collection, ``PublicApiSpecs/CRM/Contacts/Rollouts/
424/v3/contacts.json``): ``archived`` reads only archived records (GET list,
GET one, and batch read as a query parameter), ``propertiesWithHistory``
(GET list, GET one, batch read body) adds each named property's history,
newest first, as ``ValueWithTimestamp`` entries. Merged-away ids keep
answering with the merged record (see ``Portal.merge``).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from ..faults import FaultEvent, FaultInjector, Faults, drop_connection
from . import search as search_module
from .errors import (
    ApiError,
    bad_json,
    error_body,
    invalid_authentication,
    method_not_allowed,
    object_not_found,
    resource_not_found,
    standard_error,
    unknown_object_type,
    validation,
)
from .limits import RateLimits
from .schema import (
    DEFAULT_RETURNED,
    ENGAGEMENTS,
    FIELD_TYPES,
    MODIFIED,
    OBJECT_TYPE_IDS,
    SINGULAR,
    TYPES,
    Option,
    PropertyDef,
    iso,
    object_type,
)
from .store import ASSOCIATION_TYPES, DEFAULT_TYPE, Portal, Record

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;charset=utf-8"
MAX_BATCH = 100
MAX_ASSOCIATION_READ = 1000
"""Ids one association batch read takes (HubSpot changelog, "Batch Read Limit for
HubSpot Associations API", February 2025: at most 1,000 entries in inputs)."""
MAX_PAGE = 100
MAX_HISTORY_PAGE = 50
"""The spec says ``propertiesWithHistory`` on a list "will reduce the maximum number
of contacts that can be read by a single request" without a number; 50 is our guess
(pages shrink, paging goes on, nothing is refused)."""
MERGEABLE = ("contacts", "companies", "deals")
"""The object types whose spec has a ``/merge`` path (contacts, companies, deals v3)."""
MAX_ASSOCIATION_PAGE = 500
MAX_OWNER_PAGE = 500

BAD_GATEWAY_HTML = "<html><head><title>502 Bad Gateway</title></head><body>" \
    "<center><h1>502 Bad Gateway</h1></center></body></html>"


class HubSpotApp:
    """The portal behind one socket: token, limits, faults, counters."""

    def __init__(
        self,
        portal: Portal,
        *,
        token: str,
        clock: Callable[[], datetime],
        limits: RateLimits,
        faults: Faults | None = None,
    ) -> None:
        self.portal = portal
        self.token = token
        self.clock = clock
        self.limits = limits
        self.request_count = 0
        self.faulted_count = 0
        self.fault_log: list[FaultEvent] = []
        self.injector: FaultInjector | None = FaultInjector(faults) if faults else None
        self._lock = threading.Lock()

    # --- WSGI -----------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            self.request_count += 1
        request = Request(environ)
        segments = [s for s in request.path.split("/") if s]
        api = segments[:1] == ["crm"]
        fault = self.fault_for(request) if api else None
        if fault == "503":
            body = error_body("SERVICE_UNAVAILABLE", "Service Unavailable")  # guessed wording
            return self.json(503, body)(environ, start_response)
        if fault == "502":
            return Response(BAD_GATEWAY_HTML, 502, content_type="text/html")(environ,
                                                                           start_response)
        if fault == "drop":
            drop_connection(environ)
        headers: dict[str, str] = {}
        try:
            if not api:
                raise resource_not_found()
            self.authenticate(request)
            headers = self.limits.consume(search=segments[-1:] == ["search"])
            with self.portal.lock:
                status, payload = self.dispatch(request, segments)
            response = self.json(status, payload, headers)
        except ApiError as exc:
            response = self.json(exc.status, exc.body, {**headers, **exc.headers})
        except Exception:  # a sandbox bug must still answer the way HubSpot does
            log.error("sandbox error on %s %s\n%s", request.method, request.path,
                      traceback.format_exc())
            response = self.json(500, error_body("INTERNAL_ERROR", "internal error"), headers)
        if self.injector is not None:
            self.injector.after(fault, environ)
        return response(environ, start_response)

    def fault_for(self, request: Request) -> str | None:
        injector = self.injector
        if injector is None:
            return None
        event = injector.play(request.method, request.path)
        if event is None:
            return None
        with self._lock:
            self.faulted_count += 1
            self.fault_log.append(event)
        return event.kind

    def authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise invalid_authentication()

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        if payload is None:
            response = Response(status=status)
        else:
            response = Response(json.dumps(payload, separators=(",", ":")), status=status,
                                content_type=JSON_TYPE)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    # --- routing ----------------------------------------------------------------------

    def dispatch(self, request: Request, segments: list[str]) -> tuple[int, Any]:
        method = request.method
        version, rest = segments[1] if len(segments) > 1 else "", segments[2:]
        if version == "v3" and rest[:1] == ["objects"] and len(rest) >= 2:
            kind = _type(rest[1])
            tail = rest[2:]
            if not tail:
                if method == "GET":
                    return self.list_objects(request, kind)
                if method == "POST":
                    return self.create_object(request, kind)
                raise method_not_allowed(method)
            if tail == ["search"]:
                _allow(method, "POST")
                return self.search(request, kind)
            if tail == ["merge"] and method == "POST":
                return self.merge(request, kind)
            if len(tail) == 2 and tail[0] == "batch":
                _allow(method, "POST")
                handler = {
                    "create": self.batch_create,
                    "read": self.batch_read,
                    "update": self.batch_update,
                    "upsert": self.batch_upsert,
                    "archive": self.batch_archive,
                }.get(tail[1])
                if handler is None:
                    raise resource_not_found()
                return handler(request, kind)
            if len(tail) == 1:
                if method == "GET":
                    return self.get_object(request, kind, tail[0])
                if method == "PATCH":
                    return self.update_object(request, kind, tail[0])
                if method == "DELETE":
                    return self.archive_object(kind, tail[0])
                raise method_not_allowed(method)
        if version == "v3" and rest[:1] == ["properties"] and len(rest) in (2, 3):
            kind = _type(rest[1])
            if len(rest) == 2:
                if method == "GET":
                    return self.list_properties(request, kind)
                if method == "POST":
                    return self.create_property(request, kind)
                raise method_not_allowed(method)
            _allow(method, "GET")
            return self.get_property(kind, rest[2])
        if version == "v3" and rest[:1] == ["owners"]:
            _allow(method, "GET")
            if len(rest) == 1:
                return self.list_owners(request)
            if len(rest) == 2:
                return self.get_owner(request, rest[1])
        if version == "v4" and rest[:1] == ["objects"] and len(rest) >= 5 and rest[3] == \
                "associations":
            from_type, from_id = _type(rest[1]), rest[2]
            if len(rest) == 7 and rest[4] == "default":
                _allow(method, "PUT")
                return self.associate_default(from_type, from_id, _type(rest[5]), rest[6])
            to_type = _type(rest[4])
            if len(rest) == 5:
                _allow(method, "GET")
                return self.list_associations(request, from_type, from_id, to_type)
            if len(rest) == 6:
                if method == "PUT":
                    return self.associate_labels(request, from_type, from_id, to_type, rest[5])
                if method == "DELETE":
                    return self.dissociate(from_type, from_id, to_type, rest[5])
                raise method_not_allowed(method)
        if version == "v4" and rest[:1] == ["associations"] and len(rest) >= 5 and \
                rest[3] == "batch":
            _allow(method, "POST")
            from_type, to_type = _type(rest[1]), _type(rest[2])
            operation = "/".join(rest[4:])
            handlers = {
                "read": self.batch_read_associations,
                "associate/default": self.batch_associate_default,
                "create": self.batch_create_associations,
                "archive": self.batch_archive_associations,
            }
            handler = handlers.get(operation)
            if handler is None:
                raise resource_not_found()
            return handler(request, from_type, to_type)
        raise resource_not_found()

    # --- object views ------------------------------------------------------------------

    def view(
        self,
        record: Record,
        requested: list[str] | None,
        *,
        written: Iterable[str] = (),
        associations: list[str] | None = None,
        new: bool | None = None,
        history: list[str] | None = None,
    ) -> dict[str, Any]:
        """A record as the API returns it: requested (or default) properties, nulls for unset.

        Named properties always come with the record's id and its create and
        modified stamps, which the real API adds to every answer. ``history``
        names the properties whose ``propertiesWithHistory`` to add; unknown
        names are ignored, as the spec says.
        """
        kind = record.object_type
        names: list[str] = list(requested) if requested else list(DEFAULT_RETURNED[kind])
        names += list(written)
        created = "hs_createdate" if kind in ENGAGEMENTS else "createdate"
        names += [created, MODIFIED.get(kind, "hs_lastmodifieddate"), "hs_object_id"]
        known = self.portal.properties[kind]
        properties = {
            name: record.properties.get(name) for name in dict.fromkeys(names) if name in known
        }
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": properties,
            "createdAt": iso(record.created_at),
            "updatedAt": iso(record.updated_at),
            "archived": record.archived,
        }
        if record.archived_at is not None:
            body["archivedAt"] = iso(record.archived_at)
        if history:
            body["propertiesWithHistory"] = {
                name: record.history_json(name) for name in dict.fromkeys(history)
                if name in known
            }
        if new is not None:
            body["new"] = new
        if associations:
            linked: dict[str, Any] = {}
            for name in associations:
                other = object_type(name)
                if other is None:
                    continue
                results = [
                    {"id": str(to_id), "type": f"{SINGULAR[kind]}_to_{SINGULAR[other]}"}
                    for to_id in sorted(self.portal.linked(kind, record.id, other))
                ]
                if results:
                    linked[other] = {"results": results}
            if linked:
                body["associations"] = linked
        return body

    # --- single objects -------------------------------------------------------------------

    def list_objects(self, request: Request, kind: str) -> tuple[int, Any]:
        limit = _query_int(request, "limit", 10)
        if not 0 < limit <= MAX_PAGE:
            raise validation(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
        history = _query_list(request, "propertiesWithHistory")
        if history:
            limit = min(limit, MAX_HISTORY_PAGE)
        archived = _query_bool(request, "archived")
        after = _query_int(request, "after", 0)
        order = self.portal.order[kind]
        records = self.portal.records[kind]
        start = _bisect_right(order, after)
        page: list[Record] = []
        position = start
        while position < len(order) and len(page) < limit + 1:
            record = records[order[position]]
            if record.archived == archived:
                page.append(record)
            position += 1
        requested = _query_list(request, "properties")
        associations = _query_list(request, "associations")
        body: dict[str, Any] = {
            "results": [self.view(r, requested, associations=associations, history=history)
                        for r in page[:limit]]
        }
        if len(page) > limit:
            next_after = str(page[limit - 1].id)
            query = urlencode({"after": next_after, "limit": limit})
            body["paging"] = {
                "next": {"after": next_after,
                         "link": f"{request.host_url}crm/v3/objects/{kind}?{query}"}
            }
        return 200, body

    def get_object(self, request: Request, kind: str, object_id: str) -> tuple[int, Any]:
        record = self.lookup(kind, object_id, request.args.get("idProperty"),
                             archived=_query_bool(request, "archived"))
        return 200, self.view(record, _query_list(request, "properties"),
                              associations=_query_list(request, "associations"),
                              history=_query_list(request, "propertiesWithHistory"))

    def lookup(
        self, kind: str, object_id: str, id_property: str | None, *, archived: bool = False
    ) -> Record:
        """The record an id (or a unique ``idProperty`` value) names, or HubSpot's 404."""
        if id_property and id_property != "hs_object_id":
            self.require_unique(kind, id_property)
            record = None if archived else self.portal.find_unique(kind, id_property, object_id)
        else:
            record = self.portal.resolve(kind, object_id)  # a merged-away id: its merge
            if record is not None and record.archived != archived:
                record = None
        if record is None:
            raise object_not_found(object_id)
        return record

    def require_unique(self, kind: str, id_property: str) -> None:
        if not self.portal.is_unique(kind, id_property):
            # Guessed wording for an idProperty that is not a unique-value property.
            raise validation(
                f"Property {id_property} is not a unique identifier for {kind}. idProperty must "
                "be hs_object_id or a property with hasUniqueValue.",
            )

    def create_object(self, request: Request, kind: str) -> tuple[int, Any]:
        body = _body(request)
        values = _properties(body)
        links = self.association_inputs(kind, body.get("associations") or [])
        changes = self.portal.prepare(kind, values, None)
        self.portal.check_unique(kind, changes, None)
        record = self.portal.create(kind, changes)
        for to_type, to_id, type_id in links:
            self.portal.link(kind, record.id, to_type, to_id, type_id)
        return 201, self.view(record, None, written=record.properties)

    def association_inputs(self, kind: str, items: list[Any]) -> list[tuple[str, int, int]]:
        """``associations`` of a create body as (to type, to id, type id), all checked first."""
        links: list[tuple[str, int, int]] = []
        for item in items:
            to_id = str((item.get("to") or {}).get("id", ""))
            for spec in item.get("types") or []:
                type_id = int(spec.get("associationTypeId", 0))
                known = ASSOCIATION_TYPES.get(type_id)
                if known is None or known[0] != kind:
                    raise validation(
                        f"{type_id} is not a valid association type id from {kind}"
                    )  # guessed wording
                target = self.portal.live(known[1], to_id)
                if target is None:
                    raise validation(
                        f"One or more associated objects were not found: {known[1]} {to_id}"
                    )  # guessed wording
                links.append((known[1], target.id, type_id))
        return links

    def update_object(self, request: Request, kind: str, object_id: str) -> tuple[int, Any]:
        record = self.lookup(kind, object_id, request.args.get("idProperty"))
        changes = self.portal.prepare(kind, _properties(_body(request)), record)
        self.portal.check_unique(kind, changes, record.id)
        self.portal.update(record, changes)
        return 200, self.view(record, None, written=changes)

    def archive_object(self, kind: str, object_id: str) -> tuple[int, Any]:
        record = self.portal.live(kind, object_id)
        if record is not None:
            self.portal.archive(record)
        return 204, None  # HubSpot answers 204 even for an id it does not know

    # --- batches -----------------------------------------------------------------------------

    def batch_inputs(self, request: Request, limit: int = MAX_BATCH
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = _body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise validation("Invalid input JSON: inputs is required")  # guessed wording
        if len(inputs) > limit:
            # Guessed wording, modelled on HubSpot's limit message for property histories.
            raise validation(
                f"The maximum number of inputs supported in a batch request is {limit}. "
                "Please reduce the number of items and try again",
                context={"inputs": [str(len(inputs))]},
            )
        return body, [i if isinstance(i, dict) else {} for i in inputs]

    def batch_answer(
        self,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        started: datetime,
        ok_status: int = 200,
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(started),
            "completedAt": iso(self.clock()),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return 207, body
        return ok_status, body

    def batch_create(self, request: Request, kind: str) -> tuple[int, Any]:
        started = self.clock()
        _, inputs = self.batch_inputs(request)
        prepared = []
        claimed: dict[tuple[str, str], int] = {}
        for item in inputs:
            changes = self.portal.prepare(kind, _properties(item), None)
            links = self.association_inputs(kind, item.get("associations") or [])
            prepared.append((changes, links))
        for changes, _ in prepared:
            self.portal.check_unique(kind, changes, None, claimed)
        results = []
        for (changes, links), item in zip(prepared, inputs, strict=True):
            record = self.portal.create(kind, changes)
            for to_type, to_id, type_id in links:
                self.portal.link(kind, record.id, to_type, to_id, type_id)
            results.append(_traced(self.view(record, None, written=record.properties), item))
        return self.batch_answer(results, [], started, ok_status=201)

    def batch_read(self, request: Request, kind: str) -> tuple[int, Any]:
        started = self.clock()
        body, inputs = self.batch_inputs(request)
        id_property = body.get("idProperty")
        if id_property and id_property != "hs_object_id":
            self.require_unique(kind, id_property)
        archived = _query_bool(request, "archived")
        requested = body.get("properties") or None
        history = body.get("propertiesWithHistory") or None
        results, missing = [], []
        seen: set[int] = set()
        for item in inputs:
            key = str(item.get("id", ""))
            try:
                record = self.lookup(kind, key, id_property, archived=archived)
            except ApiError:
                missing.append(key)
                continue
            if record.id not in seen:
                seen.add(record.id)
                results.append(self.view(record, requested, history=history))
        errors = []
        if missing:
            errors.append(standard_error(
                "OBJECT_NOT_FOUND",
                f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or "
                "not exist. Check that ids are valid.",
                {"ids": missing},
            ))
        return self.batch_answer(results, errors, started)

    def batch_update(self, request: Request, kind: str) -> tuple[int, Any]:
        started = self.clock()
        _, inputs = self.batch_inputs(request)
        _no_duplicates([str(i.get("id", "")) for i in inputs])
        found, missing = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            try:
                record = self.lookup(kind, key, item.get("idProperty"))
            except ApiError:
                missing.append(key)
                continue
            found.append((record, self.portal.prepare(kind, _properties(item), record), item))
        claimed: dict[tuple[str, str], int] = {}
        for record, changes, _ in found:
            self.portal.check_unique(kind, changes, record.id, claimed)
        results = []
        for record, changes, item in found:
            self.portal.update(record, changes)
            results.append(_traced(self.view(record, None, written=changes), item))
        errors = []
        if missing:
            # Guessed wording, modelled on batch read's.
            errors.append(standard_error(
                "OBJECT_NOT_FOUND",
                f"Could not update some {SINGULAR[kind].upper()} objects, they may be deleted "
                "or not exist. Check that ids are valid.",
                {"ids": missing},
            ))
        return self.batch_answer(results, errors, started)

    def batch_upsert(self, request: Request, kind: str) -> tuple[int, Any]:
        """Create or update by a unique ``idProperty``; each result says whether it is ``new``."""
        started = self.clock()
        _, inputs = self.batch_inputs(request)
        plans = []
        for item in inputs:
            id_property = str(item.get("idProperty") or "hs_object_id")
            self.require_unique(kind, id_property)
            plans.append((id_property, str(item.get("id", ""))))
        _no_duplicates([f"{p}={v}" for p, v in plans], shown=[v for _, v in plans])
        prepared = []
        for (id_property, key), item in zip(plans, inputs, strict=True):
            record = self.portal.find_unique(kind, id_property, key)
            values = dict(_properties(item))
            if record is None and id_property != "hs_object_id":
                values.setdefault(id_property, key)
            prepared.append((record, self.portal.prepare(kind, values, record), id_property))
        claimed: dict[tuple[str, str], int] = {}
        for record, changes, _ in prepared:
            self.portal.check_unique(kind, changes, record.id if record else None, claimed)
        results = []
        for (record, changes, id_property), item in zip(prepared, inputs, strict=True):
            written = [*changes, id_property]  # the answer names the record by its idProperty
            if record is None:
                created = self.portal.create(kind, changes)
                written += list(created.properties)  # a create answers with what it stored
                results.append(_traced(self.view(created, None, written=written, new=True),
                                       item))
            else:
                self.portal.update(record, changes)
                results.append(_traced(self.view(record, None, written=written, new=False),
                                       item))
        return self.batch_answer(results, [], started)

    def batch_archive(self, request: Request, kind: str) -> tuple[int, Any]:
        _, inputs = self.batch_inputs(request)
        for item in inputs:
            record = self.portal.live(kind, str(item.get("id", "")))
            if record is not None:
                self.portal.archive(record)
        return 204, None

    # --- merge --------------------------------------------------------------------------------

    def merge(self, request: Request, kind: str) -> tuple[int, Any]:
        """``POST /crm/v3/objects/{type}/merge`` (``PublicMergeInput``): 200 with the merged
        record as ``SimplePublicObject`` (spec, contacts v3); what a merge does is
        ``Portal.merge``'s. Every refusal is a 400 VALIDATION_ERROR; the wording
        is ours, no real body for these cases could be found.
        """
        if kind not in MERGEABLE:
            raise resource_not_found()
        body = _body(request)
        missing = [k for k in ("primaryObjectId", "objectIdToMerge") if not body.get(k)]
        if missing:
            raise validation(f"Missing required fields: {', '.join(missing)}")  # guessed
        primary, secondary = self.portal.merge_pair(kind, str(body["primaryObjectId"]),
                                                    str(body["objectIdToMerge"]))
        record = self.portal.merge(primary, secondary)
        return 200, self.view(record, None, written=record.properties)

    # --- search -------------------------------------------------------------------------------

    def search(self, request: Request, kind: str) -> tuple[int, Any]:
        body = _body(request)
        page, total, offset = search_module.search(self.portal, kind, body)
        requested = body.get("properties") or None
        answer: dict[str, Any] = {
            "total": total,
            "results": [self.view(r, requested) for r in page],
        }
        end = offset + len(page)
        if page and end < total:
            answer["paging"] = {"next": {"after": str(end)}}
        return 200, answer

    # --- properties ------------------------------------------------------------------------------

    def list_properties(self, request: Request, kind: str) -> tuple[int, Any]:
        if _query_bool(request, "archived"):
            return 200, {"results": []}
        wanted = _query_list(request, "properties")
        props = self.portal.properties[kind].values()
        return 200, {
            "results": [self.property_json(p) for p in props if not wanted or p.name in wanted]
        }

    def property_json(self, definition: PropertyDef) -> dict[str, Any]:
        body = definition.to_json()
        if definition.name == "hubspot_owner_id":
            body["options"] = [
                Option(o.id, f"{o.first_name} {o.last_name}", i).to_json()
                for i, o in enumerate(self.portal.owners) if not o.archived
            ]
        return body

    def get_property(self, kind: str, name: str) -> tuple[int, Any]:
        definition = self.portal.properties[kind].get(name)
        if definition is None:
            raise ApiError(404, error_body(
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} for object type {OBJECT_TYPE_IDS[kind]}",
            ))  # guessed wording
        return 200, self.property_json(definition)

    def create_property(self, request: Request, kind: str) -> tuple[int, Any]:
        body = _body(request)
        required = ("name", "label", "type", "fieldType", "groupName")
        missing = [k for k in required if not body.get(k)]
        if missing:
            raise validation(f"Missing required fields: {', '.join(missing)}")  # guessed
        name = str(body["name"])
        if not name.replace("_", "").isalnum() or name != name.lower() or not name[0].isalpha():
            raise validation(
                f"Property name {name} is invalid: names start with a letter and hold only "
                "lowercase letters, digits and underscores"
            )  # guessed wording
        if name in self.portal.properties[kind]:
            raise ApiError(409, error_body(
                "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists."
            ))  # guessed wording
        kind_name, field_type = str(body["type"]), str(body["fieldType"])
        if kind_name not in TYPES:
            raise validation(f"Unknown property type {kind_name}")
        if field_type not in FIELD_TYPES[kind_name]:
            raise validation(f"fieldType {field_type} is not valid for type {kind_name}")
        if kind_name == "enumeration" and not body.get("options") and field_type != \
                "booleancheckbox":
            raise validation("Enumeration properties need at least one option")  # guessed
        if kind_name == "bool":
            body.setdefault("options", [{"label": "Yes", "value": "true"},
                                        {"label": "No", "value": "false"}])
        now = iso(self.clock())
        definition = PropertyDef.from_json({**body, "hubspotDefined": False,
                                            "createdAt": now, "updatedAt": now})
        self.portal.add_property(kind, definition)
        return 201, self.property_json(definition)

    # --- owners ----------------------------------------------------------------------------------

    def list_owners(self, request: Request) -> tuple[int, Any]:
        limit = _query_int(request, "limit", 100)
        if not 0 < limit <= MAX_OWNER_PAGE:
            raise validation(f"limit must be between 1 and {MAX_OWNER_PAGE}; got {limit}")
        archived = _query_bool(request, "archived")
        email = (request.args.get("email") or "").lower()
        owners = [
            o for o in self.portal.owners
            if o.archived == archived and (not email or o.email.lower() == email)
        ]
        after = _query_int(request, "after", 0)
        page = owners[after : after + limit]
        body: dict[str, Any] = {"results": [o.to_json() for o in page]}
        if after + limit < len(owners):
            query = urlencode({"after": after + limit, "limit": limit})
            body["paging"] = {"next": {"after": str(after + limit),
                                       "link": f"{request.host_url}crm/v3/owners/?{query}"}}
        return 200, body

    def get_owner(self, request: Request, owner_id: str) -> tuple[int, Any]:
        by_user = request.args.get("idProperty", "id") == "userId"
        archived = _query_bool(request, "archived")
        for owner in self.portal.owners:
            key = str(owner.user_id) if by_user else owner.id
            if key == owner_id and owner.archived == archived:
                return 200, owner.to_json()
        raise object_not_found(owner_id)

    # --- associations v4 -------------------------------------------------------------------------

    def spec(self, type_id: int) -> dict[str, Any]:
        return {"category": "HUBSPOT_DEFINED", "typeId": type_id,
                "label": ASSOCIATION_TYPES[type_id][2]}

    def list_associations(
        self, request: Request, from_type: str, from_id: str, to_type: str
    ) -> tuple[int, Any]:
        limit = _query_int(request, "limit", MAX_ASSOCIATION_PAGE)
        if not 0 < limit <= MAX_ASSOCIATION_PAGE:
            raise validation(f"limit must be between 1 and {MAX_ASSOCIATION_PAGE}")
        record = self.portal.live(from_type, from_id)
        linked = self.portal.linked(from_type, record.id, to_type) if record else {}
        after = _query_int(request, "after", 0)
        ids = [i for i in sorted(linked) if i > after]
        body: dict[str, Any] = {
            "results": [
                {"toObjectId": i, "associationTypes": [self.spec(t) for t in linked[i]]}
                for i in ids[:limit]
            ]
        }
        if len(ids) > limit:
            next_after = str(ids[limit - 1])
            query = urlencode({"after": next_after, "limit": limit})
            body["paging"] = {"next": {
                "after": next_after,
                "link": f"{request.host_url}crm/v4/objects/{from_type}/{from_id}/associations/"
                f"{to_type}?{query}",
            }}
        return 200, body

    def pair(self, from_type: str, from_id: str, to_type: str, to_id: str) -> tuple[Record, Record]:
        source = self.portal.live(from_type, from_id)
        if source is None:
            raise object_not_found(from_id)
        target = self.portal.live(to_type, to_id)
        if target is None:
            raise object_not_found(to_id)
        if (from_type, to_type) not in DEFAULT_TYPE:
            raise validation(f"No association type exists between {from_type} and {to_type}")
        return source, target

    def associate_default(
        self, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> tuple[int, Any]:
        started = self.clock()
        source, target = self.pair(from_type, from_id, to_type, to_id)
        type_id = DEFAULT_TYPE[(from_type, to_type)]
        self.portal.link(from_type, source.id, to_type, target.id, type_id)
        results = [self.default_result(from_type, source.id, to_type, target.id)]
        results.append(self.default_result(to_type, target.id, from_type, source.id))
        return self.batch_answer(results, [], started)

    def default_result(self, from_type: str, from_id: int, to_type: str,
                       to_id: int) -> dict[str, Any]:
        return {
            "from": {"id": str(from_id)},
            "to": {"id": str(to_id)},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": DEFAULT_TYPE[(from_type, to_type)]},
        }

    def associate_labels(
        self, request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> tuple[int, Any]:
        source, target = self.pair(from_type, from_id, to_type, to_id)
        specs = _body(request, expect=list)
        type_ids = self.check_specs(from_type, to_type, specs)
        for type_id in type_ids:
            self.portal.link(from_type, source.id, to_type, target.id, type_id)
        return 201, self.labels_between(from_type, source.id, to_type, target.id)

    def check_specs(self, from_type: str, to_type: str, specs: list[Any]) -> list[int]:
        type_ids = []
        for spec in specs:
            type_id = int((spec or {}).get("associationTypeId", 0))
            known = ASSOCIATION_TYPES.get(type_id)
            if known is None or known[:2] != (from_type, to_type):
                raise validation(
                    f"associationTypeId {type_id} is not valid from {from_type} to {to_type}"
                )  # guessed wording
            type_ids.append(type_id)
        return type_ids

    def labels_between(self, from_type: str, from_id: int, to_type: str,
                       to_id: int) -> dict[str, Any]:
        types = self.portal.linked(from_type, from_id, to_type).get(to_id, [])
        return {
            "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
            "fromObjectId": from_id,
            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
            "toObjectId": to_id,
            "labels": [label for t in types if (label := ASSOCIATION_TYPES[t][2])],
        }

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> tuple[int, Any]:
        source = self.portal.live(from_type, from_id)
        if source is not None:
            with contextlib.suppress(ValueError):
                self.portal.unlink(from_type, source.id, to_type, int(to_id))
        return 204, None

    def batch_read_associations(
        self, request: Request, from_type: str, to_type: str
    ) -> tuple[int, Any]:
        started = self.clock()
        _, inputs = self.batch_inputs(request, MAX_ASSOCIATION_READ)
        results, errors = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            record = self.portal.live(from_type, key)
            linked = self.portal.linked(from_type, record.id, to_type) if record else {}
            if not linked:
                # Guessed wording; HubSpot reports ids without associations as errors (207).
                errors.append(standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} {key}.",
                    {"fromObjectId": [key]},
                    subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
                ))
                continue
            results.append({
                "from": {"id": key},
                "to": [
                    {"toObjectId": i, "associationTypes": [self.spec(t) for t in linked[i]]}
                    for i in sorted(linked)
                ],
            })
        return self.batch_answer(results, errors, started)

    def batch_associate_default(
        self, request: Request, from_type: str, to_type: str
    ) -> tuple[int, Any]:
        started = self.clock()
        _, inputs = self.batch_inputs(request)
        pairs = [
            self.pair(from_type, str((i.get("from") or {}).get("id", "")), to_type,
                      str((i.get("to") or {}).get("id", "")))
            for i in inputs
        ]
        results = []
        for source, target in pairs:
            self.portal.link(from_type, source.id, to_type, target.id,
                             DEFAULT_TYPE[(from_type, to_type)])
            results.append(self.default_result(from_type, source.id, to_type, target.id))
        return self.batch_answer(results, [], started)

    def batch_create_associations(
        self, request: Request, from_type: str, to_type: str
    ) -> tuple[int, Any]:
        started = self.clock()
        _, inputs = self.batch_inputs(request)
        planned = []
        for item in inputs:
            source, target = self.pair(from_type, str((item.get("from") or {}).get("id", "")),
                                       to_type, str((item.get("to") or {}).get("id", "")))
            planned.append((source, target, self.check_specs(from_type, to_type,
                                                             item.get("types") or [])))
        results = []
        for source, target, type_ids in planned:
            for type_id in type_ids:
                self.portal.link(from_type, source.id, to_type, target.id, type_id)
            results.append(self.labels_between(from_type, source.id, to_type, target.id))
        return self.batch_answer(results, [], started, ok_status=201)

    def batch_archive_associations(
        self, request: Request, from_type: str, to_type: str
    ) -> tuple[int, Any]:
        _, inputs = self.batch_inputs(request)
        for item in inputs:
            source = self.portal.live(from_type, str((item.get("from") or {}).get("id", "")))
            if source is None:
                continue
            for target in item.get("to") or []:
                try:
                    self.portal.unlink(from_type, source.id, to_type, int(target.get("id")))
                except (TypeError, ValueError):
                    continue
        return 204, None


# --- request helpers ------------------------------------------------------------------------------


def _type(name: str) -> str:
    kind = object_type(name)
    if kind is None:
        raise unknown_object_type(name)
    return kind


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise method_not_allowed(method)


def _body(request: Request, expect: type = dict) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return expect()
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_json(exc.msg) from None
    if not isinstance(body, expect):
        raise bad_json(f"expected a JSON {'object' if expect is dict else 'array'}")
    return body


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise bad_json("properties must be an object of name -> value")
    return properties


def _query_int(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation(f"{name} must be an integer; got {raw!r}") from None


def _query_bool(request: Request, name: str) -> bool:
    return (request.args.get(name) or "false").lower() == "true"


def _query_list(request: Request, name: str) -> list[str]:
    """Repeated (``?p=a&p=b``, how the client sends lists) or comma-separated values."""
    return [v for raw in request.args.getlist(name) for v in raw.split(",") if v]


def _no_duplicates(keys: list[str], shown: list[str] | None = None) -> None:
    seen: set[str] = set()
    duplicates: list[str] = []
    for key, label in zip(keys, shown or keys, strict=True):
        if key in seen and label not in duplicates:
            duplicates.append(label)
        seen.add(key)
    if duplicates:
        raise validation(
            f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique"
        )


def _bisect_right(order: list[int], value: int) -> int:
    return bisect.bisect_right(order, value)


def _traced(result: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """HubSpot echoes an input's ``objectWriteTraceId`` on its result, the one way a
    client can match batch results (which come in any order) to its inputs."""
    if item.get("objectWriteTraceId"):
        result["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return result

"""``POST /crm/v3/objects/{type}/search``: filter groups, sorts, paging and HubSpot's caps.

Filter groups are ORed, filters inside a group ANDed. Values compare by the
property's type (numbers numerically, dates and datetimes as epoch
milliseconds, strings case-insensitively). Paging is an offset in ``after``,
as the real endpoint's cursor is; the real API refuses to page past 10,000
results with a 400, and a page holds at most 200. Limits on groups and
filters follow HubSpot's changelog of August 2024 (5 groups, 10 filters a
group, 25 in all).

Candidates come from an index where one applies (an EQ/IN on a unique
property, or a range on the last-modified stamp), so a "changed since the
cursor" query on 10,000 contacts touches only the changed ones.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from .errors import validation
from .schema import MODIFIED, PropertyDef, to_millis
from .store import Portal, Record

MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = {
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
    "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
}
_RANGE = {"GT", "GTE", "LT", "LTE", "BETWEEN", "EQ"}


def search(portal: Portal, object_type: str, body: dict[str, Any]) -> tuple[list[Record], int, int]:
    """Matching records for one page, the total, and the offset of the page."""
    limit = _int(body.get("limit", 10), "limit")
    if limit > MAX_LIMIT or limit < 0:
        raise validation(f"limit must be between 0 and {MAX_LIMIT}; got {limit}")
    offset = _int(body.get("after") or 0, "after")
    if offset >= MAX_RESULTS:
        # Guessed wording; the status (400) and the 10,000 cap are documented.
        raise validation(
            f"The search API is limited to {MAX_RESULTS} results; paging to after={offset} "
            "is past that limit. Narrow the filters (e.g. on hs_object_id or the "
            "last-modified date) instead."
        )
    groups = body.get("filterGroups") or []
    definitions = portal.properties[object_type]
    _check_shape(groups, definitions)
    candidates = _candidates(portal, object_type, groups)
    query = str(body.get("query") or "").strip().lower()
    matches = [
        r
        for r in candidates
        if not r.archived
        and (not groups or any(_group(r, g, definitions) for g in groups))
        and (not query or _query(r, query))
    ]
    matches.sort(key=lambda r: r.id)
    for prop, descending in reversed(_sorts(body.get("sorts") or [])):
        definition = definitions.get(prop)
        if definition is None:
            continue
        present = [r for r in matches if r.properties.get(prop, "") != ""]
        absent = [r for r in matches if r.properties.get(prop, "") == ""]
        present.sort(key=lambda r, d=definition, p=prop: d.sort_key(r.properties[p]),
                     reverse=descending)
        matches = present + absent
    total = len(matches)
    return matches[offset : min(offset + limit, MAX_RESULTS)], total, offset


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise validation(f"{name} must be an integer; got {value!r}") from None


def _check_shape(groups: list[Any], definitions: dict[str, PropertyDef]) -> None:
    if len(groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups ({len(groups)}). The limit is {MAX_GROUPS}.")
    count = 0
    for group in groups:
        filters = group.get("filters") or []
        count += len(filters)
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(
                f"Too many filters in group ({len(filters)}). The limit is "
                f"{MAX_FILTERS_PER_GROUP}."
            )
        for item in filters:
            operator = item.get("operator")
            if operator not in OPERATORS:
                raise validation(f"Invalid filter operator: {operator}")
    if count > MAX_FILTERS:
        raise validation(f"Too many filters ({count}). The limit is {MAX_FILTERS}.")


def _candidates(portal: Portal, object_type: str, groups: list[dict[str, Any]]) -> list[Record]:
    """Records worth checking: the union of each group's narrowest index hit."""
    records = portal.records[object_type]
    if not groups:
        return list(records.values())
    ids: set[int] = set()
    for group in groups:
        narrowed = _narrow(portal, object_type, group.get("filters") or [])
        if narrowed is None:
            return list(records.values())
        ids.update(narrowed)
    return [records[i] for i in ids]


def _narrow(portal: Portal, object_type: str, filters: list[dict[str, Any]]) -> set[int] | None:
    modified_names = {"hs_lastmodifieddate", MODIFIED.get(object_type, "hs_lastmodifieddate")}
    for item in filters:
        prop, operator = item.get("propertyName"), item.get("operator")
        if operator in ("EQ", "IN") and prop and portal.is_unique(object_type, prop):
            values = [item.get("value")] if operator == "EQ" else item.get("values") or []
            found = (portal.find_unique(object_type, prop, str(v)) for v in values if v is not None)
            return {r.id for r in found if r is not None}
    for item in filters:
        prop, operator = item.get("propertyName"), item.get("operator")
        if prop in modified_names and operator in _RANGE:
            entries = portal.modified[object_type]
            low, high = float("-inf"), float("inf")
            try:
                value = to_millis(str(item.get("value")))
                if operator in ("GT", "GTE", "EQ", "BETWEEN"):
                    low = value
                if operator in ("LT", "LTE", "EQ"):
                    high = value
                if operator == "BETWEEN":
                    high = to_millis(str(item.get("highValue")))
            except (ValueError, TypeError):
                return None
            start = bisect.bisect_left(entries, (low, -1))
            stop = bisect.bisect_right(entries, (high, float("inf")))
            return {record_id for _, record_id in entries[start:stop]}
    return None


def _group(record: Record, group: dict[str, Any], definitions: dict[str, PropertyDef]) -> bool:
    return all(_match(record, f, definitions) for f in group.get("filters") or [])


def _match(record: Record, item: dict[str, Any], definitions: dict[str, PropertyDef]) -> bool:
    prop = str(item.get("propertyName") or "")
    operator = item.get("operator")
    stored = record.properties.get(prop, "")
    if prop == "hs_object_id":
        stored = str(record.id)
    if operator == "HAS_PROPERTY":
        return stored != ""
    if operator == "NOT_HAS_PROPERTY":
        return stored == ""
    definition = definitions.get(prop)
    if definition is None:
        return False
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        found = _contains_token(stored, str(item.get("value") or ""))
        return found if operator == "CONTAINS_TOKEN" else not found
    if operator in ("IN", "NOT_IN"):
        values = [_key(definition, str(v)) for v in item.get("values") or []]
        inside = stored != "" and _key(definition, stored) in values
        return inside if operator == "IN" else not inside
    if operator == "NEQ":
        return stored == "" or _key(definition, stored) != _key(definition, item.get("value"))
    if stored == "":
        return False
    have = _key(definition, stored)
    want = _key(definition, item.get("value"))
    if have is None or want is None:
        return False
    try:
        if operator == "EQ":
            return bool(have == want)
        if operator == "GT":
            return bool(have > want)
        if operator == "GTE":
            return bool(have >= want)
        if operator == "LT":
            return bool(have < want)
        if operator == "LTE":
            return bool(have <= want)
        if operator == "BETWEEN":
            high = _key(definition, item.get("highValue"))
            return bool(want <= have <= high)
    except TypeError:
        return False
    return False


def _key(definition: PropertyDef, value: Any) -> Any:
    """A filter or stored value in comparable form; None when it cannot be read."""
    if value is None:
        return None
    text = str(value)
    try:
        if definition.type == "number" or definition.name == "hs_object_id":
            return float(text)
        if definition.type in ("date", "datetime"):
            return to_millis(text)
    except (ValueError, TypeError, OverflowError):
        return None
    if definition.type == "bool":
        return text.strip().lower()
    return text.lower()


def _contains_token(stored: str, pattern: str) -> bool:
    """A whole word of the value matches; ``*`` is a wildcard (``*@acme.com``)."""
    if not stored or not pattern:
        return False
    regex = re.compile(
        "^" + ".*".join(re.escape(part) for part in pattern.lower().split("*")) + "$"
    )
    if regex.match(stored.lower()):
        return True
    return any(regex.match(token) for token in re.split(r"[\s,;]+", stored.lower()) if token)


def _query(record: Record, query: str) -> bool:
    """The free-text ``query``: a token prefix in the default searchable properties."""
    for name in ("email", "firstname", "lastname", "phone", "company", "name", "domain",
                 "dealname", "hs_task_subject", "hs_note_body"):
        value = record.properties.get(name, "").lower()
        if value and any(t.startswith(query) for t in re.split(r"[\s@.]+", value) + [value]):
            return True
    return False


def _sorts(sorts: list[Any]) -> list[tuple[str, bool]]:
    """``["-createdate"]`` and ``[{"propertyName": ..., "direction": ...}]`` both work."""
    parsed: list[tuple[str, bool]] = []
    for item in sorts:
        if isinstance(item, str):
            parsed.append((item.lstrip("-"), item.startswith("-")))
        elif isinstance(item, dict) and item.get("propertyName"):
            parsed.append((str(item["propertyName"]),
                           str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"))
    return parsed

"""Reading records for a bound SOQL query: indexes first, scan semantics always.

``soql.plan`` turns the WHERE tree into candidate ids from the org's lookup
indexes (or None: scan). Candidates are put back in creation order, which is
the order a scan visits rows in, and ``soql.execute`` then applies the full
predicate, ORDER BY, OFFSET and LIMIT to them exactly as it would to the
whole table; so an index changes how fast a query is, never its answer.

Rows are the stored records, not copies: the org's lock is held from the
plan until the projected (new) result dicts exist. That is what lets a
query against 1,000,000 records touch only the few it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import soql
from .ids import normalize_id
from .schema import Field
from .store import Org, Record


def select(
    org: Org,
    bound: soql.BoundQuery,
    *,
    include_deleted: bool,
    record_url: Callable[[str, str], str],
    within: Iterable[str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Run ``bound`` against the org: (totalSize, projected records).

    ``within`` narrows the candidates further (SOSL passes its search hits).
    """
    sobject = bound.sobject
    with org.lock:
        table = org.stored(sobject)

        def probe(f: Field, keys: list[Any]) -> set[str] | None:
            return org.probe(sobject, f.name, keys)

        def size(f: Field, keys: list[Any]) -> int | None:
            return org.probe_size(sobject, f.name, keys)

        def compound(keyed: dict[str, list[Any]]) -> set[str] | None:
            return org.probe_compound(sobject, keyed)

        lookup = _peek(org)

        def check(expr: Any, ids: set[str]) -> set[str]:
            return {i for i in ids if soql.matches(expr, table[i], lookup)}

        ids = (soql.plan(bound.where, probe, size, compound=compound, check=check)
               if bound.where is not None else None)
        if within is not None:
            hits = set(within)
            ids = hits if ids is None else ids & hits
        if ids is None:
            rows: list[Record] = [
                r for r in table.values() if include_deleted or not r.get("IsDeleted")
            ]
        else:
            rows = [
                table[i]
                for i in org.in_creation_order(sobject, ids)
                if include_deleted or not table[i].get("IsDeleted")
            ]
        return soql.execute(bound, rows, lookup=lookup, record_url=record_url)


def _peek(org: Org) -> Callable[[str], Record | None]:
    def lookup(record_id: str) -> Record | None:
        found = org.peek(record_id)
        if found is None:
            canonical = normalize_id(record_id)
            found = org.peek(canonical) if canonical and canonical != record_id else None
        return found

    return lookup

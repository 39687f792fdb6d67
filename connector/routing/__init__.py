"""Lead routing: account owner, then territories and their round-robin pools, then a
fallback. Every decision carries its reason and is stored with it.

The cycle builds one ``Router`` per run and calls ``route_batch`` per batch::

    from connector.routing import Router, RoutingInput, RoutingStore

    router = Router(config.routing, RoutingStore(state.engine))
    decisions = router.route_batch(inputs, active_owner_ids)

Names are imported on first use: ``connector.config`` imports
``connector.routing.config`` for ``RoutingConfig``, and loading the config
should not pull in the store and the router (nor, through ``check``, the
config module itself).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.routing.check import routing_findings
    from connector.routing.config import RoutingConfig
    from connector.routing.pool import Away, Ledger
    from connector.routing.router import Assignment, Clock, RepStatus, Router, UnknownRep
    from connector.routing.rules import (
        AccountHint,
        AccountIndex,
        KnownAccount,
        RoutingInput,
        by_score,
        company_key,
        domain_of,
    )
    from connector.routing.store import Current, RoutingAssignment, RoutingStore

_WHERE = {
    "routing_findings": "check", "RoutingConfig": "config", "Away": "pool", "Ledger": "pool",
    "Assignment": "router", "Clock": "router", "RepStatus": "router", "Router": "router",
    "UnknownRep": "router", "AccountHint": "rules", "AccountIndex": "rules",
    "KnownAccount": "rules", "RoutingInput": "rules", "by_score": "rules",
    "company_key": "rules", "domain_of": "rules", "Current": "store",
    "RoutingAssignment": "store", "RoutingStore": "store",
}

__all__ = [
    "AccountHint", "AccountIndex", "Assignment", "Away", "Clock", "Current", "KnownAccount",
    "Ledger", "RepStatus", "Router", "RoutingAssignment", "RoutingConfig", "RoutingInput",
    "RoutingStore", "UnknownRep", "by_score", "company_key", "domain_of", "routing_findings",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'connector.routing' has no attribute {name!r}")
    return getattr(import_module(f"connector.routing.{module}"), name)


def __dir__() -> list[str]:
    return __all__

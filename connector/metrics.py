"""What the daemon's own process measures as it runs, for `/metrics` (Prometheus).

What leadsync stores (runs, records, dead letters, clocks) is read from the state
database at each scrape (``connector.health``), so every instance and `leadsync serve`
say the same. What only the running process sees is kept here: each batch's duration
and the CRM's API allocation as its last response said.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge, Histogram

BATCH_SECONDS = Histogram(
    "leadsync_batch_duration_seconds",
    "Seconds to hand one batch of leads to the CRM (qualify, match, route, write).",
    ["pipeline"], buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
API_USED = Gauge("leadsync_crm_api_calls_used",
                 "API calls the CRM counts as used in its current allocation (the org's "
                 "day), as the CRM's last response said.", ["pipeline", "crm"])
API_REMAINING = Gauge("leadsync_crm_api_calls_remaining",
                      "API calls left in the CRM's current allocation, as its last response "
                      "said.", ["pipeline", "crm"])


def record_usage(pipeline: str, crm: Any) -> None:
    """The adapter's usage meter, if it has read one, into the two gauges."""
    usage = getattr(crm, "usage", None)
    used, left = getattr(usage, "used", None), getattr(usage, "remaining", None)
    name = getattr(crm, "name", "crm")
    if used is not None:
        API_USED.labels(pipeline, name).set(used)
    if left is not None:
        API_REMAINING.labels(pipeline, name).set(left)

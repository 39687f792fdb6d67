"""The org's daily API request allocation, as ``Sforce-Limit-Info`` and ``/limits`` show it.

Salesforce counts API requests over 24 hours against an allocation set by
edition and licences; past it, every call is refused with 403
``REQUEST_LIMIT_EXCEEDED`` ("TotalRequests Limit exceeded.") until usage
drops. The sandbox keeps a calendar-day (UTC, from the injected clock)
counter instead of a rolling window: simpler to reason about in tests, and
the same behaviour at the edge that matters (the call after the last allowed
one is refused). A refused call is not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import ApiError

DEFAULT_DAILY_API_ALLOCATION = 15000


def request_limit_exceeded(headers: dict[str, str]) -> ApiError:
    return ApiError(
        403,
        [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        headers=headers,
    )


class ApiUsage:
    """Today's REST call count against a changeable allocation; thread-safe."""

    def __init__(self, clock: Callable[[], datetime], allocation: int) -> None:
        if allocation < 0:
            raise ValueError("daily_api_allocation must not be negative")
        self._clock = clock
        self.allocation = allocation
        self._day: str | None = None
        self._used = 0
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = self._clock().date().isoformat()
        if day != self._day:
            self._day, self._used = day, 0

    def consume(self) -> int:
        """Count one call and return today's usage; 403 if the allocation is spent."""
        with self._lock:
            self._roll()
            if self._used >= self.allocation:
                raise request_limit_exceeded(self._header_unlocked())
            self._used += 1
            return self._used

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    def set_used(self, used: int) -> None:
        """Pretend ``used`` calls were made today (tests of near-limit behaviour)."""
        if used < 0:
            raise ValueError("API usage must not be negative")
        with self._lock:
            self._roll()
            self._used = used

    def header(self) -> dict[str, str]:
        with self._lock:
            self._roll()
            return self._header_unlocked()

    def _header_unlocked(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self._used}/{self.allocation}"}

    def limits(self) -> dict[str, Any]:
        """The ``/limits`` body: the daily allocation live, the rest fixed defaults."""
        with self._lock:
            self._roll()
            remaining = max(self.allocation - self._used, 0)
            allocation = self.allocation
        return {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": {"Max": allocation, "Remaining": remaining},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "HourlyTimeBasedWorkflow": {"Max": 50, "Remaining": 50},
            "SingleEmail": {"Max": 15, "Remaining": 15},
        }

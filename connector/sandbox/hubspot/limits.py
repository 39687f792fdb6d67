"""HubSpot's request limits: a ten-second rolling burst window, a daily quota, search per second.

Defaults are a private app on a Professional account (HubSpot changelog
"Increasing our API limits": 190 requests per 10 seconds, 650,000 a day)
and the search endpoints' own limit of five requests per second. Every
answered request carries the ``X-HubSpot-RateLimit-*`` headers; a refused
one gets 429 with ``errorType: RATE_LIMIT`` and a ``policyName`` naming the
window (``TEN_SECONDLY_ROLLING``, ``DAILY``, ``SECONDLY`` for search), the
body community answers quote from the real API. Refused requests are not
counted. The daily quota resets at midnight UTC of the injected clock (the
real one follows the account's time zone); all windows read the injected
clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime

from .errors import ApiError, correlation_id

DEFAULT_TEN_SECOND_LIMIT = 190
DEFAULT_INTERVAL_MS = 10_000
DEFAULT_DAILY_LIMIT = 650_000
DEFAULT_SEARCH_PER_SECOND = 5


class RateLimits:
    """The counters behind one token; thread-safe, all knobs changeable at runtime."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        max_requests: int = DEFAULT_TEN_SECOND_LIMIT,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        daily_limit: int = DEFAULT_DAILY_LIMIT,
        search_per_second: int = DEFAULT_SEARCH_PER_SECOND,
    ) -> None:
        self.clock = clock
        self.max_requests = max_requests
        self.interval_ms = interval_ms
        self.daily_limit = daily_limit
        self.search_per_second = search_per_second
        self._window: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day: str | None = None
        self._daily_used = 0
        self._lock = threading.Lock()

    def _now_ms(self) -> float:
        return self.clock().timestamp() * 1000

    def _roll(self, now_ms: float) -> None:
        day = self.clock().date().isoformat()
        if day != self._day:
            self._day, self._daily_used = day, 0
        while self._window and self._window[0] <= now_ms - self.interval_ms:
            self._window.popleft()
        while self._search and self._search[0] <= now_ms - 1000:
            self._search.popleft()

    def consume(self, *, search: bool = False) -> dict[str, str]:
        """Count one request and return its headers, or raise the 429 HubSpot would send."""
        with self._lock:
            now = self._now_ms()
            self._roll(now)
            if self._daily_used >= self.daily_limit:
                raise self._refuse("DAILY", "You have reached your daily limit.")
            if len(self._window) >= self.max_requests:
                raise self._refuse(
                    "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                )
            if search and len(self._search) >= self.search_per_second:
                raise self._refuse("SECONDLY", "You have reached your secondly limit.")
            self._daily_used += 1
            self._window.append(now)
            if search:
                self._search.append(now)
            return self._headers()

    def headers(self) -> dict[str, str]:
        with self._lock:
            self._roll(self._now_ms())
            return self._headers()

    def _headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.daily_limit - self._daily_used,
                                                           0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-HubSpot-RateLimit-Max": str(self.max_requests),
            "X-HubSpot-RateLimit-Remaining": str(max(self.max_requests - len(self._window), 0)),
        }

    def _refuse(self, policy: str, message: str) -> ApiError:
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": policy,
            "requestId": uuid.uuid4().hex,
        }
        return ApiError(429, body, self._headers())

    @property
    def daily_used(self) -> int:
        with self._lock:
            self._roll(self._now_ms())
            return self._daily_used

    def set_daily_used(self, used: int) -> None:
        """Pretend ``used`` requests were already made today (near-quota tests)."""
        if used < 0:
            raise ValueError("daily usage must not be negative")
        with self._lock:
            self._roll(self._now_ms())
            self._daily_used = used

    def reset(self) -> None:
        """Forget the burst and search windows (the daily count stays)."""
        with self._lock:
            self._window.clear()
            self._search.clear()

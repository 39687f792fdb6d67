"""The one retry policy: transient failures are retried with jittered backoff.

Adapters translate their client's exceptions into ``TransientError`` or
``FatalError`` (one table per adapter); this module only decides how often
and how long. Tests pass ``wait=wait_none()``: no sleeps in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from connector.errors import TransientError

T = TypeVar("T")
log = structlog.get_logger("leadsync.retry")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_wait_s: float = 30.0


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("retrying", attempt=state.attempt_number, error=str(exc))


DEFAULT_POLICY = RetryPolicy()


class wait_retry_after(wait_base):  # noqa: N801  (tenacity's naming)
    """Jittered exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self, fallback: wait_base, cap_s: float) -> None:
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self.fallback(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(exc, "retry_after", None)
        return min(max(backoff, asked), self.cap_s) if asked else backoff


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy = DEFAULT_POLICY,
                    *, wait: wait_base | None = None) -> T:
    """Run ``fn``, retrying TransientError; ``wait`` replaces the waits (tests: wait_none())."""
    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(policy.attempts),
        wait=wait or wait_retry_after(
            wait_random_exponential(multiplier=policy.initial_s, max=policy.max_wait_s),
            cap_s=max(policy.max_wait_s, 120.0)),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(fn)

"""A polite stop: what SIGTERM (systemd's stop) and the first Ctrl-C ask of a run.

The first signal asks the run to finish the batch it is in, store its cursors
and end as "stopped"; a second one stops at once (KeyboardInterrupt), and the
run is marked "interrupted". The pipeline asks ``requested`` between batches;
only the CLI installs the handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Stop:
    """Set once a stop was asked for; says by what."""

    def __init__(self) -> None:
        self._reason: str | None = None
        self._event = threading.Event()

    @property
    def requested(self) -> str | None:
        return self._reason

    def ask(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
        self._event.set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


NEVER = Stop()
"""For runs nobody can stop politely (tests, library use)."""


@contextmanager
def on_signals(stop: Stop, *, then: Callable[[], None] | None = None) -> Iterator[Stop]:
    """SIGTERM and SIGINT ask ``stop``; the second signal interrupts at once.
    ``then`` runs on the first signal too (e.g. a scheduler that should start no
    more runs). Handlers are restored on exit; outside the main thread, nothing is
    installed (Python delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop.requested is not None:
            raise KeyboardInterrupt(f"{name} again: stopping at once")
        stop.ask(name)
        if then is not None:
            then()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

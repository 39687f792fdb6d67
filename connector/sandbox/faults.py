"""Injected faults shared by the sandboxes: latency, 502/503s, drops and timeouts.

A connector's retry policy is only as good as the failures it was tested
against, and real CRMs fail rarely and never on cue. ``Faults`` is
the test's script of failures; ``FaultInjector`` plays it, one decision per
eligible request, from a seeded RNG so a failing test fails the same way
every run.

Which requests are eligible is each sandbox's call (its API paths; logins
only with ``include_login``); eligible requests are numbered from 1, counted
from the moment the ``Faults`` was installed, and ``fail_at`` keys use these
numbers.

What each fault does:

* ``"503"`` answers ``503`` with the CRM's own "unavailable" body before the
  request is processed (nothing is written).
* ``"502"`` answers ``502`` the way a load balancer in front of the CRM does,
  before the request is processed.
* ``"drop"`` closes the socket before the request is processed, without any
  response: the client sees a ``ConnectionError``.
* ``"drop_after"`` processes the request (a write lands) and then closes the
  socket without a response: the case where the client cannot know.
* ``"timeout"`` processes the request, then stalls ``timeout_seconds`` before
  answering, so a client with a shorter timeout gives up on a write that
  landed.

``latency`` is added before every eligible request is processed, whatever
else happens to it. All waiting goes through ``sleep`` so tests inject a
recorder or an event wait instead of sleeping.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["502", "503", "drop", "drop_after", "timeout"]
FAULT_KINDS: frozenset[str] = frozenset({"502", "503", "drop", "drop_after", "timeout"})


@dataclass(frozen=True)
class Faults:
    """The failures a test wants; install with ``XSandbox(faults=...)`` or
    ``sandbox.faults = Faults(...)``.

    Rates are probabilities per eligible request (``error_rate`` for 503,
    ``bad_gateway_rate`` for 502, ``drop_rate`` for a dropped connection);
    ``fail_at`` forces one fault at the Nth eligible request and wins over
    the rates.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    bad_gateway_rate: float = 0.0
    fail_at: Mapping[int, FaultKind | str] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    seed: int = 0
    include_login: bool = False
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "bad_gateway_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        if self.error_rate + self.drop_rate + self.bad_gateway_rate > 1.0:
            raise ValueError("error_rate + drop_rate + bad_gateway_rate must not exceed 1")
        if self.latency < 0 or self.timeout_seconds < 0:
            raise ValueError("latency and timeout_seconds must not be negative")
        for number, kind in self.fail_at.items():
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"fail_at[{number}] = {kind!r}; choose one of {sorted(FAULT_KINDS)}"
                )
            if number < 1:
                raise ValueError(f"fail_at numbers start at 1, not {number}")


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault, for assertions: which eligible request, what, where."""

    number: int
    kind: str
    method: str
    path: str


class FaultInjector:
    """Plays one ``Faults`` script; thread-safe, deterministic in arrival order."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.eligible = 0

    def play(self, method: str, path: str) -> FaultEvent | None:
        """One eligible request: wait its latency, and return the fault it gets, if any."""
        number, kind = self.decide()
        if self.faults.latency:
            self.faults.sleep(self.faults.latency)
        return FaultEvent(number, kind, method, path) if kind is not None else None

    def after(self, kind: str | None, environ: dict[str, object]) -> None:
        """The faults that strike once the request was served: the write landed, then
        the answer is lost (``drop_after``) or late (``timeout``)."""
        if kind == "drop_after":
            drop_connection(environ)
        elif kind == "timeout":
            self.faults.sleep(self.faults.timeout_seconds)

    def decide(self) -> tuple[int, str | None]:
        """Number this eligible request and pick its fault (None: serve it normally).

        Exactly one random draw per request, whatever the rates, so changing a
        rate does not shift which later requests fail for a given seed. The
        502 band comes last so scripts written before it existed keep their
        outcomes.
        """
        with self._lock:
            self.eligible += 1
            number = self.eligible
            draw = self._rng.random()
        forced = self.faults.fail_at.get(number)
        if forced is not None:
            return number, str(forced)
        if draw < self.faults.drop_rate:
            return number, "drop"
        if draw < self.faults.drop_rate + self.faults.error_rate:
            return number, "503"
        if draw < self.faults.drop_rate + self.faults.error_rate + self.faults.bad_gateway_rate:
            return number, "502"
        return number, None


def drop_connection(environ: dict[str, object]) -> None:
    """Close the client's socket with no response, then unwind quietly.

    Werkzeug's dev server hands the socket over as ``werkzeug.socket``;
    shutting it down both ways sends the client a FIN before any status line
    (requests raises ``ConnectionError``: "Remote end closed connection
    without response"). Raising ``ConnectionResetError`` afterwards is what
    werkzeug treats as a dropped connection: no 500, no traceback logged.
    Without a socket (werkzeug's test ``Client``) the error reaches the caller.
    """
    import contextlib
    import socket

    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # the client went first: same outcome
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("sandbox fault: connection dropped without a response")

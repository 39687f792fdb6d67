"""How far a run is: what the pipeline tells whoever watches it, as it goes.

The pipeline calls a ``Progress`` between its steps and after each batch it hands
off; it never draws. `leadsync sync --once` on a terminal passes one that draws a
rich bar (connector/cli.py); anywhere else (a pipe, the daemon, --log-json) the
plain line per batch is the pipeline's "batch handed off" log line, which carries
the same ``Tally``: leads so far, of how many, the rate and the time left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Tally:
    """The hand-off step so far: what a display shows, worked out once."""

    batches: int
    read: int
    """Leads read from marketing, over every batch so far."""
    written: int
    """Of them, created or updated in the CRM."""
    refused: int
    expected: int | None
    """Leads the step is expected to read (None: the marketing store cannot say).
    Counted when the step began: leads changed meanwhile can take ``read`` past it."""
    seconds: float
    """Since the hand-off step began."""

    @property
    def per_second(self) -> float | None:
        """Leads read a second, over the whole step (None before the first batch)."""
        return self.read / self.seconds if self.read and self.seconds > 0 else None

    @property
    def seconds_left(self) -> float | None:
        """At the rate so far; None while the rate or the total is unknown."""
        rate = self.per_second
        if rate is None or self.expected is None:
            return None
        return max(self.expected - self.read, 0) / rate

    def fields(self) -> dict[str, Any]:
        """For the log line: the run's totals beside the batch's own counts."""
        rate, left = self.per_second, self.seconds_left
        return {"batch": self.batches, "run_read": self.read, "run_written": self.written,
                "expected": self.expected,
                "per_second": round(rate, 1) if rate is not None else None,
                "seconds_left": round(left) if left is not None else None}


class Progress(Protocol):
    """Told by the pipeline how a run goes. Each call returns at once: a display must
    not slow the run down."""

    def step(self, name: str) -> None:
        """The run began a step: "reading the CRM's changes", "qualifying", "writing"."""
        ...

    def expect(self, leads: int | None) -> None:
        """The hand-off step begins and will read about ``leads`` (None: unknown)."""
        ...

    def batch(self, tally: Tally) -> None:
        """A batch was handed off; ``tally`` is the step so far."""
        ...


class Silent:
    """No display: the log lines say it all (the default)."""

    def step(self, name: str) -> None:
        pass

    def expect(self, leads: int | None) -> None:
        pass

    def batch(self, tally: Tally) -> None:
        pass


SILENT = Silent()


class Meter:
    """The pipeline's side: counts the hand-off step's batches against a clock (tests
    pass their own) and makes each ``Tally``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.began = clock()
        self.expected: int | None = None
        self.batches = 0

    def start(self, expected: int | None) -> None:
        self.began, self.expected, self.batches = self.clock(), expected, 0

    def at(self, step: str) -> str:
        """A step within the batch under way, named for a display: "batch 3: writing"."""
        return f"batch {self.batches + 1}: {step}"

    def tally(self, counts: Mapping[str, int]) -> Tally:
        """After a batch: the run's counts so far (``RunSummary.counts``)."""
        self.batches += 1
        return Tally(batches=self.batches, read=counts["read"],
                     written=counts["created"] + counts["updated"], refused=counts["refused"],
                     expected=self.expected, seconds=self.clock() - self.began)

"""The progress a run reports: the tally's arithmetic, and the bar `sync --once` draws
on a terminal from it (the plain lines and the pipeline's calls: tests/e2e/test_cli.py)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from connector.cli import _RunBar
from connector.progress import Meter, Tally

COUNTS = dict.fromkeys(("read", "created", "updated", "refused"), 0)


def test_the_meter_tallies_batches_against_its_clock() -> None:
    now = [100.0]
    meter = Meter(clock=lambda: now[0])
    meter.start(3000)
    assert meter.at("writing") == "batch 1: writing"
    now[0] += 5
    first = meter.tally({**COUNTS, "read": 1000, "created": 990, "updated": 5, "refused": 5})
    assert (first.batches, first.read, first.written, first.refused) == (1, 1000, 995, 5)
    assert first.per_second == 200 and first.seconds_left == 10
    assert meter.at("writing") == "batch 2: writing"
    assert first.fields() == {"batch": 1, "run_read": 1000, "run_written": 995,
                              "expected": 3000, "per_second": 200.0, "seconds_left": 10}


@pytest.mark.parametrize(("read", "expected", "seconds", "rate", "left"), [
    (0, 3000, 0.0, None, None),      # nothing read yet: no rate, no guess
    (500, None, 2.0, 250, None),     # a store that cannot count: a rate, no time left
    (3200, 3000, 16.0, 200, 0),      # more than counted (leads changed meanwhile): done
])
def test_rate_and_time_left(read: int, expected: int | None, seconds: float,
                            rate: float | None, left: float | None) -> None:
    tally = Tally(batches=1, read=read, written=read, refused=0, expected=expected,
                  seconds=seconds)
    assert (tally.per_second, tally.seconds_left) == (rate, left)


def test_the_bar_shows_step_counts_rate_and_time_left() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system=None)
    with _RunBar(console) as bar:
        bar.step("reading the CRM's changes")
        bar.expect(3000)
        bar.step("batch 2: writing")
        bar.batch(Tally(batches=1, read=1000, written=990, refused=10, expected=3000,
                        seconds=5.0))
        bar.bar.refresh()
        drawn = screen.getvalue()
    assert "batch 2: writing" in drawn
    assert "1,000/3,000 leads, 990 written, 200/s, 10 s left" in drawn

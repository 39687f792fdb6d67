"""The soak benchmark's harness, for about a minute: the daemon against both sandboxes
with faults, the stream of leads, the reps' verdicts, the drain and every check.

A harness that cannot run clean on a short soak would make every figure of
``bench/soak.py`` a measure of itself; one that reports nothing (no runs, no
verdicts, no memory) would pass while checking nothing. The daemon's RSS is read
with psutil, from the ``bench`` extra.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="bench/soak.py samples the daemon's RSS with psutil "
                                     "(the bench extra)")

from bench.soak import soak, summary  # noqa: E402


def test_a_short_soak_runs_clean_and_measures_what_it_says(tmp_path: Path) -> None:
    report = soak(tmp_path, minutes=0.75, fault_rate=0.1, first_leads=30, new_per_tick=5,
                  changed_per_tick=4, tick_s=10, rep_s=15, warm_after=1)
    text = summary(report, "smoke")
    assert report.clean, text
    assert report.total_runs >= 2 and {k.split()[0] for k in report.runs} == {"sf", "hs"}
    assert report.verdicts > 0 and report.calls > 0, text
    assert report.qualified > 0 and report.records["salesforce"] > 0, text
    assert report.records["hubspot"] > 0, text
    assert report.eligible > 0 and report.rss_growth_pct is not None, text
    assert report.drain_exits[-1] == 0 and report.daemon_exit == 0

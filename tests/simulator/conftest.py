"""Prints what the rep simulator did (steps, runs, subprocess kills, …) at the end
of the session, whatever pytest's capture settings."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import os

    from tests.simulator.report import FINDINGS, summary_lines, write_findings

    lines = summary_lines()
    if lines:
        terminalreporter.section("rep simulator")
        for line in lines:
            terminalreporter.write_line(line)
    path = os.environ.get("LEADSYNC_SIM_FINDINGS")
    if path and any(FINDINGS.values()):
        write_findings(path)
        terminalreporter.write_line(f"the trails of the known bugs seen: {path}")

"""What the rep simulator did, per CRM, for the end-of-session summary
(``conftest.py`` beside this file prints it) and the test's report properties."""

from __future__ import annotations

from collections import Counter, defaultdict

STATS: dict[str, Counter[str]] = defaultdict(Counter)
"""CRM → counters: examples, steps, runs of each kind, subprocess kills, rep actions …"""

SEEDS: dict[str, int] = {}
"""CRM → the seed of a soak run (LEADSYNC_SOAK_SEED runs it again)."""

FINDINGS: dict[str, dict[str, str]] = defaultdict(dict)
"""CRM → known product bug (name) → the first trail that showed it."""

ORDER = ("examples", "steps", "runs", "runs_inprocess", "runs_subprocess", "kills",
         "subprocess_finished_first", "runs_faults", "faults_injected", "settles",
         "imports", "marketing_edits", "rep_actions", "rep_refused", "reviews_answered",
         "deletes", "merges", "conversions", "rep_creates", "seconds")


def write_findings(path: str) -> None:
    """Every known bug seen, with the full trail of steps that showed it."""
    with open(path, "w", encoding="utf-8") as out:
        for crm in sorted(FINDINGS):
            for name, trail in sorted(FINDINGS[crm].items()):
                out.write(f"=== [{crm}] {name}\n{trail}\n\n")


def summary_lines() -> list[str]:
    lines = []
    for crm in sorted(STATS):
        counts = STATS[crm]
        parts = [f"{name}={counts[name]}" for name in ORDER if name in counts]
        parts += [f"{name}={n}" for name, n in sorted(counts.items()) if name not in ORDER]
        seed = f" (LEADSYNC_SOAK_SEED={SEEDS[crm]})" if crm in SEEDS else ""
        lines.append(f"rep simulator [{crm}]{seed}: " + ", ".join(parts))
        for name, trail in sorted(FINDINGS.get(crm, {}).items()):
            lines.append(f"  known product bug seen [{crm}] {name}: {trail.splitlines()[0]}")
    return lines

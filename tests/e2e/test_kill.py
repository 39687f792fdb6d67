"""kill -9 at random points across runs, on SQLite and PostgreSQL state: afterwards no
record twice, no lead missing, every record with exactly one follow-up task, no run
left "running". A short campaign of bench/kill.py's harness; the benchmark runs the
long one (`python -m bench.kill`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kill import campaign, drop_schema, pg_schema_url
from tests.conftest import require_postgres


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_killed_runs_lose_nothing_and_double_nothing(backend: str, tmp_path: Path) -> None:
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        require_postgres()
        schema, url = pg_schema_url()
    try:
        report = campaign(tmp_path, backend=backend, state_url=url, kills=8, seed=11,
                          first_leads=160, more_per_round=20)
    finally:
        if schema:
            drop_schema(schema)
    print(report)
    assert report.kill_points == 8
    assert report.records == report.leads
    assert (report.duplicates, report.missing_leads, report.missing_tasks,
            report.doubled_tasks, report.runs_left_running) == (0, 0, 0, 0, 0), report

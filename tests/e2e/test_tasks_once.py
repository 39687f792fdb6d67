"""Every follow-up task a handoff owes is made exactly once: saved with the link
(an outbox), made with the write, and when a call fails or the process dies
around it, made by the next run after asking the CRM whether it is there already
(its token in the task's text). Through the real client, on the Salesforce sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import TransientError
from connector.pipeline import Pipeline
from connector.records import HandoffTask, Write, WriteResult
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing, run_once
from tests.conftest import import_leads, lead_row


class Wrapped:
    def __init__(self, real: Any) -> None:
        self.real, self.name = real, real.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class TaskCallRefused(Wrapped):
    """503 on the task call: nothing was written."""

    def add_tasks(self, object_name: str, tasks: Sequence[HandoffTask]) -> list[WriteResult]:
        raise TransientError("Salesforce 503: SERVER_UNAVAILABLE", status=503)


class TaskAnswerLost(Wrapped):
    """The tasks are made, then the connection drops before the answer arrives."""

    def add_tasks(self, object_name: str, tasks: Sequence[HandoffTask]) -> list[WriteResult]:
        self.real.add_tasks(object_name, tasks)
        raise TransientError("connection dropped after the request was sent")


class Crash(BaseException):
    """The process dies (kill -9): nothing after this point runs."""


class DiesAfterTheWrite(Wrapped):
    def upsert(self, object_name: str, key_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        self.real.upsert(object_name, key_field, records)
        raise Crash


def run_with(config: Any, wrapper: type[Wrapped]) -> Any:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with open_marketing(config) as marketing, open_crm(config) as crm:
            return Pipeline(config, state, marketing, wrapper(crm)).run()
    finally:
        state.close()


def tasks_by_lead(sf_client: Any) -> dict[str, int]:
    leads = {r["Id"]: r["Leadsync_Id__c"] for r in
             sf_client.query_all("SELECT Id, Leadsync_Id__c FROM Lead")["records"]}
    counts = dict.fromkeys(leads.values(), 0)
    for task in sf_client.query_all("SELECT WhoId FROM Task")["records"]:
        counts[leads[task["WhoId"]]] += 1
    return counts


def setup(make_config: Any, tmp_path: Path, n: int = 6) -> Any:
    config = make_config()
    import_leads(config, tmp_path / "leads.csv", [lead_row(i) for i in range(n)])
    return config


def test_a_refused_task_call_leaves_the_tasks_owed_and_the_next_run_makes_them(
        make_config: Any, tmp_path: Path, sf_client: Any) -> None:
    config = setup(make_config, tmp_path)
    first = run_with(config, TaskCallRefused)
    assert first.status == "ok" and first.counts["created"] == 6
    assert any("6 follow-up tasks still owed" in w for w in first.warnings)
    assert set(tasks_by_lead(sf_client).values()) == {0}
    shown = CliRunner().invoke(app, ["status", "--json", "-c", str(config.source)])
    assert len(json.loads(shown.output)["tasks_owed"]) == 6
    run_once(config)
    assert set(tasks_by_lead(sf_client).values()) == {1}
    shown = CliRunner().invoke(app, ["status", "--json", "-c", str(config.source)])
    assert json.loads(shown.output)["tasks_owed"] == []


def test_a_lost_answer_never_makes_a_task_twice(make_config: Any, tmp_path: Path,
                                               sf_client: Any) -> None:
    config = setup(make_config, tmp_path)
    run_with(config, TaskAnswerLost)
    assert set(tasks_by_lead(sf_client).values()) == {1}  # made, but not known to be
    again = run_once(config)
    assert again.status == "ok" and not any("owed" in w for w in again.warnings)
    assert set(tasks_by_lead(sf_client).values()) == {1}


def test_a_process_killed_after_the_write_still_owes_and_makes_each_task(
        make_config: Any, tmp_path: Path, sf_client: Any) -> None:
    config = setup(make_config, tmp_path)
    with pytest.raises(Crash):
        run_with(config, DiesAfterTheWrite)
    assert set(tasks_by_lead(sf_client).values()) == {0}  # leads written, nothing saved
    after = run_once(config)  # links are rebuilt: the CRM had them under our key
    assert after.status == "ok", after.error
    assert set(tasks_by_lead(sf_client).values()) == {1}
    assert set(tasks_by_lead(sf_client)) == {str(i) for i in range(1, 7)}
    assert run_once(config).counts["created"] == 0
    assert set(tasks_by_lead(sf_client).values()) == {1}

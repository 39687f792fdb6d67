"""The state database is lost (or restored from an old backup) between runs, on both
CRMs: nothing a rep removed comes back, no record a match protected has its identity
rewritten, no follow-up task is made twice, and the run says links were rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector import config as configuration
from connector.wiring import run_once
from tests.conftest import import_leads, lead_row
from tests.e2e.test_rep_removals import Rep, dead_letters, edit, world  # noqa: F401


def lose_state(config: Any) -> None:
    database = Path(config.resolve_url(config.state.url).removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        path.unlink()


def test_after_lost_state_removed_records_stay_removed_and_nothing_is_doubled(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:  # noqa: F811
    config, rep, path = world
    records = rep.records()
    rep.delete(records["person1@acme1.example"]["id"])
    rep.merge(records["person2@acme2.example"]["id"], records["person3@acme3.example"]["id"])
    run_once(config)
    tasks_before = rep.task_count()
    lose_state(config)
    for n in (1, 2, 3):
        edit(config, tmp_path, n, title="COO")
    import_leads(config, tmp_path / "new.csv", [lead_row(4)])
    summary = run_once(configuration.load(path))
    assert summary.status == "ok", summary.error
    assert summary.warnings and "links were rebuilt from the CRM" in summary.warnings[0]
    after = rep.records()
    assert "person1@acme1.example" not in after  # deleted: not re-created
    if rep.merges_keep_keys:  # Salesforce: the merged-away lead's key comes back in queryAll
        assert "person3@acme3.example" not in after
    assert summary.counts["created"] == 1  # only the new lead
    assert rep.task_count() == tasks_before + 1  # its task; none made twice


def test_after_lost_state_a_record_matched_by_name_keeps_its_identity(
        world: tuple[Any, Rep, Path], tmp_path: Path) -> None:  # noqa: F811
    config, rep, path = world
    theirs = rep.create_person(first="Kate", last="Raman", email="kate.raman@acme9.example",
                               company="Acme 9 Inc.")
    import_leads(config, tmp_path / "priya.csv", [lead_row(
        9, first_name="Katie", last_name="Raman", email="katie.raman@gmail.com",
        company="Acme 9 Inc.", phone="")])
    assert run_once(config).counts["matched"] == 1
    tasks_before = rep.task_count()
    lose_state(config)
    edit(config, tmp_path, 9, first_name="Katie", last_name="Raman",
         email="katie.raman@gmail.com", company="Acme 9 Inc. (EMEA)", phone="", title="CTO")
    summary = run_once(configuration.load(path))
    assert summary.status == "ok", summary.error
    record = rep.records()["kate.raman@acme9.example"]
    assert record["id"] == theirs
    assert record["first"] == "Kate"  # the name and email the rep knows stay
    assert "katie.raman@gmail.com" not in rep.records()
    assert rep.task_count() == tasks_before

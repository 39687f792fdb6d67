"""What happens when things go wrong mid-run: nothing lost, nothing duplicated,
no verdict of sales overwritten."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from connector.adapters.base import ObjectSchema
from connector.adapters.marketing_store import EmbeddedMarketingStore
from connector.errors import BatchInterrupted, FatalError
from connector.pipeline import Pipeline
from connector.records import Write, WriteResult
from connector.state import StateStore
from connector.wiring import open_crm, open_marketing, run_once
from tests.conftest import import_leads, lead_row


class CutOffAfter:
    """The real adapter, but the CRM stops answering after ``limit`` records were written,
    as when the daily API allocation runs out mid-batch."""

    def __init__(self, real: Any, limit: int) -> None:
        self.real = real
        self.limit = limit
        self.name = real.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upsert(self, object_name: str, key_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        done = self.real.upsert(object_name, key_field, records[:self.limit])
        if len(records) > self.limit:
            limit = FatalError("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
                               code="REQUEST_LIMIT_EXCEEDED")
            raise BatchInterrupted(done, limit)
        return done


@pytest.fixture
def config(tmp_path: Path, make_config: Any) -> Any:
    config = make_config()
    import_leads(config, tmp_path / "ten.csv", [lead_row(i) for i in range(10)])
    return config


def statuses(sf_client: Any) -> dict[str, str]:
    rows = sf_client.query_all("SELECT Leadsync_Id__c, Status FROM Lead")["records"]
    return {row["Leadsync_Id__c"]: row["Status"] for row in rows}


def test_cut_off_mid_batch_then_resume_keeps_sales_verdicts(config: Any, sf_client: Any
                                                            ) -> None:
    state = StateStore(config.resolve_url(config.state.url))
    with open_marketing(config) as marketing, open_crm(config) as crm:
        summary = Pipeline(config, state, marketing, CutOffAfter(crm, 4)).run()
    assert summary.status == "failed" and "REQUEST_LIMIT_EXCEEDED" in (summary.error or "")
    assert summary.counts["created"] == 4
    assert state.cursor("marketing:leads") is None  # the batch did not finish
    written = statuses(sf_client)
    assert len(written) == 4
    first = next(iter(written))
    crm_id = sf_client.query(f"SELECT Id FROM Lead WHERE Leadsync_Id__c = '{first}'")
    sf_client.Lead.update(crm_id["records"][0]["Id"], {"Status": "Working - Contacted"})

    resumed = run_once(config)
    assert resumed.status == "ok"
    assert (resumed.counts["created"], resumed.counts["unchanged"]) == (6, 4)
    after = statuses(sf_client)
    assert len(after) == 10
    assert after[first] == "Working - Contacted"  # not reset to the create-time default
    assert resumed.counts["fed_back"] == 1
    state.close()


def test_lost_state_database_neither_duplicates_nor_resets(config: Any, sf_client: Any,
                                                           tmp_path: Path,
                                                           make_config: Any) -> None:
    run_once(config)
    lead = sf_client.query("SELECT Id FROM Lead WHERE Email = 'person1@acme1.example'")
    sf_client.Lead.update(lead["records"][0]["Id"], {"Status": "Closed - Not Converted"})
    fresh = make_config(state_url=f"sqlite:///{tmp_path}/new-state.db",
                        marketing_url=config.marketing.url)
    again = run_once(fresh)
    assert (again.counts["created"], again.counts["updated"]) == (0, 10)
    after = statuses(sf_client)
    assert len(after) == 10
    assert list(after.values()).count("Closed - Not Converted") == 1
    # only what sales said is a verdict: leadsync's own create-time status is not
    assert again.counts["fed_back"] == 1
    assert any("10 links were rebuilt from the CRM" in w for w in again.warnings)
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        leads = list(store.read_changes(None))
        stages = {lead.fields["email"]: lead.stage for lead in leads}
        handoffs = [step.stage for lead in leads for step in store.stage_history(lead.id)
                    if step.stage == "mql"]
    finally:
        store.close()
    assert stages.pop("person1@acme1.example") == "recycle"
    assert set(stages.values()) == {"mql"}  # handed over once, not again on the rebuild
    assert len(handoffs) == 10
    assert run_once(fresh).counts["fed_back"] == 0
    tasks = sf_client.query_all("SELECT WhoId FROM Task")["records"]
    assert len(tasks) == 10  # one follow-up per lead, none made again for rebuilt links


def test_dead_letters_retried_after_the_admin_fixes_the_mapping(tmp_path: Path,
                                                                make_config: Any) -> None:
    config = make_config()
    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2, last_name="")])
    assert run_once(config).counts["refused"] == 1
    assert run_once(config, retry_dead_letters=True).counts["refused"] == 1
    state = StateStore(config.resolve_url(config.state.url))
    [letter] = state.dead_letters()
    assert letter.attempts == 2

    path = tmp_path / "config.toml"  # the admin adds a default for a missing last name
    path.write_text(path.read_text().replace(
        'Status = "Open - Not Contacted"',
        'Status = "Open - Not Contacted"\nLastName = "[not provided]"'))
    from connector import config as configuration

    fixed = configuration.load(path)
    assert run_once(fixed).counts["created"] == 0  # nothing changed: not retried by itself
    retried = run_once(fixed, retry_dead_letters=True)
    assert (retried.counts["created"], retried.counts["refused"]) == (1, 0)
    assert state.dead_letters() == []
    state.close()


def test_unexpected_error_marks_the_run_failed(config: Any) -> None:
    class Broken:
        name = "salesforce"
        owner_field = "OwnerId"
        deleted_every = None

        def owners(self) -> list[Any]:
            return []

        def describe(self, object_name: str) -> ObjectSchema:
            return ObjectSchema(object_name, {})

        def read_people(self, *args: Any) -> list[Any]:
            return []

        def read_changes(self, *args: Any) -> list[Any]:
            return []

        def read_removed(self, *args: Any) -> list[Any]:
            return []

        def upsert(self, *args: Any) -> list[WriteResult]:
            raise ZeroDivisionError("a bug")

    state = StateStore(config.resolve_url(config.state.url))
    with open_marketing(config) as marketing, pytest.raises(ZeroDivisionError):
        Pipeline(config, state, marketing, Broken()).run()  # type: ignore[arg-type]
    [run] = state.runs()
    assert (run.status, run.error) == ("failed", "ZeroDivisionError: a bug")
    state.close()


def test_two_instances_at_once_never_double_write(tmp_path: Path, db_url: str,
                                                  make_config: Any, sf_client: Any) -> None:
    import threading

    from connector.state import RunLocked

    config = make_config(state_url=db_url, marketing_url=db_url)
    import_leads(config, tmp_path / "l.csv", [lead_row(i) for i in range(30)])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def instance() -> None:
        barrier.wait()
        try:
            outcomes.append(f"created {run_once(config).counts['created']}")
        except RunLocked:
            outcomes.append("skipped")

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) in (["created 30", "skipped"], ["created 0", "created 30"])
    rows = sf_client.query_all("SELECT Leadsync_Id__c FROM Lead")["records"]
    assert len(rows) == len({r["Leadsync_Id__c"] for r in rows}) == 30

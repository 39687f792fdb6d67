"""A whole sync against a misbehaving Salesforce: 503s, dropped connections,
writes that land without an answer, an expired session, an allocation that
runs low. Every lead ends up in the org exactly once, and a stopped run
resumes where it stopped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config
from connector.pipeline import Pipeline
from connector.records import Write, WriteResult
from connector.retry import RetryPolicy
from connector.sandbox.salesforce.faults import Faults
from connector.state import StateStore
from connector.wiring import open_marketing
from tests.conftest import import_leads, lead_row


def adapter_for(config: Config, **settings: Any) -> SalesforceAdapter:
    assert config.crm.salesforce is not None
    return SalesforceAdapter(config.crm.salesforce.model_copy(update=settings),
                             password="sandbox", security_token="",
                             retry=RetryPolicy(attempts=8), wait=wait_none(),
                             sleep=lambda seconds: None)


def sync(config: Config, crm: Any) -> Any:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        with open_marketing(config) as marketing:
            return Pipeline(config, state, marketing, crm).run()
    finally:
        state.close()


def keys_in_org(sandbox: Any) -> Counter[str]:
    return Counter(r["Leadsync_Id__c"] for r in sandbox.records("Lead"))


@pytest.fixture
def many(tmp_path: Path, make_config: Any) -> Iterator[Config]:
    config = make_config()
    report = import_leads(config, tmp_path / "leads.csv", [lead_row(i) for i in range(2000)])
    assert report.created == 2000
    yield config


@pytest.mark.parametrize("bulk_threshold", [2000, 50], ids=["collections", "bulk"])
def test_2000_leads_through_10_percent_faults_land_exactly_once(
        many: Config, salesforce_sandbox: Any, bulk_threshold: int) -> None:
    salesforce_sandbox.faults = Faults(error_rate=0.05, drop_rate=0.05, seed=11,
                                       fail_at={3: "drop_after", 6: "drop_after"})
    crm = adapter_for(many, bulk_threshold=bulk_threshold)
    summary = sync(many, crm)
    crm.close()
    assert summary.status == "ok", summary.error
    assert salesforce_sandbox.faulted_count >= 2
    held = keys_in_org(salesforce_sandbox)
    assert len(held) == 2000 and set(held.values()) == {1}
    # a create that landed unanswered is found by its external id and updated, not re-created
    assert summary.counts["created"] + summary.counts["updated"] == 2000
    assert summary.counts["refused"] == 0


def test_a_session_that_expires_mid_run_is_renewed(many: Config,
                                                   salesforce_sandbox: Any) -> None:
    class ExpireBeforeSecondBatch:
        def __init__(self, real: SalesforceAdapter) -> None:
            self.real, self.name, self.batches = real, real.name, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def upsert(self, object_name: str, key_field: str,
                   records: Sequence[Write]) -> list[WriteResult]:
            self.batches += 1
            if self.batches == 2:
                assert salesforce_sandbox.expire_sessions() >= 1
            return self.real.upsert(object_name, key_field, records)

    crm = adapter_for(many)
    first_session = crm.client.session_id
    summary = sync(many, ExpireBeforeSecondBatch(crm))
    assert summary.status == "ok", summary.error
    assert crm.client.session_id != first_session  # logged in again and carried on
    assert len(keys_in_org(salesforce_sandbox)) == 2000
    crm.close()


def test_the_reserve_stops_the_run_cleanly_and_the_next_run_resumes(
        many: Config, salesforce_sandbox: Any) -> None:
    # 15 calls: two a batch of 200 (the write, its tasks) after the run's first reads
    many = many.model_copy(update={"sync": many.sync.model_copy(update={"batch_size": 200})})
    salesforce_sandbox.daily_api_allocation = 50
    salesforce_sandbox.set_api_usage(20)
    crm = adapter_for(many, api_reserve=15)
    stopped = sync(many, crm)
    crm.close()
    assert stopped.status == "stopped"
    assert "api_reserve" in (stopped.error or "") and "resumes" in (stopped.error or "")
    written = stopped.counts["created"]
    assert 0 < written < 2000
    assert len(keys_in_org(salesforce_sandbox)) == written

    salesforce_sandbox.set_api_usage(0)  # a new day
    salesforce_sandbox.daily_api_allocation = 15_000
    crm = adapter_for(many, api_reserve=15)
    resumed = sync(many, crm)
    crm.close()
    assert resumed.status == "ok", resumed.error
    held = keys_in_org(salesforce_sandbox)
    assert len(held) == 2000 and set(held.values()) == {1}
    assert resumed.counts["created"] == 2000 - written

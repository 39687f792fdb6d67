"""The org survives restarts through state_path, and starts from a seed otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf_helpers import FakeClock, connect, lead

from connector.sandbox.salesforce import SalesforceSandbox, SeedError

SEED = {
    "User": [
        {
            "FirstName": "Sam",
            "LastName": "Rivera",
            "Username": "sam.rivera@leadsync.sandbox",
            "Email": "sam.rivera@leadsync.sandbox",
            "TimeZoneSidKey": "America/Chicago",
        }
    ],
    "Lead": [
        {
            "LastName": "Seeded",
            "Company": "Seed Co",
            "Leadsync_Id__c": "seed-1",
            "OwnerId": "sam.rivera@leadsync.sandbox",  # a seed may name owners by username
            "CreatedDate": "2026-01-02T03:04:05.000+0000",
        }
    ],
}


def test_stopped_org_is_reloaded_from_state_path(tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "state" / "salesforce.json"
    with SalesforceSandbox(state_path=state, clock=clock) as first:
        sf = connect(first)
        kept = sf.Lead.create(lead(Leadsync_Id__c="ls-1"))["id"]
        gone = sf.Lead.create(lead())["id"]
        sf.Lead.delete(gone)
        stamp = sf.Lead.get(kept)["SystemModstamp"]

    assert state.exists()
    assert not list(state.parent.glob("*.tmp"))  # the atomic write left no temp file

    with SalesforceSandbox(state_path=state, clock=clock) as second:
        sf = connect(second)
        assert sf.Lead.get_by_custom_id("Leadsync_Id__c", "ls-1")["Id"] == kept
        assert sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 2
        newer = sf.Lead.create(lead())["id"]
        assert newer not in (kept, gone)  # id counters continue
        assert sf.Lead.get(newer)["SystemModstamp"] > stamp  # so do the stamps


def test_save_can_be_called_while_running(tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "sf.json"
    with SalesforceSandbox(state_path=state, clock=clock) as sandbox:
        connect(sandbox).Lead.create(lead())
        sandbox.save()
        saved = json.loads(state.read_text())

    assert len(saved["records"]["Lead"]) == 1


def test_seed_from_a_dict(clock: FakeClock) -> None:
    with SalesforceSandbox(seed=SEED, clock=clock) as sandbox:
        sf = connect(sandbox)
        [record] = sf.query(
            "SELECT LastName, CreatedDate, Owner.Username FROM Lead WHERE Leadsync_Id__c = 'seed-1'"
        )["records"]

    assert record["CreatedDate"] == "2026-01-02T03:04:05.000+0000"
    assert record["Owner"]["Username"] == "sam.rivera@leadsync.sandbox"


def test_dict_seed_may_use_python_datetimes(clock: FakeClock) -> None:
    seed = {"Lead": [lead(CreatedDate=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))]}
    with SalesforceSandbox(seed=seed, clock=clock) as sandbox:
        [record] = sandbox.records("Lead")

    assert record["CreatedDate"] == "2026-01-02T03:04:05.000+0000"


def test_seed_from_a_file_is_ignored_once_state_exists(tmp_path: Path, clock: FakeClock) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    state = tmp_path / "sf.json"
    with SalesforceSandbox(seed=seed, state_path=state, clock=clock) as sandbox:
        sf = connect(sandbox)
        sf.Lead.delete("Leadsync_Id__c/seed-1")

    with SalesforceSandbox(seed=seed, state_path=state, clock=clock) as sandbox:
        assert sandbox.records("Lead") == []


def test_an_invalid_seed_is_refused(clock: FakeClock) -> None:
    with pytest.raises(SeedError, match="REQUIRED_FIELD_MISSING"):
        SalesforceSandbox(seed={"Lead": [{"LastName": "No company"}]}, clock=clock)


def test_start_is_idempotent_and_stop_without_state_is_fine(clock: FakeClock) -> None:
    sandbox = SalesforceSandbox(clock=clock)
    address = sandbox.start()

    assert sandbox.start() == address
    assert address.startswith("127.0.0.1:")
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(RuntimeError):
        _ = sandbox.address

"""Salesforce passes the CRM adapter contract against its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter
from connector.config import SalesforceConfig
from connector.errors import BatchInterrupted, TransientError
from connector.records import Write
from connector.retry import RetryPolicy
from connector.sandbox.salesforce import Faults, SalesforceSandbox
from tests.conformance.contract import CrmAdapterContract


class TestSalesforce(CrmAdapterContract):
    adapter_name = "salesforce"
    crm_object = "Lead"
    key_field = "Leadsync_Id__c"
    status_field = "Status"
    opening_status = "Open - Not Contacted"
    worked_status = "Working - Contacted"
    owner_field = "OwnerId"
    read_page_size = 200

    @pytest.fixture
    def adapter(self, salesforce_sandbox: Any) -> Iterator[SalesforceAdapter]:
        salesforce_sandbox.page_size = self.read_page_size
        settings = SalesforceConfig(username="admin@leadsync.sandbox",
                                    route_to=salesforce_sandbox.address)
        adapter = SalesforceAdapter(settings, password="sandbox", security_token="",
                                    retry=RetryPolicy(attempts=8), wait=wait_none())
        yield adapter
        adapter.close()

    @pytest.fixture
    def owner_id(self, sf_client: Any) -> str:
        rows = sf_client.query("SELECT Id FROM User WHERE Username = "
                               "'avery.chen@leadsync.sandbox' AND IsActive = true")["records"]
        return str(rows[0]["Id"])

    @pytest.fixture
    def task_subjects(self, sf_client: Any) -> Callable[[str], list[str]]:
        return lambda crm_id: [t["Subject"] for t in sf_client.query_all(
            f"SELECT Subject FROM Task WHERE WhoId = '{crm_id}'")["records"]]

    @pytest.fixture
    def faults(self, salesforce_sandbox: Any) -> Callable[[], None]:
        def turn_on() -> None:
            salesforce_sandbox.faults = Faults(error_rate=0.1, drop_rate=0.1, seed=5,
                                               fail_at={2: "drop_after"})
        return turn_on

    @pytest.fixture
    def record(self) -> Callable[[int], dict]:
        return lambda n: {"LastName": f"Lee{n}", "Company": "Acme", "Email": f"p{n}@acme.example"}

    @pytest.fixture
    def refused_record(self) -> dict[str, Any]:
        return {"Company": "Acme", "Email": "nolast@acme.example"}

    @pytest.fixture
    def delete(self, sf_client: Any) -> Callable[[str], None]:
        return lambda crm_id: sf_client.Lead.delete(crm_id)

    @pytest.fixture
    def set_status(self, sf_client: Any) -> Callable[[str, str], None]:
        return lambda crm_id, status: sf_client.Lead.update(crm_id, {"Status": status})

    def test_many_keys_are_chunked_under_the_uri_limit(self, adapter: SalesforceAdapter,
                                                       salesforce_sandbox: Any) -> None:
        keys = [f"{i:06d}-" + "k" * 57 for i in range(3000)]  # ~200,000 bytes; 64 is the max
        adapter.upsert("Lead", "Leadsync_Id__c", [Write(keys[7], {"LastName": "A", "Company": "B"}),
                                                  Write(keys[2999], {"LastName": "Z",
                                                                     "Company": "B"})])
        before = salesforce_sandbox.request_count
        found = adapter.read_by_keys("Lead", "Leadsync_Id__c", keys, [])
        assert sorted(r.key for r in found) == [keys[7], keys[2999]]
        calls = salesforce_sandbox.request_count - before
        assert 17 <= calls <= 20  # ~210 keys per 12 kB query; the sandbox 414s past 16 kB

    def test_a_uri_over_16k_gets_414_like_salesforce(self, sf_client: Any) -> None:
        from simple_salesforce.exceptions import SalesforceGeneralError

        with pytest.raises(SalesforceGeneralError) as caught:
            sf_client.query("SELECT Id FROM Lead WHERE LastName = '" + "x" * 17_000 + "'")
        assert caught.value.status == 414

    @pytest.mark.parametrize("key", [
        "O'Brien", "x' OR Name != '", "back\\slash'", "a%_b", "\\' OR Id != null OR Name = \\'",
        "x') OR (Name != '", "line\nbreak' OR Name != '", "quote\"s", "zoë ' OR LastName LIKE '%"])
    def test_keys_cannot_change_the_query(self, adapter: SalesforceAdapter, key: str) -> None:
        adapter.upsert("Lead", "Leadsync_Id__c",
                       [Write("plain", {"LastName": "A", "Company": "B"})])
        assert adapter.read_by_keys("Lead", "Leadsync_Id__c", [key], []) == []
        [written] = adapter.upsert("Lead", "Leadsync_Id__c",
                                   [Write(key, {"LastName": "Q", "Company": "B"})])
        assert written.ok, written.errors
        found = adapter.read_by_keys("Lead", "Leadsync_Id__c", [key], [])
        assert [r.key for r in found] == [key]


@pytest.mark.parametrize("bulk_threshold", [200, 3], ids=["collections", "bulk"])
def test_new_existing_and_refused_records_in_one_batch(salesforce_sandbox: Any, sf_client: Any,
                                                       bulk_threshold: int) -> None:
    settings = SalesforceConfig(username="admin@leadsync.sandbox", collection_size=2,
                                bulk_threshold=bulk_threshold,
                                route_to=salesforce_sandbox.address)
    adapter = SalesforceAdapter(settings, password="sandbox", security_token="",
                                wait=wait_none(), sleep=lambda seconds: None)
    # two leads sales already works: one we know about, one our state lost
    for key in ("old-known", "old-lost"):
        sf_client.Lead.create({"LastName": "Old", "Company": "Acme", "Leadsync_Id__c": key,
                               "Status": "Working - Contacted"})
    opening = {"Status": "Open - Not Contacted"}
    writes = [Write(f"new-{i}", {"LastName": f"N{i}", "Company": "Acme"}, opening)
              for i in range(5)]
    writes += [Write("old-known", {"LastName": "Known", "Company": "Acme"}, opening, known=True),
               Write("old-lost", {"LastName": "Lost", "Company": "Acme"}, opening),
               Write("bad", {"Company": "Acme"}, opening)]
    adapter.client  # noqa: B018  (log in first: count only the writes)
    before = salesforce_sandbox.request_count
    results = adapter.upsert("Lead", "Leadsync_Id__c", writes)
    calls = salesforce_sandbox.request_count - before
    assert [(r.key, r.ok, r.created) for r in results] == [
        *((f"new-{i}", True, True) for i in range(5)),
        ("old-known", True, False), ("old-lost", True, False), ("bad", False, False)]
    assert results[-1].errors[0].code == "REQUIRED_FIELD_MISSING"
    rows = {r["Leadsync_Id__c"]: r for r in salesforce_sandbox.records("Lead")}
    assert len(rows) == 7  # nothing duplicated
    assert rows["old-lost"]["Status"] == "Working - Contacted"  # sales' verdict kept
    assert rows["old-lost"]["LastName"] == "Lost"
    assert rows["new-0"]["Status"] == "Open - Not Contacted"
    # one describe (is the key Unique?), then:
    if bulk_threshold == 200:  # 7 inserts in 4 collections of 2 inside one composite
        assert calls == 1 + 1 + 1  # request, then 2 updates in 1
    else:  # an insert job: create, upload, close, 2 polls, results, failures; 2 updates
        assert calls == 1 + 7 + 1
    adapter.close()


@pytest.mark.parametrize(("auth", "domain"), [("oauth_password", "login"),
                                              ("client_credentials", "leadsync-sandbox.my")])
def test_oauth_logins_reach_the_org(salesforce_sandbox: Any, auth: str, domain: str) -> None:
    settings = SalesforceConfig(username="admin@leadsync.sandbox", auth=auth, domain=domain,
                                route_to=salesforce_sandbox.address)
    adapter = SalesforceAdapter(settings, password="sandbox", security_token="",
                                consumer_key=salesforce_sandbox.consumer_key,
                                consumer_secret=salesforce_sandbox.consumer_secret,
                                wait=wait_none())
    assert adapter.check() == []
    [result] = adapter.upsert("Lead", "Leadsync_Id__c", [Write("o1", {"LastName": "O",
                                                                      "Company": "Auth"})])
    assert result.ok and result.created
    wrong = SalesforceAdapter(settings, password="sandbox", security_token="",
                              consumer_key="not-the-key", consumer_secret="nope",
                              wait=wait_none())
    [problem] = wrong.check()
    assert "invalid_client" in problem and "nope" not in problem
    adapter.close()


def bulk_adapter(sandbox: Any, **settings: Any) -> SalesforceAdapter:
    config = SalesforceConfig(username="admin@leadsync.sandbox", bulk_threshold=2,
                              route_to=sandbox.address, **settings)
    ticks = iter(range(0, 10**6, 60))  # each look at the clock: another minute gone
    return SalesforceAdapter(config, password="sandbox", security_token="", wait=wait_none(),
                             sleep=lambda seconds: None, clock=lambda: float(next(ticks)))


def test_a_failed_bulk_job_stops_the_batch_with_salesforces_reason(
        salesforce_sandbox: Any) -> None:
    adapter = bulk_adapter(salesforce_sandbox)
    writes = [Write(f"b{i}", {"LastName": "B", "Company": "C", "Nope__c": "x"})
              for i in range(3)]
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", writes)
    assert caught.value.results == [] and "Nope__c" in str(caught.value)
    assert salesforce_sandbox.records("Lead") == []
    adapter.close()


def test_a_bulk_job_past_its_timeout_is_aborted_and_left_for_the_next_run() -> None:
    slow = SalesforceSandbox(username="admin@leadsync.sandbox", password="sandbox",
                             security_token="", bulk_in_progress_polls=10**6)
    slow.start()
    try:
        adapter = bulk_adapter(slow, bulk_timeout_s=300)
        with pytest.raises(BatchInterrupted) as caught:
            adapter.upsert("Lead", "Leadsync_Id__c",
                           [Write(f"s{i}", {"LastName": "S", "Company": "C"}) for i in range(3)])
        assert isinstance(caught.value.cause, TransientError)
        assert "aborted" in str(caught.value) and caught.value.results == []
        adapter.close()
    finally:
        slow.stop()


def test_an_external_id_that_is_not_unique_is_upserted_never_duplicated(
        salesforce_sandbox: Any, sf_client: Any) -> None:
    adapter = SalesforceAdapter(SalesforceConfig(username="admin@leadsync.sandbox",
                                                 route_to=salesforce_sandbox.address),
                                password="sandbox", security_token="", wait=wait_none())
    sf_client.Lead.create({"LastName": "Old", "Company": "Acme", "Legacy_Id__c": "L1",
                           "Status": "Working - Contacted"})
    opening = {"Status": "Open - Not Contacted"}
    results = adapter.upsert("Lead", "Legacy_Id__c", [
        Write("L1", {"LastName": "Again", "Company": "Acme"}, opening),
        Write("L2", {"LastName": "New", "Company": "Acme"}, opening)])
    assert [(r.key, r.ok, r.created) for r in results] == [("L1", True, False),
                                                           ("L2", True, True)]
    rows = {r["Legacy_Id__c"]: r for r in salesforce_sandbox.records("Lead")}
    assert len(salesforce_sandbox.records("Lead")) == 2
    assert rows["L1"]["Status"] == "Working - Contacted"  # kept
    assert rows["L2"]["Status"] == "Open - Not Contacted"  # given on creation

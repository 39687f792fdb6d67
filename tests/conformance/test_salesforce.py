"""Salesforce passes the CRM adapter contract against its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter
from connector.config import SalesforceConfig
from connector.records import Write
from tests.conformance.contract import CrmAdapterContract


class TestSalesforce(CrmAdapterContract):
    adapter_name = "salesforce"
    crm_object = "Lead"
    key_field = "Leadsync_Id__c"
    status_field = "Status"

    @pytest.fixture
    def adapter(self, salesforce_sandbox: Any) -> Iterator[SalesforceAdapter]:
        settings = SalesforceConfig(username="admin@leadsync.sandbox",
                                    route_to=salesforce_sandbox.address)
        adapter = SalesforceAdapter(settings, password="sandbox", security_token="",
                                    wait=wait_none())
        yield adapter
        adapter.close()

    @pytest.fixture
    def record(self) -> Callable[[int], dict]:
        return lambda n: {"LastName": f"Lee{n}", "Company": "Acme", "Email": f"p{n}@acme.example"}

    @pytest.fixture
    def refused_record(self) -> dict[str, Any]:
        return {"Company": "Acme", "Email": "nolast@acme.example"}

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

    @pytest.mark.parametrize("key", ["O'Brien", "x' OR Name != '", "back\\slash'", "a%_b"])
    def test_keys_cannot_change_the_query(self, adapter: SalesforceAdapter, key: str) -> None:
        adapter.upsert("Lead", "Leadsync_Id__c",
                       [Write("plain", {"LastName": "A", "Company": "B"})])
        assert adapter.read_by_keys("Lead", "Leadsync_Id__c", [key], []) == []
        [written] = adapter.upsert("Lead", "Leadsync_Id__c",
                                   [Write(key, {"LastName": "Q", "Company": "B"})])
        assert written.ok, written.errors
        found = adapter.read_by_keys("Lead", "Leadsync_Id__c", [key], [])
        assert [r.key for r in found] == [key]

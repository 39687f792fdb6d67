"""Salesforce passes the CRM adapter contract against its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter
from connector.config import SalesforceConfig
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

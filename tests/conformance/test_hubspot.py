"""HubSpot passes the CRM adapter contract against its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tenacity import wait_none

from connector.adapters.hubspot import HubSpotAdapter
from connector.config import HubSpotConfig
from connector.retry import RetryPolicy
from connector.sandbox.faults import Faults
from tests.conformance.contract import CrmAdapterContract


class TestHubSpot(CrmAdapterContract):
    adapter_name = "hubspot"
    crm_object = "contacts"
    key_field = "leadsync_id"
    status_field = "hs_lead_status"
    opening_status = "NEW"
    worked_status = "IN_PROGRESS"
    owner_field = "hubspot_owner_id"
    read_page_size = 200

    @pytest.fixture
    def adapter(self, hubspot_sandbox: Any) -> Iterator[HubSpotAdapter]:
        settings = HubSpotConfig(route_to=hubspot_sandbox.address)
        adapter = HubSpotAdapter(settings, token="sandbox-token", retry=RetryPolicy(attempts=8),
                                 wait=wait_none(), sleep=lambda seconds: None)
        yield adapter
        adapter.close()

    @pytest.fixture
    def record(self) -> Callable[[int], dict]:
        return lambda n: {"lastname": f"Lee{n}", "company": "Acme",
                          "email": f"p{n}@acme.example"}

    @pytest.fixture
    def refused_record(self) -> dict[str, Any]:
        return {"lastname": "Bad", "email": "bad@acme.example", "hs_lead_status": "LUKEWARM"}

    @pytest.fixture
    def delete(self, hs_client: Any) -> Callable[[str], None]:
        return lambda crm_id: hs_client.crm.contacts.basic_api.archive(crm_id)

    @pytest.fixture
    def set_status(self, hubspot_sandbox: Any) -> Callable[[str, str], None]:
        return lambda crm_id, status: hubspot_sandbox.update("contacts", crm_id,
                                                             {"hs_lead_status": status})

    @pytest.fixture
    def owner_id(self, hs_client: Any) -> str:
        owners = hs_client.crm.owners.owners_api.get_page(archived=False).results
        return str(owners[0].id)

    @pytest.fixture
    def task_subjects(self, hubspot_sandbox: Any) -> Callable[[str], list[str]]:
        def subjects(crm_id: str) -> list[str]:
            return [t["properties"]["hs_task_subject"] for t in hubspot_sandbox.records("tasks")
                    if hubspot_sandbox.associations("tasks", t["id"], "contacts") == [crm_id]]
        return subjects

    @pytest.fixture
    def faults(self, hubspot_sandbox: Any) -> Callable[[], None]:
        def turn_on() -> None:
            hubspot_sandbox.faults = Faults(error_rate=0.1, drop_rate=0.1, seed=5,
                                            fail_at={2: "drop_after"})
        return turn_on

"""The daily API allocation: the usage header, 403 REQUEST_LIMIT_EXCEEDED and /limits."""

from __future__ import annotations

import pytest
from sf_helpers import FakeClock, connect
from simple_salesforce import SalesforceRefusedRequest

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

LIMIT_EXCEEDED = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]


def test_the_usage_header_reports_the_configured_allocation(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, daily_api_allocation=5) as sandbox:
        sf = connect(sandbox)
        sf.query("SELECT Id FROM Lead")

        assert tuple(sf.api_usage["api-usage"]) == (1, 5)


def test_the_call_after_the_allocation_is_refused_with_403(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, daily_api_allocation=3) as sandbox:
        sf = connect(sandbox)
        for _ in range(3):
            sf.query("SELECT Id FROM Lead")

        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Lead")

        assert refused.value.status == 403
        assert refused.value.content == LIMIT_EXCEEDED
        assert sandbox.api_usage == 3  # a refused call is not counted


def test_the_refusal_still_carries_the_usage_header(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    sandbox.set_api_usage(15000)

    response = make_session(sandbox.address).get(
        f"https://{sf.sf_instance}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=5,
    )

    assert response.status_code == 403
    assert response.json() == LIMIT_EXCEEDED
    assert response.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"


def test_usage_and_allocation_change_at_runtime(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    sandbox.daily_api_allocation = 10
    sandbox.set_api_usage(10)
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Lead")

    sandbox.daily_api_allocation = 11
    sf.query("SELECT Id FROM Lead")

    assert tuple(sf.api_usage["api-usage"]) == (11, 11)
    assert sandbox.daily_api_allocation == 11


def test_a_new_day_restores_the_allocation(sandbox: SalesforceSandbox, clock: FakeClock) -> None:
    sf = connect(sandbox)
    sandbox.set_api_usage(15000)
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Lead")

    clock.advance(days=1)
    sf.query("SELECT Id FROM Lead")  # the idle session expired too; the client logs in again

    assert sf.api_usage["api-usage"].used == 1


def test_limits_reflects_allocation_and_usage(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    sandbox.daily_api_allocation = 100
    sandbox.set_api_usage(40)

    limits = sf.limits()

    assert limits["DailyApiRequests"] == {"Max": 100, "Remaining": 59}  # this call counts
    assert set(limits["DailyBulkV2QueryJobs"]) == {"Max", "Remaining"}


def test_login_does_not_count_against_the_allocation(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, daily_api_allocation=0) as sandbox:
        sf = connect(sandbox)

        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM Lead")
        assert sandbox.api_usage == 0

"""Login (SOAP), session checks on REST, and the per-response usage header."""

from __future__ import annotations

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed, SalesforceExpiredSession
from werkzeug.test import Client

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_login_returns_the_instance_and_a_session(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)

    assert sf.sf_instance == "leadsync-sandbox.my.salesforce.com"
    assert sf.session_id.startswith("00D8d0000000001!")
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("admin@leadsync.sandbox", "wrong"),
        ("nobody@leadsync.sandbox", "sandbox"),
    ],
)
def test_wrong_credentials_fail_with_invalid_login(
    sandbox: SalesforceSandbox, username: str, password: str
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        connect(sandbox, username=username, password=password)

    assert failure.value.code == "INVALID_LOGIN"
    assert failure.value.auth_message == (
        "Invalid username, password, security token; or user locked out."
    )


def test_username_is_case_insensitive(sandbox: SalesforceSandbox) -> None:
    assert connect(sandbox, username="Admin@LeadSync.Sandbox").session_id


def test_security_token_is_appended_to_the_password(clock: FakeClock) -> None:
    with SalesforceSandbox(security_token="TOKEN123", clock=clock) as sandbox:
        assert connect(sandbox, security_token="TOKEN123").session_id
        with pytest.raises(SalesforceAuthenticationFailed):
            connect(sandbox)  # password without the token


def test_login_fault_is_a_soap_500_with_sf_codes(sandbox: SalesforceSandbox) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        '<n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>x</n1:username>'
        "<n1:password>y</n1:password></n1:login></env:Body></env:Envelope>"
    )
    response = Client(sandbox.wsgi_app).post(
        "/services/Soap/u/59.0", data=envelope, headers={"SOAPAction": "login"}
    )

    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in body
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in body


def test_unknown_session_is_a_401_invalid_session_id(sandbox: SalesforceSandbox) -> None:
    stale = Salesforce(
        instance="leadsync-sandbox.my.salesforce.com",
        session_id="00D8d0000000001!AQnotarealsession",
        session=make_session(sandbox.address),
    )

    with pytest.raises(SalesforceExpiredSession) as failure:
        stale.query("SELECT Id FROM Lead")

    assert failure.value.status == 401
    assert failure.value.content == INVALID_SESSION


def test_missing_authorization_header_is_a_401(sandbox: SalesforceSandbox) -> None:
    response = Client(sandbox.wsgi_app).get("/services/data/v59.0/sobjects/")

    assert response.status_code == 401
    assert response.json == INVALID_SESSION


def test_idle_session_expires_and_the_client_logs_in_again(
    sandbox: SalesforceSandbox, sf: Salesforce, clock: FakeClock
) -> None:
    first_session = sf.session_id
    clock.advance(hours=3)  # past sessionSecondsValid=7200 of inactivity
    before = sandbox.request_count

    sf.Lead.create(lead())

    # 401 on the stale session, a fresh SOAP login, then the retried create.
    assert sandbox.request_count - before == 3
    assert sf.session_id != first_session


def test_every_rest_response_reports_api_usage(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")

    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 15000)
    assert sandbox.api_usage == 2


def test_api_usage_resets_on_a_new_day(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    sf.query("SELECT Id FROM Lead")
    clock.advance(days=1)
    sf.query("SELECT Id FROM Lead")  # the idle session expired too; the client re-logs in

    assert sf.api_usage["api-usage"].used == 1


def test_request_count_includes_login(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    sf.query("SELECT Id FROM Lead")

    assert sandbox.request_count == 2


def test_versions_list_needs_no_session(sandbox: SalesforceSandbox) -> None:
    response = Client(sandbox.wsgi_app).get("/services/data/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in (
        response.json
    )


def test_limits_reports_the_daily_allocation(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Lead")

    assert sf.limits()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14998}

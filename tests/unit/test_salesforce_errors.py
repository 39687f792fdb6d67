"""Error paths of the Salesforce adapter, with `responses` standing in for the org.

The bodies are Salesforce's documented shapes: a JSON list of
{"message", "errorCode", "fields"} for REST errors.
"""

from __future__ import annotations

import pytest
import requests
import responses
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter, record_errors
from connector.config import SalesforceConfig
from connector.errors import FatalError, TransientError
from connector.retry import RetryPolicy

INSTANCE = "https://example.my.salesforce.com"
UPSERT = f"{INSTANCE}/services/data/v59.0/sobjects/Lead/Leadsync_Id__c/42"
LOGIN = "https://login.salesforce.com/services/Soap/u/59.0"
LOGIN_OK = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>
<serverUrl>{INSTANCE}/services/Soap/u/59.0/00D000000000001</serverUrl>
<sessionId>00D000000000001!SESSION</sessionId></result></loginResponse></soapenv:Body>
</soapenv:Envelope>"""


@pytest.fixture
def adapter() -> SalesforceAdapter:
    settings = SalesforceConfig(username="u@example.com")
    return SalesforceAdapter(settings, password="p", security_token="t",
                             retry=RetryPolicy(attempts=3), wait=wait_none())


@pytest.fixture
def org() -> responses.RequestsMock:
    with responses.RequestsMock() as mock:
        mock.post(LOGIN, body=LOGIN_OK, status=200)
        yield mock


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (201, {"id": "00Q1", "success": True, "errors": [], "created": True}, "created"),
    (200, {"id": "00Q1", "success": True, "errors": [], "created": False}, "updated"),
    (400, [{"message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}], "refused"),
    (400, [{"message": "Email: invalid email address: x", "errorCode": "INVALID_EMAIL_ADDRESS",
            "fields": ["Email"]}], "refused"),
])
def test_upsert_outcomes(adapter: SalesforceAdapter, org: responses.RequestsMock, status: int,
                         body: object, outcome: str) -> None:
    org.patch(UPSERT, json=body, status=status)
    [result] = adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])
    got = "refused" if not result.ok else ("created" if result.created else "updated")
    assert got == outcome
    if outcome == "refused":
        assert result.errors == record_errors(body)
        assert len(org.calls) == 2  # login + one try: a validation error is never retried


def test_transient_5xx_is_retried_then_succeeds(adapter: SalesforceAdapter,
                                                org: responses.RequestsMock) -> None:
    org.patch(UPSERT, json=[{"message": "try later", "errorCode": "SERVER_UNAVAILABLE"}],
              status=503)
    org.patch(UPSERT, body=requests.ConnectionError("reset"))
    org.patch(UPSERT, json={"id": "00Q1", "success": True, "errors": [], "created": True},
              status=201)
    [result] = adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])
    assert result.ok and result.created
    assert len(org.calls) == 4


def test_transient_failure_gives_up_after_the_cap(adapter: SalesforceAdapter,
                                                  org: responses.RequestsMock) -> None:
    for _ in range(3):
        org.patch(UPSERT, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}],
                  status=503)
    with pytest.raises(TransientError, match="503"):
        adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])


def test_request_limit_is_fatal_not_retried(adapter: SalesforceAdapter,
                                            org: responses.RequestsMock) -> None:
    org.patch(UPSERT, json=[{"message": "TotalRequests Limit exceeded.",
                             "errorCode": "REQUEST_LIMIT_EXCEEDED"}], status=403)
    with pytest.raises(FatalError) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert len(org.calls) == 2


def test_login_fault_is_fatal_and_keeps_the_code() -> None:
    fault = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope
 xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>
<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password,
 security token; or user locked out.</faultstring><detail><sf:LoginFault>
<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username,
 password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""
    adapter = SalesforceAdapter(SalesforceConfig(username="u@example.com"), password="secret-pw",
                                security_token="", wait=wait_none())
    with responses.RequestsMock() as mock:
        mock.post(LOGIN, body=fault, status=500)
        problems = adapter.check()
    assert len(problems) == 1 and "INVALID_LOGIN" in problems[0]
    assert "secret-pw" not in problems[0] and "secret-pw" not in repr(adapter)

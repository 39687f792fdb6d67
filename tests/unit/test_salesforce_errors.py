"""Error paths of the Salesforce adapter, with `responses` standing in for the org.

The bodies are Salesforce's documented shapes: a JSON list of
{"message", "errorCode", "fields"} for REST errors.
"""

from __future__ import annotations

import pytest
import requests
import responses
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter, classify, record_errors
from connector.config import SalesforceConfig
from connector.errors import BatchInterrupted, FatalError, TransientError
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
    with pytest.raises(BatchInterrupted, match="503") as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])
    assert isinstance(caught.value.cause, TransientError) and caught.value.results == []


def test_request_limit_is_fatal_not_retried(adapter: SalesforceAdapter,
                                            org: responses.RequestsMock) -> None:
    org.patch(UPSERT, json=[{"message": "TotalRequests Limit exceeded.",
                             "errorCode": "REQUEST_LIMIT_EXCEEDED"}], status=403)
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [("42", {"LastName": "X"})])
    assert isinstance(caught.value.cause, FatalError)
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


@pytest.mark.parametrize(("status", "code", "outcome"), [
    (400, "REQUIRED_FIELD_MISSING", "record"),
    (400, "STRING_TOO_LONG", "record"),
    (400, "INVALID_EMAIL_ADDRESS", "record"),
    (400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "record"),
    (400, "DUPLICATE_VALUE", "record"),
    (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "record"),
    (400, "SOME_CODE_NOT_SEEN_BEFORE", "record"),
    (300, "MULTIPLE_CHOICES", "record"),
    (400, "INVALID_FIELD", "fatal"),
    (400, "INVALID_FIELD_FOR_INSERT_UPDATE", "fatal"),
    (400, "JSON_PARSER_ERROR", "fatal"),
    (404, "NOT_FOUND", "fatal"),
    (401, "INVALID_SESSION_ID", "fatal"),
    (403, "REQUEST_LIMIT_EXCEEDED", "fatal"),
    (403, "INSUFFICIENT_ACCESS", "fatal"),
    (400, "UNABLE_TO_LOCK_ROW", "transient"),
    (500, "UNKNOWN_EXCEPTION", "transient"),
    (503, "SERVER_UNAVAILABLE", "transient"),
    (502, None, "transient"),
    (429, None, "transient"),
])
def test_error_table(status: int, code: str | None, outcome: str) -> None:
    assert classify(status, code) == outcome


def test_a_fatal_error_mid_batch_keeps_what_was_written(adapter: SalesforceAdapter,
                                                        org: responses.RequestsMock) -> None:
    base = f"{INSTANCE}/services/data/v59.0/sobjects/Lead/Leadsync_Id__c/"
    org.patch(base + "1", json={"id": "00Q1", "success": True, "errors": [], "created": True},
              status=201)
    org.patch(base + "2", json=[{"message": "Required fields are missing: [LastName]",
                                 "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}],
              status=400)
    org.patch(base + "3", json=[{"message": "TotalRequests Limit exceeded.",
                                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}], status=403)
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [(k, {"LastName": "X"}) for k in "1234"])
    assert [(r.key, r.ok) for r in caught.value.results] == [("1", True), ("2", False)]
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"


def test_retry_after_is_honoured_and_capped() -> None:
    from tenacity import RetryCallState, Retrying, wait_fixed

    from connector.retry import wait_retry_after

    wait = wait_retry_after(wait_fixed(1), cap_s=60)
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.set_exception((TransientError, TransientError("429", retry_after=10), None))
    assert wait(state) == 10
    state.set_exception((TransientError, TransientError("429", retry_after=600), None))
    assert wait(state) == 60
    state.set_exception((TransientError, TransientError("503"), None))
    assert wait(state) == 1

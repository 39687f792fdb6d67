"""Error paths of the Salesforce adapter, with `responses` standing in for the org.

The bodies are Salesforce's documented shapes: a JSON list of
{"message", "errorCode", "fields"} for REST errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from tenacity import wait_none

from connector.adapters.salesforce import SalesforceAdapter, bulk_errors, classify
from connector.config import SalesforceConfig
from connector.errors import BatchInterrupted, QuotaReserved, RecordError, TransientError
from connector.records import Write
from connector.retry import RetryPolicy

INSTANCE = "https://example.my.salesforce.com"
CREATE = f"{INSTANCE}/services/data/v59.0/composite/sobjects"
UPSERT = f"{CREATE}/Lead/Leadsync_Id__c"
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


LIMITS = {"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}


def describe(*, unique: bool) -> dict[str, object]:
    """The parts of Salesforce's describe the adapter reads, for the key field."""
    return {"name": "Lead", "fields": [
        {"name": "Leadsync_Id__c", "type": "string", "length": 64, "externalId": True,
         "unique": unique, "nillable": True, "createable": True, "updateable": True}]}


@pytest.fixture
def org() -> responses.RequestsMock:
    """Salesforce after login and one describe of Lead (its key field is Unique)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(LOGIN, body=LOGIN_OK, status=200)
        mock.get(f"{INSTANCE}/services/data/v59.0/limits/", json=LIMITS)
        mock.get(f"{INSTANCE}/services/data/v59.0/sobjects/Lead/describe",
                 json=describe(unique=True))
        yield mock


COMPOSITE = f"{INSTANCE}/services/data/v59.0/composite"


def composite_calls(org: responses.RequestsMock,
                    answers: list[tuple[int, str, list[Any]]]) -> None:
    """Composite requests: describes (Lead and Contact together) are answered from
    ``describe``; each request of collections takes the next of ``answers`` --
    (status, Sforce-Limit-Info, a body per subrequest, or the error body itself)."""
    todo = list(answers)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        subs = json.loads(request.body)["compositeRequest"]
        if subs[0]["url"].endswith("/describe"):
            return 200, {"Sforce-Limit-Info": "api-usage=1/15000"}, json.dumps(
                {"compositeResponse": [
                    {"body": {**describe(unique=True), "name": sub["url"].split("/")[-2]},
                     "httpHeaders": {}, "httpStatusCode": 200,
                     "referenceId": sub["referenceId"]} for sub in subs]})
        status, usage, bodies = todo.pop(0)
        if status != 200:
            return status, {"Sforce-Limit-Info": usage}, json.dumps(bodies)
        return 200, {"Sforce-Limit-Info": usage}, json.dumps({"compositeResponse": [
            {"body": body, "httpHeaders": {}, "httpStatusCode": 200,
             "referenceId": sub["referenceId"]}
            for body, sub in zip(bodies, subs, strict=True)]})

    org.add_callback(responses.POST, COMPOSITE, callback=answer)


def writes_of(org: responses.RequestsMock) -> list[responses.Call]:
    return [c for c in org.calls if "/composite/" in (c.request.url or "")]


def ok(record_id: str, **extra: object) -> dict[str, object]:
    return {"id": record_id, "success": True, "errors": [], **extra}


def refused(code: str, message: str, *fields: str) -> dict[str, object]:
    return {"success": False,
            "errors": [{"statusCode": code, "message": message, "fields": list(fields)}]}


def test_new_records_are_created_and_those_already_there_updated(
        adapter: SalesforceAdapter, org: responses.RequestsMock) -> None:
    org.post(CREATE, json=[
        ok("00Q1"),
        refused("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", "LastName"),
        refused("DUPLICATE_VALUE", "duplicate value found: Leadsync_Id__c duplicates value on "
                "record with id: 00Q3", "Leadsync_Id__c"),
    ])
    org.patch(UPSERT, json=[ok("00Q3", created=False)])
    results = adapter.upsert("Lead", "Leadsync_Id__c", [
        Write("1", {"LastName": "A"}, {"Status": "Open"}),
        Write("2", {"Company": "B"}, {"Status": "Open"}),
        Write("3", {"LastName": "C"}, {"Status": "Open"})])
    assert [(r.key, r.ok, r.created, r.crm_id) for r in results] == [
        ("1", True, True, "00Q1"), ("2", False, False, None), ("3", True, False, "00Q3")]
    assert results[1].errors == [RecordError("REQUIRED_FIELD_MISSING",
                                             "Required fields are missing: [LastName]",
                                             ["LastName"])]
    created, updated = (json.loads(call.request.body) for call in writes_of(org))
    assert created["records"][0] == {"attributes": {"type": "Lead"}, "LastName": "A",
                                     "Status": "Open", "Leadsync_Id__c": "1"}
    # the record sales already owns is updated without the creation-only Status
    assert updated == {"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "C", "Leadsync_Id__c": "3"}]}
    assert len(writes_of(org)) == 2  # one create, one update: refusals are never retried


def test_known_records_are_upserted_in_one_call(adapter: SalesforceAdapter,
                                               org: responses.RequestsMock) -> None:
    org.patch(UPSERT, json=[ok("00Q1", created=False), ok("00Q2", created=False)])
    results = adapter.upsert("Lead", "Leadsync_Id__c", [
        Write("1", {"LastName": "A"}, {"Status": "Open"}, known=True),
        Write("2", {"LastName": "B"}, {"Status": "Open"}, known=True)])
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, False)]
    assert len(writes_of(org)) == 1


def test_a_known_record_deleted_in_the_crm_gets_its_creation_fields(
        adapter: SalesforceAdapter, org: responses.RequestsMock) -> None:
    org.patch(UPSERT, json=[ok("00Q9", created=True)])
    org.patch(UPSERT, json=[ok("00Q9", created=False)])
    [result] = adapter.upsert("Lead", "Leadsync_Id__c", [
        Write("1", {"LastName": "A"}, {"Status": "Open"}, known=True)])
    assert (result.ok, result.created, result.crm_id) == (True, True, "00Q9")
    second = json.loads(writes_of(org)[1].request.body)
    assert second["records"] == [{"attributes": {"type": "Lead"}, "Status": "Open",
                                  "Leadsync_Id__c": "1"}]


def test_without_a_unique_key_everything_is_upserted(org: responses.RequestsMock) -> None:
    org.replace(responses.GET, f"{INSTANCE}/services/data/v59.0/sobjects/Lead/describe",
                json=describe(unique=False))
    org.patch(UPSERT, json=[ok("00Q1", created=True), ok("00Q2", created=False)])
    org.patch(UPSERT, json=[ok("00Q1", created=False)])
    adapter = SalesforceAdapter(SalesforceConfig(username="u@example.com"), password="p",
                                security_token="t", wait=wait_none())
    results = adapter.upsert("Lead", "Leadsync_Id__c", [
        Write("1", {"LastName": "A"}, {"Status": "Open"}),
        Write("2", {"LastName": "B"}, {"Status": "Open"})])
    assert [(r.key, r.created) for r in results] == [("1", True), ("2", False)]
    first, second = (json.loads(c.request.body) for c in writes_of(org))
    assert all("Status" not in r for r in first["records"])  # an existing "2" keeps its Status
    assert second["records"] == [{"attributes": {"type": "Lead"}, "Status": "Open",
                                  "Leadsync_Id__c": "1"}]  # only the new one gets it
    assert not any(c.request.method == "POST" and "/composite/" in (c.request.url or "")
                   for c in org.calls)


def test_transient_5xx_is_retried_then_succeeds(adapter: SalesforceAdapter,
                                                org: responses.RequestsMock) -> None:
    org.post(CREATE, json=[{"message": "try later", "errorCode": "SERVER_UNAVAILABLE"}],
             status=503)
    org.post(CREATE, body=requests.ConnectionError("reset"))
    org.post(CREATE, json=[ok("00Q1")])
    [result] = adapter.upsert("Lead", "Leadsync_Id__c", [Write("42", {"LastName": "X"})])
    assert result.ok and result.created
    assert len(writes_of(org)) == 3


def test_transient_failure_gives_up_after_the_cap(adapter: SalesforceAdapter,
                                                  org: responses.RequestsMock) -> None:
    for _ in range(3):
        org.post(CREATE, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}],
                 status=503)
    with pytest.raises(BatchInterrupted, match="503") as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [Write("42", {"LastName": "X"})])
    assert isinstance(caught.value.cause, TransientError) and caught.value.results == []


def test_request_limit_is_a_clean_stop_not_retried(adapter: SalesforceAdapter,
                                                   org: responses.RequestsMock) -> None:
    org.post(CREATE, json=[{"message": "TotalRequests Limit exceeded.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED"}], status=403)
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [Write("42", {"LastName": "X"})])
    assert isinstance(caught.value.cause, QuotaReserved)
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert len(writes_of(org)) == 1


def test_a_run_inside_the_reserve_writes_nothing(org: responses.RequestsMock) -> None:
    org.replace(responses.GET, f"{INSTANCE}/services/data/v59.0/limits/", json=LIMITS,
                headers={"Sforce-Limit-Info": "api-usage=14500/15000"})
    adapter = SalesforceAdapter(SalesforceConfig(username="u@example.com", api_reserve=1000),
                                password="p", security_token="t", wait=wait_none())
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [Write("1", {"LastName": "X"})])
    assert isinstance(caught.value.cause, QuotaReserved) and "14,500 of 15,000" in str(caught.value)
    assert writes_of(org) == []


def test_the_reserve_stops_before_the_next_call(org: responses.RequestsMock) -> None:
    """Five collections ride in one composite request; the reserve is asked before
    each request, so the sixth record's is never sent."""
    adapter = SalesforceAdapter(SalesforceConfig(username="u@example.com", collection_size=1,
                                                 api_reserve=100),
                                password="p", security_token="t", wait=wait_none())
    composite_calls(org, [(200, "api-usage=14900/15000", [[ok(f"00Q{i}")] for i in range(5)])])
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c", [Write(k, {"LastName": "X"}) for k in "123456"])
    assert isinstance(caught.value.cause, QuotaReserved)
    assert "14,900 of 15,000" in str(caught.value) and "api_reserve" in str(caught.value)
    assert [r.key for r in caught.value.results] == ["1", "2", "3", "4", "5"]
    sent = [c for c in org.calls if (c.request.url or "").startswith(COMPOSITE)]
    assert len(sent) == 2  # describes, five records; the sixth record's call never went


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
    (401, "INVALID_SESSION_ID", "session"),
    (403, "REQUEST_LIMIT_EXCEEDED", "quota"),
    (403, "INSUFFICIENT_ACCESS", "fatal"),
    (400, "UNABLE_TO_LOCK_ROW", "transient"),
    (500, "UNKNOWN_EXCEPTION", "transient"),
    (503, "SERVER_UNAVAILABLE", "transient"),
    (502, None, "transient"),
    (429, None, "transient"),
])
def test_error_table(status: int, code: str | None, outcome: str) -> None:
    message = "TotalRequests Limit exceeded." if code == "REQUEST_LIMIT_EXCEEDED" else ""
    assert classify(status, code, message) == outcome


def test_a_concurrency_limit_is_transient_not_the_daily_quota() -> None:
    assert classify(403, "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.") == "transient"


def test_a_fatal_error_mid_batch_keeps_what_was_written(org: responses.RequestsMock) -> None:
    """Five collections of two in the first composite request, the rest in a second
    one that the org refuses: the first ten records' results are kept."""
    adapter = SalesforceAdapter(SalesforceConfig(username="u@example.com", collection_size=2),
                                password="p", security_token="t", wait=wait_none())
    written = [[ok(f"00Q{i}"), refused("REQUIRED_FIELD_MISSING", "Required fields are "
                                       "missing: [LastName]", "LastName")] for i in range(5)]
    composite_calls(org, [(200, "api-usage=10/15000", written),
                          (403, "api-usage=10/15000", [{"message": "TotalRequests Limit "
                                                        "exceeded.", "errorCode":
                                                        "REQUEST_LIMIT_EXCEEDED"}])])
    with pytest.raises(BatchInterrupted) as caught:
        adapter.upsert("Lead", "Leadsync_Id__c",
                       [Write(str(k), {"LastName": "X"}) for k in range(20)])
    assert [(r.key, r.ok) for r in caught.value.results] == [
        (str(k), k % 2 == 0) for k in range(10)]
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"


@pytest.mark.parametrize(("cell", "expected"), [
    ("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
     RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                 ["LastName"])),
    ("INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email --",
     RecordError("INVALID_EMAIL_ADDRESS", "Email: invalid email address: not-an-email",
                 ["Email"])),
    ("DUPLICATE_VALUE:duplicate value found: Leadsync_Id__c duplicates value on record with "
     "id: 00Q000000000001:--",
     RecordError("DUPLICATE_VALUE", "duplicate value found: Leadsync_Id__c duplicates value "
                 "on record with id: 00Q000000000001", [])),
])
def test_bulk_error_cells(cell: str, expected: RecordError) -> None:
    assert bulk_errors(cell) == [expected]


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

"""The sandbox answers simple-salesforce as Salesforce's documented examples do.

Each case is one real client call, made twice: against the sandbox, and
against `responses` serving the example Salesforce documents for that call
(bodies re-typed here with their shapes and codes, ids invented). The two
outcomes are reduced to their shape — keys and value types, or the exception
class, status and errorCode — and must be equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connector.transport import make_session

INSTANCE = "https://na1.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
LOGIN_OK = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>
<serverUrl>{INSTANCE}/services/Soap/u/59.0/00D000000000001</serverUrl>
<sessionId>00D000000000001!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL</sessionId>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""
LEAD_ID = "00Q5e00000ABCDEAA4"


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Salesforce], Any]
    method: str
    path: str
    status: int
    documented: Any


CASES = [
    Case("query", lambda sf: sf.query("SELECT Id, LastName FROM Lead WHERE "
                                      "Leadsync_Id__c = 'k1'"),
         "GET", "/query/", 200,
         {"totalSize": 1, "done": True, "records": [
             {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/"
                                                    f"{LEAD_ID}"},
              "Id": LEAD_ID, "LastName": "Lee"}]}),
    Case("create", lambda sf: sf.Lead.create({"LastName": "Khan", "Company": "Initech"}),
         "POST", "/sobjects/Lead/", 201, {"id": LEAD_ID, "success": True, "errors": []}),
    Case("upsert that creates", lambda sf: sf.Lead.upsert(
        "Leadsync_Id__c/k2", {"LastName": "Ono", "Company": "Hooli"}, raw_response=True).json(),
         "PATCH", "/sobjects/Lead/Leadsync_Id__c/k2", 201,
         {"id": LEAD_ID, "success": True, "errors": [], "created": True}),
    Case("upsert that updates", lambda sf: sf.Lead.upsert(
        "Leadsync_Id__c/k1", {"Title": "CTO"}, raw_response=True).json(),
         "PATCH", "/sobjects/Lead/Leadsync_Id__c/k1", 200,
         {"id": LEAD_ID, "success": True, "errors": [], "created": False}),
    Case("get by external id", lambda sf: {  # every field comes back; these must be among them
        k: v for k, v in sf.Lead.get_by_custom_id("Leadsync_Id__c", "k1").items()
        if k in ("attributes", "Id", "LastName")},
         "GET", "/sobjects/Lead/Leadsync_Id__c/k1", 200,
         {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{LEAD_ID}"},
          "Id": LEAD_ID, "LastName": "Lee"}),
    Case("required field missing", lambda sf: sf.Lead.create({"Company": "Initech"}),
         "POST", "/sobjects/Lead/", 400,
         [{"message": "Required fields are missing: [LastName]",
           "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]),
    Case("malformed query", lambda sf: sf.query("SELEC Id FROM Lead"),
         "GET", "/query/", 400,
         [{"message": "unexpected token: SELEC", "errorCode": "MALFORMED_QUERY"}]),
    Case("unknown field in a query", lambda sf: sf.query("SELECT Nope__c FROM Lead"),
         "GET", "/query/", 400,
         [{"message": "No such column 'Nope__c' on entity 'Lead'.",
           "errorCode": "INVALID_FIELD"}]),
    Case("record not found", lambda sf: sf.Lead.get("00Q5e00000ZZZZZZZZ"),
         "GET", "/sobjects/Lead/00Q5e00000ZZZZZZZZ", 404,
         [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
    Case("collections create", lambda sf: sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Lead"}, "LastName": "Ito", "Company": "Wonka"},
            {"attributes": {"type": "Lead"}, "Company": "Wonka"}]}),
         "POST", "/composite/sobjects", 200,
         [{"id": LEAD_ID, "success": True, "errors": []},
          {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                         "message": "Required fields are missing: [LastName]",
                                         "fields": ["LastName"]}]}]),
    Case("collections upsert", lambda sf: sf.restful(
        "composite/sobjects/Lead/Leadsync_Id__c", method="PATCH", json={
            "allOrNone": False, "records": [
                {"attributes": {"type": "Lead"}, "Leadsync_Id__c": "k1", "Title": "VP"}]}),
         "PATCH", "/composite/sobjects/Lead/Leadsync_Id__c", 200,
         [{"id": LEAD_ID, "success": True, "errors": [], "created": False}]),
    Case("limits", lambda sf: {"DailyApiRequests": sf.limits()["DailyApiRequests"]},
         "GET", "/limits/", 200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14998}}),
]


def shape(value: Any) -> Any:
    """Keys and value types, recursively; the first item stands for a list."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()
                if key not in ("message",)}  # wording differs; codes and fields must not
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else type(value).__name__


def outcome(call: Callable[[Salesforce], Any], sf: Salesforce) -> Any:
    try:
        return shape(call(sf))
    except SalesforceError as exc:
        return (type(exc).__name__, exc.status, shape(exc.content))


@pytest.fixture
def sandbox_client(salesforce_sandbox: Any) -> Iterator[Salesforce]:
    sf = Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                    session=make_session(salesforce_sandbox.address))
    sf.Lead.upsert("Leadsync_Id__c/k1", {"LastName": "Lee", "Company": "Acme"})
    yield sf


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sandbox_answers_as_documented(case: Case, sandbox_client: Salesforce) -> None:
    with responses.RequestsMock() as documented:
        documented.post("https://login.salesforce.com/services/Soap/u/59.0", body=LOGIN_OK)
        documented.add(case.method, API + case.path, json=case.documented, status=case.status)
        sf = Salesforce(username="u@example.com", password="p", security_token="t",
                        session=make_session())
        expected = outcome(case.call, sf)
    assert outcome(case.call, sandbox_client) == expected

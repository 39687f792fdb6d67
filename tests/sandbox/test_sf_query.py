"""Queries over HTTP: paging with query locators, queryAll, and query faults."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.pretty import pretty


@pytest.fixture
def paged(clock: FakeClock) -> Iterator[tuple[SalesforceSandbox, Salesforce]]:
    """A sandbox with page_size=5 holding 12 leads."""
    with SalesforceSandbox(page_size=5, clock=clock) as sandbox:
        sf = connect(sandbox)
        for n in range(12):
            sf.Lead.create(lead(LastName=f"Lead {n:02d}", Leadsync_Id__c=f"ls-{n}"))
        yield sandbox, sf


def test_query_returns_a_page_and_a_locator(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    _, sf = paged

    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY LastName")

    assert (first["totalSize"], first["done"], len(first["records"])) == (12, False, 5)
    locator, _, offset = first["nextRecordsUrl"].rpartition("-")
    assert locator.startswith("/services/data/v59.0/query/01g")
    assert offset == "5"

    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert (second["done"], len(second["records"])) == (False, 5)
    assert (third["done"], len(third["records"]), "nextRecordsUrl" in third) == (True, 2, False)
    names = [r["LastName"] for page in (first, second, third) for r in page["records"]]
    assert names == [f"Lead {n:02d}" for n in range(12)]


def test_query_all_follows_every_page(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    sandbox, sf = paged
    before = sandbox.request_count

    everything = sf.query_all("SELECT Id FROM Lead")

    assert everything["totalSize"] == 12
    assert len({r["Id"] for r in everything["records"]}) == 12
    assert sandbox.request_count - before == 3  # 5 + 5 + 2


def test_query_more_by_locator_id(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    _, sf = paged
    first = sf.query("SELECT Id FROM Lead")

    nxt = sf.query_more(first["nextRecordsUrl"].rsplit("/", 1)[1])

    assert len(nxt["records"]) == 5


def test_unknown_locator_is_invalid_query_locator(
    paged: tuple[SalesforceSandbox, Salesforce],
) -> None:
    _, sf = paged

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query_more("01g8d0000000999AAA-5")

    assert failure.value.content == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]


def test_query_all_includes_deleted_records(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    _, sf = paged
    doomed = sf.query("SELECT Id FROM Lead WHERE Leadsync_Id__c = 'ls-3'")["records"][0]["Id"]
    sf.Lead.delete(doomed)

    assert sf.query_all("SELECT Id FROM Lead")["totalSize"] == 11
    with_deleted = sf.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)
    assert with_deleted["totalSize"] == 12
    assert [r["Id"] for r in with_deleted["records"] if r["IsDeleted"]] == [doomed]


def test_query_all_paging_uses_query_urls(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    _, sf = paged

    first = sf.query("SELECT Id FROM Lead", include_deleted=True)

    assert "/query/" in first["nextRecordsUrl"]  # as Salesforce does, even for queryAll


def test_batch_size_header_is_honoured(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock) as sandbox:
        sf = connect(sandbox)
        for n in range(201):
            sf.Lead.create(lead(LastName=f"L{n}"))

        result = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})

    assert (len(result["records"]), result["done"]) == (200, False)


def test_count_query(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    _, sf = paged

    assert sf.query("SELECT COUNT() FROM Lead WHERE LastName LIKE 'Lead 0%'") == {
        "totalSize": 10,
        "done": True,
        "records": [],
    }


def test_relationship_field_over_http(sf: Salesforce) -> None:
    sf.Lead.create(lead())

    [record] = sf.query("SELECT Owner.Name FROM Lead")["records"]

    assert record["Owner"]["Name"] == "Sandbox Admin"
    assert record["Owner"]["attributes"]["type"] == "User"


def test_malformed_query_body_has_the_caret_banner(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id FRM Lead")

    assert failure.value.content == [
        {
            "message": "\nSELECT Id FRM Lead\n          ^\nERROR at Row:1:Column:11\n"
            "unexpected token: 'FRM'",
            "errorCode": "MALFORMED_QUERY",
        }
    ]


def test_unknown_field_in_query_is_invalid_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id, Nmae FROM Lead")

    [error] = failure.value.content
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith(
        "\nSELECT Id, Nmae FROM Lead\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Nmae' on entity 'Lead'."
    )


def test_soql_injection_attempt_stays_a_literal_over_http(sf: Salesforce) -> None:
    sf.Lead.create(lead(LastName="Safe"))

    result = sf.query(r"SELECT Id FROM Lead WHERE LastName = 'x\' OR LastName != \''")

    assert result["totalSize"] == 0


def test_pretty_print_is_salesforce_shaped(paged: tuple[SalesforceSandbox, Salesforce]) -> None:
    """simple-salesforce always sends X-PrettyPrint: 1; Salesforce answers in
    Jackson's layout, and a client without the header gets compact JSON."""
    _, sf = paged
    url = f"{sf.base_url}query/"
    params = {"q": "SELECT LastName, Email FROM Lead WHERE Leadsync_Id__c = 'ls-1'"}

    pretty = sf.session.get(url, headers=sf.headers, params=params).text
    compact = sf.session.get(url, params=params, headers={
        k: v for k, v in sf.headers.items() if k != "X-PrettyPrint"}).text

    assert sf.headers["X-PrettyPrint"] == "1"
    assert pretty.startswith('{\n  "totalSize" : 1,\n  "done" : true,\n  "records" : [ {\n')
    assert '    "LastName" : "Lead 01",\n    "Email" : null\n  } ]\n}' in pretty
    assert compact.startswith('{"totalSize":1,"done":true,"records":[{')
    assert json.loads(pretty) == json.loads(compact)


@pytest.mark.parametrize("value", [
    {}, [], {"a": []}, [1, 2.5, -3, True, False, None], {"k\"ey": "va\nlue", "n": {"m": {}}},
    {"records": [{"attributes": {"type": "Lead"}, "Name": "Zoë"}, {"Name": None}]},
])
def test_pretty_round_trips(value: object) -> None:
    assert json.loads(pretty(value)) == value

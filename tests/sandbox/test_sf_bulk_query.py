"""Bulk API 2.0 query jobs, through simple-salesforce's bulk2 client and raw calls.

Also the processing-time model both kinds of Bulk job share: a job of N
records is InProgress until base + N * per_record seconds have passed.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce

from connector.sandbox.salesforce import SalesforceSandbox


def jobs_url(sf: Salesforce, job_id: str = "", tail: str = "") -> str:
    return f"{sf.base_url}jobs/query" + (f"/{job_id}" if job_id else "") + tail


def call(sf: Salesforce, method: str, url: str, **kwargs: Any) -> Any:
    return sf.session.request(method, url, headers=sf.headers, **kwargs)


def create(sf: Salesforce, soql: str, operation: str = "query", **job: Any) -> Any:
    return call(sf, "POST", jobs_url(sf), json={"operation": operation, "query": soql, **job})


def run_to_completion(sf: Salesforce, soql: str, operation: str = "query") -> str:
    """Create a job and poll it until JobComplete; its id."""
    created = create(sf, soql, operation)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    for _ in range(10):
        if call(sf, "GET", jobs_url(sf, job_id)).json()["state"] == "JobComplete":
            return str(job_id)
    raise AssertionError(f"job {job_id} never completed")


def rows(pages: Any) -> list[dict[str, str]]:
    return [row for page in pages for row in csv.DictReader(io.StringIO(page))]


def load_leads(sandbox: SalesforceSandbox, n: int) -> list[str]:
    return sandbox.load("Lead", [lead(LastName=f"L{i:03d}", Email=f"l{i}@x.example")
                                 for i in range(n)])  # fmt: skip


# --- job lifecycle -----------------------------------------------------------------


def test_create_answers_job_info_and_counts_as_an_api_call(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    before = sandbox.api_usage
    response = create(sf, "SELECT Id, Email FROM lead", lineEnding="CRLF", columnDelimiter="PIPE")

    assert response.status_code == 200
    info = response.json()
    assert list(info) == [
        "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
        "concurrencyMode", "contentType", "apiVersion", "lineEnding", "columnDelimiter",
    ]  # fmt: skip
    assert info["id"].startswith("750") and len(info["id"]) == 18
    assert (info["operation"], info["object"], info["state"]) == ("query", "Lead", "UploadComplete")
    assert (info["lineEnding"], info["columnDelimiter"]) == ("CRLF", "PIPE")
    assert info["apiVersion"] == 59.0
    assert sandbox.api_usage == before + 1
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={before + 1}/15000"


def test_polls_go_in_progress_then_complete(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    load_leads(sandbox, 3)
    job_id = create(sf, "SELECT Id FROM Lead").json()["id"]

    first = call(sf, "GET", jobs_url(sf, job_id)).json()
    second = call(sf, "GET", jobs_url(sf, job_id)).json()

    assert first["state"] == "InProgress"
    assert second["state"] == "JobComplete"
    assert second["jobType"] == "V2Query" and second["numberRecordsProcessed"] == 3
    assert second["retries"] == 0 and second["isPkChunkingSupported"] is True
    listed = call(sf, "GET", jobs_url(sf)).json()
    assert listed["done"] is True and listed["nextRecordsUrl"] is None
    [entry] = [j for j in listed["records"] if j["id"] == job_id]
    assert entry["jobType"] == "V2Query" and "numberRecordsProcessed" not in entry


def test_abort_and_delete(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    load_leads(sandbox, 2)
    job_id = create(sf, "SELECT Id FROM Lead").json()["id"]

    early_delete = call(sf, "DELETE", jobs_url(sf, job_id))
    aborted = call(sf, "PATCH", jobs_url(sf, job_id), json={"state": "Aborted"})

    assert early_delete.status_code == 400
    assert early_delete.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert call(sf, "GET", jobs_url(sf, job_id)).json()["state"] == "Aborted"
    results = call(sf, "GET", jobs_url(sf, job_id, "/results"))
    assert results.status_code == 400 and results.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert call(sf, "DELETE", jobs_url(sf, job_id)).status_code == 204
    assert call(sf, "GET", jobs_url(sf, job_id)).status_code == 404


def test_a_finished_job_cannot_be_aborted(sf: Salesforce) -> None:
    job_id = run_to_completion(sf, "SELECT Id FROM Lead")

    response = call(sf, "PATCH", jobs_url(sf, job_id), json={"state": "Aborted"})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_results_before_completion_are_refused(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    load_leads(sandbox, 1)
    job_id = create(sf, "SELECT Id FROM Lead").json()["id"]

    unpolled = call(sf, "GET", jobs_url(sf, job_id, "/results"))
    call(sf, "GET", jobs_url(sf, job_id))  # InProgress
    in_progress = call(sf, "GET", jobs_url(sf, job_id, "/results"))

    for response in (unpolled, in_progress):
        assert response.status_code == 400
        assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"
        assert "Sforce-Limit-Info" in response.headers


# --- bad queries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Lead WHERE",
        "SELECT Id, Nope__c FROM Lead",
        "SELECT Id FROM Nope__c",
        "SELECT Id, Owner.Nope FROM Lead",
        "SELECT Id FROM Lead GROUP BY Id",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
    ],
)
def test_a_bad_query_is_refused_with_the_rest_query_error(sf: Salesforce, soql: str) -> None:
    rest = call(sf, "GET", f"{sf.base_url}query", params={"q": soql})

    response = create(sf, soql)

    assert rest.status_code == 400
    assert (response.status_code, response.json()) == (400, rest.json())


@pytest.mark.parametrize(
    "soql",
    ["SELECT COUNT() FROM Lead", "SELECT Id FROM Lead ORDER BY Id LIMIT 5 OFFSET 2"],
)
def test_what_bulk_query_does_not_support_is_refused(sf: Salesforce, soql: str) -> None:
    response = create(sf, soql)

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "FUNCTIONALITY_NOT_ENABLED"


def test_an_unknown_operation_is_refused(sf: Salesforce) -> None:
    response = create(sf, "SELECT Id FROM Lead", operation="insert")

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALIDJOB"


# --- results ------------------------------------------------------------------------


def test_simple_salesforce_pages_through_every_record(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    ids = load_leads(sandbox, 50)

    pages = list(sf.bulk2.Lead.query("SELECT Id, LastName FROM Lead", max_records=7, wait=0))

    assert len(pages) == 8  # 7 full pages of 7, one of 1
    got = rows(pages)
    assert [r["Id"] for r in got] == ids
    assert [r["LastName"] for r in got] == [f"L{i:03d}" for i in range(50)]


def test_result_pages_carry_locator_and_record_count_headers(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    load_leads(sandbox, 5)
    job_id = run_to_completion(sf, "SELECT Id FROM Lead")
    seen, locator, counts = [], None, []

    while locator != "null":
        params: dict[str, Any] = {"maxRecords": 2}
        if locator:
            params["locator"] = locator
        page = call(sf, "GET", jobs_url(sf, job_id, "/results"), params=params)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/csv")
        assert "Sforce-Limit-Info" in page.headers
        locator = page.headers["Sforce-Locator"]
        counts.append(int(page.headers["Sforce-NumberOfRecords"]))
        seen.append(locator)
    again = call(sf, "GET", jobs_url(sf, job_id, "/results"),
                 params={"maxRecords": 2, "locator": seen[0]})  # fmt: skip

    assert counts == [2, 2, 1]
    assert seen[-1] == "null" and len(set(seen[:-1])) == 2
    assert again.headers["Sforce-NumberOfRecords"] == "2"  # a locator can be read again


@pytest.mark.parametrize("params", [{"locator": "bm9wZQ"}, {"maxRecords": "0"}])
def test_a_bad_locator_or_page_size_is_refused(sf: Salesforce, params: dict[str, str]) -> None:
    job_id = run_to_completion(sf, "SELECT Id FROM Lead")

    response = call(sf, "GET", jobs_url(sf, job_id, "/results"), params=params)

    assert response.status_code == 400


def test_csv_quotes_every_value_and_writes_relationships_nulls_and_types(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    account = sandbox.create("Account", {"Name": 'Acme, "the" Co'})["Id"]
    with_account = sandbox.create(
        "Contact", {"LastName": "Ng", "AccountId": account, "Description": "two\nlines"}
    )["Id"]
    solo = sandbox.create("Contact", {"LastName": "Solo"})
    job_id = run_to_completion(
        sf, "SELECT Id, LastName, Account.Name, Description, IsDeleted, CreatedDate FROM Contact"
    )

    text = call(sf, "GET", jobs_url(sf, job_id, "/results")).text

    assert text.splitlines()[0] == (
        '"Id","LastName","Account.Name","Description","IsDeleted","CreatedDate"'
    )
    assert text.startswith('"Id"') and text.endswith("\n")
    assert f'"{with_account}","Ng","Acme, ""the"" Co","two\nlines","false",' in text
    stamp = solo["CreatedDate"]  # REST's 2026-11-25T03:00:00.008+0000
    assert stamp.endswith("+0000")
    assert f'"Solo","","","false","{stamp[:-5]}Z"\n' in text


def test_query_all_adds_deleted_records(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    kept, gone = load_leads(sandbox, 2)
    sandbox.delete("Lead", gone)

    live = rows(sf.bulk2.Lead.query("SELECT Id, IsDeleted FROM Lead", wait=0))
    every = rows(sf.bulk2.Lead.query_all("SELECT Id, IsDeleted FROM Lead", wait=0))

    assert [(r["Id"], r["IsDeleted"]) for r in live] == [(kept, "false")]
    assert [(r["Id"], r["IsDeleted"]) for r in every] == [(kept, "false"), (gone, "true")]


def test_delimiter_and_line_ending_of_the_job_shape_the_csv(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    load_leads(sandbox, 1)
    job_id = create(
        sf, "SELECT LastName, Email FROM Lead", lineEnding="CRLF", columnDelimiter="SEMICOLON"
    ).json()["id"]
    for _ in range(2):
        call(sf, "GET", jobs_url(sf, job_id))

    text = call(sf, "GET", jobs_url(sf, job_id, "/results")).text

    assert text == '"LastName";"Email"\r\n"L000";"l0@x.example"\r\n'


# --- processing time by size (query and ingest jobs alike) ---------------------------------


def ingest(sf: Salesforce, n: int) -> str:
    url = f"{sf.base_url}jobs/ingest"
    job_id = call(sf, "POST", url, json={"object": "Lead", "operation": "insert"}).json()["id"]
    data = "LastName,Company\n" + "".join(f"N{i},C\n" for i in range(n))
    call(sf, "PUT", f"{url}/{job_id}/batches", data=data.encode())
    call(sf, "PATCH", f"{url}/{job_id}", json={"state": "UploadComplete"})
    return f"{url}/{job_id}"


def query(sf: Salesforce, n: int) -> str:
    return jobs_url(sf, create(sf, "SELECT Id FROM Lead").json()["id"])


@pytest.mark.parametrize("start", [query, ingest], ids=["query", "ingest"])
def test_a_job_of_n_records_takes_base_plus_n_per_record_seconds(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock, start: Any
) -> None:
    sandbox.bulk_base_seconds, sandbox.bulk_seconds_per_record = 10.0, 1.0
    load_leads(sandbox, 5)  # what the query reads; ingest writes 5 more
    url = start(sf, 5)

    first = call(sf, "GET", url).json()
    clock.advance(seconds=14.9)
    almost = call(sf, "GET", url).json()
    clock.advance(seconds=0.1)
    done = call(sf, "GET", url).json()

    assert (first["state"], first["numberRecordsProcessed"]) == ("InProgress", 0)
    assert (almost["state"], almost["numberRecordsProcessed"]) == ("InProgress", 4)
    assert (done["state"], done["numberRecordsProcessed"]) == ("JobComplete", 5)
    assert done["totalProcessingTime"] == 15_000


def test_a_real_client_polls_until_the_modelled_time_has_passed() -> None:
    """Real time, no injected clock: 100 records at 2 ms after a 0.3 s base is 0.5 s."""
    with SalesforceSandbox(bulk_base_seconds=0.3, bulk_seconds_per_record=0.002) as sandbox:
        load_leads(sandbox, 100)
        sf = connect(sandbox)
        before, started = sandbox.request_count, time.monotonic()

        got = rows(sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0))

        took = time.monotonic() - started
        assert len(got) == 100
        assert 0.5 <= took < 2.0
        assert sandbox.request_count - before > 3  # create, several polls, one page


def test_processing_times_are_checked() -> None:
    with pytest.raises(ValueError, match="negative"):
        SalesforceSandbox(bulk_seconds_per_record=-1)

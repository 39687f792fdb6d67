"""Bulk API 2.0 ingest, driven by simple-salesforce's bulk2 client and by raw calls."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sf_helpers import lead
from simple_salesforce import Salesforce

from connector.sandbox.salesforce import SalesforceSandbox


def job_url(sf: Salesforce, job_id: str = "") -> str:
    return f"{sf.base_url}jobs/ingest" + (f"/{job_id}" if job_id else "")


def call(sf: Salesforce, method: str, url: str, **kwargs: Any) -> Any:
    headers = {**sf.headers, **kwargs.pop("headers", {})}
    return sf.session.request(method, url, headers=headers, **kwargs)


def run_job(
    sf: Salesforce, operation: str, data: str, *, external_id: str | None = None, **job: Any
) -> dict[str, Any]:
    """Create, upload, close and poll a job by hand; returns the list of polled states."""
    body = {"object": "Lead", "operation": operation, "contentType": "CSV", **job}
    if external_id:
        body["externalIdFieldName"] = external_id
    created = call(sf, "POST", job_url(sf), json=body)
    assert created.status_code == 200, created.text
    info = created.json()
    upload = call(
        sf,
        "PUT",
        f"{sf.base_url}jobs/ingest/{info['id']}/batches",
        data=data.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201 and upload.text == ""
    closed = call(sf, "PATCH", job_url(sf, info["id"]), json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    states = []
    for _ in range(5):
        polled = call(sf, "GET", job_url(sf, info["id"])).json()
        states.append(polled["state"])
        if polled["state"] in ("JobComplete", "Failed", "Aborted"):
            break
    return {**polled, "states": states}


def results(sf: Salesforce, job_id: str, kind: str) -> list[dict[str, str]]:
    response = call(sf, "GET", f"{job_url(sf, job_id)}/{kind}/")
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_create_job_answers_salesforce_job_info(sf: Salesforce) -> None:
    response = call(
        sf,
        "POST",
        job_url(sf),
        json={"object": "Lead", "operation": "upsert", "externalIdFieldName": "leadsync_id__c"},
    )

    info = response.json()
    assert info["id"].startswith("750") and len(info["id"]) == 18
    assert info["state"] == "Open"
    assert info["externalIdFieldName"] == "Leadsync_Id__c"
    assert info["apiVersion"] == 59.0
    assert info["contentUrl"] == f"services/data/v59.0/jobs/ingest/{info['id']}/batches"
    assert (info["lineEnding"], info["columnDelimiter"], info["contentType"]) == (
        "LF",
        "COMMA",
        "CSV",
    )


def test_insert_polls_in_progress_then_completes_with_results(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    data = (
        "FirstName,LastName,Company,Email,Leadsync_Score__c\n"
        "Ada,Lovelace,Analytical,ada@example.com,12.5\n"
        "Bad,Email,Acme,not-an-email,\n"
        ",,NoName,,\n"
        "Num,Ber,Numbers,,abc\n"
    )

    info = run_job(sf, "insert", data)

    assert info["states"] == ["InProgress", "JobComplete"]
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (4, 3)
    ok = results(sf, info["id"], "successfulResults")
    assert len(ok) == 1 and ok[0]["sf__Created"] == "true"
    assert ok[0]["sf__Id"] == sandbox.records("Lead")[0]["Id"]
    assert sandbox.records("Lead")[0]["Leadsync_Score__c"] == 12.5
    failed = {r["Company"]: r["sf__Error"] for r in results(sf, info["id"], "failedResults")}
    assert failed["Acme"] == (
        "INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email --"
    )
    assert failed["NoName"] == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )
    assert failed["Numbers"] == (
        "INVALID_FIELD:Failed to deserialize field at col 5. Due to, 'abc' is not a valid value "
        "for the type xsd:double:Leadsync_Score__c --"
    )
    raw = call(sf, "GET", f"{job_url(sf, info['id'])}/failedResults/").text
    assert raw.startswith(
        '"sf__Id","sf__Error",FirstName,LastName,Company,Email,Leadsync_Score__c\n'
    )


def test_upsert_null_marker_empty_cell_and_duplicate_keys(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    existing = sf.Lead.create(lead(Leadsync_Id__c="ls-1", Title="CEO", Phone="555"))["id"]
    data = (
        "Leadsync_Id__c,LastName,Company,Title,Phone\n"
        "ls-1,,,#N/A,\n"
        "ls-2,New,Acme,,\n"
        "ls-3,Twin,Acme,,\n"
        "LS-3,Twin,Acme,,\n"
    )

    info = run_job(sf, "upsert", data, external_id="Leadsync_Id__c")

    ok = {r["Leadsync_Id__c"]: r for r in results(sf, info["id"], "successfulResults")}
    assert ok["ls-1"]["sf__Id"] == existing and ok["ls-1"]["sf__Created"] == "false"
    assert ok["ls-2"]["sf__Created"] == "true"
    record = sf.Lead.get(existing)
    assert record["Title"] is None  # #N/A nulls the field
    assert record["Phone"] == "555"  # an empty cell leaves it alone
    failed = results(sf, info["id"], "failedResults")
    assert [r["sf__Error"] for r in failed] == [
        "DUPLICATE_VALUE:Duplicate external id specified: ls-3:Leadsync_Id__c --",
        "DUPLICATE_VALUE:Duplicate external id specified: LS-3:Leadsync_Id__c --",
    ]
    assert len(sandbox.records("Lead")) == 2


def test_unknown_column_fails_the_job(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    info = run_job(sf, "insert", "LastName,Company,Shoe_Size__c\nA,B,9\n")

    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Shoe_Size__c"
    assert info["numberRecordsProcessed"] == 0
    assert sandbox.records("Lead") == []
    assert results(sf, info["id"], "unprocessedrecords") == [
        {"LastName": "A", "Company": "B", "Shoe_Size__c": "9"}
    ]


def test_line_ending_must_match_the_job(sf: Salesforce) -> None:
    info = run_job(sf, "insert", "LastName,Company\r\nA,B\r\n")

    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"
    )


def test_upload_after_close_and_abort(sf: Salesforce) -> None:
    info = call(sf, "POST", job_url(sf), json={"object": "Lead", "operation": "insert"}).json()
    batches = f"{job_url(sf, info['id'])}/batches"
    call(sf, "PUT", batches, data=b"LastName,Company\nA,B\n", headers={"Content-Type": "text/csv"})
    aborted = call(sf, "PATCH", job_url(sf, info["id"]), json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"

    again = call(sf, "PUT", batches, data=b"LastName\nA\n", headers={"Content-Type": "text/csv"})

    assert again.status_code == 409
    assert again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert results(sf, info["id"], "unprocessedrecords") == [{"LastName": "A", "Company": "B"}]
    assert call(sf, "DELETE", job_url(sf, info["id"])).status_code == 204
    assert call(sf, "GET", job_url(sf, info["id"])).status_code == 404


def test_update_and_delete_jobs(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    first = sf.Lead.create(lead())["id"]
    second = sf.Lead.create(lead())["id"]

    updated = run_job(sf, "update", f"Id,Title\n{first},CTO\n{second[:15]},CFO\n00Qbogus,x\n")
    assert (updated["numberRecordsProcessed"], updated["numberRecordsFailed"]) == (3, 1)
    assert [r["Title"] for r in sandbox.records("Lead")] == ["CTO", "CFO"]

    deleted = run_job(sf, "delete", f"Id\n{first}\n")
    assert deleted["numberRecordsFailed"] == 0
    assert [r["Id"] for r in sandbox.records("Lead")] == [second]


def test_job_list_includes_created_jobs(sf: Salesforce) -> None:
    created = call(sf, "POST", job_url(sf), json={"object": "Lead", "operation": "insert"}).json()

    listing = call(sf, "GET", job_url(sf)).json()

    assert listing["done"] is True
    assert [j["id"] for j in listing["records"]] == [created["id"]]


def test_upsert_without_external_id_is_refused(sf: Salesforce) -> None:
    response = call(sf, "POST", job_url(sf), json={"object": "Lead", "operation": "upsert"})

    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "External ID was blank for Lead. An External ID must be specified for "
            "upsert.",
            "errorCode": "INVALIDJOB",
        }
    ]


def test_simple_salesforce_bulk2_end_to_end(
    sf: Salesforce, sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    """The client's own bulk helper end to end (wait=0: its polling sleeps only ms)."""
    existing = sf.Lead.create(lead(Leadsync_Id__c="ls-0"))["id"]
    path = tmp_path / "leads.csv"
    path.write_text(
        "Leadsync_Id__c,LastName,Company,Email\n"
        "ls-0,Updated,Acme,\n"
        "ls-1,New,Acme,new@example.com\n"
        "ls-2,Broken,Acme,broken\n"
    )

    outcome = sf.bulk2.Lead.upsert(csv_file=str(path), external_id_field="Leadsync_Id__c", wait=0)

    assert outcome[0]["numberRecordsProcessed"] == 3
    assert outcome[0]["numberRecordsFailed"] == 1
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(outcome[0]["job_id"])))
    )
    assert [r["Leadsync_Id__c"] for r in failed] == ["ls-2"]
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")
    assert sf.Lead.get(existing)["LastName"] == "Updated"
    every = sf.bulk2.Lead.get_all_ingest_records(outcome[0]["job_id"])
    assert len(every["successfulRecords"]) == 2 and every["unprocessedRecords"] == []

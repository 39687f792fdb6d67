"""Merging duplicates (SOAP merge() and the rep helper), deletes seen by queryAll, field history.

Everything goes through the real simple-salesforce client: REST and SOQL
through its own calls, SOAP through its session with its session id, as
the convertLead tests do.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from sf_helpers import START, FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox, WriteRejected
from connector.sandbox.salesforce.ids import make_id

PARTNER = "{urn:partner.soap.sforce.com}"
SF_FAULT = "{urn:fault.partner.soap.sforce.com}"
HISTORY = (
    "SELECT LeadId, Field, DataType, OldValue, NewValue, CreatedDate, CreatedById FROM LeadHistory"
)


# --- SOAP plumbing ---------------------------------------------------------------------


def soap_post(
    sf: Salesforce, call: str, body: str, *, org_path: bool = True, session_id: str | None = None
) -> Any:
    """Post a partner call on .../Soap/u/{version}/{orgId} (org_path) or .../Soap/u/{version}."""
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com" '
        'xmlns:urn1="urn:sobject.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Header><urn:SessionHeader>"
        f"<urn:sessionId>{session_id or sf.session_id}</urn:sessionId>"
        "</urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:{call}>{body}</urn:{call}></soapenv:Body></soapenv:Envelope>"
    )
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
    if org_path:
        url += f"/{sf.session_id[:15]}"
    return sf.session.post(
        url, data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": call}
    )


def merge_request(
    sobject: str,
    master: str,
    victims: list[str],
    fields: dict[str, str] | None = None,
    nulls: tuple[str, ...] = (),
) -> str:
    values = "".join(f"<{k}>{v}</{k}>" for k, v in (fields or {}).items())
    values += "".join(f"<urn1:fieldsToNull>{n}</urn1:fieldsToNull>" for n in nulls)
    ids = "".join(f"<urn:recordToMergeIds>{v}</urn:recordToMergeIds>" for v in victims)
    return (
        '<urn:request><urn:masterRecord xsi:type="urn1:sObject">'
        f"<urn1:type>{sobject}</urn1:type><urn1:Id>{master}</urn1:Id>{values}"
        f"</urn:masterRecord>{ids}</urn:request>"
    )


def merge_soap(sf: Salesforce, sobject: str, master: str, victims: list[str], **kw: Any) -> Any:
    org_path = kw.pop("org_path", True)
    return soap_post(sf, "merge", merge_request(sobject, master, victims, **kw), org_path=org_path)


def results(text: str) -> list[dict[str, Any]]:
    """Each <result>: lists for repeated elements (errors, ids), text for the rest."""
    root = ET.fromstring(text)
    out = []
    for result in root.iter(f"{PARTNER}result"):
        item: dict[str, Any] = {"errors": [], "mergedRecordIds": [], "updatedRelatedIds": []}
        for child in result:
            name = child.tag.replace(PARTNER, "")
            if name == "errors":
                error: dict[str, Any] = {"fields": []}
                for part in child:
                    key = part.tag.replace(PARTNER, "")
                    if key == "fields":
                        error["fields"].append(part.text)
                    else:
                        error[key] = part.text
                item["errors"].append(error)
            elif name in ("mergedRecordIds", "updatedRelatedIds"):
                item[name].append(child.text)
            else:
                item[name] = child.text
        out.append(item)
    return out


def fault(response: Any) -> tuple[str, str]:
    assert response.status_code == 500
    root = ET.fromstring(response.text)
    code = root.find(f".//{SF_FAULT}exceptionCode")
    message = root.find(f".//{SF_FAULT}exceptionMessage")
    assert code is not None and message is not None
    return code.text or "", message.text or ""


def task(sf: Salesforce, **fields: str) -> str:
    return sf.Task.create({"Subject": "Call", **fields})["id"]


# --- merge() over SOAP ---------------------------------------------------------------------


@pytest.mark.parametrize("org_path", [True, False], ids=["u-version-orgId", "u-version"])
def test_soap_merge_leads(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock, org_path: bool
) -> None:
    master = sf.Lead.create(lead(LastName="Keep", Email="keep@x.example"))["id"]
    first = sf.Lead.create(lead(LastName="Dupe1"))["id"]
    second = sf.Lead.create(lead(LastName="Dupe2"))["id"]
    call_a, call_b = task(sf, WhoId=first), task(sf, WhoId=second)
    untouched = task(sf, WhoId=master)
    clock.advance(minutes=5)
    used = sandbox.api_usage

    response = merge_soap(
        sf, "Lead", master, [first, second], fields={"Title": "CTO"}, org_path=org_path
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.find(f".//{PARTNER}mergeResponse") is not None
    assert results(response.text) == [
        {
            "errors": [],
            "id": master,
            "mergedRecordIds": [first, second],
            "success": "true",
            "updatedRelatedIds": [call_a, call_b],
        }
    ]
    assert sandbox.api_usage == used + 1  # one SOAP call, one API request

    kept = sf.Lead.get(master)
    assert (kept["Title"], kept["Email"], kept["IsDeleted"]) == ("CTO", "keep@x.example", False)
    assert kept["LastModifiedDate"] >= "2026-11-25T03:05:00.000+0000"
    assert {t["Id"]: t["WhoId"] for t in sf.query("SELECT Id, WhoId FROM Task")["records"]} == {
        call_a: master, call_b: master, untouched: master,
    }  # fmt: skip
    assert [r["Id"] for r in sf.query("SELECT Id FROM Lead")["records"]] == [master]
    merged = sf.query_all(
        "SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE MasterRecordId != null",
        include_deleted=True,
    )["records"]
    assert [(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in merged] == [
        (first, True, master),
        (second, True, master),
    ]
    deleted = sf.Lead.deleted(START, START + timedelta(minutes=10))["deletedRecords"]
    assert [d["id"] for d in deleted] == [first, second]


def test_convert_lead_is_taken_on_both_partner_paths(sf: Salesforce) -> None:
    ids = [sf.Lead.create(lead())["id"] for _ in range(2)]

    answers = [
        soap_post(
            sf, "convertLead",
            f"<urn:leadConverts><urn:leadId>{lead_id}</urn:leadId>"
            "<urn:convertedStatus>Closed - Converted</urn:convertedStatus></urn:leadConverts>",
            org_path=org_path,
        )
        for lead_id, org_path in zip(ids, (True, False), strict=True)
    ]  # fmt: skip

    assert [a.status_code for a in answers] == [200, 200]
    assert all(ET.fromstring(a.text).find(f".//{PARTNER}convertLeadResponse") is not None
               for a in answers)  # fmt: skip
    assert [sf.Lead.get(i)["IsConverted"] for i in ids] == [True, True]


def test_login_still_works_on_the_org_path(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    body = (
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login>'
        "<urn:username>admin@leadsync.sandbox</urn:username><urn:password>sandbox</urn:password>"
        "</urn:login></env:Body></env:Envelope>"
    )
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}/{sf.session_id[:15]}"

    response = sf.session.post(url, data=body, headers={"Content-Type": "text/xml"})

    assert response.status_code == 200 and "<sessionId>" in response.text


def test_soap_merge_accounts_reparents_contacts_opportunities_and_tasks(sf: Salesforce) -> None:
    master = sf.Account.create({"Name": "Acme"})["id"]
    loser = sf.Account.create({"Name": "ACME Inc", "Website": "acme.example"})["id"]
    contact = sf.Contact.create({"LastName": "Ng", "AccountId": loser})["id"]
    deal = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": loser}
    )["id"]
    follow_up = task(sf, WhatId=loser)

    [result] = results(
        merge_soap(sf, "Account", master, [loser], fields={"Website": "acme.example"}).text
    )

    assert result["success"] == "true" and result["mergedRecordIds"] == [loser]
    assert result["updatedRelatedIds"] == [contact, deal, follow_up]
    assert sf.Contact.get(contact)["AccountId"] == master
    assert sf.Opportunity.get(deal)["AccountId"] == master
    assert sf.Task.get(follow_up)["WhatId"] == master
    assert sf.Account.get(master)["Website"] == "acme.example"
    [gone] = sf.query_all(
        f"SELECT Id, MasterRecordId FROM Account WHERE Id = '{loser}'", include_deleted=True
    )["records"]
    assert gone["MasterRecordId"] == master


def test_soap_merge_contacts_and_fields_to_null(sf: Salesforce) -> None:
    master = sf.Contact.create({"LastName": "Ng", "Title": "VP", "Email": "ng@x.example"})["id"]
    loser = sf.Contact.create({"LastName": "Ng"})["id"]
    call = task(sf, WhoId=loser)

    [result] = results(merge_soap(sf, "Contact", master, [loser], nulls=("Title",)).text)

    assert (result["success"], result["updatedRelatedIds"]) == ("true", [call])
    kept = sf.Contact.get(master)
    assert (kept["Title"], kept["Email"]) == (None, "ng@x.example")


def test_a_converted_lead_can_be_merged_into_an_open_one(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    master = sf.Lead.create(lead())["id"]
    converted = sf.Lead.create(lead())["id"]
    sandbox.convert_lead(converted)

    [result] = results(merge_soap(sf, "Lead", master, [converted]).text)

    assert result["success"] == "true"
    assert sandbox.records("Lead", include_deleted=True)[1]["MasterRecordId"] == master


def _other_ids(sf: Salesforce, sandbox: SalesforceSandbox) -> dict[str, str]:
    gone = sf.Lead.create(lead())["id"]
    sf.Lead.delete(gone)
    converted = sf.Lead.create(lead())["id"]
    sandbox.convert_lead(converted)
    return {
        "gone": gone,
        "converted": converted,
        "contact": sf.Contact.create({"LastName": "Ng"})["id"],
        "unknown": make_id("00Q", 999),  # well formed, never minted
    }


@pytest.mark.parametrize(
    ("sobject", "master", "victims", "fields", "error"),
    [
        ("Lead", "master", ["not-an-id"], {},
         {"statusCode": "INVALID_ID_FIELD", "message": "invalid Lead id: not-an-id",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "master", ["contact"], {},
         {"statusCode": "INVALID_ID_FIELD", "message": "invalid Lead id: {contact}",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "unknown", ["victim"], {},
         {"statusCode": "INVALID_ID_FIELD", "message": "invalid Lead id: {unknown}",
          "fields": ["Id"]}),
        ("Lead", "master", ["gone"], {},
         {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "master", ["master"], {},
         {"statusCode": "INVALID_ID_FIELD",
          "message": "a record cannot be merged with itself: the master and recordToMergeIds "
                     "must differ",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "master", ["victim", "victim2", "victim3"], {},
         {"statusCode": "LIMIT_EXCEEDED",
          "message": "Up to three records can be merged in a single request, including the "
                     "master record",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "master", [], {},
         {"statusCode": "REQUIRED_FIELD_MISSING",
          "message": "Required fields are missing: [recordToMergeIds]",
          "fields": ["recordToMergeIds"]}),
        ("Lead", "converted", ["victim"], {},
         {"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
          "message": "cannot reference converted lead", "fields": []}),
        ("Lead", "master", ["victim"], {"Status": "Qualified"},
         {"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
          "message": "Status: bad value for restricted picklist field: Qualified",
          "fields": ["Status"]}),
        ("Lead", "master", ["victim"], {"IsConverted": "true"},
         {"statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
          "message": "Unable to create/update fields: IsConverted. Please check the security "
                     "settings of this field and verify that it is read/write for your profile "
                     "or permission set.",
          "fields": ["IsConverted"]}),
        ("Opportunity", "master", ["victim"], {},
         {"statusCode": "INVALID_TYPE_FOR_OPERATION",
          "message": "merge() supports Lead, Contact and Account, not Opportunity",
          "fields": []}),
    ],
    ids=["malformed", "other-object", "unknown-master", "deleted", "self", "three-victims",
         "no-victims", "converted-master", "bad-value", "read-only-field", "not-mergeable"],
)  # fmt: skip
def test_soap_merge_refusals(
    sf: Salesforce,
    sandbox: SalesforceSandbox,
    sobject: str,
    master: str,
    victims: list[str],
    fields: dict[str, str],
    error: dict[str, Any],
) -> None:
    names = {
        **_other_ids(sf, sandbox),
        "master": sf.Lead.create(lead(LastName="Master"))["id"],
        **{name: sf.Lead.create(lead())["id"] for name in ("victim", "victim2", "victim3")},
    }
    before = sandbox.records("Lead", include_deleted=True)

    response = merge_soap(
        sf, sobject, names.get(master, master), [names.get(v, v) for v in victims], fields=fields
    )

    assert response.status_code == 200  # a refused merge is a result, not a fault
    [result] = results(response.text)
    expected = {**error, "message": error["message"].format(**names)}
    assert result == {
        "errors": [expected],
        "id": names.get(master, master),
        "mergedRecordIds": [],
        "success": "false",
        "updatedRelatedIds": [],
    }
    assert sandbox.records("Lead", include_deleted=True) == before  # nothing happened


def test_each_merge_request_is_its_own_transaction(sf: Salesforce) -> None:
    a, a_dupe = sf.Lead.create(lead())["id"], sf.Lead.create(lead())["id"]
    b, b_dupe = sf.Lead.create(lead())["id"], sf.Lead.create(lead())["id"]
    body = merge_request("Lead", a, [a_dupe], {"Status": "Nope"}) + merge_request(
        "Lead", b, [b_dupe]
    )

    first, second = results(soap_post(sf, "merge", body).text)

    assert (first["success"], second["success"]) == ("false", "true")
    assert sf.Lead.get(a_dupe)["IsDeleted"] is False  # the failed request was rolled back
    assert [r["Id"] for r in sf.query("SELECT Id FROM Lead")["records"]] == [a, a_dupe, b]


def test_soap_merge_faults(sf: Salesforce) -> None:
    master, victim = sf.Lead.create(lead())["id"], sf.Lead.create(lead())["id"]
    untyped = f"<urn:request><urn:masterRecord><urn1:Id>{master}</urn1:Id></urn:masterRecord>" \
              f"<urn:recordToMergeIds>{victim}</urn:recordToMergeIds></urn:request>"  # fmt: skip

    assert fault(soap_post(sf, "merge", untyped)) == (
        "INVALID_TYPE", "Must send a concrete entity type."
    )  # fmt: skip
    assert fault(merge_soap(sf, "Gadget", master, [victim])) == (
        "INVALID_TYPE", "sObject type 'Gadget' is not supported."
    )  # fmt: skip
    assert fault(soap_post(sf, "merge", "")) == (
        "INVALID_FIELD", "merge takes between 1 and 200 MergeRequest items"
    )  # fmt: skip
    assert fault(soap_post(sf, "merge", merge_request("Lead", master, [victim]),
                           session_id="00Dbogus!AQ")) == (
        "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
    )  # fmt: skip
    assert fault(soap_post(sf, "undelete", "<urn:ids>x</urn:ids>", org_path=False)) == (
        "INVALID_OPERATION",
        "The sandbox models only login(), convertLead() and merge(), not undelete",
    )
    assert sf.Lead.get(victim)["IsDeleted"] is False


# --- the rep helpers: merge and delete -------------------------------------------------------


def test_rep_merge_costs_no_api_call(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    master, loser = sf.Lead.create(lead())["id"], sf.Lead.create(lead(Phone="555"))["id"]
    call = task(sf, WhoId=loser)
    used = sandbox.api_usage

    result = sandbox.merge("Lead", master, [loser], fields={"Phone": "555"})

    assert sandbox.api_usage == used
    assert result == {
        "id": master, "mergedRecordIds": [loser], "updatedRelatedIds": [call],
        "success": True, "errors": [],
    }  # fmt: skip
    assert sf.Lead.get(master)["Phone"] == "555"
    with pytest.raises(WriteRejected) as failure:
        sandbox.merge("Lead", master, [loser])
    assert failure.value.errors == [
        {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
         "fields": ["recordToMergeIds"]}
    ]  # fmt: skip


def test_rep_delete_goes_to_the_recycle_bin(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    doomed = sf.Lead.create(lead())["id"]
    clock.advance(minutes=2)
    used = sandbox.api_usage

    sandbox.delete("Lead", doomed)

    assert sandbox.api_usage == used
    assert sf.query(f"SELECT Id FROM Lead WHERE Id = '{doomed}'")["totalSize"] == 0
    [row] = sf.query_all(
        f"SELECT IsDeleted, MasterRecordId FROM Lead WHERE Id = '{doomed}'", include_deleted=True
    )["records"]
    assert (row["IsDeleted"], row["MasterRecordId"]) == (True, None)
    deleted = sf.Lead.deleted(START, START + timedelta(minutes=5))["deletedRecords"]
    assert deleted == [{"id": doomed, "deletedDate": "2026-11-25T03:02:00.000+0000"}]
    with pytest.raises(WriteRejected) as failure:
        sandbox.delete("Lead", doomed)
    assert failure.value.errors[0]["statusCode"] == "ENTITY_IS_DELETED"


# --- queryAll ---------------------------------------------------------------------------------


def test_query_all_tells_deleted_from_merged(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    master = sf.Lead.create(lead())["id"]
    merged = sf.Lead.create(lead())["id"]
    deleted = sf.Lead.create(lead())["id"]
    clock.advance(minutes=1)
    sandbox.merge("Lead", master, [merged])
    sf.Lead.delete(deleted)
    # The query the merge() documentation gives for "records merged since a point in time".
    since = "SELECT Id FROM Lead WHERE IsDeleted = true AND MasterRecordId != null " \
            "AND SystemModstamp > 2026-11-25T03:00:30Z"  # fmt: skip

    assert [r["Id"] for r in sf.query_all(since, include_deleted=True)["records"]] == [merged]
    assert sf.query_all(since)["totalSize"] == 0  # query() never returns deleted records
    everything = sf.query_all(
        "SELECT Id, IsDeleted, MasterRecordId FROM Lead ORDER BY CreatedDate", include_deleted=True
    )["records"]
    assert [(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in everything] == [
        (master, False, None), (merged, True, master), (deleted, True, None),
    ]  # fmt: skip
    assert sf.query("SELECT Id FROM Lead WHERE IsDeleted = true")["totalSize"] == 0
    by_master = sf.restful(
        "queryAll/", params={"q": f"SELECT Id FROM Lead WHERE MasterRecordId = '{master}'"}
    )
    assert [r["Id"] for r in by_master["records"]] == [merged]


# --- field history ----------------------------------------------------------------------------


def history(sf: Salesforce, where: str = "", *, deleted: bool = False) -> list[dict[str, Any]]:
    rows = sf.query_all(f"{HISTORY} {where} ORDER BY CreatedDate", include_deleted=deleted)
    return [{k: v for k, v in r.items() if k != "attributes"} for r in rows["records"]]


def test_api_edits_of_tracked_fields_write_lead_history(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    lead_id = sf.Lead.create(lead(Title="Engineer"))["id"]
    admin = sandbox.org.admin_id
    clock.advance(minutes=3)
    sf.Lead.update(lead_id, {"Status": "Working - Contacted", "Title": "CTO", "Description": "x"})

    assert history(sf) == [
        {"LeadId": lead_id, "Field": "Status", "DataType": "DynamicEnum",
         "OldValue": "Open - Not Contacted", "NewValue": "Working - Contacted",
         "CreatedDate": "2026-11-25T03:03:00.000+0000", "CreatedById": admin},
        {"LeadId": lead_id, "Field": "Title", "DataType": "Text", "OldValue": "Engineer",
         "NewValue": "CTO", "CreatedDate": "2026-11-25T03:03:00.000+0000", "CreatedById": admin},
    ]  # fmt: skip
    assert sf.Lead.get(lead_id)["LastModifiedDate"] == "2026-11-25T03:03:00.000+0000"
    sf.Lead.update(lead_id, {"Title": "CTO"})  # no change, no row
    assert len(history(sf)) == 2


def test_an_owner_change_writes_a_name_row_and_an_id_row(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    users = {u["Username"]: u for u in sandbox.records("User")}
    avery, jordan = users["avery.chen@leadsync.sandbox"], users["jordan.patel@leadsync.sandbox"]
    lead_id = sf.Lead.create(lead(OwnerId=avery["Id"]))["id"]

    sandbox.update("Lead", lead_id, {"OwnerId": jordan["Id"]})  # Avery hands the lead over

    rows = history(sf, "WHERE Field = 'Owner'")
    assert [(r["DataType"], r["OldValue"], r["NewValue"], r["CreatedById"]) for r in rows] == [
        ("Text", "Avery Chen", "Jordan Patel", avery["Id"]),
        ("EntityId", avery["Id"], jordan["Id"], avery["Id"]),
    ]


def test_history_is_queried_by_date_and_lead(sf: Salesforce, clock: FakeClock) -> None:
    first, second = sf.Lead.create(lead())["id"], sf.Lead.create(lead())["id"]
    sf.Lead.update(first, {"Status": "Working - Contacted"})
    clock.advance(hours=1)
    sf.Lead.update(first, {"Status": "Closed - Not Converted"})
    sf.bulk2.Lead.update(records=[{"Id": second, "Title": "VP"}], wait=0)  # any API, history
    clock.advance(minutes=1)

    recent = history(sf, f"WHERE CreatedDate > 2026-11-25T03:30:00Z AND LeadId IN "
                         f"('{first}', '{second}')")  # fmt: skip
    assert [(r["LeadId"], r["Field"], r["NewValue"]) for r in recent] == [
        (first, "Status", "Closed - Not Converted"),
        (second, "Title", "VP"),
    ]
    assert [r["CreatedDate"] for r in recent] == [
        "2026-11-25T04:00:00.000+0000", "2026-11-25T04:00:00.001+0000"
    ]  # fmt: skip
    related = sf.query(
        f"SELECT Lead.Company, CreatedBy.Username FROM LeadHistory WHERE LeadId = '{second}'"
    )["records"]
    assert (related[0]["Lead"]["Company"], related[0]["CreatedBy"]["Username"]) == (
        "Analytical", "admin@leadsync.sandbox"
    )  # fmt: skip


def test_conversion_and_merge_leave_their_marks_in_history(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    converted = sf.Lead.create(lead())["id"]
    master, loser = sf.Lead.create(lead())["id"], sf.Lead.create(lead())["id"]
    sf.Lead.update(loser, {"Title": "Dupe"})

    sandbox.convert_lead(converted)
    sandbox.merge("Lead", master, [loser], fields={"Title": "Kept"})

    assert [(r["LeadId"], r["Field"], r["NewValue"]) for r in history(sf)] == [
        (converted, "Status", "Closed - Converted"),
        (converted, "leadConverted", None),
        (master, "Title", "Kept"),
        (master, "leadMerged", None),
    ]
    # The loser's history went to the Recycle Bin with it.
    gone = history(sf, f"WHERE LeadId = '{loser}'", deleted=True)
    assert [(r["Field"], r["NewValue"]) for r in gone] == [("Title", "Dupe")]
    [flag] = sf.query_all(f"SELECT IsDeleted FROM LeadHistory WHERE LeadId = '{loser}'",
                          include_deleted=True)["records"]  # fmt: skip
    assert flag["IsDeleted"] is True


def test_opportunity_field_history(sf: Salesforce, clock: FakeClock) -> None:
    deal = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 1000}
    )["id"]
    clock.advance(days=1)
    sf.Opportunity.update(deal, {"StageName": "Closed Won", "Amount": 1500, "NextStep": "x"})

    rows = sf.query(
        "SELECT OpportunityId, Field, OldValue, NewValue, CreatedDate FROM OpportunityFieldHistory"
        " ORDER BY Field"
    )["records"]
    assert [(r["OpportunityId"], r["Field"], r["OldValue"], r["NewValue"]) for r in rows] == [
        (deal, "Amount", 1000.0, 1500.0),
        (deal, "StageName", "Prospecting", "Closed Won"),
    ]
    assert {r["CreatedDate"] for r in rows} == {"2026-11-26T03:00:00.000+0000"}


def test_tracked_fields_are_configurable(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, field_history={"Lead": ["Rating"]}) as sandbox:
        sf = connect(sandbox)
        lead_id = sf.Lead.create(lead())["id"]
        sf.Lead.update(lead_id, {"Status": "Working - Contacted", "Rating": "Hot"})

        assert [(r["Field"], r["NewValue"]) for r in history(sf)] == [("Rating", "Hot")]
    with pytest.raises(ValueError, match="Lead.Nickname cannot be tracked"):
        SalesforceSandbox(clock=clock, field_history={"Lead": ["Nickname"]})


def test_a_rolled_back_write_leaves_no_history(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(lead())["id"]

    results = sf.restful(
        "composite/sobjects", method="PATCH",
        json={"allOrNone": True, "records": [
            {"attributes": {"type": "Lead"}, "id": lead_id, "Title": "CTO"},
            {"attributes": {"type": "Lead"}, "id": lead_id, "Status": "Bogus"},
        ]},
    )  # fmt: skip

    assert [r["success"] for r in results] == [False, False]
    assert history(sf) == []


def test_history_is_read_only_and_its_values_cannot_be_filtered(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id FROM LeadHistory WHERE NewValue = 'CTO'")
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert (
        "field 'NewValue' can not be filtered in a query call"
        in (failure.value.content[0]["message"])
    )
    fields = {f["name"]: f for f in sf.LeadHistory.describe()["fields"]}
    assert (fields["NewValue"]["type"], fields["NewValue"]["filterable"]) == ("anyType", False)
    assert fields["LeadId"]["referenceTo"] == ["Lead"]
    assert "Owner" in {p["value"] for p in fields["Field"]["picklistValues"]}
    assert sf.LeadHistory.describe()["createable"] is False

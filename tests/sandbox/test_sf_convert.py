"""Lead conversion: the SOAP convertLead call, the Python helper, and what follows it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sf_helpers import FakeClock, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from connector.sandbox.salesforce import SalesforceSandbox, WriteRejected

PARTNER = "{urn:partner.soap.sforce.com}"


def convert_soap(sf: Salesforce, session_id: str | None = None, **fields: str) -> Any:
    """Post a convertLead envelope to the partner endpoint with the client's own session."""
    items = "".join(f"<urn:{k}>{v}</urn:{k}>" for k, v in fields.items())
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
        f"<urn:sessionId>{session_id or sf.session_id}</urn:sessionId>"
        "</urn:SessionHeader></soapenv:Header><soapenv:Body><urn:convertLead>"
        f"<urn:leadConverts>{items}</urn:leadConverts>"
        "</urn:convertLead></soapenv:Body></soapenv:Envelope>"
    )
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}/{sf.session_id[:15]}"
    return sf.session.post(
        url, data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": "convertLead"}
    )


def parse_result(text: str) -> dict[str, Any]:
    result = ET.fromstring(text).find(f".//{PARTNER}result")
    assert result is not None
    out: dict[str, Any] = {}
    for child in result:
        name = child.tag.replace(PARTNER, "")
        if name == "errors":
            out.setdefault("errors", []).append({c.tag.replace(PARTNER, ""): c.text for c in child})
        else:
            out[name] = child.text
    return out


def test_soap_convert_creates_account_contact_opportunity(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    lead_id = sf.Lead.create(
        lead(Email="ada@analytical.example", Title="CTO", City="London", LeadSource="Web")
    )["id"]

    response = convert_soap(sf, leadId=lead_id, convertedStatus="Closed - Converted")

    assert response.status_code == 200
    result = parse_result(response.text)
    assert result["success"] == "true" and result["leadId"] == lead_id
    account = sf.Account.get(result["accountId"])
    contact = sf.Contact.get(result["contactId"])
    opportunity = sf.Opportunity.get(result["opportunityId"])
    assert account["Name"] == "Analytical" and account["BillingCity"] == "London"
    assert (contact["Email"], contact["Title"], contact["AccountId"]) == (
        "ada@analytical.example",
        "CTO",
        account["Id"],
    )
    assert opportunity["Name"] == "Analytical-" and opportunity["StageName"] == "Prospecting"
    assert opportunity["CloseDate"] == "2026-12-31"  # end of the clock's quarter
    assert (opportunity["IsClosed"], opportunity["IsWon"], opportunity["LeadSource"]) == (
        False,
        False,
        "Web",
    )
    converted = sf.Lead.get(lead_id)
    assert converted["IsConverted"] is True
    assert converted["Status"] == "Closed - Converted"
    assert converted["ConvertedDate"] == clock.now.date().isoformat()
    assert converted["ConvertedOpportunityId"] == opportunity["Id"]


def test_converted_lead_is_read_only(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    lead_id = sf.Lead.create(lead())["id"]
    sandbox.convert_lead(lead_id)

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.update(lead_id, {"Title": "VP"})

    assert failure.value.content == [
        {
            "message": "cannot reference converted lead",
            "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "fields": [],
        }
    ]
    again = parse_result(convert_soap(sf, leadId=lead_id).text)
    assert again["success"] == "false"
    assert again["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(WriteRejected):
        sandbox.update("Lead", lead_id, {"Title": "VP"})


def test_soap_convert_without_opportunity_into_existing_account(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    account_id = sf.Account.create({"Name": "Existing"})["id"]
    lead_id = sf.Lead.create(lead())["id"]

    result = parse_result(
        convert_soap(
            sf,
            leadId=lead_id,
            convertedStatus="Closed - Converted",
            accountId=account_id,
            doNotCreateOpportunity="true",
        ).text
    )

    assert result["success"] == "true"
    assert result["accountId"] == account_id and result["opportunityId"] is None
    assert len(sandbox.records("Account")) == 1 and sandbox.records("Opportunity") == []


def test_bad_converted_status_fails_without_side_effects(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    lead_id = sf.Lead.create(lead())["id"]

    result = parse_result(
        convert_soap(sf, leadId=lead_id, convertedStatus="Open - Not Contacted").text
    )

    assert result["success"] == "false"
    assert result["errors"][0]["statusCode"] == "INVALID_STATUS"
    assert sandbox.records("Account") == [] and sf.Lead.get(lead_id)["IsConverted"] is False


def test_soap_convert_needs_a_valid_session(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(lead())["id"]

    response = convert_soap(sf, session_id="00Dbogus!AQ", leadId=lead_id)

    assert response.status_code == 500
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in response.text


def test_python_helper_plays_a_won_deal(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    lead_id = sf.Lead.create(lead())["id"]

    result = sandbox.convert_lead(lead_id, stage="Closed Won", amount=12500.5)

    opportunity = sf.Opportunity.get(result["opportunityId"])
    assert (opportunity["IsWon"], opportunity["IsClosed"]) == (True, True)
    assert (opportunity["Amount"], opportunity["Probability"]) == (12500.5, 100.0)
    with pytest.raises(WriteRejected) as failure:
        sandbox.convert_lead(sf.Lead.create(lead())["id"], stage="Won-ish")
    assert failure.value.errors[0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert len(sandbox.records("Account")) == 1  # the refused conversion left nothing behind


def test_rep_edit_moves_stamps_and_names_the_owner(
    sf: Salesforce, sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    lead_id = sf.Lead.create(lead())["id"]
    before = sf.Lead.get(lead_id)
    rep = sandbox.records("User")[1]
    sf.Lead.update(lead_id, {"OwnerId": rep["Id"]})
    clock.advance(minutes=10)

    sandbox.update("Lead", lead_id, {"Status": "Working - Contacted"})

    after = sf.Lead.get(lead_id)
    assert after["Status"] == "Working - Contacted"
    assert after["LastModifiedById"] == rep["Id"]
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    with pytest.raises(WriteRejected) as failure:
        sandbox.update("Lead", lead_id, {"Status": "Qualified"})
    assert failure.value.errors[0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

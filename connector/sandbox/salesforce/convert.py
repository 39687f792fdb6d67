"""Lead conversion: the partner SOAP ``convertLead()`` call and the shared conversion.

Salesforce has no REST resource for converting a lead; clients post a
``convertLead`` envelope to the partner endpoint (``partner.py``:
``/services/Soap/u/{version}`` or ``.../{orgId}``) with the session in
``SessionHeader`` (SOAP API Developer Guide, "convertLead()",
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_convertlead.htm).
Conversion creates (or reuses) an Account and a Contact and, unless told
not to, an Opportunity, copying the lead's data onto them, then marks the
lead converted (IsConverted, ConvertedDate, Converted*Id, Status). After
that the lead is read-only: the store refuses any write with
CANNOT_UPDATE_CONVERTED_LEAD.

Everything is one transaction: a failure leaves no half-created records and
comes back as a ``LeadConvertResult`` with ``success`` false and errors,
not as a fault, as the real call does for record-level problems.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from . import soap, writes
from .ids import normalize_id
from .objects import DEFAULT_OPPORTUNITY_STAGE, converted_statuses
from .soap import SoapFault
from .store import Org

if TYPE_CHECKING:
    from .server import SalesforceApp

# Lead field -> field on the record conversion creates (standard lead field mapping).
ACCOUNT_MAP = {
    "Company": "Name", "Website": "Website", "Industry": "Industry", "Phone": "Phone",
    "AnnualRevenue": "AnnualRevenue", "NumberOfEmployees": "NumberOfEmployees",
    "Street": "BillingStreet", "City": "BillingCity", "State": "BillingState",
    "PostalCode": "BillingPostalCode", "Country": "BillingCountry",
}  # fmt: skip
CONTACT_MAP = {
    "FirstName": "FirstName", "LastName": "LastName", "Salutation": "Salutation",
    "Title": "Title", "Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone",
    "LeadSource": "LeadSource", "Description": "Description", "Street": "MailingStreet",
    "City": "MailingCity", "State": "MailingState", "PostalCode": "MailingPostalCode",
    "Country": "MailingCountry",
}  # fmt: skip

LeadConvertResult = dict[str, Any]


def convert_lead(
    org: Org,
    lead_id: str,
    *,
    user_id: str,
    today: date,
    converted_status: str | None = None,
    account_id: str | None = None,
    contact_id: str | None = None,
    owner_id: str | None = None,
    create_opportunity: bool = True,
    opportunity_name: str | None = None,
    opportunity_fields: Mapping[str, Any] | None = None,
) -> LeadConvertResult:
    """Convert one lead; the result has the ``LeadConvertResult`` fields of the SOAP API."""
    result: LeadConvertResult = {
        "accountId": None,
        "contactId": None,
        "leadId": normalize_id(lead_id) or lead_id,
        "opportunityId": None,
        "success": False,
        "errors": [],
    }
    converted = converted_statuses(org.schema)
    status = converted_status or (converted[0] if converted else "")
    with org.transaction() as rollback:
        try:
            ids = _convert(
                org, lead_id, user_id=user_id, today=today, status=status,
                account_id=account_id, contact_id=contact_id, owner_id=owner_id,
                create_opportunity=create_opportunity, opportunity_name=opportunity_name,
                opportunity_fields=opportunity_fields or {},
            )  # fmt: skip
        except writes.RecordError as exc:
            rollback()
            result["errors"] = exc.errors
            return result
    result.update(ids, success=True)
    return result


def _convert(
    org: Org,
    lead_id: str,
    *,
    user_id: str,
    today: date,
    status: str,
    account_id: str | None,
    contact_id: str | None,
    owner_id: str | None,
    create_opportunity: bool,
    opportunity_name: str | None,
    opportunity_fields: Mapping[str, Any],
) -> dict[str, str | None]:
    schema = org.schema
    lead_type, account_type = schema.get("Lead"), schema.get("Account")
    contact_type, opportunity_type = schema.get("Contact"), schema.get("Opportunity")
    assert lead_type and account_type and contact_type and opportunity_type
    lead = org.get(lead_type, lead_id) if normalize_id(lead_id) else None
    if lead is None:
        raise writes.RecordError(
            [writes.record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        )
    if lead["IsConverted"]:
        raise writes.RecordError(
            [writes.record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")]
        )
    if status not in converted_statuses(schema):
        # "convertedStatus: Valid LeadStatus value for a converted lead" (convertLead(),
        # LeadConvert arguments): a value whose LeadStatus.IsConverted is true.
        raise writes.RecordError(
            [writes.record_error("INVALID_STATUS", f"invalid convertedStatus: {status}")]
        )
    if contact_id and not account_id:
        raise writes.RecordError(
            [writes.record_error(
                "REQUIRED_FIELD_MISSING", "accountId is required when contactId is specified",
                ["accountId"],
            )]
        )  # fmt: skip
    owner = owner_id or lead["OwnerId"]
    as_user = {"user_id": user_id}

    if account_id:
        account = org.get(account_type, account_id) if normalize_id(account_id) else None
        if account is None:
            raise writes.RecordError(
                [writes.record_error(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["accountId"]
                )]
            )  # fmt: skip
    else:
        body = _copy(lead, ACCOUNT_MAP)
        account = writes.create(org, account_type, {**body, "OwnerId": owner}, **as_user)

    if contact_id:
        contact = org.get(contact_type, contact_id) if normalize_id(contact_id) else None
        if contact is None or contact["AccountId"] != account["Id"]:
            raise writes.RecordError(
                [writes.record_error(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["contactId"]
                )]
            )  # fmt: skip
    else:
        body = {**_copy(lead, CONTACT_MAP), "AccountId": account["Id"], "OwnerId": owner}
        contact = writes.create(org, contact_type, body, **as_user)

    opportunity_id = None
    if create_opportunity:
        body = {
            "Name": opportunity_name or f"{lead['Company']}-",
            "AccountId": account["Id"],
            "OwnerId": owner,
            "StageName": DEFAULT_OPPORTUNITY_STAGE,
            "CloseDate": _quarter_end(today).isoformat(),
            "LeadSource": lead["LeadSource"],
            **opportunity_fields,
        }
        opportunity_id = writes.create(org, opportunity_type, body, **as_user)["Id"]

    org.update(
        lead_type,
        lead["Id"],
        {
            "IsConverted": True,
            "ConvertedDate": today.isoformat(),
            "ConvertedAccountId": account["Id"],
            "ConvertedContactId": contact["Id"],
            "ConvertedOpportunityId": opportunity_id,
            "Status": status,
        },
        user_id=user_id,
        history_event="leadConverted",
    )
    return {"accountId": account["Id"], "contactId": contact["Id"], "opportunityId": opportunity_id}


def _copy(lead: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    return {target: lead[source] for source, target in mapping.items() if lead.get(source)}


def _quarter_end(today: date) -> date:
    """The default close date of a converted opportunity: the end of the quarter."""
    last_month = (today.month - 1) // 3 * 3 + 3
    if last_month == 12:
        return date(today.year, 12, 31)
    return date(today.year, last_month + 1, 1) - timedelta(days=1)


# --- SOAP ---------------------------------------------------------------------------

MAX_CONVERTS = 100


def soap_convert(app: SalesforceApp, call: ET.Element, user_id: str) -> list[str]:
    """The ``<result>`` items of a ``convertLead`` call (``partner.py`` routes it here)."""
    converts = [el for el in call.iter() if soap.local(el.tag) == "leadConverts"]
    if not converts or len(converts) > MAX_CONVERTS:
        raise SoapFault(
            "LIMIT_EXCEEDED" if converts else "INVALID_FIELD",
            f"convertLead takes between 1 and {MAX_CONVERTS} LeadConvert items",
            fault_type="ApiFault",
        )
    results = []
    for item in converts:
        fields = {soap.local(child.tag): (child.text or "").strip() for child in item}
        results.append(
            convert_lead(
                app.org,
                fields.get("leadId", ""),
                user_id=user_id,
                today=app.clock().date(),
                converted_status=fields.get("convertedStatus") or None,
                account_id=fields.get("accountId") or None,
                contact_id=fields.get("contactId") or None,
                owner_id=fields.get("ownerId") or None,
                create_opportunity=fields.get("doNotCreateOpportunity", "").lower() != "true",
                opportunity_name=fields.get("opportunityName") or None,
            )
        )
    return [_result_xml(r) for r in results]


def _result_xml(r: LeadConvertResult) -> str:
    value = soap.value_xml
    return (
        "<result>"
        + value("accountId", r["accountId"])
        + value("contactId", r["contactId"])
        + soap.errors_xml(r["errors"])
        + value("leadId", r["leadId"])
        + value("opportunityId", r["opportunityId"])
        + f"<success>{'true' if r['success'] else 'false'}</success>"
        + "</result>"
    )

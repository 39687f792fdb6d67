"""Lead conversion: the partner SOAP ``convertLead()`` call and the shared conversion.

Salesforce has no REST resource for converting a lead; clients post a
``convertLead`` envelope to the partner endpoint
``/services/Soap/u/{version}/{orgId}`` with the session in ``SessionHeader``.
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
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from . import writes
from .errors import ApiError
from .ids import normalize_id
from .objects import CONVERTED_LEAD_STATUSES, DEFAULT_OPPORTUNITY_STAGE
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
    status = converted_status or CONVERTED_LEAD_STATUSES[0]
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
    if status not in CONVERTED_LEAD_STATUSES:
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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def operation(body: bytes) -> str | None:
    """The name of the call in a SOAP envelope (``login``, ``convertLead``...)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    body_el = next((el for el in root.iter() if _local(el.tag) == "Body"), None)
    first = next(iter(body_el), None) if body_el is not None else None
    return _local(first.tag) if first is not None else None


def soap_call(app: SalesforceApp, request: Request) -> Response:
    """Answer a partner-endpoint call other than login (only convertLead is modelled)."""
    root = ET.fromstring(request.get_data())
    session_id = next(
        ((el.text or "").strip() for el in root.iter() if _local(el.tag) == "sessionId"), ""
    )
    user_id = _session_user(app, request, session_id)
    app.count_api_call()
    call = operation(request.get_data())
    if call != "convertLead":
        raise SoapFault(
            "INVALID_OPERATION",
            f"The sandbox models only login() and convertLead(), not {call}",
            fault_type="ApiFault",
        )
    converts = [el for el in root.iter() if _local(el.tag) == "leadConverts"]
    if not converts or len(converts) > 100:
        raise SoapFault(
            "LIMIT_EXCEEDED" if converts else "INVALID_FIELD",
            "convertLead takes between 1 and 100 LeadConvert items",
            fault_type="ApiFault",
        )
    results = []
    for item in converts:
        fields = {_local(child.tag): (child.text or "").strip() for child in item}
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
    return Response(_envelope(results), 200, content_type="text/xml;charset=UTF-8")


def _session_user(app: SalesforceApp, request: Request, session_id: str) -> str:
    """Check the SessionHeader with the REST path's own session check."""
    environ = dict(request.environ)
    environ["HTTP_AUTHORIZATION"] = f"Bearer {session_id}"
    try:
        return app.authenticate(Request(environ))
    except ApiError:
        raise SoapFault(
            "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
        ) from None


def _envelope(results: list[LeadConvertResult]) -> str:
    def value(name: str, v: str | None) -> str:
        return f'<{name} xsi:nil="true"/>' if v is None else f"<{name}>{escape(v)}</{name}>"

    items = []
    for r in results:
        errors = "".join(
            "<errors>"
            + "".join(f"<fields>{escape(f)}</fields>" for f in e["fields"])
            + f"<message>{escape(e['message'])}</message>"
            + f"<statusCode>{escape(e['statusCode'])}</statusCode></errors>"
            for e in r["errors"]
        )
        items.append(
            "<result>"
            + value("accountId", r["accountId"])
            + value("contactId", r["contactId"])
            + errors
            + value("leadId", r["leadId"])
            + value("opportunityId", r["opportunityId"])
            + f"<success>{'true' if r['success'] else 'false'}</success>"
            + "</result>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><convertLeadResponse>"
        + "".join(items)
        + "</convertLeadResponse></soapenv:Body></soapenv:Envelope>"
    )

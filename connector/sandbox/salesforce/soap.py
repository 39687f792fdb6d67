"""The partner-WSDL SOAP ``login()`` call, which is how simple-salesforce logs in.

simple-salesforce posts a ``<login>`` envelope to ``/services/Soap/u/{version}``
and reads ``sessionId`` and ``serverUrl`` out of the response (the instance
host is the host of ``serverUrl``); on a non-200 it reads
``sf:exceptionCode`` / ``sf:exceptionMessage``. The envelopes below follow
real responses: a success is ``loginResponse/result`` in the partner
namespace, a failure is an HTTP 500 ``soapenv:Fault`` whose ``detail`` holds
an ``sf:LoginFault`` in the ``urn:fault.partner.soap.sforce.com`` namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."
SESSION_SECONDS_VALID = 7200


class SoapFault(Exception):
    """A fault to answer with (HTTP 500, as Salesforce does for every SOAP fault)."""

    def __init__(self, code: str, message: str, *, fault_type: str = "UnexpectedErrorFault"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fault_type = fault_type

    def envelope(self) -> str:
        # The faultstring repeats the code, "INVALID_LOGIN: Invalid username...".
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><soapenv:Fault>"
            f"<faultcode>sf:{self.code}</faultcode>"
            f"<faultstring>{escape(self.code)}: {escape(self.message)}</faultstring>"
            f'<detail><sf:{self.fault_type} xsi:type="sf:{self.fault_type}">'
            f"<sf:exceptionCode>{escape(self.code)}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(self.message)}</sf:exceptionMessage>"
            f"</sf:{self.fault_type}></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )


def invalid_login() -> SoapFault:
    return SoapFault("INVALID_LOGIN", INVALID_LOGIN_MESSAGE, fault_type="LoginFault")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


local = _local
"""An element's name without its namespace: clients spell prefixes as they like."""


def operation(body: bytes) -> str | None:
    """The name of the call in a SOAP envelope (``login``, ``convertLead``, ``merge``...)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    body_el = next((el for el in root.iter() if _local(el.tag) == "Body"), None)
    first = next(iter(body_el), None) if body_el is not None else None
    return _local(first.tag) if first is not None else None


XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def is_nil(element: ET.Element) -> bool:
    return element.get(XSI_NIL, "").lower() in ("true", "1")


def value_xml(name: str, value: str | None) -> str:
    """``<name>value</name>``, or ``<name xsi:nil="true"/>`` for a null (partner WSDL)."""
    return f'<{name} xsi:nil="true"/>' if value is None else f"<{name}>{escape(value)}</{name}>"


def errors_xml(errors: list[dict[str, Any]]) -> str:
    """A result's ``errors`` as partner ``Error`` elements (fields, message, statusCode)."""
    return "".join(
        "<errors>"
        + "".join(f"<fields>{escape(f)}</fields>" for f in e.get("fields", []))
        + f"<message>{escape(e['message'])}</message>"
        + f"<statusCode>{escape(e['statusCode'])}</statusCode></errors>"
        for e in errors
    )


def response_envelope(call: str, results: list[str]) -> str:
    """``<{call}Response>`` holding one ``<result>`` per item, in the partner namespace."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><{call}Response>"
        + "".join(results)
        + f"</{call}Response></soapenv:Body></soapenv:Envelope>"
    )


def parse_envelope(body: bytes) -> ET.Element:
    """The XML of a SOAP request, or the fault Salesforce gives for one it cannot parse."""
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault(
            "INVALID_REQUEST", f"Could not parse the SOAP request: {exc}", fault_type="ApiFault"
        ) from None


def parse_login(body: bytes) -> tuple[str, str]:
    """(username, password) from a login envelope; the password includes the token."""
    root = parse_envelope(body)
    login = next((el for el in root.iter() if _local(el.tag) == "login"), None)
    if login is None:
        body_el = next((el for el in root.iter() if _local(el.tag) == "Body"), None)
        first = next(iter(body_el), None) if body_el is not None else None
        operation = _local(first.tag) if first is not None else "an empty body"
        raise SoapFault(
            "INVALID_OPERATION",
            f"Only the login() call is available on this endpoint, not {operation}",
            fault_type="ApiFault",
        )
    fields = {_local(child.tag): (child.text or "") for child in login}
    return fields.get("username", ""), fields.get("password", "")


@dataclass(frozen=True)
class LoginResult:
    session_id: str
    server_url: str
    metadata_server_url: str
    user_id: str
    org_id: str
    org_name: str
    username: str
    user_email: str
    user_full_name: str
    user_time_zone: str
    session_seconds: int = SESSION_SECONDS_VALID

    def envelope(self) -> str:
        e = escape
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{e(self.metadata_server_url)}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired>"
            "<sandbox>false</sandbox>"
            f"<serverUrl>{e(self.server_url)}</serverUrl>"
            f"<sessionId>{e(self.session_id)}</sessionId>"
            f"<userId>{e(self.user_id)}</userId>"
            "<userInfo>"
            "<accessibilityMode>false</accessibilityMode>"
            "<chatterExternal>false</chatterExternal>"
            "<currencySymbol>$</currencySymbol>"
            "<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>"
            "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>"
            "<orgDefaultCurrencyLocale>en_US</orgDefaultCurrencyLocale>"
            "<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments>"
            "<orgHasPersonAccounts>false</orgHasPersonAccounts>"
            f"<organizationId>{e(self.org_id)}</organizationId>"
            "<organizationMultiCurrency>false</organizationMultiCurrency>"
            f"<organizationName>{e(self.org_name)}</organizationName>"
            "<profileId>00e8d000000001AAA</profileId>"
            '<roleId xsi:nil="true"/>'
            f"<sessionSecondsValid>{self.session_seconds}</sessionSecondsValid>"
            '<userDefaultCurrencyIsoCode xsi:nil="true"/>'
            f"<userEmail>{e(self.user_email)}</userEmail>"
            f"<userFullName>{e(self.user_full_name)}</userFullName>"
            f"<userId>{e(self.user_id)}</userId>"
            "<userLanguage>en_US</userLanguage>"
            "<userLocale>en_US</userLocale>"
            f"<userName>{e(self.username)}</userName>"
            f"<userTimeZone>{e(self.user_time_zone)}</userTimeZone>"
            "<userType>Standard</userType>"
            "<userUiSkin>Theme3</userUiSkin>"
            "</userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )

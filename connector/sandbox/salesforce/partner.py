"""The partner SOAP endpoint's data calls: ``convertLead()`` and ``merge()``.

Both are posted, with the session in ``SessionHeader``, to the endpoint
login() hands back as ``serverUrl`` (``/services/Soap/u/{version}/{orgId}``,
SOAP API Developer Guide, "login()": "serverUrl: URL of the endpoint that
will process subsequent API calls",
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_login.htm).
Clients that build the URL from the instance alone post to the bare
``/services/Soap/u/{version}`` instead (public merge scripts do), and orgs
answer there too; the guide documents no such URL, so that half rests on
observed behaviour. Both paths land here (``server.dispatch``); a ``login``
envelope on either path is still a login.

Each call is one API request against the daily allocation. A bad session is
an ``INVALID_SESSION_ID`` fault (HTTP 500), like every SOAP fault; record
problems come back inside the call's results, not as faults.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from . import convert, merge, soap
from .errors import ApiError
from .soap import SoapFault

if TYPE_CHECKING:
    from .server import SalesforceApp

XML_TYPE = "text/xml;charset=UTF-8"

# call name -> handler answering the call's <result> items.
CALLS: dict[str, Callable[[SalesforceApp, ET.Element, str], list[str]]] = {
    "convertLead": convert.soap_convert,
    "merge": merge.soap_merge,
}


def handle(app: SalesforceApp, request: Request) -> Response:
    """Answer one partner call other than login: session first, then the call."""
    root = soap.parse_envelope(request.get_data())
    session_id = next(
        ((el.text or "").strip() for el in root.iter() if soap.local(el.tag) == "sessionId"), ""
    )
    user_id = session_user(app, request, session_id)
    app.count_api_call()
    body_el = next((el for el in root.iter() if soap.local(el.tag) == "Body"), None)
    call = next(iter(body_el), None) if body_el is not None else None
    name = soap.local(call.tag) if call is not None else "an empty body"
    handler = CALLS.get(name)
    if call is None or handler is None:
        raise SoapFault(
            "INVALID_OPERATION",
            f"The sandbox models only login(), convertLead() and merge(), not {name}",
            fault_type="ApiFault",
        )
    results = handler(app, call, user_id)
    return Response(soap.response_envelope(name, results), 200, content_type=XML_TYPE)


def session_user(app: SalesforceApp, request: Request, session_id: str) -> str:
    """Check the SessionHeader with the REST path's own session check."""
    environ = dict(request.environ)
    environ["HTTP_AUTHORIZATION"] = f"Bearer {session_id}"
    try:
        return app.authenticate(Request(environ))
    except ApiError:
        raise SoapFault(
            "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
        ) from None

"""Salesforce's side of the injected faults; the machinery is ``connector.sandbox.faults``.

Kept as a module so ``from connector.sandbox.salesforce.faults import Faults``
goes on working now that the HubSpot sandbox shares the same fault script.
Eligible requests here: every REST call (``/services/data/...``) and, with
``include_login``, the logins (SOAP ``/services/Soap/u/...`` and OAuth
``/services/oauth2/token``). A ``"502"`` is answered the way Salesforce's edge
does, with a bare HTML page rather than an API error list.
"""

from __future__ import annotations

from ..faults import FAULT_KINDS, FaultEvent, FaultInjector, FaultKind, Faults, drop_connection

SERVER_UNAVAILABLE = [{"message": "Server too busy", "errorCode": "SERVER_UNAVAILABLE"}]
"""The body real instances send with a 503 (seen as "SERVER_UNAVAILABLE: Server too busy")."""

BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"

__all__ = [
    "BAD_GATEWAY_HTML",
    "FAULT_KINDS",
    "SERVER_UNAVAILABLE",
    "FaultEvent",
    "FaultInjector",
    "FaultKind",
    "Faults",
    "drop_connection",
]

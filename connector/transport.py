"""HTTP sessions for the CRM clients.

The real client libraries build their own URLs (simple-salesforce talks to
``https://login.salesforce.com`` and then to whatever instance the login
returned). To point an unmodified client at a local sandbox we hand it a
``requests.Session`` whose transport re-addresses every HTTPS request to the
sandbox's ``host:port`` over plain HTTP. The original host travels in the
``X-Forwarded-Host`` header so the sandbox can tell a login host from an
instance host if it needs to. Nothing in the client is patched.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class CrmTransport(HTTPAdapter):
    """Transport for CRM calls: a default timeout on every request (the clients
    set none, and a stalled call would hang a run for ever), and, with
    ``route_to``, every request re-addressed to that one host:port."""

    def __init__(self, route_to: str | None = None, *, timeout: float | None = None,
                 **kwargs: object) -> None:
        self.route_to = route_to
        self.timeout = timeout
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.route_to:
            parts = urlsplit(request.url or "")
            request.headers.setdefault("X-Forwarded-Host", parts.netloc)
            request.url = urlunsplit(("http", self.route_to, parts.path, parts.query,
                                      parts.fragment))
        return super().send(request, **kwargs)


def make_session(route_to: str | None = None, *, timeout: float | None = None,
                 pool_size: int = 10) -> requests.Session:
    """A session for a CRM client; with ``route_to`` every HTTPS call goes there."""
    session = requests.Session()
    transport = CrmTransport(route_to, timeout=timeout, pool_connections=pool_size,
                             pool_maxsize=pool_size)
    session.mount("https://", transport)
    return session

"""``POST /services/oauth2/token``: OAuth 2.0 username-password and client-credentials grants.

simple-salesforce uses this endpoint when given ``consumer_key`` and
``consumer_secret``: with a username and password it posts the *password*
grant (client id and secret in the form body); with only the key, secret and
a My Domain it posts the *client_credentials* grant with the key and secret
in an HTTP Basic ``Authorization`` header. Both are accepted here, and the
client credentials may also come in the body, as Salesforce allows.

Answers follow Salesforce's: 200 with ``access_token``, ``instance_url``,
``id`` (the identity URL, ``/id/{orgId}/{userId}``), ``token_type: Bearer``,
``issued_at`` (epoch milliseconds, as a string) and ``signature`` (base64
HMAC-SHA256 of ``id + issued_at`` keyed with the consumer secret); failures
are 400 ``{"error", "error_description"}`` pairs with Salesforce's wording:
``invalid_client_id``/"client identifier invalid",
``invalid_client``/"invalid client credentials",
``invalid_grant``/"authentication failure" (wrong user or password: the same
answer for both, so the endpoint does not reveal which usernames exist),
``invalid_grant``/"no client credentials user enabled" (no run-as user),
``unsupported_grant_type``/"grant type not supported" (also what a body that
is not form-encoded gets, since Salesforce then sees no grant type).

The access token is an ordinary session: it expires, counts and fails like
one from the SOAP login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

if TYPE_CHECKING:
    from .server import SalesforceApp

DEFAULT_CONSUMER_KEY = "3MVG9leadsync.sandbox.consumer.key"
DEFAULT_CONSUMER_SECRET = "leadsync-sandbox-consumer-secret"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def oauth_error(error: str, description: str) -> tuple[int, dict[str, str]]:
    return 400, {"error": error, "error_description": description}


class OAuthApp:
    """One connected app: its consumer key and secret, and whom client credentials run as."""

    def __init__(
        self, *, consumer_key: str, consumer_secret: str, client_credentials_user: str | None
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.client_credentials_user = client_credentials_user

    def token(self, request: Request, app: SalesforceApp) -> tuple[int, dict[str, Any]]:
        if request.method != "POST":
            return oauth_error("invalid_request", "must use HTTP POST")
        form = request.form
        grant = form.get("grant_type", "")
        if grant == "password":
            return self._password(request, app)
        if grant == "client_credentials":
            return self._client_credentials(request, app)
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _check_client(
        self, client_id: str, client_secret: str
    ) -> tuple[int, dict[str, Any]] | None:
        if not hmac.compare_digest(client_id.encode(), self.consumer_key.encode()):
            return oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(client_secret.encode(), self.consumer_secret.encode()):
            return oauth_error("invalid_client", "invalid client credentials")
        return None

    def _password(self, request: Request, app: SalesforceApp) -> tuple[int, dict[str, Any]]:
        form = request.form
        refused = self._check_client(form.get("client_id", ""), form.get("client_secret", ""))
        if refused:
            return refused
        username, password = form.get("username", ""), form.get("password", "")
        if username.lower() != app.username.lower() or password != app.secret:
            return oauth_error("invalid_grant", "authentication failure")
        user_id = app.org.admin_id
        if _active_user(app, user_id) is None:
            return oauth_error("invalid_grant", "authentication failure")
        return 200, self._grant(request, app, user_id)

    def _client_credentials(
        self, request: Request, app: SalesforceApp
    ) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = _basic_credentials(request)
        if client_id is None:
            client_id = request.form.get("client_id", "")
            client_secret = request.form.get("client_secret", "")
        refused = self._check_client(client_id, client_secret or "")
        if refused:
            return refused
        user_id = self._run_as(app)
        if user_id is None:
            return oauth_error("invalid_grant", "no client credentials user enabled")
        return 200, self._grant(request, app, user_id)

    def _run_as(self, app: SalesforceApp) -> str | None:
        if not self.client_credentials_user:
            return None
        users = app.schema.get("User")
        if users is None:
            return None
        matches = app.org.find(users, "Username", self.client_credentials_user)
        if not matches or not matches[0].get("IsActive", True):
            return None
        return str(matches[0]["Id"])

    def _grant(self, request: Request, app: SalesforceApp, user_id: str) -> dict[str, Any]:
        login_host = request.headers.get("X-Forwarded-Host") or "login.salesforce.com"
        identity = f"https://{login_host}/id/{app.org.org_id}/{user_id}"
        issued_at = str(int((app._now() - _EPOCH).total_seconds() * 1000))
        digest = hmac.new(
            self.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": app.open_session(user_id),
            "instance_url": f"https://{app.instance_host}",
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest).decode(),
        }


def _active_user(app: SalesforceApp, user_id: str) -> dict[str, Any] | None:
    users = app.schema.get("User")
    user = app.org.get(users, user_id) if users else None
    if user is None or not user.get("IsActive", True):
        return None
    return user


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """(client id, secret) from ``Authorization: Basic``; (None, None) if absent or unreadable."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret

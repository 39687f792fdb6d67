"""OAuth 2.0 at /services/oauth2/token: the password and client-credentials grants."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import requests
from sf_helpers import FakeClock
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

KEY, SECRET = "3MVG9leadsync.sandbox.consumer.key", "leadsync-sandbox-consumer-secret"
TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"


def _oauth_client(sandbox: SalesforceSandbox, **overrides: str) -> Salesforce:
    args = {
        "username": "admin@leadsync.sandbox",
        "password": "sandbox",
        "consumer_key": KEY,
        "consumer_secret": SECRET,
    }
    args.update(overrides)
    return Salesforce(**args, session=make_session(sandbox.address))  # type: ignore[arg-type]


def _post(sandbox: SalesforceSandbox, **form: str) -> requests.Response:
    return make_session(sandbox.address).post(TOKEN_URL, data=form, timeout=5)


def test_password_grant_through_the_real_client(sandbox: SalesforceSandbox) -> None:
    sf = _oauth_client(sandbox)

    assert sf.auth_type == "password"
    assert sf.sf_instance == "leadsync-sandbox.my.salesforce.com"
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_password_grant_response_has_salesforce_shape(
    sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    response = _post(
        sandbox,
        grant_type="password",
        client_id=KEY,
        client_secret=SECRET,
        username="admin@leadsync.sandbox",
        password="sandbox",
    )

    body = response.json()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert set(body) == {
        "access_token", "instance_url", "id", "token_type", "issued_at", "signature"
    }  # fmt: skip
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "https://leadsync-sandbox.my.salesforce.com"
    assert body["id"].startswith("https://login.salesforce.com/id/00D")
    assert body["issued_at"] == str(int(clock.now.timestamp() * 1000))
    expected = hmac.new(
        SECRET.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(body["signature"]) == expected


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        ({"client_id": "nope"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "nope"}, "invalid_client", "invalid client credentials"),
        ({"password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@x.y"}, "invalid_grant", "authentication failure"),
        ({"grant_type": "magic"}, "unsupported_grant_type", "grant type not supported"),
        ({"grant_type": ""}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_token_failures_are_400_oauth_errors(
    sandbox: SalesforceSandbox, form: dict[str, str], error: str, description: str
) -> None:
    request = {
        "grant_type": "password",
        "client_id": KEY,
        "client_secret": SECRET,
        "username": "admin@leadsync.sandbox",
        "password": "sandbox",
        **form,
    }

    response = _post(sandbox, **request)

    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_the_real_client_reports_a_failed_grant(sandbox: SalesforceSandbox) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        _oauth_client(sandbox, password="wrong")

    assert failure.value.code == "invalid_grant"
    assert failure.value.auth_message == "authentication failure"


def test_password_grant_needs_the_security_token(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, security_token="TOK") as sandbox:
        with pytest.raises(SalesforceAuthenticationFailed):
            _oauth_client(sandbox)
        assert _oauth_client(sandbox, password="sandboxTOK").session_id


def test_client_credentials_through_the_real_client(sandbox: SalesforceSandbox) -> None:
    sf = Salesforce(
        consumer_key=KEY,
        consumer_secret=SECRET,
        domain="leadsync-sandbox.my",
        session=make_session(sandbox.address),
    )

    assert sf.auth_type == "client-credentials"
    assert sf.query("SELECT Username FROM User WHERE Username = 'admin@leadsync.sandbox'")[
        "totalSize"
    ] == 1


def test_client_credentials_run_as_the_configured_user(clock: FakeClock) -> None:
    with SalesforceSandbox(
        clock=clock, client_credentials_user="riley.okafor@leadsync.sandbox"
    ) as sandbox:
        body = _post(
            sandbox, grant_type="client_credentials", client_id=KEY, client_secret=SECRET
        ).json()
        sf = Salesforce(
            instance="leadsync-sandbox.my.salesforce.com",
            session_id=body["access_token"],
            session=make_session(sandbox.address),
        )
        created = sf.Lead.create({"LastName": "Ng", "Company": "Acme"})
        owner = sf.Lead.get(created["id"])["OwnerId"]

        riley = [u for u in sandbox.records("User") if u["Username"].startswith("riley")][0]
        assert body["id"].endswith("/" + riley["Id"])
        assert owner == riley["Id"]


def test_client_credentials_with_a_wrong_secret(sandbox: SalesforceSandbox) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(
            consumer_key=KEY,
            consumer_secret="wrong",
            domain="leadsync-sandbox.my",
            session=make_session(sandbox.address),
        )

    assert failure.value.code == "invalid_client"


def test_client_credentials_without_a_run_as_user(clock: FakeClock) -> None:
    inactive = "casey.brooks@leadsync.sandbox"
    with SalesforceSandbox(clock=clock, client_credentials_user=inactive) as sandbox:
        response = _post(
            sandbox, grant_type="client_credentials", client_id=KEY, client_secret=SECRET
        )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }


def test_consumer_key_and_secret_are_configurable(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, consumer_key="k", consumer_secret="s") as sandbox:
        assert _oauth_client(sandbox, consumer_key="k", consumer_secret="s").session_id
        with pytest.raises(SalesforceAuthenticationFailed):
            _oauth_client(sandbox)
        assert (sandbox.consumer_key, sandbox.consumer_secret) == ("k", "s")


def test_an_oauth_token_expires_like_any_session(
    sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    sf = _oauth_client(sandbox)
    old = sf.session_id
    clock.advance(hours=3)

    sf.query("SELECT Id FROM Lead")  # 401, a new token grant, the retried query

    assert sf.session_id != old


def test_a_get_is_refused(sandbox: SalesforceSandbox) -> None:
    response = make_session(sandbox.address).get(TOKEN_URL, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"

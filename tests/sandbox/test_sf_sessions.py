"""Session lifetime: configurable idle expiry and the expire-everything test hook."""

from __future__ import annotations

import pytest
import requests
from sf_helpers import FakeClock, connect
from simple_salesforce import Salesforce, SalesforceExpiredSession
from werkzeug.test import Client

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def _get(sandbox: SalesforceSandbox, sf: Salesforce) -> requests.Response:
    return make_session(sandbox.address).get(
        f"https://{sf.sf_instance}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=5,
    )


def test_session_seconds_sets_the_idle_lifetime(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, session_seconds=60) as sandbox:
        sf = connect(sandbox)
        clock.advance(seconds=59)
        assert _get(sandbox, sf).status_code == 200  # and the idle clock restarts
        clock.advance(seconds=59)
        assert _get(sandbox, sf).status_code == 200

        clock.advance(seconds=61)
        response = _get(sandbox, sf)

        assert response.status_code == 401
        assert response.json() == INVALID_SESSION


def test_login_reports_the_configured_lifetime(clock: FakeClock) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        '<n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        "<n1:username>admin@leadsync.sandbox</n1:username>"
        "<n1:password>sandbox</n1:password></n1:login></env:Body></env:Envelope>"
    )
    sandbox = SalesforceSandbox(clock=clock, session_seconds=900)

    response = Client(sandbox.wsgi_app).post("/services/Soap/u/59.0", data=envelope)

    assert "<sessionSecondsValid>900</sessionSecondsValid>" in response.get_data(as_text=True)


def test_expire_sessions_ends_every_session_now(sandbox: SalesforceSandbox) -> None:
    first, second = connect(sandbox), connect(sandbox)

    assert sandbox.expire_sessions() == 2

    assert _get(sandbox, first).status_code == 401
    assert _get(sandbox, second).json() == INVALID_SESSION


def test_the_real_client_logs_in_again_after_expiry(sandbox: SalesforceSandbox) -> None:
    sf = connect(sandbox)
    old = sf.session_id
    sandbox.expire_sessions()

    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert sf.session_id != old


def test_a_client_without_credentials_gets_the_expired_session_error(
    sandbox: SalesforceSandbox,
) -> None:
    logged_in = connect(sandbox)
    token_only = Salesforce(
        instance=logged_in.sf_instance,
        session_id=logged_in.session_id,
        session=make_session(sandbox.address),
    )
    sandbox.expire_sessions()

    with pytest.raises(SalesforceExpiredSession) as failure:
        token_only.query("SELECT Id FROM Lead")

    assert failure.value.content == INVALID_SESSION


def test_session_seconds_can_change_at_runtime(
    sandbox: SalesforceSandbox, clock: FakeClock
) -> None:
    sf = connect(sandbox)
    sandbox.session_seconds = 10
    clock.advance(seconds=11)

    assert _get(sandbox, sf).status_code == 401
    assert sandbox.session_seconds == 10

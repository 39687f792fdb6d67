"""Helpers shared by the Salesforce sandbox tests (importable, unlike conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simple_salesforce import Salesforce

from connector.sandbox.salesforce import SalesforceSandbox
from connector.transport import make_session

START = datetime(2026, 11, 25, 3, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def connect(
    sandbox: SalesforceSandbox,
    *,
    username: str = "admin@leadsync.sandbox",
    password: str = "sandbox",
    security_token: str = "",
) -> Salesforce:
    """A real simple-salesforce client, logged in over HTTP through the transport."""
    return Salesforce(
        username=username,
        password=password,
        security_token=security_token,
        session=make_session(sandbox.address),
    )


def lead(**fields: object) -> dict[str, object]:
    """The one helper that builds a valid Lead body; override what a test is about."""
    body: dict[str, object] = {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Analytical"}
    body.update(fields)
    return body

"""Fixtures for the Salesforce sandbox: a frozen clock, a running org, a real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sf_helpers import FakeClock, connect
from simple_salesforce import Salesforce

from connector.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(clock=clock) as running:
        yield running


@pytest.fixture
def sf(sandbox: SalesforceSandbox) -> Salesforce:
    return connect(sandbox)

"""Helpers for the HubSpot sandbox tests: a running portal, the real client, error reading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInputForCreate,
)
from sf_helpers import FakeClock

from connector.sandbox.hubspot import HubSpotSandbox

TOKEN = "sandbox-token"


def client(sandbox: HubSpotSandbox, token: str = TOKEN) -> HubSpot:
    """The real hubspot-api-client, pointed at the sandbox the documented way."""
    return HubSpot(access_token=token, host=sandbox.base_url)


@contextmanager
def running(**kwargs: Any) -> Iterator[HubSpotSandbox]:
    kwargs.setdefault("clock", FakeClock())
    with HubSpotSandbox(**kwargs) as sandbox:
        yield sandbox


def body(exc: Any) -> dict[str, Any]:
    """The JSON body of an ``ApiException`` from any of the client's packages."""
    return json.loads(exc.body)


def contact(email: str, **properties: str) -> SimplePublicObjectInputForCreate:
    return SimplePublicObjectInputForCreate(properties={"email": email, **properties})


def upsert_batch(rows: list[tuple[str, dict[str, str]]], id_property: str = "leadsync_id"
                 ) -> BatchInputSimplePublicObjectBatchInputUpsert:
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property, properties=props)
            for key, props in rows
        ]
    )

"""The org's Lead Status picklist: the LeadStatus object, describe, and adding values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import Salesforce, SalesforceMalformedRequest, SalesforceRefusedRequest

from connector.sandbox.salesforce import (
    DEFAULT_LEAD_STATUSES,
    LeadStatusValue,
    SalesforceSandbox,
    SeedError,
)

STATUSES = "SELECT Id, MasterLabel, ApiName, SortOrder, IsDefault, IsConverted FROM LeadStatus"
ADDED = ("Recycle", "Trash", "Could Not Reach")


def statuses(sf: Salesforce, where: str = "") -> list[tuple[Any, ...]]:
    rows = sf.query(f"{STATUSES} {where} ORDER BY SortOrder")["records"]
    return [(r["MasterLabel"], r["ApiName"], r["SortOrder"], r["IsDefault"], r["IsConverted"])
            for r in rows]  # fmt: skip


def picklist(sf: Salesforce) -> list[tuple[str, bool]]:
    status = next(f for f in sf.Lead.describe()["fields"] if f["name"] == "Status")
    assert status["restrictedPicklist"] is True
    return [(v["value"], v["defaultValue"]) for v in status["picklistValues"]]


def test_lead_status_mirrors_the_default_picklist(sf: Salesforce) -> None:
    assert statuses(sf) == [
        ("Open - Not Contacted", "Open - Not Contacted", 1, True, False),
        ("Working - Contacted", "Working - Contacted", 2, False, False),
        ("Closed - Converted", "Closed - Converted", 3, False, True),
        ("Closed - Not Converted", "Closed - Not Converted", 4, False, False),
    ]
    assert statuses(sf, "WHERE IsConverted = true") == [
        ("Closed - Converted", "Closed - Converted", 3, False, True)
    ]
    ids = [r["Id"] for r in sf.query("SELECT Id FROM LeadStatus")["records"]]
    assert all(i.startswith("01J") and len(i) == 18 for i in ids)
    assert sf.LeadStatus.get(ids[0])["ApiName"] == "Open - Not Contacted"
    assert [v for v, _ in picklist(sf)] == [s.label for s in DEFAULT_LEAD_STATUSES]


def test_lead_status_is_read_only(sf: Salesforce) -> None:
    describe = sf.LeadStatus.describe()
    assert (describe["createable"], describe["updateable"], describe["deletable"]) == (
        False, False, False
    )  # fmt: skip
    fields = {f["name"]: f["type"] for f in describe["fields"]}
    assert {k: fields[k] for k in ("MasterLabel", "ApiName", "SortOrder", "IsDefault",
                                    "IsConverted")} == {
        "MasterLabel": "string", "ApiName": "string", "SortOrder": "int",
        "IsDefault": "boolean", "IsConverted": "boolean",
    }  # fmt: skip
    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.LeadStatus.create({"MasterLabel": "Recycle"})
    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"


def test_the_constructor_adds_statuses(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock, lead_statuses=[*DEFAULT_LEAD_STATUSES, *ADDED]) as box:
        sf = connect(box)
        recycled = sf.Lead.create(lead(Status="Recycle"))["id"]
        sf.Lead.update(recycled, {"Status": "Could Not Reach"})

        assert sf.Lead.get(recycled)["Status"] == "Could Not Reach"
        assert statuses(sf, "WHERE SortOrder > 4") == [
            ("Recycle", "Recycle", 5, False, False),
            ("Trash", "Trash", 6, False, False),
            ("Could Not Reach", "Could Not Reach", 7, False, False),
        ]
        assert [v for v, _ in picklist(sf)][-3:] == list(ADDED)
        assert sf.Lead.create(lead())["success"]  # still defaults to Open - Not Contacted
        assert {r["Status"] for r in sf.query("SELECT Status FROM Lead")["records"]} == {
            "Could Not Reach", "Open - Not Contacted"
        }  # fmt: skip


def test_a_value_outside_the_picklist_is_still_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create(lead(Status="Recycle"))

    assert failure.value.content == [
        {
            "message": "Status: bad value for restricted picklist field: Recycle",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["Status"],
        }
    ]


def test_a_seed_adds_statuses_and_a_reloaded_org_keeps_them(
    tmp_path: Path, clock: FakeClock
) -> None:
    state = tmp_path / "sf.json"
    seed = {
        "LeadStatus": [{"MasterLabel": "Trash"}, "Recycle"],
        "Lead": [lead(Status="Trash")],
    }
    with SalesforceSandbox(clock=clock, seed=seed, state_path=state) as box:
        sf = connect(box)
        first = statuses(sf)
        assert [s[0] for s in first][-2:] == ["Trash", "Recycle"]

    assert len(json.loads(state.read_text())["records"]["LeadStatus"]) == 6
    with SalesforceSandbox(clock=clock, state_path=state) as again:
        sf = connect(again)
        assert statuses(sf) == first  # same values, same flags
        assert sf.query("SELECT Id FROM LeadStatus")["totalSize"] == 6  # no duplicates
        assert sf.Lead.create(lead(Status="Recycle"))["success"]


def test_a_second_converted_status_is_accepted_by_convert_lead(clock: FakeClock) -> None:
    qualified = LeadStatusValue("Qualified", converted=True)
    with SalesforceSandbox(clock=clock, lead_statuses=[*DEFAULT_LEAD_STATUSES, qualified]) as box:
        sf = connect(box)
        lead_id = sf.Lead.create(lead())["id"]

        box.convert_lead(lead_id, converted_status="Qualified")

        assert sf.Lead.get(lead_id)["Status"] == "Qualified"
        assert [s[0] for s in statuses(sf, "WHERE IsConverted = true")] == [
            "Closed - Converted", "Qualified"
        ]  # fmt: skip


def test_a_replaced_picklist_with_its_own_default(clock: FakeClock) -> None:
    custom = ["New", {"MasterLabel": "Engaged", "IsDefault": True},
              {"MasterLabel": "Won", "ApiName": "Closed_Won", "IsConverted": True}]  # fmt: skip
    with SalesforceSandbox(clock=clock, lead_statuses=custom) as box:
        sf = connect(box)

        assert statuses(sf) == [
            ("New", "New", 1, False, False),
            ("Engaged", "Engaged", 2, True, False),
            ("Won", "Closed_Won", 3, False, True),
        ]
        assert picklist(sf) == [("New", False), ("Engaged", True), ("Closed_Won", False)]
        assert sf.Lead.get(sf.Lead.create(lead())["id"])["Status"] == "Engaged"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["Open", "Recycle"], "no Lead Status value is Converted"),
        ([LeadStatusValue("A", default=True), LeadStatusValue("B", default=True),
          LeadStatusValue("C", converted=True)], "only one Lead Status can be the default"),
        (["Open", "open", LeadStatusValue("Won", converted=True)], "distinct API names"),
        ([{"IsConverted": True}], "needs a MasterLabel or ApiName"),
    ],
    ids=["no-converted", "two-defaults", "duplicate", "no-label"],
)  # fmt: skip
def test_a_picklist_salesforce_would_not_allow_is_refused(
    clock: FakeClock, entries: list[Any], message: str
) -> None:
    with pytest.raises(SeedError, match=message):
        SalesforceSandbox(clock=clock, lead_statuses=entries)


def test_lead_status_is_described_and_listed_like_a_real_orgs(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}

    assert {"LeadStatus", "LeadHistory", "OpportunityFieldHistory"} <= names
    assert sf.LeadStatus.describe()["name"] == "LeadStatus"

"""The route step's pure parts: which owner the match step hands routing as a hint, and
the computed ``routing_reason`` mapping source."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.config import MappingConfig
from connector.mapping import Mapper
from connector.matching.lookup import AccountMatch
from connector.pipeline import Handoff, account_hint
from connector.records import Candidate, Lead

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def handoff(target: Candidate | None = None, account: AccountMatch | None = None) -> Handoff:
    """The one helper that builds a matched lead on its way to routing."""
    lead = Lead("1", {"email": "dana@northwind.example"}, T0)
    return Handoff(lead, Mapper(MappingConfig(fields={"email": "Email"})).to_crm(
        lead, computed={}), None, "score 50", 50.0, target=target, account=account,
        matched="lead 00Q1 (score 1.00, rule email)" if target else None)


LEAD = Candidate("lead", "Lead", "00Q1", {}, owner_id="005JORDAN")
CONTACT = Candidate("contact", "Contact", "0031", {}, owner_id="005CONTACT",
                    account_id="0011", account_name="Northwind", account_owner_id="005MORGAN")
LONE_CONTACT = Candidate("contact", "Contact", "0032", {}, owner_id="005CONTACT")
ACCOUNT = AccountMatch("0011", "Northwind", "005MORGAN", "company 'Northwind' is account")
UNOWNED = AccountMatch("0012", "Nobody Inc", None, "email domain nobody.example")


@pytest.mark.parametrize(("target", "account", "owner", "label"), [
    (None, None, None, None),                          # nothing known: the territories
    (None, UNOWNED, None, None),                       # an account without owner says nothing
    (None, ACCOUNT, "005MORGAN", "account"),           # lead-to-account
    (LEAD, ACCOUNT, "005JORDAN", "CRM lead"),          # the lead's own record keeps its owner
    (CONTACT, ACCOUNT, "005MORGAN", "account"),        # a contact's account owner
    (LONE_CONTACT, None, "005CONTACT", "CRM contact"),  # a contact on no account: its owner
    (Candidate("lead", "Lead", "00Q2", {}), ACCOUNT, "005MORGAN", "account"),  # unowned lead
])
def test_the_hint_routing_gets_from_the_match_step(target: Candidate | None,
                                                   account: AccountMatch | None,
                                                   owner: str | None, label: str | None) -> None:
    hint = account_hint(handoff(target, account))
    assert (hint.owner_id if hint else None, hint.label if hint else None) == (owner, label)


def test_routing_reason_is_a_computed_source_mapped_like_score() -> None:
    mapper = Mapper(MappingConfig(fields={
        "email": "Email", "routing_reason": {"crm": "Routing_Reason__c",
                                             "transform": [{"truncate": {"length": 20}}]}}))
    assert mapper.writes_from("routing_reason") == ["Routing_Reason__c"]
    assert mapper.writes_from("score") == []
    lead = Lead("1", {"email": "dana@northwind.example"}, T0)
    before = mapper.to_crm(lead, computed={"score": 50})
    assert "Routing_Reason__c" not in before.values  # unknown until the route step
    after = mapper.to_crm(lead, computed={"score": 50,
                                          "routing_reason": "territory EMEA, round-robin 1/2"})
    assert after.values["Routing_Reason__c"] == "territory EMEA, roun"  # 20 characters
    again = mapper.to_crm(lead, computed={"score": 50,
                                          "routing_reason": "territory EMEA, round-robin 1/2"})
    assert again.hash == after.hash != before.hash  # the same reason: nothing to write

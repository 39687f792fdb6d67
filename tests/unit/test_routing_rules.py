"""Routing rules that need no state: territory conditions, score tiers, accounts, order."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connector import config as configuration
from connector.errors import ConfigError
from connector.routing.config import RoutingConfig
from connector.routing.rules import (
    AccountHint,
    AccountIndex,
    KnownAccount,
    RoutingInput,
    Territories,
    by_score,
    company_key,
    domain_of,
)

REPS = {"anna": {"id": "U1", "name": "Anna"}}


def lead(score: float | None = 50, n: int = 1, **fields: Any) -> RoutingInput:
    """The one helper that builds a lead to route."""
    return RoutingInput(f"L{n}", score, fields)


def territories(*rules: dict[str, Any], tiers: dict[str, float] | None = None) -> Territories:
    listed = [{"name": f"T{i}", "pool": "p", **rule} for i, rule in enumerate(rules)]
    return Territories(RoutingConfig.model_validate({
        "reps": REPS, "pools": {"p": {"reps": ["anna"]}}, "territories": listed,
        "score_tiers": tiers or {}}))


def matched(t: Territories, item: RoutingInput) -> list[str]:
    return [territory.name for territory in t.matching(t.facts(item))]


# one territory, one condition: does the lead match? ---------------------------------
CONDITIONS = [
    # condition, lead fields, score, matches
    ({"country": ["DE", "AT"]}, {"country": "DE"}, 50, True),
    ({"country": ["DE", "AT"]}, {"country": "de"}, 50, True),
    ({"country": ["Germany"]}, {"country": "DE"}, 50, True),
    ({"country": ["DE"]}, {"country": "Germany"}, 50, True),
    ({"country": ["DE"]}, {"country": "FR"}, 50, False),
    ({"country": ["DE"]}, {}, 50, False),
    ({"state": ["CA", "wa"]}, {"state": "ca"}, 50, True),
    ({"state": ["CA"]}, {"state": "NY"}, 50, False),
    ({"postal_code": ["8*"]}, {"postal_code": "80331"}, 50, True),
    ({"postal_code": ["8*"]}, {"postal_code": "70331"}, 50, False),
    ({"postal_code": ["SW1*"]}, {"postal_code": "sw1a 1aa"}, 50, True),
    ({"postal_code": ["94000..94999"]}, {"postal_code": "94105"}, 50, True),
    ({"postal_code": ["94000..94999"]}, {"postal_code": "94105-1234"}, 50, True),
    ({"postal_code": ["94000..94999"]}, {"postal_code": "95001"}, 50, False),
    ({"postal_code": ["94000..94999"]}, {"postal_code": "941"}, 50, False),
    ({"postal_code": ["10115"]}, {"postal_code": "10115"}, 50, True),
    ({"postal_code": ["00-950"]}, {"postal_code": "00-950"}, 50, True),
    ({"postal_code": ["10115"]}, {}, 50, False),
    ({"industry": ["Technology"]}, {"industry": "technology"}, 50, True),
    ({"industry": ["Technology"]}, {"industry": "Retail"}, 50, False),
    ({"employees": {"min": 200, "max": 999}}, {"employees": 200}, 50, True),
    ({"employees": {"min": 200, "max": 999}}, {"employees": "999"}, 50, True),
    ({"employees": {"min": 200, "max": 999}}, {"employees": 1000}, 50, False),
    ({"employees": {"min": 1000}}, {"employees": "1,200"}, 50, True),
    ({"employees": {"max": 49}}, {}, 50, False),
    ({"revenue": {"min": 1e6}}, {"annual_revenue": 1_000_000}, 50, True),
    ({"revenue": {"min": 1e6}}, {"annual_revenue": 999_999.5}, 50, False),
    ({"lead_source": ["Web", "Event"]}, {"lead_source": "event"}, 50, True),
    ({"lead_source": ["Web"]}, {"lead_source": "Partner"}, 50, False),
    ({"score_tier": ["hot"]}, {}, 80, True),
    ({"score_tier": ["hot"]}, {}, 79.9, False),
    ({"score_tier": ["warm"]}, {}, 79.9, True),
    ({"score_tier": ["warm"]}, {}, None, False),
    ({}, {}, None, True),
]


@pytest.mark.parametrize(("condition", "fields", "score", "matches"), CONDITIONS)
def test_territory_condition(condition: dict[str, Any], fields: dict[str, Any],
                             score: float | None, matches: bool) -> None:
    t = territories(condition, tiers={"hot": 80, "warm": 40})
    assert matched(t, lead(score, **fields)) == (["T0"] if matches else [])


def test_conditions_are_anded_and_territories_tried_in_order() -> None:
    t = territories({"country": ["US"], "state": ["CA"], "employees": {"min": 1000}},
                    {"country": ["US"], "state": ["CA"]},
                    {"country": ["DE"]},
                    {})
    assert matched(t, lead(country="US", state="CA", employees=5000)) == ["T0", "T1", "T3"]
    assert matched(t, lead(country="US", state="CA", employees=10)) == ["T1", "T3"]
    assert matched(t, lead(country="US", state="NY")) == ["T3"]
    assert matched(t, lead(country="DE")) == ["T2", "T3"]
    assert matched(t, lead(country="JP")) == ["T3"]


@pytest.mark.parametrize(("routing", "words"), [
    ({"territories": [{"name": "X", "pool": "nope"}]}, "no pool 'nope'"),
    ({"pools": {"p": {"reps": ["ghost"]}}}, "no rep 'ghost'"),
    ({"territories": [{"name": "X", "pool": "p", "score_tier": ["A"]}]}, "no score tier 'A'"),
    ({"territories": [{"name": "X", "pool": "p"}, {"name": "X", "pool": "p"}]},
     "another territory has this name"),
    ({"reps": {**REPS, "bob": {"id": "U1"}}}, "also reps.anna"),
    ({"reps": {"a": {"id": "U", "timezone": "Mars/Olympus"}}}, "not an IANA time zone"),
    ({"reps": {"a": {"id": "U", "hours": "9-5"}}}, "working hours like"),
    ({"reps": {"a": {"id": "U", "away": [{"from": "2026-12-02", "until": "2026-12-01"}]}}},
     "is after until"),
    ({"territories": [{"name": "X", "pool": "p", "postal_code": ["100..19999"]}]},
     "both ends the same length"),
    ({"territories": [{"name": "X", "pool": "p", "postal_code": ["1*0"]}]}, "may only end"),
    ({"territories": [{"name": "X", "pool": "p", "country": ["Atlantis"]}]}, "ISO 3166"),
    ({"territories": [{"name": "X", "pool": "p", "employees": {"min": 10, "max": 1}}]},
     "above max"),
    ({"territories": [{"name": "X", "pool": "p", "colour": ["red"]}]}, "Extra inputs"),
])
def test_config_mistakes_are_refused_with_their_key(routing: dict[str, Any], words: str) -> None:
    base: dict[str, Any] = {"reps": REPS, "pools": {"p": {"reps": ["anna"]}}}
    with pytest.raises(ValidationError, match=words):
        RoutingConfig.model_validate({**base, **routing})


def test_routing_errors_name_the_key_and_line_in_config_toml() -> None:
    text = configuration.TEMPLATE.read_text(encoding="utf-8")
    text += '\n[routing.reps.zed]\nid = "0058"\ntimezone = "Nowhere/City"\n'
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text, "config.toml")
    line = len(text.splitlines())
    assert f"routing.reps.zed.timezone (line {line})" in str(caught.value)


# lead-to-account fallback matcher ------------------------------------------------------
ACCOUNTS = AccountIndex([
    KnownAccount("ACME, Inc.", "acme.com", "U1"),
    KnownAccount("Globex GmbH", "https://www.globex.de/", "U2"),
    KnownAccount("Initech", None, "U3"),
    KnownAccount("Initech LLC", "initech.io", "U4"),  # "initech" is now ambiguous by name
    KnownAccount("Gmail Fans", "gmail.com", "U5"),
])


@pytest.mark.parametrize(("fields", "owner", "via"), [
    ({"email": "pat@acme.com"}, "U1", "email domain acme.com"),
    ({"email": "pat@ACME.com", "company": "Globex"}, "U1", "email domain acme.com"),
    ({"email": "pat@gmail.com", "company": "Acme Inc"}, "U1", "company name"),
    ({"website": "http://globex.de/about"}, "U2", "website domain globex.de"),
    ({"company": "globex"}, "U2", "company name"),
    ({"company": "Acme Corporation"}, "U1", "company name"),
    ({"company": "Initech"}, None, None),
    ({"email": "x@initech.io"}, "U4", "email domain initech.io"),
    ({"email": "fan@gmail.com"}, None, None),
    ({"company": "Unknown Ltd"}, None, None),
    ({}, None, None),
])
def test_account_matching(fields: dict[str, Any], owner: str | None, via: str | None) -> None:
    hint = ACCOUNTS.match(fields)
    if owner is None:
        assert hint is None
    else:
        assert hint is not None and (hint.owner_id, hint.via) == (owner, via)


@pytest.mark.parametrize(("value", "expected"), [
    ("ACME, Inc.", "acme"), ("Procter & Gamble Co.", "procter and gamble"),
    ("Müller GmbH & Co. KG", "müller and"), ("  Globex   Corporation ", "globex"),
])
def test_company_key(value: str, expected: str) -> None:
    assert company_key(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("a@b.example", "b.example"), ("https://www.acme.com:443/x", "acme.com"),
    ("acme.com", "acme.com"), ("localhost", None), ("", None),
])
def test_domain_of(value: str, expected: str | None) -> None:
    assert domain_of(value) == expected


def test_by_score_is_highest_first_stable_and_unscored_last() -> None:
    leads = [lead(10, 1), lead(None, 2), lead(90, 3), lead(10, 4), lead(90, 5), lead(0, 6)]
    assert [x.lead_id for x in by_score(leads)] == ["L3", "L5", "L1", "L4", "L6", "L2"]


def test_account_hint_is_plain_data() -> None:
    hint = AccountHint("U1", "Acme", "contact on account")
    assert RoutingInput("L1", account=hint).account == hint

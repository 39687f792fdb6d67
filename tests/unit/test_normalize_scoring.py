"""Normalisation and scoring are pure: table-driven tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import ScoringConfig
from connector.normalize import country_code, normalize, phone_e164
from connector.records import Activity, Lead
from connector.scoring import qualify, score

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def lead(**fields: object) -> Lead:
    return Lead(id="1", fields=dict(fields), updated_at=NOW)


@pytest.mark.parametrize(("raw", "code"), [
    ("United States", "US"), ("USA", "US"), ("us", "US"), ("UK", "GB"),
    ("United Kingdom", "GB"), ("Deutschland", "DE"), ("Germany", "DE"), ("DEU", "DE"),
    ("France", "FR"), ("Brasil", "BR"), ("Japan", "JP"), (" the netherlands ", "NL"),
    ("Sverige", "SE"), ("Österreich", "AT"), ("CAN", "CA"),
    ("Atlantis", None), ("", None),
])
def test_country_codes(raw: str, code: str | None) -> None:
    assert country_code(raw) == code


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+1 (415) 555-0134", "US", "+14155550134"),
    ("415.555.0199", "US", "+14155550199"),
    ("+44 20 7946 0958", "GB", "+442079460958"),
    ("030 1234567", "DE", "+49301234567"),
    ("+49 (0)30 1234567", "DE", "+49301234567"),
    ("call me", "US", None),
])
def test_phone_e164(raw: str, region: str, e164: str | None) -> None:
    assert phone_e164(raw, region) == e164


def test_normalize_uses_the_country_for_the_phone_and_codes_states() -> None:
    result = normalize(lead(email=" Ann@Example.COM ", country="Germany",
                            phone="030 1234567", employees="1,200"))
    assert result.lead.fields == {"email": "ann@example.com", "country": "DE",
                                  "phone": "+49301234567", "employees": 1200}
    result = normalize(lead(country="USA", state="California"))
    assert result.lead.fields["state"] == "CA"


def test_unnormalisable_values_are_kept_and_reported_by_field() -> None:
    result = normalize(lead(phone="n/a", country="Atlantis", employees="lots"))
    assert result.lead.fields == {"phone": "n/a", "country": "Atlantis", "employees": "lots"}
    assert [w.split(":")[0] for w in result.warnings] == ["country", "phone"]
    # a number no CRM number field takes refuses the record, naming the field
    assert [(i.code, i.fields) for i in result.issues] == [("INVALID_NUMBER", ["employees"])]


@given(st.dictionaries(st.sampled_from(["email", "phone", "country", "state", "employees",
                                        "annual_revenue", "company"]), st.text(max_size=40)))
def test_normalize_never_raises_on_any_unicode(fields: dict[str, str]) -> None:
    normalize(lead(**fields))


MODEL = ScoringConfig(threshold=40, required_fields=["email", "company"],
                      activity_points={"form_fill": 25, "email_click": 5, "page_visit": 2},
                      page_points={"/pricing": 10}, profile_points={"title": 5})


def act(kind: str, detail: str = "") -> Activity:
    return Activity(kind, NOW, detail)


@pytest.mark.parametrize(("activities", "fields", "expected"), [
    ([], {}, 0),
    ([act("page_visit")], {}, 2),
    ([act("page_visit", "/pricing")], {}, 12),
    ([act("form_fill"), act("email_click"), act("email_click")], {"title": "CTO"}, 40),
])
def test_score(activities: list[Activity], fields: dict, expected: float) -> None:
    subject = lead(**fields)
    subject.activities = activities
    decision = score(subject, MODEL)
    assert decision.value == expected
    assert decision.reason.startswith(f"score {expected:g}")


@pytest.mark.parametrize(("fields", "points", "ok", "words"), [
    ({"email": "a@b.example", "company": "Acme"}, 40, True, "score 40 ≥ 40"),
    ({"email": "a@b.example", "company": "Acme"}, 39, False, "score 39 < 40"),
    ({"email": "a@b.example"}, 50, False, "missing a single field to qualify: company"),
    ({}, 50, False, "missing email, company"),
])
def test_qualify(fields: dict, points: float, ok: bool, words: str) -> None:
    decision = qualify(lead(**fields), points, MODEL)
    assert decision.value is ok
    assert words in decision.reason

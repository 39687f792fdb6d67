"""Countries written in any language, and phones read in their record's own country."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.matching import Matcher, Person
from connector.matching.config import MatchingConfig
from connector.matching.keys import phone_key, record_region
from connector.normalize import (
    INFORMAL_COUNTRIES,
    _territory_names,
    country_code,
    country_codes,
    normalize,
    phone_region,
)
from connector.records import Lead

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "code"), [
    # the country's own language, as people type it into forms
    ("Deutschland", "DE"), ("Österreich", "AT"), ("España", "ES"), ("Schweiz", "CH"),
    ("Suisse", "CH"), ("Svizzera", "CH"), ("Nederland", "NL"), ("Brasil", "BR"),
    ("Italia", "IT"), ("Polska", "PL"), ("Sverige", "SE"), ("Россия", "RU"),
    ("日本", "JP"), ("Türkiye", "TR"), ("Éire", "IE"), ("België", "BE"), ("Suomi", "FI"),
    # accents, case, dots, apostrophes and a leading "the" as typed
    ("ESPANA", "ES"), ("osterreich", "AT"), ("The Netherlands", "NL"), ("U.S.A.", "US"),
    ("U.S.", "US"), ("U.K.", "GB"),  # a code written with dots
    ("Cote d'Ivoire", "CI"), ("Côte d’Ivoire", "CI"), ("Bosnia-Herzegovina", "BA"),
    # ISO codes and names (pycountry), CLDR's English names
    ("DE", "DE"), ("deu", "DE"), ("276", "DE"), ("Germany", "DE"),
    ("Korea, Republic of", "KR"), ("Russia", "RU"), ("Czech Republic", "CZ"),
    ("South Korea", "KR"), ("Vietnam", "VN"), ("Holland", "NL"),
    # what neither table carries
    ("Scotland", "GB"), ("UAE", "AE"),
])
def test_a_country_in_any_language_is_its_iso_code(raw: str, code: str) -> None:
    assert country_codes(raw) == {code}
    assert country_code(raw) == code


@pytest.mark.parametrize(("raw", "codes"), [
    ("Kongo", {"CD", "CG"}),  # both Congos, in German and other languages
    ("Korea", set()), ("Atlantis", set()), ("", set()), ("  ", set()), (".", set()),
    ("-", set()),
])
def test_ambiguous_or_unknown_names_have_no_code(raw: str, codes: set[str]) -> None:
    assert country_codes(raw) == codes
    assert country_code(raw) is None


def test_informal_names_are_only_those_the_tables_lack() -> None:
    english, anywhere = _territory_names()
    for name in INFORMAL_COUNTRIES:
        assert name not in english and name not in anywhere, name


@pytest.mark.parametrize(("country", "message"), [
    ("Kongo", "country: 'Kongo' is ambiguous (it names CD and CG in different languages)"),
    ("Atlantis", "country: 'Atlantis' is not a known country"),
])
def test_normalize_warns_naming_the_field_and_keeps_the_value(country: str,
                                                              message: str) -> None:
    out = normalize(Lead("7", {"country": country, "phone": "415 555 0134"}, NOW))
    assert out.lead.fields["country"] == country
    assert [w for w in out.warnings if w.startswith("country:")] == [
        f"{message}; kept as given"]
    assert out.lead.fields["phone"] == "+14155550134"  # the default region, as before


@pytest.mark.parametrize(("country", "phone", "e164"), [
    ("Deutschland", "030 1234567", "+49301234567"),
    ("United Kingdom", "020 7946 0018", "+442079460018"),
    ("España", "912 345 678", "+34912345678"),
    ("Schweiz", "044 668 18 00", "+41446681800"),
    ("United States", "(415) 555-0134", "+14155550134"),
    ("", "(415) 555-0134", "+14155550134"),  # no country: the default region
    ("Deutschland", "+1 415 555 0134", "+14155550134"),  # a country code is kept
    ("Antarctica", "(415) 555-0134", "+14155550134"),  # a country without a numbering plan
])
def test_a_leads_phone_is_read_in_its_own_country(country: str, phone: str,
                                                  e164: str) -> None:
    out = normalize(Lead("1", {"country": country, "phone": phone}, NOW), "US")
    assert out.lead.fields["phone"] == e164
    assert not [w for w in out.warnings if w.startswith("phone:")]


@pytest.mark.parametrize(("country", "default", "region"), [
    ("Germany", "US", "DE"), ("DE", "US", "DE"), ("Österreich", "GB", "AT"),
    (None, "GB", "GB"), ("", "US", "US"), ("Atlantis", "FR", "FR"), ("Kongo", "US", "US"),
    ("Antarctica", "US", "US"),
])
def test_record_region(country: str | None, default: str, region: str) -> None:
    assert record_region(country, default) == region
    assert phone_region(country, default) == region


def test_phone_key_reads_a_national_number_in_the_region_given() -> None:
    assert phone_key("030 1234567", "DE") == "+49301234567"
    assert phone_key("020 7946 0018", "GB") == "+442079460018"
    assert phone_key("030 1234567", "US") != "+49301234567"


def test_prepare_reads_each_persons_phone_in_their_country() -> None:
    matcher = Matcher(MatchingConfig(), region="US")
    german = matcher.prepare(Person("c1", "contact", {"phone": "030 1234567",
                                                      "country": "Germany"}))
    british = matcher.prepare(Person("c2", "contact", {"phone": "030 1234567",
                                                       "country": "UK"}))
    nowhere = matcher.prepare(Person("c3", "contact", {"phone": "(415) 555-0134"}))
    incoming = matcher.prepare(Person("l1", "incoming", {"phone": "+49 30 1234567",
                                                         "country": "Deutschland"}))
    # the same text twice, in two countries: the prepared-value cache keeps them apart
    assert german.values["phone"] == {"+49301234567"}
    assert british.values["phone"] == {"+44301234567"}
    assert nowhere.values["phone"] == {"+14155550134"}
    assert matcher.similarity("phone", german, incoming) == 1.0

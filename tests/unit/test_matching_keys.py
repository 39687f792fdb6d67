"""Normalisation for matching: every rule, table-driven (connector/matching/keys.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.matching import Matcher, MatchingConfig, Person
from connector.matching.compare import SIMILARITY, prepare
from connector.matching.keys import (
    DEFAULT_EMAIL_RULES,
    EmailRules,
    company_key,
    email_domain,
    email_key,
    fold,
    formal_names,
    given_names,
    name_key,
    nicknames_near,
    person_email_key,
    phone_key,
    text_key,
    website_domain,
)


# -- email -------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "key"), [
    ("Jane.Doe@Acme.com", "jane.doe@acme.com"),                  # case
    ("  jane.doe@acme.com \t", "jane.doe@acme.com"),             # whitespace around
    ("jane .doe@acme. com", "jane.doe@acme.com"),                # whitespace inside
    ("j.a.n.e.doe@gmail.com", "janedoe@gmail.com"),              # gmail ignores dots
    ("JaneDoe+newsletter@gmail.com", "janedoe@gmail.com"),       # and +tags
    ("jane.doe+x+y@googlemail.com", "janedoe@gmail.com"),        # googlemail is gmail
    ("jane.doe@acme.com", "jane.doe@acme.com"),                  # dots matter elsewhere
    ("jane+sales@acme.com", "jane+sales@acme.com"),              # +tags too, by default
    ("jane.doe+crm@outlook.com", "jane.doe@outlook.com"),        # outlook: tags, not dots
    ("jane+x@yahoo.com", "jane@yahoo.com"),
    ("Zoë@acme.de", "zoe@acme.de"),                              # unicode folded
    ("jane.doe", None), ("@acme.com", None), ("jane@localhost", None), ("", None),
    ("+tag@gmail.com", None),                                    # nothing left of the mailbox
])
def test_email_key(raw: str, key: str | None) -> None:
    assert email_key(raw) == key


@pytest.mark.parametrize(("raw", "key"), [
    ("jane@acme.com", "jane@acme.com"), ("Info@Acme.com", None), ("sales@acme.com", None),
    ("no-reply@acme.com", None), ("info.jane@acme.com", "info.jane@acme.com"),
])
def test_person_email_key_skips_role_mailboxes(raw: str, key: str | None) -> None:
    assert person_email_key(raw) == key
    assert email_key(raw) is not None  # still an address, e.g. for a CRM look-up


def test_email_rules_are_configurable_per_domain() -> None:
    rules = EmailRules(dotless=frozenset({"acme.com"}), plus_tags=frozenset(),
                       aliases={"acme.co.uk": "acme.com"})
    assert email_key("j.doe+x@acme.co.uk", rules) == "jdoe+x@acme.com"
    assert email_key("j.doe+x@gmail.com", rules) == "j.doe+x@gmail.com"  # gmail not listed
    everywhere = EmailRules(plus_everywhere=True)
    assert email_key("jane+sales@acme.com", everywhere) == "jane@acme.com"


def test_matching_config_email_section_reaches_the_matcher() -> None:
    config = MatchingConfig.model_validate({"email": {
        "dotless_domains": ["acme.com"], "plus_tag_domains": [],
        "plus_tags_everywhere": False, "domain_aliases": {"acme.io": "acme.com"}}})
    matcher = Matcher(config)
    prepared = matcher.prepare(Person("1", "incoming", {"email": "J.Doe+x@Acme.io"}))
    assert prepared.values["email"] == "jdoe+x@acme.com"
    plain = Matcher(MatchingConfig()).prepare(Person("1", "incoming",
                                                     {"email": "J.Doe+x@Acme.io"}))
    assert plain.values["email"] == "j.doe+x@acme.io"


@pytest.mark.parametrize(("raw", "domain"), [
    ("jane@Acme.com", "acme.com"), ("jane@sales.acme.com", "sales.acme.com"),
    ("jane@gmail.com", None), ("jane@googlemail.com", None), ("jane@yahoo.co.uk", None),
    ("jane@gmx.de", None), ("jane@outlook.com", None), ("jane@icloud.com", None),
    ("not an email", None),
])
def test_email_domain_skips_free_mail(raw: str, domain: str | None) -> None:
    assert email_domain(raw) == domain


@pytest.mark.parametrize(("raw", "domain"), [
    ("https://www.Acme.com/about", "acme.com"), ("http://acme.co.uk:8080/x", "acme.co.uk"),
    ("www.acme.de", "acme.de"), ("acme.com", "acme.com"), ("ACME.COM/", "acme.com"),
    ("acme", None), ("", None), (None, None),
])
def test_website_domain(raw: str | None, domain: str | None) -> None:
    assert website_domain(raw) == domain


def test_domain_field_comes_from_website_or_email() -> None:
    matcher = Matcher(MatchingConfig())
    from_email = matcher.prepare(Person("1", "lead", {"email": "jane@acme.com"}))
    from_site = matcher.prepare(Person("2", "lead", {"domain": "https://www.acme.com"}))
    free = matcher.prepare(Person("3", "lead", {"email": "jane@gmail.com"}))
    assert from_email.values["domain"] == from_site.values["domain"] == frozenset({"acme.com"})
    assert "domain" not in free.values


# -- phone -------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("(415) 555-0134", "US", "+14155550134"),
    ("415-555-0134", "US", "+14155550134"),
    ("415.555.0134", "US", "+14155550134"),
    ("1-415-555-0134", "US", "+14155550134"),
    ("+1 (415) 555-0134", "US", "+14155550134"),
    ("+14155550134", "DE", "+14155550134"),          # international wins over region
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),        # national, read in its region
    ("011 44 20 7946 0958", "US", "+442079460958"),  # US international prefix
    ("0044 20 7946 0958", "DE", "+442079460958"),    # European international prefix
    ("030 1234567", "DE", "+49301234567"),
    ("+49 (0)30 1234567", "DE", "+49301234567"),
    ("+81 3-1234-5678", "US", "+81312345678"),
    ("+33 1 42 68 53 00", "US", "+33142685300"),
    ("12", "US", None), ("call me", "US", None), ("", "US", None), (None, "US", None),
])
def test_phone_key_is_e164(raw: str | None, region: str, e164: str | None) -> None:
    assert phone_key(raw, region) == e164


def test_matcher_reads_national_numbers_in_its_region() -> None:
    person = Person("1", "lead", {"phone": "020 7946 0958"})
    assert Matcher(MatchingConfig(), region="GB").prepare(person).values["phone"] == \
        frozenset({"+442079460958"})
    assert Matcher(MatchingConfig(), region="US").prepare(person).values.get("phone") != \
        frozenset({"+442079460958"})


def test_a_person_may_have_several_phones() -> None:
    prepared = Matcher(MatchingConfig()).prepare(
        Person("1", "contact", {"phone": ["(415) 555-0134", "+44 20 7946 0958", "n/a"]}))
    assert prepared.values["phone"] == frozenset({"+14155550134", "+442079460958"})


def test_phone_similarity() -> None:
    same = SIMILARITY["phone"](frozenset({"+14155550134"}), frozenset({"+14155550134"}))
    other_country = SIMILARITY["phone"](frozenset({"+14155550134"}),
                                        frozenset({"+444155550134"}))
    different = SIMILARITY["phone"](frozenset({"+14155550134"}), frozenset({"+14155550135"}))
    assert (same, other_country, different) == (1.0, 0.9, 0.0)


# -- company -----------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "key"), [
    ("Acme", "acme"), ("ACME Inc.", "acme"), ("Acme, Inc.", "acme"), ("Acme GmbH", "acme"),
    ("Acme LLC", "acme"), ("Acme Ltd", "acme"), ("Acme Limited", "acme"), ("Acme PLC", "acme"),
    ("Acme S.A.", "acme"), ("Acme SAS", "acme"), ("Acme AG", "acme"), ("Acme B.V.", "acme"),
    ("Acme Pty. Ltd.", "acme"), ("Acme Pvt. Ltd.", "acme"), ("Acme K.K.", "acme"),
    ("Acme Co., Ltd.", "acme"),                         # two legal forms
    ("Acme UG (haftungsbeschränkt)", "acme"),           # one cleanco misses
    ("Acme GmbH & Co. KG", "acme"),
    ("The ACME Company, Inc.", "acme"),                 # noise words and legal form
    ("Acme Corporation", "acme"), ("Acme Holdings Ltd", "acme"), ("Acme Group", "acme"),
    ("Barnes & Noble Inc", "barnes noble"),             # & is "and", a noise word
    ("Müller & Söhne AG", "muller sohne"),              # unicode folded
    ("  acme  analytics ", "acme analytics"),
    ("Inc.", None), ("", None), (None, None),
])
def test_company_key(raw: str | None, key: str | None) -> None:
    assert company_key(raw) == key


def test_company_similarity_ignores_legal_form_and_word_order() -> None:
    def sim(a: str, b: str) -> float:
        return SIMILARITY["company"](company_key(a), company_key(b))
    assert sim("Acme", "ACME Inc.") == sim("Acme", "Acme GmbH") == 1.0
    assert sim("Acme Analytics", "Analytics Acme LLC") == 1.0
    assert sim("Acme Analytics", "Acme Analytcs") >= 0.85      # a typo still agrees
    assert sim("Acme", "Globex") < 0.5


# -- unicode and names ----------------------------------------------------------------
@pytest.mark.parametrize(("raw", "folded"), [
    ("Zoë Müller", "zoe muller"), ("Łukasz", "lukasz"), ("José", "jose"), ("Groß", "gross"),
    ("  ÅSA ", "asa"), ("Çağla", "cagla"), ("Siobhán", "siobhan"), (None, ""),
])
def test_fold(raw: str | None, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(("raw", "key"), [
    ("O'Brien-Smith", "obriensmith"), ("José", "jose"), ("Van der Berg", "vanderberg"),
    ("J.", "j"), ("---", None), ("", None),
])
def test_name_key(raw: str, key: str | None) -> None:
    assert name_key(raw) == key


def name_sim(a: str, b: str) -> float:
    kind = "name"
    return SIMILARITY[kind](prepare(kind, a, region="US", email_rules=DEFAULT_EMAIL_RULES),
                            prepare(kind, b, region="US", email_rules=DEFAULT_EMAIL_RULES))


@pytest.mark.parametrize(("a", "b"), [
    ("Bob", "Robert"), ("Robert", "Bob"), ("Bill", "William"), ("Liz", "Elizabeth"),
    ("Kate", "Katherine"), ("Jim", "James"), ("Peggy", "Margaret"),
    ("Liz", "Beth"),                     # two nicknames of one formal name
    ("Zoë", "ZOE"), ("José", "jose"),   # unicode and case
])
def test_nicknames_agree(a: str, b: str) -> None:
    assert name_sim(a, b) == 1.0


@pytest.mark.parametrize(("a", "b"), [
    ("Bob", "Albert"),    # two steps apart in the table (bob → bert → albert)
    ("Jim", "John"), ("Mary", "Robert"), ("Alice", "Bob"),
])
def test_unrelated_names_do_not_agree(a: str, b: str) -> None:
    assert name_sim(a, b) < 0.85


def test_an_initial_nearly_agrees() -> None:
    assert name_sim("J.", "James") == 0.9
    assert name_sim("J", "Robert") == 0.0


def test_a_typo_costs_a_little() -> None:
    assert 0.85 <= name_sim("Harrison", "Harisson") < 1.0
    assert 0.9 <= name_sim("Thompson", "Thomspon") < 1.0


def test_nickname_tables() -> None:
    assert {"robert", "rob"} <= nicknames_near("Bob")
    assert "albert" not in nicknames_near("Bob")
    assert "elizabeth" in formal_names("Liz") and "liz" in formal_names("Liz")
    assert {"robert", "bob"} <= given_names("Rob")  # the wide net for CRM look-ups
    assert nicknames_near("") == formal_names("") == given_names("") == frozenset()


@given(st.text(max_size=30))
def test_normalisers_never_raise(text: str) -> None:
    for function in (email_key, email_domain, website_domain, company_key, name_key, fold):
        function(text)
    phone_key(text, "US")
    Matcher(MatchingConfig()).prepare(Person("x", "incoming", {
        "first_name": text, "last_name": text, "email": text, "phone": text, "company": text,
        "street": text, "city": text, "postal_code": text}))


@given(st.emails())
def test_email_key_is_idempotent(address: str) -> None:
    key = email_key(address)
    if key is not None:
        assert email_key(key) == key


@pytest.mark.parametrize(("a", "b"), [
    ("1 Main Street", "1 Main St."), ("12 Oak Ave", "12 oak avenue"),
    ("5 Station Rd", "5 Station Road"), ("77 Sunset Blvd", "77 Sunset Boulevard"),
    ("9 N Elm Dr", "9 North Elm Drive"), ("Flat 2, 3 King St", "3 King Street Flat 2"),
])
def test_address_abbreviations_are_spelled_out(a: str, b: str) -> None:
    assert text_key(a) == text_key(b)


def test_different_streets_stay_different() -> None:
    assert text_key("1 Main Street") != text_key("1 Market Street")
    assert text_key("") is None

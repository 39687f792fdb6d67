"""Match rules, outcomes, blocking and the `[matching]` config (connector/matching)."""

from __future__ import annotations

import math
import random
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connector.matching import Index, Matcher, MatchingConfig, Person, Prepared
from connector.matching.config import FieldRule
from connector.matching.weights import AGREE, DIFFER, NEUTRAL, estimate

MATCHER = Matcher(MatchingConfig(), region="US")

JANE = {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@acme.com",
        "phone": "(415) 555-0134", "company": "Acme Inc.", "street": "1 Main Street",
        "postal_code": "94107", "city": "San Francisco"}


def person(id: str = "c1", kind: str = "lead", matcher: Matcher = MATCHER,
           **fields: Any) -> Prepared:
    """A prepared person; ``None`` for a field removes it."""
    return matcher.prepare(Person(id, kind, {k: v for k, v in fields.items() if v is not None}))


def jane(id: str = "in", kind: str = "incoming", **changes: Any) -> Prepared:
    return person(id, kind, **{**JANE, **changes})


# -- each default rule ---------------------------------------------------------------
# (incoming Jane changed like this, the earlier record, rule expected, outcome)
STRANGER = {"first_name": "Rob", "last_name": "Miller", "email": "rob@globex.com",
            "phone": "+44 20 7946 0958", "company": "Globex", "street": "9 Elm Road",
            "postal_code": "10013"}
RULES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("same email", {}, {**STRANGER, "first_name": "Jane", "email": "Jane.Doe@ACME.com"},
     "email", "match"),
    ("email, first name missing on one side", {"first_name": None},
     {**STRANGER, "first_name": "Jane", "email": "jane.doe@acme.com"}, "email", "match"),
    ("email, another first name: vetoed, held for review", {},
     {**STRANGER, "email": "jane.doe@acme.com"}, "email, other name", "review"),
    ("name + company", {"email": None, "phone": None},
     {**JANE, "email": "jd@other.org", "phone": None, "company": "ACME"}, "name+company", "match"),
    ("name + phone", {"email": None, "company": None},
     {**JANE, "email": "jd@other.org", "company": "Globex", "phone": "+1 415 555 0134"},
     "name+phone", "match"),
    ("name + address", {"email": None, "phone": None, "company": None},
     {**JANE, "email": None, "phone": None, "company": None, "street": "1 Main St"},
     "name+address", "match"),
    ("last name + company, first name missing: review", {"email": None, "phone": None},
     {**JANE, "first_name": None, "email": None, "phone": None, "street": None,
      "city": None, "postal_code": None}, "last name+company", "review"),
    ("last name + company, another first name: a colleague", {"email": None, "phone": None},
     {**JANE, "first_name": "Paul", "email": None, "phone": None, "street": None,
      "city": None, "postal_code": None}, "", "none"),
    ("another first name, but the same phone: review",
     {"email": None, "street": None, "city": None, "postal_code": None},
     {**JANE, "first_name": "Paul", "email": None, "street": None},
     "last name+company+contact", "review"),
    ("phone, no names on file: review", {"email": None},
     {"phone": "415-555-0134", "company": "Globex"}, "phone", "review"),
    ("phone, other names: a switchboard, vetoed", {"email": None},
     {**STRANGER, "phone": "415-555-0134"}, "", "none"),
    ("name only: never enough", {"email": None, "phone": None, "company": None,
                                 "street": None},
     {**STRANGER, "first_name": "Jane", "last_name": "Doe"}, "name only", "none"),
    ("nothing shared", {}, STRANGER, "", "none"),
]


@pytest.mark.parametrize(("case", "changes", "earlier", "rule", "outcome"), RULES,
                         ids=[r[0] for r in RULES])
def test_each_default_rule(case: str, changes: dict[str, Any], earlier: dict[str, Any],
                           rule: str, outcome: str) -> None:
    incoming, candidate = jane(**changes), person("c1", "lead", **earlier)
    scored = MATCHER.score(incoming, candidate)
    decision = MATCHER.decide(incoming, [candidate])
    assert scored.rule == rule
    assert decision.outcome == outcome
    if outcome == "none":
        assert decision.best is None and decision.score == 0.0
    else:
        assert decision.best is candidate.person
        assert decision.reason == scored.reason
        assert re.match(rf"rule {re.escape(rule)}( \(.*\))?:", decision.reason)


def test_a_rule_does_not_fire_when_one_field_disagrees() -> None:
    incoming = jane(email=None, phone=None)
    assert MATCHER.score(incoming, person(**{**JANE, "email": None, "phone": None})).rule == \
        "name+company"
    for change in ({"company": "Globex"}, {"last_name": "Dorsey"}, {"first_name": "Mary"}):
        earlier = {**JANE, "email": None, "phone": None, "street": None, **change}
        assert MATCHER.score(incoming, person(**earlier)).rule != "name+company"


def test_a_role_mailbox_is_not_a_person() -> None:
    """info@ used by two colleagues: the address says nothing about who wrote."""
    a = person("c1", "lead", first_name="Ann", last_name="Lee", email="info@acme.com")
    b = jane(email="INFO@acme.com", phone=None, company=None)
    assert MATCHER.decide(b, [a]).outcome == "none"
    assert "email" not in b.values and b.values["domain"] == frozenset({"acme.com"})
    # the same person at a role mailbox is still found by name and domain
    again = person("c2", "lead", first_name="Jane", last_name="Doe", email="info@acme.com")
    assert MATCHER.score(b, again).rule == "name+domain"


def test_shared_personal_mailbox_is_vetoed_by_first_names() -> None:
    """A couple writing from one family address: the email rule is vetoed."""
    a = person("c1", "lead", first_name="John", last_name="Doe", email="the.does@gmail.com")
    b = jane(email="thedoes@gmail.com", phone=None, company=None)
    assert MATCHER.score(b, a).rule == "email, other name"
    assert MATCHER.decide(b, [a]).outcome == "review"


def test_role_mailboxes_are_configurable() -> None:
    matcher = Matcher(MatchingConfig.model_validate({"email": {"role_mailboxes": ["Desk"]}}))
    assert "email" not in person(matcher=matcher, email="desk@acme.com").values
    assert person(matcher=matcher, email="info@acme.com").values["email"] == "info@acme.com"


def test_email_rule_holds_despite_a_first_name_typo() -> None:
    earlier = person(**{**JANE, "first_name": "Jnae"})
    assert MATCHER.score(jane(), earlier).rule == "email"


def test_names_swapped() -> None:
    incoming = jane(first_name="Doe", last_name="Jane", email=None, phone=None)
    earlier = person(**{**JANE, "email": None, "phone": None})
    scored = MATCHER.score(incoming, earlier)
    assert scored.rule == "name+company"
    assert "names swapped" in scored.reason
    assert MATCHER.decide(incoming, [earlier]).outcome == "match"
    straight = MATCHER.score(jane(email=None, phone=None), earlier)
    assert "swapped" not in straight.reason


def test_nickname_and_suffix_and_phone_format_together() -> None:
    incoming = jane(first_name="Bob", last_name="Smith", email="bob.smith+x@gmail.com",
                    company="ACME GmbH", phone="+1 415.555.0134")
    earlier = person(first_name="Robert", last_name="Smith", email="rsmith@acme.com",
                     company="Acme", phone="4155550134")
    decision = MATCHER.decide(incoming, [earlier])
    assert (decision.outcome, MATCHER.score(incoming, earlier).rule) == ("match", "name+company")


def test_changed_email_still_matched_by_name_company_phone() -> None:
    incoming = jane(email="jane.d@newmail.example")
    decision = MATCHER.decide(incoming, [person(**JANE)])
    assert decision.outcome == "match" and decision.best is not None


def test_gmail_variants_are_one_mailbox() -> None:
    earlier = person(first_name="Jane", last_name="Doe", email="janedoe@gmail.com")
    for address in ("jane.doe@gmail.com", "JaneDoe+webinar@gmail.com", "jane.doe@googlemail.com"):
        assert MATCHER.score(jane(email=address), earlier).rule == "email"


# -- thresholds and choosing among candidates -------------------------------------------
@pytest.mark.parametrize(("match", "review", "outcome"), [
    (0.9, 0.75, "match"),      # name+company scores 0.95
    (0.96, 0.75, "review"),
    (0.99, 0.96, "none"),
    (0.95, 0.95, "match"),     # at the threshold counts
])
def test_thresholds_decide_the_outcome(match: float, review: float, outcome: str) -> None:
    matcher = Matcher(MatchingConfig(match_threshold=match, review_threshold=review))
    incoming = person("in", "incoming", matcher, **{**JANE, "email": None, "phone": None})
    earlier = person("c1", "lead", matcher, **{**JANE, "email": None, "phone": None})
    assert matcher.decide(incoming, [earlier]).outcome == outcome


def test_contact_is_preferred_to_lead_on_equal_scores() -> None:
    lead, contact = person("a-lead", "lead", **JANE), person("z-contact", "contact", **JANE)
    for candidates in ([lead, contact], [contact, lead]):
        decision = MATCHER.decide(jane(), candidates)
        assert decision.best is contact.person
        assert [p for p, _ in decision.others] == [lead.person]


def test_a_higher_score_wins_over_kind() -> None:
    lead = person("l1", "lead", **JANE)                                      # email: 1.0
    contact = person("c1", "contact", **{**JANE, "email": "other@acme.org"})  # 0.95
    decision = MATCHER.decide(jane(), [contact, lead])
    assert decision.best is lead.person and decision.score == 1.0


def test_decide_ignores_the_incoming_record_itself_and_weak_candidates() -> None:
    me = jane(id="same")
    weak = person("w", "lead", first_name="Jane", last_name="Doe")  # name only, 0.6
    decision = MATCHER.decide(me, [person("same", "lead", **JANE), weak])
    assert decision.outcome == "none" and decision.others == []


# -- rules from TOML ------------------------------------------------------------------------
def config_from(text: str) -> MatchingConfig:
    return MatchingConfig.model_validate(tomllib.loads(text)["matching"])


FEBRL_LIKE = """
[matching]
names = ["given_name", "surname"]
blocking = ["soc_sec_id", "surname+given_name:1"]
[matching.fields]
given_name = { kind = "name" }
surname = { kind = "name" }
postcode = { kind = "code", min = 0.75 }
date_of_birth = { kind = "code" }
soc_sec_id = { kind = "code" }
state = { kind = "exact" }
[[matching.rules]]
name = "id+birth"
fields = ["soc_sec_id", "date_of_birth"]
score = 1.0
[[matching.rules]]
name = "most"
fields = ["given_name", "surname", "postcode", "date_of_birth", "soc_sec_id"]
at_least = 3
score = 0.91
"""


def test_rules_written_in_toml() -> None:
    matcher = Matcher(config_from(FEBRL_LIKE), region="AU")
    a = person("a", "lead", matcher, given_name="michaela", surname="neumann",
               postcode="4223", date_of_birth="19151111", soc_sec_id="5304218")
    # names swapped, birth date transposed, a different id: still three of five agree
    b = person("b", "incoming", matcher, given_name="neumann", surname="michaela",
               postcode="4232", date_of_birth="19151111", soc_sec_id="9999999")
    scored = matcher.score(b, a)
    assert scored.rule == "most"
    assert "(4 of 5 agree)" in scored.reason and "names swapped" in scored.reason
    c = person("c", "incoming", matcher, given_name="nina", surname="neumann",
               postcode="9999", date_of_birth="19800101", soc_sec_id="5304218")
    assert matcher.score(c, a).rule == ""  # id alone: one of five, and no birth date


def test_code_similarity_forgives_one_typo_or_transposition() -> None:
    matcher = Matcher(config_from(FEBRL_LIKE))
    a = person("a", "lead", matcher, postcode="5162")
    for other, at_least in (("5162", 1.0), ("5126", 0.75), ("5163", 0.75)):
        value = matcher.similarity("postcode", a, person("b", "lead", matcher, postcode=other))
        assert value is not None and value >= at_least
    far = matcher.similarity("postcode", a, person("b", "lead", matcher, postcode="2615"))
    assert far is not None and far < 0.75



@pytest.mark.parametrize(("left", "right", "level"), [
    ("12 Main Street", "12 Main St", "agree"),
    ("maltbycricuit", "Maltby Circuit", "agree"),      # a space lost, a typo
    ("Lambrig Gstreet", "Lambrigg Street", "agree"),   # a space in the wrong place
    ("26 Snowde N Place", "26 Snowden Place", "agree"),  # ("n" reads as "north")
    ("Narrog In", "Narrogin", "agree"),
    ("2470 Queen Avenue", "2296 Maple Street", "differ"),
    ("Hurtle Avenue", "Peacock Place", "differ"),
])
def test_street_similarity_forgives_lost_spaces(left: str, right: str, level: str) -> None:
    a, b = person("a", street=left), person("b", street=right)
    assert MATCHER.level("street", MATCHER.similarity("street", a, b)) == level


def test_address_lines_swapped() -> None:
    """Address line 1 and 2 written the other way round are one address."""
    home = {"first_name": "Imogen", "last_name": "Lamprey", "street": "Backler Place",
            "address_2": "Kilburnie", "street_number": "23", "postal_code": "6083"}
    incoming = person("in", "incoming", **{**home, "street": "Kilburnie",
                                           "address_2": "Backler Place"})
    scored = MATCHER.score(incoming, person("c1", **home))
    assert scored.rule == "name+address" and scored.score >= 0.9
    assert "street 'Kilburnie'~'Backler Place'" not in scored.reason
    assert "street 'Backler Place' 1.00" in scored.reason
    assert scored.reason.endswith("address lines swapped")


def test_a_street_on_two_lines_is_the_street_and_its_second_line() -> None:
    """Salesforce keeps the second address line inside Street, on a line of its own:
    "23 Backler Place" then "Kilburnie" is the street, the house number and the
    second line a lead gives in fields of their own; the reason reads it on one line."""
    home = {"first_name": "Imogen", "last_name": "Lamprey", "postal_code": "6083"}
    record = person("c1", **home, street="23 Backler Place\r\nKilburnie\n")
    assert (record.values["street"], record.values["street_number"],
            record.values["address_2"]) == ("backler place", "23", "kilburnie")
    lead = person("in", "incoming", **home, street="23 Backler Place", address_2="Kilburnie")
    assert lead.values["address_2"] == record.values["address_2"]
    scored = MATCHER.score(lead, record)
    assert scored.rule == "name+address" and scored.score >= 0.9, scored.reason
    assert "\\n" not in scored.reason and "\n" not in scored.reason
    assert person("c2", **home, street="23 Backler Place").values.get("address_2") is None
    # no given name and the street mistyped: the number, that line and the postcode
    # vouch for the house, and the reason names the line as the record holds it
    unnamed = person("in2", "incoming", last_name="Lamprey", postal_code="6083",
                     street="23 Bcklr Plc", address_2="Kilburnie", email="il@gmail.com")
    decision = MATCHER.decide(unnamed, [record])
    assert decision.outcome == "match", decision.reason
    assert "address_2 'Kilburnie'" in decision.reason, decision.reason


def test_one_agreeing_name_is_not_traded_for_two_half_alike_swapped_ones() -> None:
    incoming = person("in", "incoming", first_name="Christian", last_name="Ferris")
    sims, turned = MATCHER._names(incoming, person("c1", first_name="Christian",
                                                   last_name="Walch"))
    assert not turned and sims["first_name"] == 1.0

# -- blocking ---------------------------------------------------------------------------------
def test_blocking_keys_of_the_default_config() -> None:
    keys = MATCHER.keys(jane())
    assert "0|jane.doe@acme.com" in keys
    assert "1|+14155550134" in keys
    assert "2|doe|j" in keys and "3|jane|d" in keys
    assert "4|acme|d" in keys and "5|acme.com|d" in keys


def test_no_key_from_a_missing_field() -> None:
    keys = MATCHER.keys(person(first_name="Jane", last_name="Doe"))
    assert keys and all(k[0] in "23" for k in keys)
    assert MATCHER.keys(person(title="CEO")) == set()


def shares_a_key(a: Prepared, b: Prepared) -> bool:
    return bool(MATCHER.keys(a) & MATCHER.keys(b))


@pytest.mark.parametrize("change", [
    {"email": "JANE.DOE@acme.com ", "phone": None, "company": None},
    {"email": None, "phone": "+1 415 555 0134", "company": None},
    {"email": None, "phone": None, "first_name": "J."},                     # initial
    {"email": None, "phone": None, "first_name": "Doe", "last_name": "Jane",
     "company": None},                                                       # swapped
    {"email": None, "phone": None, "company": None, "first_name": "Liz",
     "last_name": "Dough"},                                                  # nickname, typo
])
def test_blocking_brings_variants_together(change: dict[str, Any]) -> None:
    earlier = person(**{**JANE, "first_name": "Elizabeth"} if "Liz" in change.values()
                     else JANE)
    assert shares_a_key(jane(**change), earlier)


def test_blocking_keeps_strangers_apart() -> None:
    assert not shares_a_key(jane(), person(**STRANGER))


def test_index_returns_each_candidate_once() -> None:
    index = Index(MATCHER)
    earlier = person("c1", "lead", **JANE)           # shares several keys with Jane
    stranger = person("c2", "lead", **STRANGER)
    index.add(earlier)
    index.add(stranger)
    assert index.candidates(jane()) == [earlier]
    assert index.candidates(person("x", "incoming", **STRANGER)) == [stranger]
    assert index.candidates(person("y", "incoming", first_name="Nobody")) == []


def test_index_finds_swapped_names() -> None:
    index = Index(MATCHER)
    earlier = person("c1", "lead", first_name="Jane", last_name="Doe")
    index.add(earlier)
    assert index.candidates(person("x", "incoming", first_name="Doe", last_name="Jane")) == \
        [earlier]


def test_blocking_prefix_sizes() -> None:
    matcher = Matcher(MatchingConfig(blocking=["last_name:3", "company"]))
    assert matcher.keys(person(matcher=matcher, last_name="Doering", company="Acme Inc")) == \
        {"0|doe", "1|acme"}


def test_blocking_on_one_name_or_none_still_swaps() -> None:
    """A spec naming only the last name is fed the first name too (Smith, John);
    with no spec naming a name there is nothing to swap."""
    by_email = Matcher(MatchingConfig(blocking=["email"]))
    by_last = Matcher(MatchingConfig(blocking=["last_name:3"]))
    fields = {"first_name": "John", "last_name": "Smith", "email": "john@acme.example"}

    assert by_email.keys(person(matcher=by_email, **fields)) == {"0|john@acme.example"}
    assert by_last.keys(person(matcher=by_last, **fields)) == {"0|smi", "0|joh", "0|ian",
                                                               "0|iva", "0|jon"}


# -- config validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "message"), [
    ({"match_threshold": 0.7, "review_threshold": 0.8}, "review_threshold must not be above"),
    ({"rules": [{"name": "r", "fields": ["shoe_size"], "score": 0.9}]},
     "rule 'r' names field 'shoe_size'"),
    ({"rules": [{"name": "r", "fields": ["email"], "score": 0.9,
                 "unless_differ": ["shoe_size"]}]}, "rule 'r' names field 'shoe_size'"),
    ({"blocking": ["email+shoe_size"]}, "blocking key 'email+shoe_size' names field"),
    ({"blocking": ["last_name:x"]}, "should be field:N"),
    ({"blocking": ["postal_code:0"]}, "with N of 1 or more"),
    ({"names": ["first_name", "first_name"]}, "'first_name' twice"),
    ({"names": ["last_name", "first_name"]}, "the given-name field comes first"),
    ({"rules": [{"name": "r", "fields": ["email", "phone"], "score": 0.9, "at_least": 3}]},
     "at_least 3 is more than its 2 fields"),
    ({"names": ["first_name", "company"]}, "'company' should be a field of kind"),
    ({"names": ["first_name"]}, "at least 2 items"),
    ({"rules": []}, "at least 1 item"),
    ({"blocking": []}, "at least 1 item"),
    ({"rules": [{"name": "r", "fields": [], "score": 0.9}]}, "at least 1 item"),
    ({"rules": [{"name": "r", "fields": ["email"], "score": 0}]}, "greater than 0"),
    ({"match_threshold": 1.5}, "less than or equal to 1"),
    ({"fields": {"email": {"kind": "soundex"}}}, "Input should be"),
    ({"fields": {"email": {"kind": "email", "min": -0.1}}}, "greater than or equal to 0"),
    ({"treshold": 0.9}, "Extra inputs are not permitted"),
])
def test_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        MatchingConfig.model_validate(config)


def test_custom_fields_need_their_own_rules_and_blocking() -> None:
    with pytest.raises(ValidationError, match="names field 'email'"):
        MatchingConfig.model_validate({"fields": {"ssn": {"kind": "code"}}})
    config = MatchingConfig.model_validate({
        "fields": {"ssn": {"kind": "code"}}, "blocking": ["ssn"],
        "rules": [{"name": "ssn", "fields": ["ssn"], "score": 1.0}]})
    matcher = Matcher(config)
    a, b = (person(i, "lead", matcher, ssn="123-45-6789") for i in "ab")
    assert matcher.decide(a, [b]).outcome == "match"


# -- another employer's address counts against a match by name ------------------------------
GINA = {"first_name": "Gina", "last_name": "Goodrow", "company": "Goodco Ltd",
        "email": "gina@goodco1.example"}


@pytest.mark.parametrize(("other", "outcome"), [
    # two people: another employer's domain turns a name+company match into a review
    ({**GINA, "company": "Goodco Limited", "email": "gina@goodco2.example"}, "review"),
    # two mailboxes at one employer: namesakes there as often as one person with two
    ({**GINA, "email": "g.goodrow@goodco1.example"}, "review"),
    ({**GINA, "email": "gina.goodrow@gmail.com"}, "match"),     # free mail says nothing
    ({**GINA, "email": None}, "match"),                         # nothing to compare
])
def test_work_email_domains_that_differ_count_against_a_name_match(
        other: dict[str, Any], outcome: str) -> None:
    incoming = person("in", "incoming", **GINA)
    decision = MATCHER.decide(incoming, [person("c1", **other)])
    assert decision.outcome == outcome, decision.reason
    if outcome == "review":
        assert ("work email domains differ (goodco1.example vs goodco2.example)"
                in decision.reason or "two mailboxes at goodco1.example" in decision.reason)


def test_two_mailboxes_at_one_employer_are_held_for_a_person_to_decide() -> None:
    """Jane Doe at jdoe@ and at jane.doe@acme.com: one person with an alias, or two
    namesakes at a large company -- a match would merge two people."""
    decision = MATCHER.decide(jane(email="jdoe@acme.com", phone=None, company=None),
                              [person("c1", **{**JANE, "company": None, "phone": None})])
    assert decision.outcome == "review", decision.reason
    assert "two mailboxes at acme.com" in decision.reason
    same_line = MATCHER.decide(jane(email="jdoe@acme.com"), [person("c1", **JANE)])
    assert same_line.outcome == "match", same_line.reason  # her own number says it is her
    aliases = Matcher(MatchingConfig(two_mailboxes_penalty=0))  # where aliases are the rule
    trusting = aliases.decide(
        person("in", "incoming", aliases, **{**JANE, "email": "jdoe@acme.com",
                                            "phone": None, "company": None}),
        [person("c1", "lead", aliases, **{**JANE, "company": None, "phone": None})])
    assert trusting.outcome == "match", trusting.reason


def test_a_shared_phone_outweighs_a_new_employers_domain() -> None:
    """A new job, the same mobile: name+phone is personal evidence."""
    incoming = jane(email="jane@newjob.example", company="Initech")
    assert MATCHER.decide(incoming, [person(**JANE)]).outcome == "match"


OTHER_LINE = "(415) 555-0199"


@pytest.mark.parametrize(("changes", "earlier", "outcome", "said"), [
    # one name at one company, another direct line: a namesake there as often as not
    ({"email": "jane.doe77@gmail.com", "phone": OTHER_LINE}, JANE, "review",
     "phones differ ((415) 555-0199 vs (415) 555-0134) (-0.15)"),
    # another line and another mailbox at the company: two people, each with her own
    ({"email": "jane.doe2@acme.com", "phone": OTHER_LINE}, JANE, "none", ""),
    # one number missing: nothing to tell
    ({"email": "jane.doe77@gmail.com", "phone": None}, JANE, "match", ""),
    # at a home address (no employer agrees) a landline and a mobile say little
    ({"email": None, "company": None, "phone": OTHER_LINE},
     {**JANE, "email": None, "company": None}, "match", ""),
])
def test_phones_that_differ_count_against_a_match_at_one_employer(
        changes: dict[str, Any], earlier: dict[str, Any], outcome: str, said: str) -> None:
    decision = MATCHER.decide(jane(**changes), [person(**earlier)])
    assert decision.outcome == outcome, decision.reason
    assert said in decision.reason


def test_the_penalties_add_up_and_each_is_named() -> None:
    scored = MATCHER.score(jane(email="jane.doe2@acme.com", phone=OTHER_LINE), person(**JANE))
    assert scored.score < MATCHER.config.review_threshold
    assert scored.reason.endswith("two mailboxes at acme.com (-0.15); phones differ "
                                  "((415) 555-0199 vs (415) 555-0134) (-0.15)")
    aside = Matcher(MatchingConfig(phones_differ_penalty=0))
    assert aside.decide(person("in", "incoming", aside, **{**JANE, "phone": OTHER_LINE,
                                                           "email": None}),
                        [person("c1", "lead", aside, **JANE)]).outcome == "match"


# -- the record-linkage language: levels, weights, groups, surnames --------------------------
def config_with(fields: dict[str, Any], rules: list[dict[str, Any]],
                **top: Any) -> MatchingConfig:
    return MatchingConfig.model_validate({"fields": fields, "rules": rules,
                                          "blocking": [next(iter(fields))], **top})


NEUTRAL_BAND = config_with({"postcode": {"kind": "code", "agree": 1.0, "disagree": 0.7},
                            "surname": {"kind": "surname"}},
                           [{"name": "surname unless postcode", "fields": ["surname"],
                             "score": 0.95, "unless_differ": ["postcode"]},
                            {"name": "both", "fields": ["surname", "postcode"], "score": 1.0}])


@pytest.mark.parametrize(("postcode", "level", "rule"), [
    ("4223", "agree", "both"),                       # equal: agrees
    ("4232", "neutral", "surname unless postcode"),  # a transposition: neither way
    ("4220", "neutral", "surname unless postcode"),  # one typo: neither way
    ("9999", "differ", ""),                          # another place: vetoes
    (None, "missing", "surname unless postcode"),    # nothing to compare: no veto
])
def test_neutral_band_between_agree_and_disagree(postcode: str | None, level: str,
                                                 rule: str) -> None:
    matcher = Matcher(NEUTRAL_BAND)
    a = person("a", "lead", matcher, surname="Neumann", postcode="4223")
    b = person("b", "incoming", matcher, surname="Neumann", postcode=postcode)
    assert matcher.level("postcode", matcher.similarity("postcode", a, b)) == level
    assert matcher.score(b, a).rule == rule


def test_min_defaults_both_levels_so_old_configs_have_no_neutral_band() -> None:
    field = FieldRule.model_validate({"kind": "email", "min": 0.9})
    assert (field.agree_at, field.differ_below) == (0.9, 0.9)


@pytest.mark.parametrize(("field", "message"), [
    ({"kind": "code", "agree": 0.8, "disagree": 0.9}, "disagree 0.9 is above the agree level"),
    ({"kind": "code", "m": 0.9}, "m and u go together"),
    ({"kind": "code", "m": 0.9, "u": 0.1, "weight": 3}, "not both"),
    ({"kind": "code", "m": 1.0, "u": 0.1}, "less than 1"),
    ({"kind": "code", "differ_weight": 2}, "less than or equal to 0"),
])
def test_field_level_and_weight_errors(field: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        MatchingConfig.model_validate({"fields": {"email": field}})


def test_weights_from_m_and_u() -> None:
    field = FieldRule.model_validate({"kind": "email", "m": 0.9, "u": 0.1})
    agreeing, differing = field.weights
    assert agreeing == pytest.approx(math.log2(9)) and differing == pytest.approx(-3.1699, 1e-3)


WEIGHTED = config_with(
    {"street": {"kind": "text", "weight": 9}, "state": {"kind": "exact", "weight": 2},
     "postcode": {"kind": "code", "min": 1.0, "weight": 6, "differ_weight": -3},
     "first_name": {"kind": "name", "weight": 6, "differ_weight": -3},
     "last_name": {"kind": "surname", "weight": 7, "differ_weight": -3}},
    [{"name": "most", "fields": ["street", "state", "postcode", "first_name", "last_name"],
      "min_weight": 12, "score": 0.91,
      "require_one_of": [["street"], ["first_name", "last_name"]]}])


@pytest.mark.parametrize(("changes", "rule"), [
    ({}, "most"),
    ({"street": "9 Elm Road", "postcode": "1111"}, "most"),       # names + state: 15
    ({"first_name": "Ann"}, "most"),                              # 9 + 2 + 6 - 3 + 7
    ({"first_name": "Ann", "last_name": "Lee"}, ""),              # 9 + 2 + 6 - 6: 11
    ({"street": None, "first_name": "Ann", "state": "vic"}, ""),  # neither group agrees
    ({"street": None, "first_name": None}, ""),                   # last name + postcode + state,
])                                                                # but no group agrees
def test_at_least_by_weight_and_one_of_groups(changes: dict[str, Any], rule: str) -> None:
    """A state (8 values) weighs less than a street; one of the groups must agree."""
    matcher = Matcher(WEIGHTED)
    base = {"street": "1 Main Street", "state": "nsw", "postcode": "4223",
            "first_name": "Jane", "last_name": "Doe"}
    a = person("a", "lead", matcher, **base)
    assert matcher.score(person("b", "incoming", matcher, **{**base, **changes}), a).rule == rule


def test_weights_order_candidates_a_rule_scores_alike() -> None:
    """Two earlier records meet one rule: the one with more evidence wins, whatever
    its kind or id (a contact no longer wins a tie it did not earn)."""
    matcher = Matcher(WEIGHTED)
    base = {"street": "1 Main Street", "state": "nsw", "postcode": "4223",
            "first_name": "Jane", "last_name": "Doe"}
    close = person("z-lead", "lead", matcher, **base)
    farther = person("a-contact", "contact", matcher, **{**base, "postcode": "9999"})
    incoming = person("in", "incoming", matcher, **base)
    assert matcher.score(incoming, close).score == matcher.score(incoming, farther).score
    for candidates in ([close, farther], [farther, close]):
        decision = matcher.decide(incoming, candidates)
        assert decision.best is close.person
        assert [p for p, _ in decision.others] == [farther.person]
    assert matcher.score(incoming, close).probability > matcher.score(incoming,
                                                                      farther).probability


@pytest.mark.parametrize(("a", "b", "name_kind", "surname_kind"), [
    ("Green", "Berry", 1.0, 0.0),       # the given-name table says Green is Berry
    ("King", "Kingston", 1.0, None),    # and King is Kingston
    ("Smith", "Smyth", None, None),     # a spelling: close either way
])
def test_surname_kind_never_uses_the_nickname_table(a: str, b: str, name_kind: float | None,
                                                    surname_kind: float | None) -> None:
    matcher = Matcher(MatchingConfig())  # last_name is of kind "surname" by default
    given = MatchingConfig.model_validate(
        {"fields": {**{k: v.model_dump() for k, v in MatchingConfig().fields.items()},
                    "last_name": {"kind": "name", "min": 0.9}}})
    as_name = Matcher(given)
    x, y = person("x", matcher=matcher, last_name=a), person("y", matcher=matcher, last_name=b)
    surname = matcher.similarity("last_name", x, y)
    named = as_name.similarity("last_name", person("x", matcher=as_name, last_name=a),
                               person("y", matcher=as_name, last_name=b))
    assert surname is not None and named is not None
    if name_kind is not None:
        assert named == name_kind and matcher.level("last_name", surname) != "agree"
    else:
        assert surname >= 0.88 and named >= 0.88
    if surname_kind is not None:
        assert surname == surname_kind or surname < 0.5


def test_shipped_defaults_use_the_surname_kind() -> None:
    assert MatchingConfig().fields["last_name"].kind == "surname"
    assert MATCHER.score(jane(last_name="Berry", email=None, phone=None),
                         person(**{**JANE, "last_name": "Green", "email": None,
                                   "phone": None})).rule != "name+company"


def test_em_estimates_m_and_u_from_unlabelled_vectors() -> None:
    """A synthetic mixture of 20 % duplicates: EM recovers who agrees how often."""
    rng = random.Random(7)
    truth = {"name": (0.95, 0.02), "state": (0.9, 0.25), "postcode": (0.85, 0.05)}
    vectors = []
    for _ in range(4000):
        same = rng.random() < 0.2
        vectors.append([AGREE if rng.random() < (m if same else u) else
                        rng.choice((DIFFER, DIFFER, NEUTRAL)) for m, u in truth.values()])
    for i in range(0, 4000, 10):
        vectors[i][1] = None  # a missing value says nothing
    est = estimate(list(truth), vectors)
    assert est.prior == pytest.approx(0.2, abs=0.03)
    for index, (m, u) in enumerate(truth.values()):
        assert est.m[index][AGREE] == pytest.approx(m, abs=0.05)
        assert est.u[index][AGREE] == pytest.approx(u, abs=0.05)
    weights = est.weights()
    assert weights["name"][0] > weights["postcode"][0] > weights["state"][0] > 0
    assert all(differing < 0 for _, differing in weights.values())


def test_em_refuses_vectors_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="no comparison vectors"):
        estimate(["a"], [])
    with pytest.raises(ValueError, match="one level per field"):
        estimate(["a", "b"], [(AGREE,)])


def test_config_toml_writes_out_the_shipped_defaults() -> None:
    """config.toml shows the language with the defaults: the two must not drift."""
    path = Path(__file__).resolve().parents[2] / "config.toml"
    written = MatchingConfig.model_validate(tomllib.loads(path.read_text())["matching"])
    defaults = MatchingConfig()
    assert (written.fields, written.rules, written.blocking) == \
        (defaults.fields, defaults.rules, defaults.blocking)


# -- the decision by weights, its guards and the estimate ------------------------------
POSTAL = {"first_name": "Kayden", "last_name": "Zilm", "street": "12 Main Street",
          "street_number": "12", "postal_code": "2612", "city": "Turner", "state": "act"}


@pytest.mark.parametrize(("incoming", "earlier", "rule", "outcome"), [
    # no rule holds (name+address needs both names), the weights of the address do
    (POSTAL, {**POSTAL, "postal_code": "2621", "street": "12 Main St"}, "weights", "match"),
    # a given name typed beyond recognition, the same house and no company or email
    (POSTAL, {**POSTAL, "first_name": "Mary"}, "weights", "match"),
    # a relative: another given name, each with her own mailbox
    ({**POSTAL, "email": "kayden@mail.example"},
     {**POSTAL, "first_name": "Mary", "email": "mary@mail.example"}, "", "none"),
    # another given name at a company: a colleague, not a typo (a rule holds it for review)
    ({**POSTAL, "company": "Acme"}, {**POSTAL, "first_name": "Mary", "company": "Acme"},
     "", "review"),
    # another given name without the street: nothing vouches for her
    (POSTAL, {**POSTAL, "first_name": "Mary", "street": None}, "", "none"),
    # no given name, a street line that is the number alone: the house number in the
    # postcode and town is all that record says of the house, and it agrees
    # (a CRM's one street line: the number is read out of it)
    ({**POSTAL, "first_name": None, "street_number": None},
     {**POSTAL, "street": "12", "street_number": None}, "weights", "match"),
    # ... and with the postcode one typo off (two digits swapped) in the same town
    ({**POSTAL, "first_name": None, "street_number": None},
     {**POSTAL, "street": "12", "street_number": None, "postal_code": "2621"},
     "weights", "match"),
    # ... but not in another town: nothing says the house is the same
    ({**POSTAL, "first_name": None, "street_number": None},
     {**POSTAL, "street": "12", "street_number": None, "postal_code": "2621",
      "city": "Queanbeyan"}, "", "none"),
    # ... but not where the given name differs: a relative at number 12
    ({**POSTAL, "street_number": None},
     {**POSTAL, "first_name": "Mary", "street": "12", "street_number": None}, "", "none"),
    # neither name agrees: the office's other people
    (POSTAL, {**POSTAL, "first_name": "Mary", "last_name": "Brown"}, "", "none"),
    # a namesake in the same town, each with a line of their own: the place counts
    # once, not three times
    ({**POSTAL, "street": "3 Elm Road", "street_number": "3", "phone": "+61 2 6111 2222"},
     {**POSTAL, "phone": "+61 2 6333 4444"}, "", "none"),
    # ... with nothing to tell them apart, the one Kayden Zilm compared moved within it
    ({**POSTAL, "street": "3 Elm Road", "street_number": "3"}, POSTAL, "weights", "match"),
    # the given name missing on one side, the same house, nothing else to tell
    ({**POSTAL, "first_name": None}, {**POSTAL, "postal_code": "2621"}, "weights", "match"),
    # ... but with an employer on both sides the name is what tells colleagues apart
    ({**POSTAL, "first_name": None, "company": "Acme"}, {**POSTAL, "company": "Acme"},
     "", "review"),
    # a relative whose given name is only near (Seán, Susan): her own mailbox, job, line
    ({**POSTAL, "first_name": "Seán", "email": "sean.zilm28@web.de", "company": "Artechly",
      "phone": "+61 2 6111 2222"},
     {**POSTAL, "first_name": "Susan", "email": "zilm.susan544@gmail.com",
      "company": "Talstark", "phone": "+61 2 6333 4444"}, "", "none"),
    # a given name spelled another way (Catherine, Kathrine) at her company, on her line
    ({**POSTAL, "first_name": "Catherine", "company": "Talstark", "phone": "+61 2 6333 4444"},
     {**POSTAL, "first_name": "Kathrine", "company": "Talstark", "phone": "+61 2 6333 4444"},
     "weights", "match"),
    # a namesake at 12 Main Street in another town: one street name in two places
    ({**POSTAL, "email": "k.zilm@acme.example", "company": "Acme"},
     {**POSTAL, "postal_code": "4870", "city": "Cairns", "state": "qld",
      "email": "kzilm@globex.example", "company": "Globex"}, "", "none"),
])
def test_weights_decide_what_no_rule_is_sure_of(incoming: dict[str, Any],
                                                earlier: dict[str, Any], rule: str,
                                                outcome: str) -> None:
    matcher = Matcher(MatchingConfig(), region="AU")
    decision = matcher.decide(person("in", "incoming", matcher, **incoming),
                              [person("c1", "contact", matcher, **earlier)])
    assert decision.outcome == outcome, decision.reason
    assert (decision.reason.startswith("weights") if rule == "weights"
            else not decision.reason.startswith("weights"))


def test_weights_off_leaves_the_rules_alone() -> None:
    matcher = Matcher(MatchingConfig(weights="off"), region="AU")
    earlier = {**POSTAL, "postal_code": "2621", "street": "12 Main St"}
    decision = matcher.decide(person("in", "incoming", matcher, **POSTAL),
                              [person("c1", "contact", matcher, **earlier)])
    assert decision.outcome == "none"


def test_weights_reason_names_fields_weights_and_probability() -> None:
    matcher = Matcher(MatchingConfig(), region="AU")
    scored = matcher.score(person("in", "incoming", matcher, **POSTAL),
                           person("c1", "contact", matcher, **{**POSTAL, "first_name": "Mary"}))
    assert scored.rule == "weights"
    assert scored.reason == ("weights (configured): street '12 Main Street' +9.7, "
                             "last_name 'Zilm' +7.5, postal_code +6.4, street_number +5.4, "
                             "first_name differs -3.3 → 1.00")
    assert scored.score == 0.94  # a match, yet below the rules that are sure


def test_weights_keep_the_work_email_penalty() -> None:
    matcher = Matcher(MatchingConfig(), region="AU")
    scored = matcher.score(
        person("in", "incoming", matcher, **{**POSTAL, "email": "k.zilm@acme.example"}),
        person("c1", "contact", matcher, **{**POSTAL, "postal_code": "2621",
                                            "email": "kz@globex.example"}))
    assert scored.rule == "weights" and "work email domains differ" in scored.reason
    assert scored.score < 0.9


def _synthetic_pairs(matcher: Matcher, seed: int, duplicates: float
                     ) -> list[tuple[Prepared, Prepared]]:
    """People sharing a surname initial; a share of them entered twice with typos."""
    rng = random.Random(seed)
    firsts = ["Anna", "Ben", "Carla", "Dirk", "Emma", "Finn", "Greta", "Hugo", "Ida", "Jonas"]
    pairs = []
    for i in range(800):
        a = {"first_name": rng.choice(firsts), "last_name": f"Smith{rng.randrange(40)}",
             "street": f"{rng.randrange(900)} {rng.choice(['Oak', 'Elm', 'Pine'])} Road",
             "postal_code": f"{rng.randrange(10_000, 10_400)}", "state": rng.choice("ABC")}
        if rng.random() < duplicates:
            b = dict(a)
            if rng.random() < 0.2:
                b["postal_code"] = f"{rng.randrange(10_000, 10_400)}"
        else:
            b = {**a, "first_name": rng.choice(firsts), "last_name": f"Smith{rng.randrange(40)}",
                 "street": f"{rng.randrange(900)} Ash Way",
                 "postal_code": f"{rng.randrange(10_000, 10_400)}", "state": rng.choice("ABC")}
        pairs.append((person(f"a{i}", "lead", matcher, **a), person(f"b{i}", "lead", matcher, **b)))
    return pairs


@pytest.mark.parametrize(("duplicates", "source"), [(0.3, "estimated"), (0.0, "configured")])
def test_estimate_is_deterministic_and_refused_without_duplicates(duplicates: float,
                                                                   source: str) -> None:
    from connector.matching.estimation import learn

    matcher = Matcher(MatchingConfig(), region="US")
    first = learn(matcher, _synthetic_pairs(matcher, 7, duplicates))
    again = learn(matcher, _synthetic_pairs(matcher, 7, duplicates))
    assert first == again
    assert first.source == source, first.why
    if source == "estimated":
        assert first.weights["street"][0] > first.weights["state"][0] > 0
        assert 0.2 < (first.prior or 0) < 0.4
        matcher.use_weights(first.weights, first.source, first.prior)
        assert matcher.fs_weights["street"] == first.weights["street"]
    else:
        assert first.weights == {} and "refused" in first.why


def test_too_few_pairs_keep_the_configured_weights() -> None:
    from connector.matching.estimation import learn

    learned = learn(MATCHER, [(jane(), jane("c1", "lead"))])
    assert learned.source == "configured" and "fewer than" in learned.why


def test_the_run_index_gives_a_lead_the_records_sharing_most_of_its_keys() -> None:
    """Forty-five colleagues share "company + initial" with Jane; her own earlier
    lead of this run shares her mailbox and number too: it is among the few compared."""
    from connector.matching import PER_LEAD

    index = Index(MATCHER)
    for n in range(45):
        index.add(person(f"c{n}", "link", first_name="Sam", last_name=f"Dunn{n}",
                         company="Acme Inc.", email=f"sam{n}@acme.com"))
    index.add(person("her", "link", **{**JANE, "last_name": "Dough"}))
    found = [p.person.id for p in index.candidates(jane())]
    assert len(found) == PER_LEAD and "her" in found


@pytest.mark.parametrize(("line", "split"), [
    ("41 Handasyde Street", ("41", "Handasyde Street")),
    ("12-14 High St", ("12-14", "High St")),
    ("221B Baker Street", ("221B", "Baker Street")),
    ("Hauptstraße 5", ("5", "Hauptstraße")),
    ("29", ("29", "")),
    ("Main Street", None),
    ("Route 66", None),
    ("PO Box 12", None),
    ("Suite 200", None),
    ("5th Avenue", None),
])
def test_a_house_number_is_read_out_of_a_one_line_street(
        line: str, split: tuple[str, str] | None) -> None:
    from connector.matching.keys import house_number

    assert house_number(line) == split


def test_another_house_on_the_same_street_is_not_another_street() -> None:
    """A CRM holds "41 Handasyde Street" in one line: the number is compared as the
    house number and the rest as the street, so a copy at number 83 agrees on the
    street and differs on the house; a record with both fields keeps its own."""
    lead = MATCHER.prepare(Person("in", "incoming", {"street": "41 Handasyde Street"}))
    other = MATCHER.prepare(Person("c", "contact", {"street": "83 handasyde st"}))
    levels = MATCHER.levels(lead, other)
    assert (levels["street"], levels["street_number"]) == ("agree", "differ")
    number_only = MATCHER.prepare(Person("n", "contact", {"street": "41"}))
    assert "street" not in number_only.values and number_only.values["street_number"] == "41"
    kept = MATCHER.prepare(Person("k", "contact", {"street": "41 Handasyde Street",
                                                    "street_number": "7"}))
    assert kept.values["street_number"] == "7" and "41" in kept.values["street"]


def test_a_rule_on_the_address_never_holds_for_another_house() -> None:
    """Tom Reed at 83 Main Street and Thomas Reed at 41 Main St: name+address does
    not fire (another house), and the weights say so in the reason."""
    tom = MATCHER.prepare(Person("in", "incoming", {
        "first_name": "Tom", "last_name": "Reed", "street": "83 Main Street",
        "postal_code": "62701"}))
    thomas = MATCHER.prepare(Person("c", "lead", {
        "first_name": "Thomas", "last_name": "Reed", "street": "41 Main St",
        "postal_code": "62701"}))
    scored = MATCHER.score(tom, thomas)
    assert scored.rule != "name+address"
    assert "street_number differs" in scored.reason or scored.score < 0.75


def test_a_near_given_name_at_one_house_is_held_when_nothing_personal_agrees() -> None:
    """Javier and Xaver Huber at one address, one with a mailbox and an employer:
    a typo or a relative -- a person decides. Postal records alone (no mailbox,
    phone or employer on either side) are left to the weights."""
    javier = MATCHER.prepare(Person("in", "incoming", {
        "first_name": "Javier", "last_name": "Huber", "street": "15 Birch Lane",
        "postal_code": "60614", "email": "javier.h@gmail.com", "company": "Freelance"}))
    xaver = MATCHER.prepare(Person("c", "contact", {
        "first_name": "Xaver", "last_name": "Huber", "street": "15 Birch Lane",
        "postal_code": "60614"}))
    decision = MATCHER.decide(javier, [xaver])
    assert decision.outcome == "review"
    assert "only near ('Javier' vs 'Xaver')" in decision.reason
    postal = MATCHER.prepare(Person("in2", "incoming", {
        "first_name": "Javier", "last_name": "Huber", "street": "15 Birch Lane",
        "postal_code": "60614"}))
    assert MATCHER.decide(postal, [xaver]).outcome == "match"


def test_a_near_family_name_with_the_same_given_name_at_one_house_is_a_typo() -> None:
    """Relatives differ in the given name, not the family name: Jasmine Ryah and
    Jasmine Ryan at one house, a mailbox on one side only, are one person."""
    lead = MATCHER.prepare(Person("in", "incoming", {
        "first_name": "Jasmine", "last_name": "Ryah", "street": "49 Spofforth Street",
        "postal_code": "3072", "city": "Daylesford", "email": "jas.r@gmail.com"}))
    earlier = MATCHER.prepare(Person("c", "contact", {
        "first_name": "Jasmine", "last_name": "Ryan", "street": "49 Spofforth Street",
        "postal_code": "3072", "city": "Daylesford"}))
    decision = MATCHER.decide(lead, [earlier])
    assert decision.outcome == "match", decision.reason
    assert "only near" not in decision.reason


NAMED = {"first_name": "Aaron", "last_name": "Baohm", "postal_code": "6016",
         "city": "Upper Coomera", "state": "qld"}


def test_names_and_postcode_match_when_no_other_record_bears_the_name() -> None:
    """Names and a postcode, nothing else on either side: a match when the lead's
    name is held by no other record compared (and its name key was not crowded),
    else a namesake may be meant and nothing is decided."""
    matcher = Matcher(MatchingConfig(), region="AU")
    lead = person("in", "incoming", matcher, **NAMED, email="aaron.b@gmail.com")
    earlier = person("c1", "contact", matcher, **NAMED)
    decision = matcher.decide(lead, [earlier])
    assert decision.outcome == "match", decision.reason
    assert "no other record compared bears this name" in decision.reason
    assert matcher.decide(lead, [earlier], common_name=True).outcome == "none"
    other = person("c2", "contact", matcher, **{**NAMED, "postal_code": "4000",
                                                 "city": "Brisbane"})
    assert matcher.decide(lead, [earlier, other]).outcome == "none"
    moved = person("c3", "contact", matcher, **NAMED, street="3 Elm Road")
    housed = person("in2", "incoming", matcher, **NAMED, street="12 Main Street")
    assert matcher.decide(housed, [moved, other]).outcome == "none"  # not alone: guarded


def test_the_one_bearer_of_a_name_in_a_postcode_moved_within_it() -> None:
    """Aaron Baohm at another street of 6016 (or of a postcode one typo off, in the
    same town), no other Aaron Baohm compared, nothing else on the record to tell two
    namesakes apart: he moved, or gave another address of his. With a phone on each
    side and none shared they are two namesakes."""
    matcher = Matcher(MatchingConfig(), region="AU")
    moved = person("c3", "contact", matcher, **NAMED, street="3 Elm Road")
    housed = person("in2", "incoming", matcher, **NAMED, street="12 Main Street",
                    email="aaron.b@gmail.com")
    decision = matcher.decide(housed, [moved])
    assert decision.outcome == "match", decision.reason
    assert "another house: moved within it" in decision.reason
    typo = person("in3", "incoming", matcher, **{**NAMED, "postal_code": "6061"},
                  street="12 Main Street")
    assert matcher.decide(typo, [moved]).outcome == "match"
    phoned = person("c4", "contact", matcher, **NAMED, street="3 Elm Road",
                    phone="+61 8 9111 2222")
    caller = person("in4", "incoming", matcher, **NAMED, street="12 Main Street",
                    phone="+61 8 9333 4444")
    assert matcher.decide(caller, [phoned]).outcome == "none"


def test_the_one_bearer_is_not_told_apart_by_a_second_mailbox_in_one_run_or_two() -> None:
    """Aaron Baohm's first sign-up (aaron.b@gmail.com, at his house) puts its mailbox on
    his CRM record; his second (abaohm@yahoo.com, another house of 6016) is still him,
    whether it comes in a later run, when the record holds the first mailbox, or in
    the same run as the first, while the record has none: one person signs up from
    two mailboxes, and no duplicate hangs on the order of the sign-ups. (Later, the
    weights count the other mailbox against him, and a person is asked; in one run
    the record has none to count.)"""
    matcher = Matcher(MatchingConfig(), region="AU")
    second = person("in", "incoming", matcher, **NAMED, street="12 Main Street",
                    email="abaohm@yahoo.com")
    written = person("c1", "contact", matcher, **NAMED, street="3 Elm Road",
                     email="aaron.b@gmail.com")
    later = matcher.decide(second, [written])
    assert (later.outcome, later.best.id) == ("review", "c1"), later.reason
    bare = person("c1", "contact", matcher, **NAMED, street="3 Elm Road")
    first = person("l1", "link", matcher, **NAMED, street="3 Elm Road",
                   email="aaron.b@gmail.com")
    same_run = matcher.decide(second, [bare, first])
    assert (same_run.outcome, same_run.best.id) == ("match", "c1"), same_run.reason


def test_a_near_family_name_without_a_given_name_is_still_held() -> None:
    """Only an agreeing given name makes a near family name a typo: a lead with no
    given name at all, one typo from a contact at one house, is for a person."""
    lead = MATCHER.prepare(Person("in", "incoming", {
        "last_name": "Ryah", "street": "49 Spofforth Street", "postal_code": "3072",
        "city": "Daylesford", "email": "ryah@gmail.com"}))
    earlier = MATCHER.prepare(Person("c", "contact", {
        "first_name": "Jasmine", "last_name": "Ryan", "street": "49 Spofforth Street",
        "postal_code": "3072", "city": "Daylesford"}))
    assert MATCHER.decide(lead, [earlier]).outcome != "match"


def test_a_namesake_a_reviewer_ruled_out_still_means_the_name_is_not_alone() -> None:
    matcher = Matcher(MatchingConfig(), region="AU")
    lead = person("in", "incoming", matcher, **NAMED, email="aaron.b@gmail.com")
    one = person("c1", "contact", matcher, **NAMED)
    other = person("c2", "contact", matcher, **{**NAMED, "postal_code": "4000"})
    assert matcher.decide(lead, [one]).outcome == "match"
    assert matcher.decide(lead, [one], ruled_out=[other]).outcome == "none"


def test_a_run_mate_that_is_the_crm_bearer_on_its_own_is_not_a_second_bearer() -> None:
    """Aaron Baohm is in the CRM at 3 Elm Road, 6016. A sign-up of this run from that
    house matches him by name+address: it is him, not another Aaron Baohm, so a
    second sign-up from another street of 6016 (another mailbox) still finds him as
    the one bearer; so does a sign-up the one-bearer rule gave him with nothing of
    another house on it. A run-mate that matched him only as the one bearer at
    another house may be a namesake, and one told apart from the lead by an
    employer of its own is someone else if it is him: both still count."""
    matcher = Matcher(MatchingConfig(), region="AU")
    crm = person("c1", "contact", matcher, **NAMED, street="3 Elm Road")
    at_home = person("l1", "link", matcher, **NAMED, street="3 Elm Road",
                     email="aaron.b@gmail.com")
    lead = person("in", "incoming", matcher, **NAMED, street="12 Main Street",
                  email="abaohm@yahoo.com")
    decision = matcher.decide(lead, [crm, at_home])
    assert (decision.outcome, decision.best.id) == ("match", "c1"), decision.reason
    unhoused = person("l4", "link", matcher, **NAMED, email="aaron.b@gmail.com")
    decision = matcher.decide(lead, [crm, unhoused])  # the one bearer, no other house
    assert decision.outcome == "match", decision.reason
    assert decision.best.id == "l4"  # the sign-up of his mailbox, which is him
    elsewhere = person("l2", "link", matcher, **NAMED, street="9 Oak Avenue",
                       email="aaron.b@gmail.com")
    assert matcher.decide(lead, [crm, elsewhere]).outcome == "none"
    employed = person("l3", "link", matcher, **NAMED, street="3 Elm Road",
                      email="aaron@baohm-bakery.example", company="Baohm Bakery")
    worker = person("in2", "incoming", matcher, **NAMED, street="12 Main Street",
                    email="abaohm@yahoo.com", company="Freelance")
    assert matcher.decide(worker, [crm, employed]).outcome == "none"
    assert matcher.decide(worker, [crm]).outcome == "match"  # alone, he is the bearer


def test_a_sure_rule_at_the_same_house_outranks_a_namesake_the_weights_match() -> None:
    """Mia White at her own house matches by name+address (0.9); a Mia White at
    number 6 of another street, in another town of the state, by the weights alone
    (capped at 0.94). The one the rule is sure of is the record written to."""
    matcher = Matcher(MatchingConfig(), region="AU")
    home = {"first_name": "Mia", "last_name": "White", "street": "6 Theodore Street",
            "city": "Haddon", "postal_code": "2905", "state": "nsw"}
    lead = person("in", "incoming", matcher, **home, email="mia.w@gmail.com")
    same = person("c1", "contact", matcher, **home)
    namesake = person("c2", "contact", matcher, **{
        **home, "street": "6 National Circuit", "city": "Narembeen", "postal_code": "2765"})
    assert matcher.score(lead, namesake).score > matcher.score(lead, same).score
    decision = matcher.decide(lead, [namesake, same])
    assert decision.outcome == "match"
    assert decision.best is not None and decision.best.id == "c1", decision.reason
    assert decision.reason.startswith("rule name+address")


@pytest.mark.parametrize(("mine", "theirs", "outcome"), [
    ("Nec", "Ned", "match"),      # one keystroke, "nec" no name anyone is given
    ("Livyl", "Lily", "match"),   # two keystrokes from a name the table knows
    ("Jon", "Jan", "review"),     # two names people are given: a relative's
    ("Javier", "Xaver", "review"),    # two keystrokes, neither in the table
])
def test_a_misspelt_given_name_at_one_house_is_not_held(mine: str, theirs: str,
                                                        outcome: str) -> None:
    """The family name and the house agree, the lead carries a mailbox the record
    cannot share: a given name that is a misspelling of the other is a typo, not a
    relative, and is not held for a person."""
    lead = MATCHER.prepare(Person("in", "incoming", {
        "first_name": mine, "last_name": "Ryan", "street": "3 Carpenter Close",
        "postal_code": "2010", "city": "Cowell", "email": "n.ryan@gmail.com"}))
    earlier = MATCHER.prepare(Person("c", "contact", {
        "first_name": theirs, "last_name": "Ryan", "street": "3 Carpenter Close",
        "postal_code": "2010", "city": "Cowell"}))
    decision = MATCHER.decide(lead, [earlier])
    assert decision.outcome == outcome, decision.reason
    if outcome == "match":
        assert f"{mine!r} vs {theirs!r}: a typo" in decision.reason


def test_a_street_with_a_typo_in_one_word_still_shares_a_key() -> None:
    """Berne Cresxent and Berne Crescent, the postcode typed 6539 for 6530, the town
    glued together and the given name left off: the word that names the street and
    the house number still bring the two records together; Street, Road and the like
    key nothing alone."""
    matcher = Matcher(MatchingConfig(), region="AU")
    lead = person("in", "incoming", matcher, last_name="Grubb", street="10 Berne Cresxent",
                  city="St Hubertscisland", postal_code="6539", state="nsw")
    earlier = person("c", "contact", matcher, first_name="Luke", last_name="Grubb",
                     street="10 Berne Crescent", city="St Huberts Island",
                     postal_code="6530", state="nsw")
    assert matcher.keys(lead) & matcher.keys(earlier)
    index = Index(matcher)
    index.add(earlier)
    assert [c.person.id for c in index.candidates(lead)] == ["c"]
    main = person("c2", "contact", matcher, last_name="Grubb", street="10 Main Street",
                  postal_code="2000")
    high = person("c3", "incoming", matcher, last_name="Grubb", street="4 High Street",
                  postal_code="2000")
    shared = matcher.keys(main) & matcher.keys(high)
    assert not any("street" in k.split("|") for k in shared), shared  # "Street" keys nothing
    assert any("main" in k.split("|") for k in matcher.keys(main))


def test_a_postcode_typed_wrong_is_met_by_the_town_and_the_family_name() -> None:
    """A postcode typed wrong (3715 for 3175) loses every key made with it; the town
    and the family name's initial still bring the copy to its record. What is
    decided then is the matcher's as for any pair: here the street and the town
    agree beside a near family name, the other evidence the issue asks for when the
    given name differs, and the weights match (the house number, 20 for 10, is one
    typo off: near, not apart)."""
    matcher = Matcher(MatchingConfig(), region="AU")
    lead = person("in", "incoming", matcher, first_name="Georgia", last_name="Maynard",
                  street="20 Temperley Street", city="Toowong", postal_code="3715")
    earlier = person("c", "contact", matcher, first_name="Gina", last_name="Maynerd",
                     street="10 Temperly Street", city="Toowong", postal_code="3175")
    assert matcher.keys(lead) & matcher.keys(earlier)
    decision = matcher.decide(lead, [earlier])
    assert (decision.outcome, decision.score) == ("match", 0.94), decision.reason
    assert "first_name differs" in decision.reason


def test_a_crms_placeholder_is_no_value() -> None:
    """Salesforce's Web-to-Lead writes "[not provided]" where a form had no company
    or last name: two such web leads are not colleagues at one company, nor two
    people of one family name; the placeholder keys no block either."""
    matcher = Matcher(MatchingConfig(), region="US")
    one = person("w1", "lead", matcher, first_name="Sam", last_name="[not provided]",
                 company="[Not Provided]", phone="+1 415 555 0100")
    other = person("w2", "incoming", matcher, first_name="Sam", last_name="[not provided]",
                   company="[not provided]", phone="+1 212 555 0199")
    assert "company" not in one.values and "last_name" not in one.values
    assert not any("notprovided" in k for k in matcher.keys(one))
    assert matcher.decide(other, [one]).outcome == "none"


@pytest.mark.parametrize(("his", "hers"), [("Paul", "Paula"), ("Jan", "Jana"),
                                           ("Alexander", "Alexandra"), ("Mario", "Maria")])
def test_a_given_names_other_form_at_one_house_is_not_merged(his: str, hers: str) -> None:
    """Paul Meyer is in the CRM at 5 Rose Lane; Paula Meyer signs up from the same
    house with her own mailbox. One name's two forms are a couple or siblings, not a
    typo, however close the letters: never a rule's match (a person may decide)."""
    matcher = Matcher(MatchingConfig(), region="US")
    home = {"last_name": "Meyer", "street": "5 Rose Lane", "postal_code": "19103",
            "city": "Philadelphia"}
    contact = person("c", "contact", matcher, first_name=his, **home)
    lead = person("in", "incoming", matcher, first_name=hers, **home,
                  email=f"{hers.lower()}.meyer@gmail.com")
    assert matcher.decide(lead, [contact]).outcome != "match"
    assert matcher.decide(contact, [lead]).outcome != "match"

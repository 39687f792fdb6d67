"""The `[matching]` section of config.toml: how alike two records must be.

Modelled on Salesforce's standard matching rules: each rule names fields that
must all agree (each with its own comparison and threshold) and the score a
match by that rule earns. The best rule over all candidates decides: at or
above ``match_threshold`` the existing record is updated, between the two
thresholds the pair is held for review, below it the lead is created.

What record linkage has learned is written into the same language: a field
agrees, differs or is neutral (a band between the two levels counts neither
way), and carries Fellegi-Sunter weights (log2 of m/u), so "most of these
fields" weighs a street above a state, and candidates a rule ties on are
ordered by the weight of all their evidence.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.matching.keys import ROLE_MAILBOXES

Kind = Literal["email", "name", "surname", "company", "phone", "domain", "text", "exact",
               "code"]
"""How a field is compared:

email    the mailbox (case, provider dots and +tags ignored): equal or not
name     a given name: nicknames equal, an initial nearly so, else Jaro-Winkler
surname  a family name: Jaro-Winkler only (never the nickname table: Green is not Berry)
company  legal form and noise words removed, then token-set similarity
phone    E.164 equal; the same national number in another region nearly so
domain   equal employer domains (free-mail providers never count)
text     token-sort similarity of folded text (addresses: "St" is "Street")
exact    equal once folded
code     edit-distance similarity (ids, dates, postcodes: one typo -- a transposition
         too -- costs a little)
"""

NAME_KINDS = ("name", "surname")
Share = Annotated[float, Field(ge=0, le=1)]
Probability = Annotated[float, Field(gt=0, lt=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class KeyedProblems(ValueError):
    """Problems of ``[matching]``, each with its key path relative to the section, so
    ``connector.config`` reports each at its own line (it cannot be imported here)."""

    def __init__(self, keyed: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.keyed = keyed
        super().__init__("; ".join(message for _, message in keyed))


def _did_you_mean(word: str, names: Iterable[str]) -> str:
    found = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


class FieldRule(_Model):
    kind: Kind
    min: Share = 0.85
    """The similarity from which this field counts as agreeing (``agree`` says the same)."""
    agree: Share | None = None
    """Similarity from which the field agrees; ``min`` when unset."""
    disagree: Share | None = None
    """Similarity under which the field differs (vetoes, counts against); the agree
    level when unset. Between the two the field is neutral: a postcode one typo
    away neither agrees nor vetoes."""
    m: Probability | None = None
    """P(agree | same person): how often a true duplicate keeps this field."""
    u: Probability | None = None
    """P(agree | two people): how often strangers share it by chance (a state: often)."""
    weight: float | None = None
    """log2 weight of an agreeing value, instead of m/u; 1 (a count) when neither is set."""
    differ_weight: Annotated[float, Field(le=0)] | None = None
    """log2 weight of a differing value (0 or less); from m/u, else 0."""

    @model_validator(mode="after")
    def _levels_and_weights(self) -> FieldRule:
        if self.disagree is not None and self.disagree > self.agree_at:
            raise ValueError(f"disagree {self.disagree} is above the agree level {self.agree_at}")
        if (self.m is None) != (self.u is None):
            raise ValueError("m and u go together")
        if self.m is not None and (self.weight is not None or self.differ_weight is not None):
            raise ValueError("give m/u or weight/differ_weight, not both")
        if self.m is not None and self.u is not None and self.m <= self.u:
            raise ValueError(f"m {self.m} is not above u {self.u}: an agreeing value would "
                             "count against a match (m: how often a duplicate keeps the "
                             "value; u: how often strangers share it)")
        if self.weight is not None and self.weight <= 0:
            raise ValueError(f"weight {self.weight} must be above 0: an agreeing value "
                             "counts for a match (differ_weight counts against)")
        if self.agree is not None and "min" in self.model_fields_set \
                and self.agree != self.min:
            raise ValueError(f"agree {self.agree} and min {self.min} say two things: min is "
                             "the older name of agree, give one")
        return self

    @property
    def agree_at(self) -> float:
        return self.min if self.agree is None else self.agree

    @property
    def differ_below(self) -> float:
        return self.agree_at if self.disagree is None else self.disagree

    @property
    def weights(self) -> tuple[float, float]:
        """(agreeing, differing) log2 weights; neutral and missing values weigh 0."""
        if self.m is not None and self.u is not None:
            return math.log2(self.m / self.u), math.log2((1 - self.m) / (1 - self.u))
        return (1.0 if self.weight is None else self.weight,
                0.0 if self.differ_weight is None else self.differ_weight)


class MatchRule(_Model):
    name: str
    fields: Annotated[list[str], Field(min_length=1)]
    score: Annotated[float, Field(gt=0, le=1)]
    unless_differ: list[str | list[str]] = []
    """Fields that, present on both sides and differing (similarity under the
    field's ``disagree`` level), veto the rule: a shared info@ mailbox is not one
    person. A missing or neutral value does not veto. A group (a list) vetoes when
    all its fields differ: ``[["first_name", "last_name"]]`` is "unless both names
    differ"."""
    at_least: Annotated[int, Field(ge=1)] | None = None
    """How many of ``fields`` must agree (a missing value does not); all when
    unset. "Any 6 of these 10" tolerates the few fields a typo or an empty
    form spoiled, as a probabilistic linker would, with a rule a human can read."""
    min_weight: Annotated[float, Field(gt=0)] | None = None
    """The summed weights of ``fields`` (agreeing +, differing -, neutral and missing 0)
    must reach this: ``at_least`` by weight, where a street outweighs a state.
    Setting it alone (no ``at_least``) lets any of ``fields`` be missing or differ."""
    require_one_of: list[Annotated[list[str], Field(min_length=1)]] = []
    """Groups of fields, one of which must agree in full: "one of them the street,
    or both names"."""

    @model_validator(mode="after")
    def _at_most_all(self) -> MatchRule:
        if self.at_least is not None and self.at_least > len(self.fields):
            raise ValueError(f"rule {self.name!r}: at_least {self.at_least} is more than its "
                             f"{len(self.fields)} fields")
        return self

    @property
    def vetoes(self) -> list[tuple[str, ...]]:
        """``unless_differ`` as groups: a group vetoes when every field in it differs."""
        return [(v,) if isinstance(v, str) else tuple(v) for v in self.unless_differ]

    @property
    def all_must_agree(self) -> bool:
        return self.at_least is None and self.min_weight is None


class EmailConfig(_Model):
    dotless_domains: list[str] = ["gmail.com"]
    plus_tag_domains: list[str] = ["gmail.com", "outlook.com", "hotmail.com", "live.com",
                                   "icloud.com", "me.com", "fastmail.com", "protonmail.com",
                                   "proton.me", "yahoo.com"]
    plus_tags_everywhere: bool = False
    domain_aliases: dict[str, str] = {"googlemail.com": "gmail.com"}
    role_mailboxes: list[str] = list(ROLE_MAILBOXES)
    """Local parts of shared mailboxes (info@, sales@ ...): such an address names
    a team, not a person, so email rules ignore it (its domain still counts)."""


DEFAULT_FIELDS: dict[str, FieldRule] = {
    # m: how often a person's second entry keeps the value; u: how often two people
    # share it by chance (a state often, a street rarely). Weights are log2(m/u) when
    # agreeing and log2((1-m)/(1-u)) when differing; between disagree and agree a
    # value is neutral (a typo too many to agree, too few to count against).
    "email": FieldRule(kind="email", min=1.0, m=0.8, u=0.0001),
    "first_name": FieldRule(kind="name", min=0.85, disagree=0.7, m=0.9, u=0.01),
    "last_name": FieldRule(kind="surname", min=0.92, disagree=0.8, m=0.9, u=0.005),
    "company": FieldRule(kind="company", min=0.85, m=0.7, u=0.01),
    "phone": FieldRule(kind="phone", min=0.95, disagree=0.9, m=0.8, u=0.001),
    "domain": FieldRule(kind="domain", min=1.0, m=0.7, u=0.02),
    "street": FieldRule(kind="text", min=0.85, disagree=0.6, m=0.85, u=0.001),
    "street_number": FieldRule(kind="code", min=1.0, disagree=0.5, m=0.85, u=0.02),
    "address_2": FieldRule(kind="text", min=0.85, disagree=0.6, m=0.7, u=0.01),
    "city": FieldRule(kind="text", min=0.85, disagree=0.6, m=0.85, u=0.02),
    "postal_code": FieldRule(kind="code", min=1.0, disagree=0.7, m=0.85, u=0.01),
    "state": FieldRule(kind="exact", min=1.0, m=0.9, u=0.2),
}

DEFAULT_RULES: list[MatchRule] = [
    MatchRule(name="email", fields=["email"], score=1.0, unless_differ=["first_name"]),
    MatchRule(name="name+company", fields=["first_name", "last_name", "company"], score=0.95),
    MatchRule(name="name+phone", fields=["first_name", "last_name", "phone"], score=0.95),
    MatchRule(name="name+domain", fields=["first_name", "last_name", "domain"], score=0.92),
    MatchRule(name="name+address", fields=["first_name", "last_name", "street", "postal_code"],
              score=0.9, unless_differ=["street_number"]),  # another house on the street
    MatchRule(name="email, other name", fields=["email"], score=0.8),
    MatchRule(name="last name+company", fields=["last_name", "company"], score=0.8,
              unless_differ=["first_name"]),  # a colleague or a relative
    MatchRule(name="last name+company+contact", fields=["last_name", "company"], score=0.8,
              require_one_of=[["phone"], ["email"], ["street", "postal_code"]]),
    MatchRule(name="phone", fields=["phone"], score=0.8,  # not a switchboard: names agree
              unless_differ=["first_name", "last_name"]),
    MatchRule(name="name only", fields=["first_name", "last_name"], score=0.6),
]

DEFAULT_BLOCKING = ["email", "phone", "last_name+first_name:1", "first_name+last_name:1",
                    "company+last_name:1", "domain+last_name:1", "postal_code+last_name:1",
                    "postal_code+first_name:1", "street+postal_code:1", "city+street_number",
                    "street+street_number", "city+last_name:1"]


class MatchingConfig(_Model):
    enabled: bool = True
    match_threshold: Share = 0.9
    review_threshold: Share = 0.75
    search: list[Literal["leads", "contacts", "accounts"]] = ["leads", "contacts", "accounts"]
    """What to look in for earlier records of a person (accounts only for routing)."""
    fields: dict[str, FieldRule] = DEFAULT_FIELDS
    rules: Annotated[list[MatchRule], Field(min_length=1)] = DEFAULT_RULES
    blocking: Annotated[list[str], Field(min_length=1)] = DEFAULT_BLOCKING
    """Keys two records must share to be compared at all ("field", "a+b", "field:N" for
    the first N characters), for the local link table and leads in one run."""
    email: EmailConfig = EmailConfig()
    names: Annotated[list[str], Field(min_length=2, max_length=2)] = ["first_name", "last_name"]
    """The given-name and family-name fields (both of kind "name"): compared
    swapped too, and blocking keys on them are made from the swapped names as
    well, since "Smith, John" is John Smith."""
    weights: Literal["estimated", "configured", "off"] = "estimated"
    """What decides a pair no rule is sure of (Fellegi-Sunter): "estimated" learns each
    field's weights by EM from candidate pairs of the CRM's own people (no labels),
    kept only when they make sense (every field's agreement counts for a match),
    else the configured m/u; "configured" the m/u of ``[matching.fields]``; "off"
    the rules alone."""
    prior: Probability = 0.001
    """Prior odds that a lead and one candidate sharing a blocking key are one person:
    the summed weights start from log2(prior / (1 - prior)) (0.001: about -10)."""
    estimate_pairs: Annotated[int, Field(ge=100)] = 50_000
    """Candidate pairs drawn from the candidate index to estimate the weights from."""
    reestimate_growth: Annotated[float, Field(gt=0)] = 0.25
    """Estimate again once the index holds this share more records than it did at the
    last estimate (never per batch)."""
    work_email_differs_penalty: Share = 0.15
    """Taken off the score of a match by name (without the address or the phone)
    when both records carry a work address at different domains: two employers are
    two jobs or two people, so a confident name match becomes one to review."""
    two_mailboxes_penalty: Share = 0.15
    """Taken off a match by name when both records carry a different personal mailbox
    at one employer's domain (jdoe@ and jane.doe@acme.com): one person with two
    addresses, or two namesakes at a large company -- a match would merge two
    people, so it is held for review. 0 matches them (a small company where
    namesakes are rare and aliases common)."""
    phones_differ_penalty: Share = 0.15
    """Taken off a match by name at one employer (company or domain agreeing) when both
    records carry a phone and no number is shared: at one company a number is a
    person's own line, and two namesakes there have two. With two mailboxes at the
    domain as well (the penalties add up) the lead is another person and is created;
    alone it is held for review. Not for a match on the address or the phone itself."""
    secondary_email_field: str = ""
    """A CRM field for a person's other address (e.g. a custom Secondary_Email__c, or
    HubSpot's hs_additional_emails): when a match by name keeps the CRM record's
    email, the lead's address goes there; without one it is kept in the task and
    the link."""
    history_limit: Annotated[int, Field(ge=0, le=200)] = 10
    """Earlier activities (per matched record) written into the rep's handoff task."""

    @model_validator(mode="after")
    def _known_fields(self) -> MatchingConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.review_threshold > self.match_threshold:
            problems.append((("review_threshold",),
                             "review_threshold must not be above match_threshold"))
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:  # reasons and reviews name the rule: it must say which
                problems.append((("rules", index, "name"),
                                 f"two rules are named {rule.name!r}; give each its own name"))
            seen.add(rule.name)
        for index, rule in enumerate(self.rules):
            named = [("fields", n) for n in rule.fields]
            named += [("unless_differ", n) for group in rule.vetoes for n in group]
            named += [("require_one_of", n) for group in rule.require_one_of for n in group]
            for key, name in named:
                if name not in self.fields:
                    problems.append((("rules", index, key),
                                     f"rule {rule.name!r} names field {name!r}, which "
                                     f"[matching.fields] does not define"
                                     f"{_did_you_mean(name, self.fields)}"))
        if "names" in self.model_fields_set:
            for name in self.names:
                if name not in self.fields or self.fields[name].kind not in NAME_KINDS:
                    problems.append((("names",), f"names: {name!r} should be a field of kind "
                                     "\"name\" or \"surname\" in [matching.fields]"))
            if self.names[0] == self.names[1]:
                problems.append((("names",), f"names: {self.names[0]!r} twice; name the "
                                 "given-name field, then the family-name field"))
            elif self.fields.get(self.names[0]) and self.fields[self.names[0]].kind == "surname":
                problems.append((("names",), f"names: {self.names[0]!r} is of kind "
                                 "\"surname\"; the given-name field comes first"))
        for spec in self.blocking:
            for part in spec.split("+"):
                name, _, size = part.partition(":")
                if name not in self.fields:
                    problems.append((("blocking",), f"blocking key {spec!r} names field "
                                     f"{name!r}, which [matching.fields] does not define"
                                     f"{_did_you_mean(name, self.fields)}"))
                if size and (not size.isdigit() or int(size) < 1):
                    problems.append((("blocking",),
                                     f"blocking key {spec!r}: {part!r} should be field:N "
                                     "with N of 1 or more (the first N characters)"))
        if problems:
            raise KeyedProblems(problems)
        return self

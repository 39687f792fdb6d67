"""The `[matching]` section of config.toml: how alike two records must be.

Modelled on Salesforce's standard matching rules: each rule names fields that
must all agree (each with its own comparison and threshold) and the score a
match by that rule earns. The best rule over all candidates decides: at or
above ``match_threshold`` the existing record is updated, between the two
thresholds the pair is held for review, below it the lead is created.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.matching.keys import ROLE_MAILBOXES

Kind = Literal["email", "name", "company", "phone", "domain", "text", "exact", "code"]
"""How a field is compared:

email    the mailbox (case, provider dots and +tags ignored): equal or not
name     a person's name: nicknames equal, an initial nearly so, else Jaro-Winkler
company  legal form and noise words removed, then token-set similarity
phone    E.164 equal; the same national number in another region nearly so
domain   equal employer domains (free-mail providers never count)
text     token-sort similarity of folded text (addresses: "St" is "Street")
exact    equal once folded
code     edit-distance similarity (ids, dates, postcodes: one typo -- a transposition
         too -- costs a little)
"""

Share = Annotated[float, Field(ge=0, le=1)]


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
    """The similarity from which this field counts as agreeing."""


class MatchRule(_Model):
    name: str
    fields: Annotated[list[str], Field(min_length=1)]
    score: Annotated[float, Field(gt=0, le=1)]
    unless_differ: list[str] = []
    """Fields that, present on both sides and not agreeing (similarity under the
    field's ``min``), veto the rule: a shared info@ mailbox is not one person.
    A missing value does not veto."""
    at_least: Annotated[int, Field(ge=1)] | None = None
    """How many of ``fields`` must agree (a missing value does not); all when
    unset. "Any 6 of these 10" tolerates the few fields a typo or an empty
    form spoiled, as a probabilistic linker would, with a rule a human can read."""

    @model_validator(mode="after")
    def _at_most_all(self) -> MatchRule:
        if self.at_least is not None and self.at_least > len(self.fields):
            raise ValueError(f"rule {self.name!r}: at_least {self.at_least} is more than its "
                             f"{len(self.fields)} fields")
        return self


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
    "email": FieldRule(kind="email", min=1.0),
    "first_name": FieldRule(kind="name", min=0.85),
    "last_name": FieldRule(kind="name", min=0.9),
    "company": FieldRule(kind="company", min=0.85),
    "phone": FieldRule(kind="phone", min=0.95),
    "domain": FieldRule(kind="domain", min=1.0),
    "street": FieldRule(kind="text", min=0.85),
    "city": FieldRule(kind="exact", min=1.0),
    "postal_code": FieldRule(kind="code", min=0.8),
}

DEFAULT_RULES: list[MatchRule] = [
    MatchRule(name="email", fields=["email"], score=1.0, unless_differ=["first_name"]),
    MatchRule(name="name+company", fields=["first_name", "last_name", "company"], score=0.95),
    MatchRule(name="name+phone", fields=["first_name", "last_name", "phone"], score=0.95),
    MatchRule(name="name+domain", fields=["first_name", "last_name", "domain"], score=0.92),
    MatchRule(name="name+address", fields=["first_name", "last_name", "street", "postal_code"],
              score=0.9),
    MatchRule(name="email, other name", fields=["email"], score=0.8),
    MatchRule(name="last name+company", fields=["last_name", "company"], score=0.8),
    MatchRule(name="phone", fields=["phone"], score=0.8,  # not a switchboard: names agree
              unless_differ=["first_name", "last_name"]),
    MatchRule(name="name only", fields=["first_name", "last_name"], score=0.6),
]

DEFAULT_BLOCKING = ["email", "phone", "last_name+first_name:1", "first_name+last_name:1",
                    "company+last_name:1", "domain+last_name:1"]


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
    work_email_differs_penalty: Share = 0.15
    """Taken off the score of a match by name (without the address or the phone)
    when both records carry a work address at different domains: two employers are
    two jobs or two people, so a confident name match becomes one to review."""
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
        for index, rule in enumerate(self.rules):
            for key in ("fields", "unless_differ"):
                for name in getattr(rule, key):
                    if name not in self.fields:
                        problems.append((("rules", index, key),
                                         f"rule {rule.name!r} names field {name!r}, which "
                                         f"[matching.fields] does not define"
                                         f"{_did_you_mean(name, self.fields)}"))
        if "names" in self.model_fields_set:
            for name in self.names:
                if name not in self.fields or self.fields[name].kind != "name":
                    problems.append((("names",), f"names: {name!r} should be a field of kind "
                                     "\"name\" in [matching.fields]"))
        for spec in self.blocking:
            for part in spec.split("+"):
                name, _, size = part.partition(":")
                if name not in self.fields:
                    problems.append((("blocking",), f"blocking key {spec!r} names field "
                                     f"{name!r}, which [matching.fields] does not define"
                                     f"{_did_you_mean(name, self.fields)}"))
                if size and not size.isdigit():
                    problems.append((("blocking",),
                                     f"blocking key {spec!r}: {part!r} should be field:N"))
        if problems:
            raise KeyedProblems(problems)
        return self

"""The routing inputs, and the rules that need no state: accounts and territories.

Pure functions of the lead and the config. Territories are compiled once per
config into sets and an index by country, because a cycle asks them about
every lead and most territories are country-bound: a lead from Germany is
only held against the territories that could take a German lead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.routing.config import Band, RoutingConfig, Territory


@dataclass(frozen=True, slots=True)
class AccountHint:
    """The CRM account a lead belongs to, as dedupe (or ``AccountIndex``) found it."""

    owner_id: str
    account_name: str
    via: str
    """How the match was made, for the reason: "email domain acme.de", "contact on account"."""
    label: str = "account"
    """What ``account_name`` names, for the reason: an account, or the CRM record the lead
    matched ("CRM lead"), whose owner keeps the person."""
    customer: str | None = None
    """Why the account is a customer ("Type = Customer - Direct"): the lead is expansion
    ([routing.expansion]), whatever rule 1 says."""


@dataclass(frozen=True, slots=True)
class KnownAccount:
    """A CRM account as the domain/name matcher needs it."""

    name: str
    domain: str | None
    owner_id: str


@dataclass(frozen=True, slots=True)
class RoutingInput:
    """One lead to route: what the rules look at, nothing more.

    ``fields`` uses the marketing names after ``normalize``: country (ISO
    alpha-2), state, postal_code, industry, employees, annual_revenue,
    lead_source, company, email, website.
    """

    lead_id: str
    score: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    account: AccountHint | None = None


def by_score(leads: Iterable[RoutingInput]) -> list[RoutingInput]:
    """Highest score first, ties in arrival order, unscored last: when caps bite,
    the best leads are the ones that got a rep."""
    leads = list(leads)
    return [leads[i] for i in score_order(leads)]


def score_order(leads: Sequence[RoutingInput]) -> list[int]:
    """The positions of ``leads`` in the order ``by_score`` routes them."""
    return sorted(range(len(leads)),
                  key=lambda i: (leads[i].score is None, -(leads[i].score or 0.0)))


# lead-to-account ---------------------------------------------------------------

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com",
    "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
    "protonmail.com", "gmx.de", "gmx.net", "web.de", "t-online.de", "mail.ru", "yandex.ru",
    "qq.com", "163.com", "zoho.com", "fastmail.com", "hey.com",
})
"""Domains many companies' people share: a match on them is no match."""

_LEGAL = re.compile(
    r"\b(incorporated|inc|corporation|corp|company|co|limited|ltd|llc|llp|plc|gmbh|ag|kg|"
    r"se|sa|sas|sarl|srl|spa|bv|nv|oy|ab|as|aps|pty|pte|kk|holding|holdings|group)\b")
_NON_WORD = re.compile(r"[^\w]+")


def company_key(name: str) -> str:
    """A company name reduced to what identifies it: "ACME, Inc." and "Acme" agree."""
    text = _NON_WORD.sub(" ", name.casefold().replace("&", " and "))
    return " ".join(_LEGAL.sub(" ", text).split())


def domain_of(value: str) -> str | None:
    """The domain of an email address or website, without ``www.``; None if it has none."""
    text = value.strip().casefold()
    if "@" in text:
        text = text.rpartition("@")[2]
    else:
        text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0].split(":", 1)[0]
    text = text.removeprefix("www.").strip(".")
    return text if "." in text else None


class AccountIndex:
    """Known CRM accounts by domain and by normalised name, for leads dedupe did not place.

    The email domain is tried first (a person's work address is the strongest
    tie to a company), then the website, then the company name. Free-mail
    domains never match. Two accounts sharing a key make that key ambiguous,
    and an ambiguous key matches nothing rather than a guess.
    """

    def __init__(self, accounts: Iterable[KnownAccount]) -> None:
        self.by_domain: dict[str, KnownAccount | None] = {}
        self.by_name: dict[str, KnownAccount | None] = {}
        for account in accounts:
            domain = domain_of(account.domain) if account.domain else None
            if domain and domain not in FREE_MAIL:
                _add(self.by_domain, domain, account)
            key = company_key(account.name)
            if key:
                _add(self.by_name, key, account)

    def match(self, fields: Mapping[str, Any]) -> AccountHint | None:
        for source in ("email", "website"):
            value = fields.get(source)
            domain = domain_of(str(value)) if value else None
            if domain and domain not in FREE_MAIL:
                account = self.by_domain.get(domain)
                if account is not None:
                    return AccountHint(account.owner_id, account.name,
                                       f"{source if source == 'website' else 'email'} domain "
                                       f"{domain}")
        company = fields.get("company")
        if company:
            account = self.by_name.get(company_key(str(company)))
            if account is not None:
                return AccountHint(account.owner_id, account.name, "company name")
        return None


def _add(index: dict[str, KnownAccount | None], key: str, account: KnownAccount) -> None:
    if key in index and index[key] is not None and index[key] != account:
        index[key] = None  # ambiguous
    elif key not in index:
        index[key] = account


# territories -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """A lead's routing fields, normalised once so every territory compares cheaply."""

    country: str | None
    state: str | None
    postal_code: str | None
    industry: str | None
    employees: float | None
    revenue: float | None
    lead_source: str | None
    tier: str | None


def score_tier(score: float | None, tiers: Sequence[tuple[str, float]]) -> str | None:
    """The highest tier whose lowest score the lead reaches (``tiers`` sorted high to low)."""
    if score is None:
        return None
    for name, lowest in tiers:
        if score >= lowest:
            return name
    return None


def rank_of(tier: str | None, tiers: Sequence[tuple[str, float]]) -> int:
    """1 for the top tier, 2 for the next …; below every tier (or no score) comes last:
    a list view sorted by rank, then score, is the order a rep works leads in."""
    return next((n for n, (name, _) in enumerate(tiers, 1) if name == tier), len(tiers) + 1)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text.casefold() if text else None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def facts(lead: RoutingInput, tiers: Sequence[tuple[str, float]]) -> Facts:
    f = lead.fields
    country = f.get("country")
    if country:
        country = str(country).strip()
        if len(country) == 2:
            country = country.upper()
        else:
            from connector.normalize import country_code

            country = country_code(country) or country.upper()
    postal = f.get("postal_code")
    revenue = f.get("annual_revenue", f.get("revenue"))
    return Facts(country=country or None, state=_text(f.get("state")),
                 postal_code=str(postal).replace(" ", "").upper() if postal else None,
                 industry=_text(f.get("industry")), employees=_number(f.get("employees")),
                 revenue=_number(revenue), lead_source=_text(f.get("lead_source")),
                 tier=score_tier(lead.score, tiers))


def _postal_matches(code: str, rules: tuple[str, ...]) -> bool:
    for rule in rules:
        if rule.endswith("*"):
            if code.startswith(rule[:-1]):
                return True
        elif ".." in rule:
            low, _, high = rule.partition("..")
            head = code[:len(low)]
            if len(head) == len(low) and low <= head <= high:
                return True
        elif code == rule:
            return True
    return False


def _in_band(value: float | None, band: Band) -> bool:
    return (value is not None and (band.min is None or value >= band.min)
            and (band.max is None or value <= band.max))


def _set(values: list[str]) -> frozenset[str] | None:
    return frozenset(v.strip().casefold() for v in values) if values else None


@dataclass(frozen=True, slots=True)
class CompiledTerritory:
    name: str
    pool: str
    countries: frozenset[str] | None
    states: frozenset[str] | None
    postal: tuple[str, ...] | None
    industries: frozenset[str] | None
    employees: Band | None
    revenue: Band | None
    sources: frozenset[str] | None
    tiers: frozenset[str] | None

    @classmethod
    def of(cls, territory: Territory) -> CompiledTerritory:
        return cls(name=territory.name, pool=territory.pool,
                   countries=frozenset(territory.country) if territory.country else None,
                   states=_set(territory.state),
                   postal=tuple(territory.postal_code) or None,
                   industries=_set(territory.industry), employees=territory.employees,
                   revenue=territory.revenue, sources=_set(territory.lead_source),
                   tiers=frozenset(territory.score_tier) or None)

    def matches(self, lead: Facts) -> bool:
        """Every condition given holds. (Country is already settled by the index.)"""
        if self.states is not None and lead.state not in self.states:
            return False
        if self.postal is not None and (lead.postal_code is None
                                        or not _postal_matches(lead.postal_code, self.postal)):
            return False
        if self.industries is not None and lead.industry not in self.industries:
            return False
        if self.employees is not None and not _in_band(lead.employees, self.employees):
            return False
        if self.revenue is not None and not _in_band(lead.revenue, self.revenue):
            return False
        if self.sources is not None and lead.lead_source not in self.sources:
            return False
        return self.tiers is None or lead.tier in self.tiers


class Territories:
    """The configured territories, compiled and indexed by country."""

    def __init__(self, config: RoutingConfig) -> None:
        self.tiers = config.tiers()
        self.all = tuple(CompiledTerritory.of(t) for t in config.territories)
        countries = {c for t in self.all if t.countries for c in t.countries}
        self.by_country = {c: tuple(t for t in self.all
                                    if t.countries is None or c in t.countries)
                           for c in countries}
        self.anywhere = tuple(t for t in self.all if t.countries is None)

    def facts(self, lead: RoutingInput) -> Facts:
        return facts(lead, self.tiers)

    def matching(self, lead: Facts) -> Iterator[CompiledTerritory]:
        """The territories the lead falls in, in configured order, lazily: the first with
        a rep available usually ends the search."""
        for territory in self.by_country.get(lead.country or "", self.anywhere):
            if territory.matches(lead):
                yield territory

"""From prepared leads to what a CRM is asked for, and from CRM records back
to people the matcher can compare: the two ends of candidate retrieval."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connector.matching import Matcher, Person, Prepared
from connector.matching.keys import (
    company_key,
    email_domain,
    email_key,
    fold,
    given_names,
    name_key,
)
from connector.records import Candidate, Lookup, NameKey

LOOKUP_VALUE_MAX = 255
"""Longest value a look-up asks the CRM for. CRM text fields hold at most 255
characters (Salesforce's LastName 80, Email 80, Company 255), so a longer value
cannot match, and one 70,000-character name must not push a request over the
URI limit (414) for the whole batch: it is left out of the look-up, and the
write refuses that record alone."""


def _fits(value: object) -> bool:
    return value is not None and len(str(value)) <= LOOKUP_VALUE_MAX


def lookup_for(matcher: Matcher, leads: Iterable[Prepared]) -> Lookup:
    """Blocking keys of a batch, in the forms CRM queries compare against: the
    value as typed (CRM text filters ignore case) and its normal form. Values
    longer than any CRM field are not asked for."""
    emails: set[str] = set()
    phones: set[str] = set()
    names: dict[tuple[str, str | None, str | None], set[str]] = {}
    companies: set[str] = set()
    domains: set[str] = set()
    for lead in leads:
        fields = {k: v for k, v in lead.person.fields.items() if _fits(v)}
        raw_email = fold(fields.get("email")).replace(" ", "")
        if raw_email and "@" in raw_email:
            emails.add(raw_email)
            key = email_key(raw_email, matcher.email_rules)
            if key:
                emails.add(key)
        phones.update(p for p in lead.values.get("phone") or () if _fits(p))
        domain = email_domain(fields.get("email"), matcher.email_rules)
        domains.update(d for d in lead.values.get("domain") or () if _fits(d))
        company = fields.get("company")
        ckey = company_key(company) if company else None
        word = next((w for w in (ckey or "").split() if len(w) >= 3), None)
        first, last = fields.get("first_name"), fields.get("last_name")
        for one, other in ((first, last), (last, first)):  # swapped names too
            if other and one and name_key(other):
                variants = names.setdefault((str(other).strip(), word, domain), set())
                variants.add(str(one).strip())
                variants.update(given_names(str(one)))
        if company and str(company).strip():
            companies.add(str(company).strip())
            if ckey:
                companies.add(ckey)
    return Lookup(emails=frozenset(emails), phones=frozenset(phones),
                  names=frozenset(NameKey(last, frozenset(firsts), word, domain)
                                  for (last, word, domain), firsts in names.items()),
                  companies=frozenset(companies), domains=frozenset(domains))


def people(candidates: Sequence[Candidate]) -> list[Person]:
    """CRM leads and contacts as people to compare with (accounts are not people)."""
    return [Person(c.crm_id, c.kind, c.fields, ref=c) for c in candidates
            if c.kind != "account" and not c.converted]


@dataclass(frozen=True)
class AccountMatch:
    """The account a lead belongs to, for routing to its owner."""

    account_id: str
    name: str | None
    owner_id: str | None
    via: str


class Accounts:
    """The accounts of one look-up, indexed once by company key and website domain:
    a batch of 200 leads against its few hundred accounts costs a dict probe per
    lead, not every account prepared again for every lead."""

    def __init__(self, matcher: Matcher, candidates: Sequence[Candidate]) -> None:
        self.accounts = [c for c in candidates if c.kind == "account"]
        self.by_company: dict[str, int] = {}
        self.by_domain: dict[str, int] = {}
        for at, account in enumerate(self.accounts):
            if key := company_key(account.fields.get("company")):
                self.by_company.setdefault(key, at)
            site = matcher.prepare(Person(account.crm_id, "account",
                                          {"domain": account.fields.get("website")}))
            for domain in site.values.get("domain") or ():
                self.by_domain.setdefault(domain, at)

    def find(self, lead: Prepared, person: Candidate | None = None) -> AccountMatch | None:
        """A matched contact's account first; else the first account whose name
        (without legal form) is the lead's company or whose website domain is the
        lead's email domain."""
        if person is not None and person.account_id:
            return AccountMatch(person.account_id, person.account_name,
                                person.account_owner_id,
                                f"{person.kind} {person.crm_id} is on account "
                                f"{person.account_name or person.account_id}")
        company = company_key(lead.person.fields.get("company"))
        by_name = self.by_company.get(company) if company else None
        domains = sorted(lead.values.get("domain") or ())
        hits = [(at, d) for d in domains if (at := self.by_domain.get(d)) is not None]
        by_site = min(hits) if hits else None
        if by_name is not None and (by_site is None or by_name <= by_site[0]):
            account = self.accounts[by_name]
            return AccountMatch(account.crm_id, account.account_name, account.owner_id,
                                f"company {lead.person.fields.get('company')!r} is account "
                                f"{account.account_name!r}")
        if by_site is not None:
            account = self.accounts[by_site[0]]
            return AccountMatch(account.crm_id, account.account_name, account.owner_id,
                                f"email domain {by_site[1]} is account "
                                f"{account.account_name!r}'s website")
        return None


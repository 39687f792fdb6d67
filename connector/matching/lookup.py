"""From the candidate index's records to what matching compares: the people among
them, and the accounts a lead may belong to (for routing to the account's owner)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.matching import Matcher, Person, Prepared
from connector.matching.blocking import company_form
from connector.records import Candidate


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
            if key := company_form(account.fields.get("company")):
                self.by_company.setdefault(key, at)
            site = matcher.prepare(Person(account.crm_id, "account",
                                          {"domain": account.fields.get("website")}))
            for domain in site.values.get("domain") or ():
                self.by_domain.setdefault(domain, at)

    def find(self, lead: Prepared, person: Candidate | None = None) -> AccountMatch | None:
        """A matched contact's account first; else the first account whose name is
        the lead's company (``company_form``: legal form, articles and word order
        aside) or whose website domain is the lead's email domain."""
        if person is not None and person.account_id:
            return AccountMatch(person.account_id, person.account_name,
                                person.account_owner_id,
                                f"{person.kind} {person.crm_id} is on account "
                                f"{person.account_name or person.account_id}")
        company = company_form(lead.person.fields.get("company"))
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


"""Blocking keys for the local candidate index: the few records a lead is compared with.

A lead is only ever compared with the CRM records that share one of these keys
with it, so the keys decide recall: they must survive what people do to a name
or a company between two forms, while each one stays narrow enough that a
common name does not pull thousands of records into a comparison.

What each kind of key survives (measured in ``bench/dedupe_e2e.py``):

- ``e:``  the mailbox (``email_key``: case, Gmail dots and +tags);
- ``p:``  the last nine digits of a phone number, so a number stored without
  its country code ("030 1234567") meets the same one written "+49 30 1234567",
  whatever region either was read in;
- ``n:``  the surname's sound (Metaphone, on folded letters: "Müller", "Mueller"
  and "Muller" are MLR) with an initial of the given name *or of any formal
  name it is short for* (Bob meets Robert under "r"); made from the names
  swapped too ("Smith, John");
- ``nc:`` / ``nd:`` the surname's sound with the employer (company form or email
  domain), and ``fc:`` / ``fd:`` the given name's sound with the employer, which
  catch a typo that changes one name's sound;
- ``c:``  a company's forms: its words without legal form, articles and noise, in
  sorted order ("The Halvorsen Maritime AG" and "Maritime Halvorsen Inc." are
  both "halvorsen maritime"), and its acronym ("Alpha Beta Cosmetics" is also
  "abc"; a one-word name of at most five letters is taken as an acronym too);
- ``c:``  on an account, only the sorted words (an acronym is not enough to tie a
  lead to an account);
- ``w:``  an account's website domain, met by a lead's email domain.

Records share a key or are never compared; ``connector.matching.BLOCK_CAP`` keeps one key from
bringing in more than a few hundred records (the key is skipped for that lead,
and the others still find its people).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jellyfish

from connector.matching.keys import (
    EmailRules,
    company_key,
    digits,
    email_domain,
    formal_names,
    name_key,
    person_email_key,
    website_domain,
)

PHONE_TAIL = 9
"""Digits of a number that identify it across country codes and trunk prefixes."""
ACRONYM_MAX = 5


def sound(value: object) -> str | None:
    """The Metaphone code of a name's folded letters: spellings that sound alike
    (accents, doubled letters, Smith/Smyth) share it."""
    key = name_key(value)
    if key is None:
        return None
    letters = "".join(ch for ch in key if ch.isalpha())
    numbers = "".join(ch for ch in key if ch.isdigit())  # "Agent 7" is not "Agent 17"
    return ((jellyfish.metaphone(letters) or letters) + numbers) if letters else key


def initials(value: object) -> set[str]:
    """First letters of a given name and of the formal names it is short for."""
    if value is None or not str(value).strip():
        return set()
    return {n[0] for n in formal_names(str(value)) if n}


def company_form(value: object) -> str | None:
    """A company's words without legal form, articles or noise, in sorted order:
    "The Halvorsen Maritime AG" and "Maritime Halvorsen Inc." are one company."""
    key = company_key(value)
    return " ".join(sorted(key.split())) if key else None


def company_forms(value: object) -> set[str]:
    """A company's name in the forms two spellings of it share: ``company_form``
    and its acronym."""
    key = company_key(value)
    if not key:
        return set()
    words = key.split()
    forms = {" ".join(sorted(words))}
    if len(words) >= 2:
        forms.add("".join(w[0] for w in words))
    elif len(key) <= ACRONYM_MAX and key.isalpha():
        forms.add(key)  # "ABC Corp": already an acronym
    return forms


def phone_tails(value: object) -> set[str]:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    found = set()
    for one in values:
        number = digits(one)
        if len(number) >= 7:
            found.add(number[-PHONE_TAIL:])
    return found


def person_keys(fields: Mapping[str, Any], rules: EmailRules,
                names: tuple[str, str] = ("first_name", "last_name")) -> set[str]:
    """Blocking keys of a person (a lead, a CRM lead or contact), from its fields
    under the marketing names."""
    keys: set[str] = set()
    email = fields.get("email")
    mailbox = person_email_key(email, rules)
    if mailbox:
        keys.add(f"e:{mailbox}")
    keys.update(f"p:{tail}" for tail in phone_tails(fields.get("phone")))
    keys.update(f"p:{tail}" for tail in phone_tails(fields.get("mobile_phone")))
    first, last = fields.get(names[0]), fields.get(names[1])
    employers = {f"c{form}" for form in company_forms(fields.get("company"))}
    domain = email_domain(email, rules)
    if domain:
        employers.add(f"d{domain}")
    for given, family in ((first, last), (last, first)):
        family_sound = sound(family)
        if family_sound is None:
            continue
        keys.update(f"n:{family_sound}|{i}" for i in initials(given))
    last_sound = sound(last)  # with the employer: the names as they stand suffice
    if last_sound is not None:
        keys.update(f"n{e[0]}:{last_sound}|{e[1:]}" for e in employers)
    given_sound = sound(first)
    if given_sound is not None:
        keys.update(f"f{e[0]}:{given_sound}|{e[1:]}" for e in employers)
    return keys


def account_keys(fields: Mapping[str, Any]) -> set[str]:
    """Blocking keys of an account: its name's form and its website's domain, what
    ties a lead to it (``connector.matching.lookup.Accounts``). No acronym: "ABC"
    is too many companies to route a lead to any one of them."""
    form = company_form(fields.get("company"))
    keys = {f"c:{form}"} if form else set()
    site = website_domain(fields.get("website"))
    if site:
        keys.add(f"w:{site}")
    return keys


def lead_account_keys(fields: Mapping[str, Any], rules: EmailRules) -> set[str]:
    """The account keys a lead may meet: its company's form, its email domain."""
    form = company_form(fields.get("company"))
    keys = {f"c:{form}"} if form else set()
    domain = email_domain(fields.get("email"), rules)
    if domain:
        keys.add(f"w:{domain}")
    return keys

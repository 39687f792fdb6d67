"""Normalisation for matching: the forms two records of one person share.

Each function takes what a person typed and returns a comparable key, or None
when there is nothing to compare. They lean on maintained libraries rather
than home-made tables: phonenumbers for phones, cleanco for legal suffixes,
anyascii for unicode folding, nicknames for given-name variants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from anyascii import anyascii
from cleanco import basename
from nicknames import NickNamer

from connector.normalize import phone_region

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_NOT_LETTER = re.compile(r"[^a-z0-9]+")  # digits kept: "Pat1" and "Pat2" are two people
_NOT_DIGIT = re.compile(r"\D+")

# Generic words that differ between two spellings of one company name and say
# nothing about which company it is; legal forms are cleanco's job.
COMPANY_NOISE = frozenset({"the", "and", "company", "co", "corporation", "corp", "incorporated",
                           "inc", "llc", "ltd", "limited", "group", "holding", "holdings",
                           # legal forms cleanco's table misses
                           "ug", "haftungsbeschrankt", "pty", "pvt"})


# Mailboxes a team shares: two people writing from info@acme.com are not one.
ROLE_MAILBOXES = frozenset({
    "info", "sales", "contact", "hello", "office", "admin", "support", "team", "marketing",
    "hr", "jobs", "careers", "billing", "accounts", "enquiries", "inquiries", "mail",
    "noreply", "no-reply", "help", "service", "kontakt", "vertrieb", "bureau", "post",
})


@dataclass(frozen=True)
class EmailRules:
    """How addresses that reach one mailbox are written differently.

    ``dotless`` domains ignore dots in the local part (Gmail does); ``plus_tags``
    domains deliver ``name+tag@`` to ``name@`` (most large providers do; set
    ``plus_everywhere`` to strip tags on every domain); ``aliases`` are domains
    that are one mailbox service (googlemail.com is gmail.com).
    """

    dotless: frozenset[str] = frozenset({"gmail.com"})
    plus_tags: frozenset[str] = frozenset({"gmail.com", "outlook.com", "hotmail.com",
                                           "live.com", "icloud.com", "me.com", "fastmail.com",
                                           "protonmail.com", "proton.me", "yahoo.com"})
    plus_everywhere: bool = False
    aliases: Mapping[str, str] = field(default_factory=lambda: {"googlemail.com": "gmail.com"})
    roles: frozenset[str] = field(default_factory=lambda: ROLE_MAILBOXES)
    """Shared mailboxes' local parts: ``person_email_key`` skips them."""


DEFAULT_EMAIL_RULES = EmailRules()

# Mailbox providers: a shared domain there says nothing about a shared employer.
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
    "ymail.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "outlook.com",
    "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "mail.com",
    "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de", "protonmail.com", "proton.me",
    "fastmail.com", "zoho.com", "yandex.ru", "yandex.com", "mail.ru", "qq.com", "163.com",
    "126.com", "orange.fr", "free.fr", "laposte.net", "libero.it", "btinternet.com",
    "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "naver.com", "hanmail.net",
})


def fold(text: object) -> str:
    """Lower-case ASCII: "Zoë Müller" and "zoe muller" compare equal."""
    return anyascii(str(text)).lower().strip() if text is not None else ""


def email_key(value: object, rules: EmailRules = DEFAULT_EMAIL_RULES) -> str | None:
    """The mailbox an address reaches: case, whitespace, provider dots and +tags removed."""
    text = fold(value).replace(" ", "")
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        return None
    domain = rules.aliases.get(domain, domain)
    if rules.plus_everywhere or domain in rules.plus_tags:
        local = local.split("+", 1)[0]
    if domain in rules.dotless:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def person_email_key(value: object, rules: EmailRules = DEFAULT_EMAIL_RULES) -> str | None:
    """``email_key`` for a person's own mailbox; None for a shared one (info@ ...)."""
    key = email_key(value, rules)
    if key is None or key.partition("@")[0] in rules.roles:
        return None
    return key


def email_domain(value: object, rules: EmailRules = DEFAULT_EMAIL_RULES) -> str | None:
    """The employer's domain of an address; None for free-mail providers."""
    key = email_key(value, rules)
    if key is None:
        return None
    domain = key.rpartition("@")[2]
    return None if domain in FREE_MAIL else domain


def website_domain(value: object) -> str | None:
    """"https://www.Acme.com/about" → "acme.com"."""
    text = fold(value)
    if not text:
        return None
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0].split(":", 1)[0]
    text = text.removeprefix("www.")
    return text if "." in text else None


@lru_cache(maxsize=65536)
def phone_key(value: object, region: str = "US") -> str | None:
    """E.164 for any way a number is written; None if it is not a possible number."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def company_key(value: object) -> str | None:
    """"The ACME Company, Inc." and "Acme" → "acme": legal form, noise and case gone."""
    text = fold(value)
    if not text:
        return None
    for _ in range(3):  # "Acme Co., Ltd." and "Acme GmbH & Co. KG" carry two legal forms
        shorter = basename(text)
        if shorter == text or not shorter:
            break
        text = shorter
    text = text.replace("&", " and ")
    words = [w for w in _NOT_WORD.split(text.lower()) if w and w not in COMPANY_NOISE]
    return " ".join(words) or None


def name_key(value: object) -> str | None:
    """A name as letters (and digits) only: "O'Brien-Smith" → "obriensmith"."""
    text = _NOT_LETTER.sub("", fold(value))
    return text or None


_NICKNAMES = NickNamer()


@lru_cache(maxsize=65536)
def given_names(value: str) -> frozenset[str]:
    """A given name with its nicknames and formal forms ("bob" → robert, rob, ...),
    two steps wide: what to ask a CRM for, where a wider net costs little. To
    decide that two names are one, compare with ``nicknames_near`` and
    ``formal_names`` instead (two steps join unrelated names: bob → bert → albert)."""
    key = name_key(value)
    if key is None:
        return frozenset()
    names = {key} | _NICKNAMES.nicknames_of(key) | _NICKNAMES.canonicals_of(key)
    for canonical in _NICKNAMES.canonicals_of(key):
        names |= _NICKNAMES.nicknames_of(canonical)
    return frozenset(name_key(n) or n for n in names)


@lru_cache(maxsize=65536)
def nicknames_near(value: str) -> frozenset[str]:
    """The name with its nicknames and formal forms one step away in the table
    ("bob" → robert, rob, bert, bobby)."""
    key = name_key(value)
    if key is None:
        return frozenset()
    names = {key} | _NICKNAMES.nicknames_of(key) | _NICKNAMES.canonicals_of(key)
    return frozenset(name_key(n) or n for n in names)


@lru_cache(maxsize=65536)
def formal_names(value: str) -> frozenset[str]:
    """The name with the formal names it is short for ("liz" → elizabeth, liz):
    two nicknames of one formal name (Liz, Beth) share one."""
    key = name_key(value)
    if key is None:
        return frozenset()
    return frozenset({key} | {name_key(n) or n for n in _NICKNAMES.canonicals_of(key)})


# How addresses abbreviate (USPS suffixes and their common European kin):
# "1 Main St." and "1 Main Street" are one street.
ADDRESS_WORDS = {
    "st": "street", "str": "strasse", "ave": "avenue", "av": "avenue", "rd": "road",
    "blvd": "boulevard", "ln": "lane", "dr": "drive", "ct": "court", "pl": "place",
    "sq": "square", "hwy": "highway", "pkwy": "parkway", "cres": "crescent", "cl": "close",
    "tce": "terrace", "ter": "terrace", "cir": "circle", "hts": "heights", "mt": "mount",
    "ste": "suite", "apt": "apartment", "fl": "floor", "bldg": "building", "n": "north",
    "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest",
}


def text_key(value: object) -> str | None:
    """Folded words in sorted order, address abbreviations spelled out."""
    found = sorted(ADDRESS_WORDS.get(w, w) for w in words(value))
    return " ".join(found) or None


_HOUSE = r"\d+[a-z]?(?:\s*[-/]\s*\d+[a-z]?)?"
_NUMBER_FIRST = re.compile(rf"^\s*({_HOUSE})\s*,?\s+(.*[^\W\d_].*)$", re.I)
_NUMBER_LAST = re.compile(rf"^(.*[^\W\d_].*?)\s*,?\s+({_HOUSE})\s*$", re.I)
_ONLY_HOUSE = re.compile(rf"^\s*{_HOUSE}\s*$", re.I)
_NOT_A_STREET = re.compile(r"^\s*(p\.?\s*o\.?\s*box|box|postfach|flat|unit|apt|apartment|suite|"
                           r"ste|route|highway|hwy|"
                           r"interstate|i-|us|state road|sr|county road|cr)\b", re.I)


def house_number(street: object) -> tuple[str, str] | None:
    """A street line's house number and the street name, as a CRM that has one
    address line holds them: "41 Handasyde Street", "12-14 High St",
    "Hauptstraße 5". None when the line has no number at either end, or names a
    numbered road or a box ("Route 66", "PO Box 12") rather than a house. A line
    that is a number alone ("29") is the number, with no street name."""
    if not isinstance(street, str) or _NOT_A_STREET.match(street):
        return None
    if _ONLY_HOUSE.match(street):  # the number alone: the street name was left out
        return street.strip(), ""
    if found := _NUMBER_FIRST.match(street):
        return found.group(1), found.group(2)
    if found := _NUMBER_LAST.match(street):
        return found.group(2), found.group(1)
    return None


def digits(value: object) -> str:
    return _NOT_DIGIT.sub("", str(value or ""))


def words(value: object) -> list[str]:
    return [w for w in _NOT_WORD.split(fold(value)) if w]


def first_of(values: Iterable[object]) -> object:
    return next((v for v in values if v not in (None, "")), None)


def record_region(country: object, default: str) -> str:
    """The region a record's phone is read in: its own country, written any way in any
    language ("Deutschland", "DE", "Germany"), else ``default``. A German contact's
    "030 1234567" is +49 30 1234567, not a US number."""
    return phone_region(str(country), default) if country not in (None, "") else default

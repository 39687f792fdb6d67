"""Step 2 of a cycle: put lead values into the forms the CRM and dedupe expect.

Email lower-cased, country as ISO 3166 alpha-2 from a name in any language
(pycountry's codes and names, CLDR's territory names through babel), phone in
E.164 read in the lead's own country (phonenumbers), US/CA states as their
codes (pycountry), numbers as numbers, whitespace collapsed. A value that
cannot be normalised is kept as given and reported with its field: a lead is
never dropped for a bad phone number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry
from babel import localedata

from connector.errors import RecordError
from connector.records import Lead

_SPACES = re.compile(r"\s+")

INFORMAL_COUNTRIES = {"great britain": "GB", "scotland": "GB", "wales": "GB",
                      "northern ireland": "GB", "uae": "AE"}
"""What people write for a country that neither CLDR nor ISO 3166 carries as its name:
the UK's constituent nations and one abbreviation. Everything else comes from the tables."""

_QUIET = frozenset(".'\u2019")  # U.S.A. is USA; Cote d'Ivoire is "cote divoire" both ways


@dataclass
class Normalized:
    lead: Lead
    warnings: list[str] = field(default_factory=list)
    issues: list[RecordError] = field(default_factory=list)
    """Values no CRM field of their kind can take: the record is refused, naming them."""


def _name_key(text: str) -> str:
    """A country name as compared: case, Latin accents, dots and apostrophes gone,
    punctuation a space, a leading "the" dropped ("The Netherlands", "ESPANA" and "España"
    meet their table entries). Marks on other scripts stay: they spell the word."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text.casefold()):
        if char in _QUIET or (unicodedata.combining(char) and kept and kept[-1] < "\u0250"):
            continue
        kept.append(" " if unicodedata.category(char)[0] in "PZSC" else char)
    words = unicodedata.normalize("NFC", "".join(kept)).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


@lru_cache(maxsize=1)
def _territory_names() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """CLDR's territory names (babel ships them for every locale) by name key: English
    names apart, since an English name wins over another language's spelling of it.

    Loaded on the first name pycountry does not know (about a second: 1,100 locales)."""
    iso = {c.alpha_2 for c in pycountry.countries}
    english = {_name_key(name): code for code, name in
               localedata.load("en").get("territories", {}).items() if code in iso}
    pairs = {(name, code) for locale in localedata.locale_identifiers()
             for code, name in localedata.load(locale).get("territories", {}).items()
             if code in iso}  # locales share most names: each is keyed once
    found: dict[str, set[str]] = {}
    for name, code in pairs:
        found.setdefault(_name_key(name), set()).add(code)
    return english, {key: frozenset(codes) for key, codes in found.items()}


@lru_cache(maxsize=4096)
def country_codes(value: str) -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code a country name or code may mean, in any language:
    one when it is clear, several when it is ambiguous ("Kongo"), none when unknown.

    ISO codes and names first (pycountry: "DE", "DEU", "Germany", "Korea, Republic of"),
    then CLDR's names in English, then in every locale ("Deutschland", "Россия")."""
    text = _SPACES.sub(" ", value.strip())
    if not text:
        return frozenset()
    letters = "".join(ch for ch in text if ch.isalpha())
    for form in dict.fromkeys([text] + ([letters] if "." in text and 2 <= len(letters) <= 3
                                        else [])):  # "U.S." is the code US, dotted
        try:
            return frozenset({pycountry.countries.lookup(form).alpha_2})
        except LookupError:
            pass
    key = _name_key(text)
    if not key:  # punctuation only: nothing to look up
        return frozenset()
    english, anywhere = _territory_names()
    if key in english:
        return frozenset({english[key]})
    if key in INFORMAL_COUNTRIES:
        return frozenset({INFORMAL_COUNTRIES[key]})
    return anywhere.get(key, frozenset())


def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country written any common way, or None (unknown or
    ambiguous: ``country_codes`` says which)."""
    codes = country_codes(value)
    return next(iter(codes)) if len(codes) == 1 else None


def phone_region(country: str | None, default: str) -> str:
    """The region a number written without its country code is read in: the record's
    country where phonenumbers knows it ("030 1234567" in Germany), else ``default``."""
    code = country_code(country) if country else None
    return code if code in phonenumbers.SUPPORTED_REGIONS else default


@lru_cache(maxsize=4096)
def subdivision_code(value: str, country: str) -> str | None:
    """The part after the dash of an ISO 3166-2 code ("California" → "CA")."""
    text = value.strip()
    if not text:
        return None
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        short = sub.code.split("-", 1)[1]
        if text.upper() == short or text.casefold() == sub.name.casefold():
            return short
    return None


def phone_e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _number(value: Any) -> int | float | None:
    if isinstance(value, int | float):
        return value
    text = str(value).strip().replace(",", "").replace("_", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


def normalize(lead: Lead, default_region: str = "US") -> Normalized:
    """A copy of ``lead`` with normalised values, and what could not be normalised."""
    values = dict(lead.fields)
    warnings: list[str] = []
    issues: list[RecordError] = []
    for key, value in list(values.items()):
        if isinstance(value, str):
            values[key] = _SPACES.sub(" ", value).strip()
    if values.get("email"):
        values["email"] = str(values["email"]).lower()
    country = None
    if values.get("country"):
        codes = country_codes(str(values["country"]))
        if len(codes) == 1:
            country = values["country"] = next(iter(codes))
        elif codes:
            warnings.append(f"country: {values['country']!r} is ambiguous (it names "
                            f"{' and '.join(sorted(codes))} in different languages); "
                            "kept as given")
        else:
            warnings.append(f"country: {values['country']!r} is not a known country; kept as given")
    if values.get("state") and country in ("US", "CA"):
        code = subdivision_code(str(values["state"]), country)
        if code:
            values["state"] = code
    if values.get("phone"):
        region = phone_region(country, default_region)
        e164 = phone_e164(str(values["phone"]), region)
        if e164:
            values["phone"] = e164
        else:
            warnings.append(f"phone: {values['phone']!r} is not a possible phone number for "
                            f"{region}; kept as given")
    for key in ("employees", "annual_revenue"):
        if key in values:
            number = _number(values[key])
            if number is None:  # a value no CRM number field takes: the record waits
                issues.append(RecordError("INVALID_NUMBER", f"{key}: {values[key]!r} is not "
                                          "a number", [key]))
            else:
                values[key] = number
    normalized = Lead(id=lead.id, fields=values, updated_at=lead.updated_at, stage=lead.stage,
                      activities=lead.activities, field_times=lead.field_times)
    return Normalized(normalized, warnings, issues)

"""Step 2 of a cycle: put lead values into the forms the CRM and dedupe expect.

Email lower-cased, phone in E.164 (phonenumbers), country as ISO 3166
alpha-2 and US/CA states as their codes (pycountry), numbers as numbers,
whitespace collapsed. A value that cannot be normalised is kept as given and
reported with its field: a lead is never dropped for a bad phone number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry

from connector.errors import RecordError
from connector.records import Lead

_SPACES = re.compile(r"\s+")

COUNTRY_ALIASES = {
    "uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "great britain": "GB",
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "deutschland": "DE", "holland": "NL", "the netherlands": "NL", "españa": "ES",
    "espana": "ES", "brasil": "BR", "russia": "RU", "south korea": "KR", "korea": "KR",
    "czech republic": "CZ", "türkiye": "TR", "turkey": "TR", "vietnam": "VN", "uae": "AE",
    # names in the country's own language, as people type them into forms
    "sverige": "SE", "norge": "NO", "danmark": "DK", "suomi": "FI", "italia": "IT",
    "österreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "belgië": "BE",
    "belgique": "BE", "polska": "PL", "nederland": "NL", "méxico": "MX", "mexico": "MX",
    "nippon": "JP", "日本": "JP", "中国": "CN", "éire": "IE", "россия": "RU",
}


@dataclass
class Normalized:
    lead: Lead
    warnings: list[str] = field(default_factory=list)
    issues: list[RecordError] = field(default_factory=list)
    """Values no CRM field of their kind can take: the record is refused, naming them."""


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country written any common way, or None."""
    text = _SPACES.sub(" ", value.strip())
    if not text:
        return None
    alias = COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


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
        country = country_code(str(values["country"]))
        if country:
            values["country"] = country
        else:
            warnings.append(f"country: {values['country']!r} is not a known country; kept as given")
    if values.get("state") and country in ("US", "CA"):
        code = subdivision_code(str(values["state"]), country)
        if code:
            values["state"] = code
    if values.get("phone"):
        e164 = phone_e164(str(values["phone"]), country or default_region)
        if e164:
            values["phone"] = e164
        else:
            warnings.append(f"phone: {values['phone']!r} is not a possible phone number for "
                            f"{country or default_region}; kept as given")
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


def phone_digits(e164: str) -> str:
    """The national significant number: what a CRM's phone search matches on."""
    return phonenumbers.national_significant_number(phonenumbers.parse(e164))

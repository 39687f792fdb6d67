"""Field comparisons: two prepared values in, a similarity in [0, 1] out.

rapidfuzz does the string measures (Jaro-Winkler for names, token measures for
companies and addresses, normalised Levenshtein for codes); keys.py has put
both values into comparable forms first, once per record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

from connector.matching.keys import (
    company_key,
    digits,
    email_domain,
    email_key,
    fold,
    given_names,
    name_key,
    phone_key,
    website_domain,
    words,
)


def prepare(kind: str, value: Any, *, region: str, email_rules: Any) -> Any:
    """The comparable form of one value (None when there is nothing to compare)."""
    if value is None or value == "" or value == []:
        return None
    if kind == "email":
        return email_key(value, email_rules)
    if kind == "name":
        key = name_key(value)
        return (key, given_names(str(value))) if key else None
    if kind == "company":
        return company_key(value)
    if kind == "phone":
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        keys = frozenset(k for v in values if (k := phone_key(str(v), region)))
        return keys or None
    if kind == "domain":
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        found = frozenset(d for v in values
                          if (d := email_domain(v, email_rules) if "@" in str(v)
                              else website_domain(v)))
        return found or None
    if kind == "text":
        return " ".join(sorted(words(value))) or None
    if kind == "code":
        text = "".join(words(value))
        return text or None
    return fold(value) or None


def _name(a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]]) -> float:
    if a[0] == b[0]:
        return 1.0
    if a[1] & b[1]:  # Bob and Robert
        return 1.0
    short, long = sorted((a[0], b[0]), key=len)
    if len(short) == 1:  # an initial
        return 0.9 if long.startswith(short) else 0.0
    return JaroWinkler.normalized_similarity(a[0], b[0])


def _company(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return max(fuzz.token_set_ratio(a, b), fuzz.ratio(a, b)) / 100


def _phone(a: frozenset[str], b: frozenset[str]) -> float:
    if a & b:
        return 1.0
    # the same national number filed under another country code
    tails = {p[-9:] for p in a if len(p) >= 10}
    return 0.9 if any(p[-9:] in tails for p in b if len(p) >= 10) else 0.0


def _sets(a: frozenset[str], b: frozenset[str]) -> float:
    return 1.0 if a & b else 0.0


def _text(a: str, b: str) -> float:
    return fuzz.token_sort_ratio(a, b) / 100


def _code(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if digits(a) and digits(a) == digits(b) and len(digits(a)) >= 4:
        return 0.95
    return Levenshtein.normalized_similarity(a, b)


def _exact(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


SIMILARITY: dict[str, Callable[[Any, Any], float]] = {
    "email": _exact, "name": _name, "company": _company, "phone": _phone, "domain": _sets,
    "text": _text, "code": _code, "exact": _exact,
}


def blocking_values(kind: str, prepared: Any) -> list[str]:
    """The strings a prepared value contributes to blocking keys."""
    if prepared is None:
        return []
    if kind == "name":
        return [prepared[0]]
    if isinstance(prepared, frozenset):
        return sorted(prepared)
    return [str(prepared)]

"""Field comparisons: two prepared values in, a similarity in [0, 1] out.

rapidfuzz does the string measures (Jaro-Winkler for names, token measures for
companies and addresses, optimal-string-alignment edit distance for codes); keys.py has put
both values into comparable forms first, once per record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from connector.matching.keys import (
    ADDRESS_WORDS,
    company_key,
    digits,
    email_domain,
    fold,
    formal_names,
    name_key,
    nicknames_near,
    person_email_key,
    phone_key,
    text_key,
    website_domain,
    words,
)


def prepare(kind: str, value: Any, *, region: str, email_rules: Any) -> Any:
    """The comparable form of one value (None when there is nothing to compare)."""
    if value is None or value == "" or value == []:
        return None
    if kind == "email":
        return person_email_key(value, email_rules)
    if kind == "name":
        key = name_key(value)
        return (key, nicknames_near(str(value)), formal_names(str(value))) if key else None
    if kind == "surname":  # the shape of a name, without the given-name table
        key = name_key(value)
        return (key, frozenset(), frozenset({key})) if key else None
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
        return text_key(value)
    if kind == "code":
        text = "".join(words(value))
        return text or None
    return fold(value) or None


PLACE_WORDS = frozenset(ADDRESS_WORDS) | frozenset(ADDRESS_WORDS.values())
"""Words of an address that say what kind of street it is, not which (Street, Road,
North): too many records share them to key a block on."""

NameValue = tuple[str, frozenset[str], frozenset[str]]
"""A prepared name: its key, the names one nickname step away, its formal names."""


NEAR = 0.8
"""A given name's other form (Paul and Paula): near, never the same name. Between the
shipped first_name's ``disagree`` (0.7) and ``min`` (0.85): a typo or a relative,
for the weights and their guards to weigh, never enough for a rule."""


def _name(a: NameValue, b: NameValue) -> float:
    if a[0] == b[0]:
        return 1.0
    # "Agent 7" and "Agent 17": numbers are not typos (isalpha: the common case, fast)
    if not (a[0].isalpha() and b[0].isalpha()) and digits(a[0]) != digits(b[0]):
        return 0.0
    if other_form(a[0], b[0]):
        return min(NEAR, JaroWinkler.normalized_similarity(a[0], b[0]))
    if a[0] in b[1] or b[0] in a[1] or a[2] & b[2]:  # Bob and Robert; Liz and Beth
        return 1.0
    short, long = sorted((a[0], b[0]), key=len)
    if len(short) == 1:  # an initial
        return 0.9 if long.startswith(short) else 0.0
    return JaroWinkler.normalized_similarity(a[0], b[0])


def other_form(a: str, b: str) -> bool:
    """One given name's forms for two people: Paul and Paula, Jan and Jana, Mario and
    Maria, Louis and Louise, Alexander and Alexandra, Victor and Victoria (a couple,
    or siblings, at one address), however close their letters."""
    def stems(name: str) -> set[str]:
        found = {name}
        for ending, kept in (("ia", ""), ("er", "r"), ("ra", "r"), ("a", ""), ("se", "s"),
                             ("o", "")):
            if name.endswith(ending) and len(name) - len(ending) + len(kept) >= 3:
                found.add(name[: len(name) - len(ending)] + kept)
        return found
    return a != b and bool(stems(a) & stems(b))


def keystrokes(a: str, b: str) -> int:
    """Keystrokes between two spellings: a letter wrong, missing or extra, or two
    neighbours swapped, each one (optimal string alignment distance; 4 stands for
    anything beyond 3)."""
    return OSA.distance(a, b, score_cutoff=3)


def known_given(value: NameValue) -> bool:
    """A given name the nickname table knows (it has nicknames or a formal form):
    a name people are given, not a misspelling of one."""
    return len(value[1]) > 1 or len(value[2]) > 1


def _surname(a: NameValue, b: NameValue) -> float:
    """Jaro-Winkler on the letters: "Green" is not "Berry", "King" is not "Kingston"
    (the given-name table says both)."""
    if a[0] == b[0]:
        return 1.0
    if not (a[0].isalpha() and b[0].isalpha()) and digits(a[0]) != digits(b[0]):
        return 0.0
    return JaroWinkler.normalized_similarity(a[0], b[0])


def _company(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if _acronym_of(a, b) or _acronym_of(b, a):  # "ABC" is Alpha Beta Cosmetics
        return 0.9
    return max(fuzz.token_set_ratio(a, b), fuzz.ratio(a, b)) / 100


def _acronym_of(short: str, long: str) -> bool:
    words = long.split()
    return (" " not in short and 2 <= len(short) <= 5 and len(words) == len(short)
            and "".join(w[0] for w in words) == short)


def _phone(a: frozenset[str], b: frozenset[str]) -> float:
    if a & b:
        return 1.0
    # the same national number filed under another country code
    tails = {p[-9:] for p in a if len(p) >= 10}
    return 0.9 if any(p[-9:] in tails for p in b if len(p) >= 10) else 0.0


def _sets(a: frozenset[str], b: frozenset[str]) -> float:
    return 1.0 if a & b else 0.0


GLUED_WORDS = 4
"""Texts of at most this many words are also compared glued together in each order."""
GLUED_FROM = 0.8
"""Only texts whose letters could reach this are glued: below it a lost space
would not make two texts agree at any level a text field ships with."""


def _text(a: str, b: str) -> float:
    """Token-sort similarity; with a space lost or added ("maltbycricuit" and
    "maltby circuit", "narrog in") the words glued together in each order (the
    prepared words are sorted, so their order is lost)."""
    similarity = fuzz.token_sort_ratio(a, b) / 100
    if similarity >= 0.9:
        return similarity
    mine, theirs = _glued(a), _glued(b)
    # the letters sorted bound every order's ratio: most pairs of two streets stop here
    if (mine.orders or theirs.orders) \
            and fuzz.ratio(mine.letters, theirs.letters) / 100 > max(similarity, GLUED_FROM):
        # each side glued in each order against the other glued in sorted order
        glued = max(fuzz.ratio(mine.glued, theirs.glued),
                    max((fuzz.ratio(theirs.glued, o) for o in mine.orders), default=0),
                    max((fuzz.ratio(mine.glued, o) for o in theirs.orders), default=0))
        return max(similarity, glued / 100)
    return similarity


@dataclass(frozen=True)
class _Glued:
    glued: str
    """The words glued in their (sorted) order."""
    orders: tuple[str, ...]
    """The words glued in every other order (none for one word or too many)."""
    letters: str
    """Its letters sorted: their ratio bounds the ratio of the words in any order."""


@lru_cache(maxsize=65_536)
def _glued(text: str) -> _Glued:
    """A prepared text glued together, once per distinct text (the same streets and
    towns come back pair after pair)."""
    words = text.split()
    glued = "".join(words)
    orders = tuple({"".join(o) for o in permutations(words)} - {glued}) \
        if 1 < len(words) <= GLUED_WORDS else ()
    return _Glued(glued, orders, "".join(sorted(glued)))


def _code(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if digits(a) and digits(a) == digits(b) and len(digits(a)) >= 4:
        return 0.95
    return OSA.normalized_similarity(a, b)  # a transposition (5126/5162) is one typo


def _exact(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


SIMILARITY: dict[str, Callable[[Any, Any], float]] = {
    "email": _exact, "name": _name, "surname": _surname, "company": _company, "phone": _phone,
    "domain": _sets, "text": _text, "code": _code, "exact": _exact,
}


def blocking_values(kind: str, prepared: Any) -> list[str]:
    """The strings a prepared value contributes to blocking keys."""
    if prepared is None:
        return []
    if kind in ("name", "surname"):  # Bob is found under robert too
        return sorted(prepared[2])
    if isinstance(prepared, frozenset):
        return sorted(prepared)
    if kind == "text":  # each word that names it: a typo in one leaves the others
        return sorted({w for w in prepared.split() if len(w) > 1 and w not in PLACE_WORDS}) \
            or [str(prepared)]
    return [str(prepared)]

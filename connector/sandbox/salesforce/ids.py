"""Salesforce record ids: 15-char case-sensitive ids and their 18-char form.

Clients compare, store and log 18-char ids, and code that matches records
across systems often accepts either length. The sandbox therefore mints real
looking ids (object key prefix + counter + the case-checksum suffix) and
accepts 15-char or case-folded 18-char ids wherever Salesforce does.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")

# The two "pod" characters after the key prefix; fixed so ids are stable
# between runs of the same seed, which keeps demo output reproducible.
POD = "8d"


def checksum(id15: str) -> str:
    """The 3-char suffix that makes a 15-char id safe in case-insensitive systems."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, number: int) -> str:
    """The 18-char id of the ``number``-th record minted under ``key_prefix``."""
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = _BASE62[remainder] + digits
    body = f"{key_prefix}{POD}{digits.rjust(10, '0')}"
    if len(body) != 15:
        raise ValueError(f"id counter overflow for prefix {key_prefix}")
    return body + checksum(body)


def looks_like_id(value: str) -> bool:
    return bool(_ID_SHAPE.match(value))


def normalize_id(value: str) -> str | None:
    """The canonical 18-char id for a 15- or 18-char id, or None if malformed.

    An 18-char id whose case was lost (lower-cased by a spreadsheet, say) is
    restored from its suffix, as Salesforce does.
    """
    if not looks_like_id(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    suffix = value[15:].upper()
    if any(char not in _SUFFIX_ALPHABET for char in suffix):
        return None
    restored = []
    for chunk in range(3):
        bits = _SUFFIX_ALPHABET.index(suffix[chunk])
        for position, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            restored.append(char.upper() if bits & (1 << position) else char.lower())
    id15 = "".join(restored)
    if checksum(id15) != suffix:
        return None
    return id15 + suffix


def short_id(id18: str) -> str:
    """The 15-char form, which Salesforce uses inside some error messages."""
    return id18[:15]

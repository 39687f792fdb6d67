"""JSON as Salesforce writes it for ``X-PrettyPrint: 1`` (which simple-salesforce
always sends): Jackson's default pretty printer, two spaces a level,
``"key" : value``, arrays opened on the same line (``[ {``) and empty ones as
``[ ]``. It is also about twice as fast as ``json.dumps(indent=2)``, which
matters when a query answers with thousands of records."""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the C encoder, as ensure_ascii=False uses
from typing import Any


def pretty(value: Any) -> str:
    out: list[str] = []
    _write(value, out, "\n")
    return "".join(out)


def _write(value: Any, out: list[str], newline: str) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{ }")
            return
        inner = newline + "  "
        out.append("{")
        separator = inner
        for key, item in value.items():
            out.append(separator)
            separator = "," + inner
            out.append(encode_basestring(str(key)))
            out.append(" : ")
            if isinstance(item, str):  # the common case, without a call
                out.append(encode_basestring(item))
            elif item is None:
                out.append("null")
            else:
                _write(item, out, inner)
        out.append(newline)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[ ]")
            return
        out.append("[ ")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _write(item, out, newline)
        out.append(" ]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    else:  # numbers, with json's own spelling (and its error for what is not JSON)
        out.append(json.dumps(value))

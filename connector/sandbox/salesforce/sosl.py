"""SOSL: ``GET /services/data/vXX.X/search/?q=FIND {...} IN PHONE FIELDS RETURNING ...``.

What the sandbox supports, and where each behaviour comes from (Salesforce
docs unless said otherwise; nothing here is copied from them):

* Syntax (SOQL and SOSL Reference, "SOSL Syntax"): ``FIND {SearchQuery}
  [IN group FIELDS] [RETURNING Object[(fields [WHERE ...] [ORDER BY ...]
  [LIMIT n] [OFFSET n])], ...] [LIMIT n]``. The search query must be in curly
  braces. Everything after the braces is tokenized and parsed by ``soql.py``,
  so a RETURNING field list or WHERE clause is bound and type-checked exactly
  like a SOQL query (INVALID_FIELD, INVALID_TYPE ...).
* Search groups: PHONE FIELDS (Phone/MobilePhone on Lead and Contact, Phone
  on Account) and EMAIL FIELDS (Email on Lead and Contact). NAME, ALL (the
  default when IN is omitted) and SIDEBAR FIELDS need a word-level full-text
  index the sandbox does not have; they are refused with MALFORMED_SEARCH
  "... not supported by this sandbox" rather than answered wrongly.
* Phone terms ignore formatting: a term's digits are compared with the digits
  of the stored number, so ``{(415) 555-1212}`` finds ``415.555.1212``
  (the API's own search() sample searches an unformatted 4155551212 in PHONE
  FIELDS). A run of digits, spaces, ``()+-.`` counts as one phone term. The
  whole number must match; a trailing ``*`` makes it a prefix.
* Email terms match a whole address, case-insensitively (text search is
  case-insensitive, "FIND {SearchQuery}"). Word-level matches inside an
  address ("bond" finding bond@x.com) need full-text and are refused.
* Operators (same page): OR, AND (also implied between terms), AND NOT,
  parentheses, "quoted phrases", ``*``/``?`` wildcards; a backslash escapes a
  reserved character (``? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -``). The
  sandbox is lenient with an unescaped reserved character inside a term (it
  is formatting for phone numbers) rather than guessing the real error.
* Limits: at most 2,000 rows per search (API 28.0+, "SOSL Limits on Search
  Results" and "LIMIT n"); object LIMITs are applied in RETURNING order and
  an overall LIMIT is shared evenly among the objects without one. A search
  query over 10,000 characters returns no rows, and over 4,000 characters
  its logical operators are dropped so AND becomes OR ("SOSL Syntax").
* Errors: a term shorter than two characters is INVALID_SEARCH "search term
  must be longer than one character" (the code and text clients report, e.g.
  salesforcedictionary.com's error page); other syntax errors are
  MALFORMED_SEARCH with the query banner ``errors.render_query_error``
  builds. The response is ``{"searchRecords": [{"attributes": {"type",
  "url"}, "Id", ...}]}`` (REST API Developer Guide, "Search for a String").

Matching uses the org's indexes (phone digits, email lookup); the WHERE of a
RETURNING spec is then planned and applied by ``planner.select``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from . import planner, soql
from .errors import SoqlError
from .schema import Schema, SObject
from .store import Org, phone_digits

MAX_ROWS = 2000
NO_ROWS_OVER = 10_000  # a longer SearchQuery returns no rows
NO_OPERATORS_OVER = 4_000  # a longer SearchQuery has its operators dropped (AND -> OR)
GROUPS = ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR")
SUPPORTED_GROUPS = ("EMAIL", "PHONE")
# What a RETURNING-less search covers: the objects with phone or email fields.
DEFAULT_OBJECTS = ("Account", "Contact", "Lead")
_EMAIL_FIELDS = {"Lead": ("Email",), "Contact": ("Email",)}
_PHONE_RUN = re.compile(r"[+(]*[0-9][0-9 ()+.\-]*")


# --- search expression ----------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str
    prefix: bool = False  # a trailing * wildcard


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class AllOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Without:
    keep: Expr
    drop: Expr


Expr = Term | AnyOf | AllOf | Without


@dataclass(frozen=True)
class Search:
    expr: Expr | None  # None: the search query is too long to return rows
    group: str
    returning: tuple[soql.BoundQuery, ...]
    own_limits: tuple[bool, ...]  # whether each RETURNING spec set its own LIMIT
    limit: int


def _malformed(message: str, position: int | None = None) -> SoqlError:
    return SoqlError("MALFORMED_SEARCH", message, position)


def _lex(body: str, start: int, group: str) -> list[tuple[str, str, int]]:
    """Tokens of the FIND body: (kind, text, position); kinds WORD PHRASE OP ( )."""
    tokens: list[tuple[str, str, int]] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char.isspace():
            i += 1
            continue
        if group == "PHONE" and (run := _PHONE_RUN.match(body, i)):
            text = run.group().rstrip()
            # A paren without its partner in the run groups terms; it is not formatting.
            skip = 0
            while text.startswith("(") and text.count("(") > text.count(")"):
                text, skip = text[1:], skip + 1
            while text.endswith(")") and text.count(")") > text.count("("):
                text = text[:-1]
            if skip:
                tokens.extend(("(", "(", start + i + k) for k in range(skip))
                i += skip
            if text:
                end = i + len(text)
                if body.startswith("*", end):
                    text, end = text + "*", end + 1
                tokens.append(("WORD", text, start + i))
                i = end
                continue
        if char in "()":
            tokens.append((char, char, start + i))
            i += 1
            continue
        if char == '"':
            close = body.find('"', i + 1)
            while close != -1 and body[close - 1] == "\\":
                close = body.find('"', close + 1)
            if close == -1:
                raise _malformed("mismatched character '<EOF>' expecting '\"'", start + n)
            tokens.append(("PHRASE", _unescape(body[i + 1 : close]), start + i))
            i = close + 1
            continue
        j = i
        word: list[str] = []
        while j < n and not body[j].isspace() and body[j] not in '()"':
            if body[j] == "\\" and j + 1 < n:
                word.append(body[j + 1])
                j += 2
                continue
            word.append(body[j])
            j += 1
        text = "".join(word)
        kind = "OP" if text.upper() in ("AND", "OR", "NOT") and "\\" not in body[i:j] else "WORD"
        tokens.append((kind, text.upper() if kind == "OP" else text, start + i))
        i = j
    return tokens


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


class _TermParser:
    """``expr := and (OR and)*``, ``and := unary ((AND [NOT] | implied) unary)*``."""

    def __init__(self, tokens: list[tuple[str, str, int]], end: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end = end

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Expr:
        expr = self.any_of()
        if (token := self.peek()) is not None:
            raise _malformed(f"unexpected token: '{token[1]}'", token[2])
        return expr

    def any_of(self) -> Expr:
        items = [self.all_of()]
        while (token := self.peek()) is not None and token[:2] == ("OP", "OR"):
            self.i += 1
            items.append(self.all_of())
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def all_of(self) -> Expr:
        expr = self.primary()
        while (token := self.peek()) is not None and token[0] != ")" and token[:2] != ("OP", "OR"):
            if token[:2] == ("OP", "AND"):
                self.i += 1
                nxt = self.peek()
                if nxt is not None and nxt[:2] == ("OP", "NOT"):
                    self.i += 1
                    expr = Without(expr, self.primary())
                    continue
            expr = AllOf((expr, self.primary()))
        return expr

    def primary(self) -> Expr:
        token = self.peek()
        if token is None:
            raise _malformed("mismatched character '<EOF>' expecting a search term", self.end)
        kind, text, pos = token
        self.i += 1
        if kind == "(":
            inner = self.any_of()
            closing = self.peek()
            if closing is None or closing[0] != ")":
                raise _malformed("mismatched character '<EOF>' expecting ')'", self.end)
            self.i += 1
            return inner
        if kind in ("WORD", "PHRASE"):
            prefix = kind == "WORD" and text.endswith("*") and not text.endswith("\\*")
            return Term(text[:-1] if prefix else text, prefix)
        raise _malformed(f"unexpected token: '{text}'", pos)


def _terms(expr: Expr) -> list[Term]:
    if isinstance(expr, Term):
        return [expr]
    if isinstance(expr, Without):
        return _terms(expr.keep) + _terms(expr.drop)
    return [t for item in expr.items for t in _terms(item)]


def _without_operators(expr: Expr) -> Expr:
    """What a SearchQuery over 4,000 characters means: every term OR-ed."""
    return AnyOf(tuple(_terms(expr)))


def _drop_short(expr: Expr) -> Expr | None:
    """Terms under two characters are not searched; None if nothing is left."""
    if isinstance(expr, Term):
        return expr if len(expr.text.strip()) >= 2 else None
    if isinstance(expr, Without):
        keep = _drop_short(expr.keep)
        drop = _drop_short(expr.drop)
        return keep if drop is None or keep is None else Without(keep, drop)
    kept = tuple(e for e in (_drop_short(item) for item in expr.items) if e is not None)
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]
    return AnyOf(kept) if isinstance(expr, AnyOf) else AllOf(kept)


# --- the statement -------------------------------------------------------------------


class _TailParser(soql._Parser):
    """The clauses after ``FIND {...}``, reusing the SOQL parser for fields and WHERE."""

    def tail(self) -> tuple[str, list[tuple[soql.Query, bool]], int | None]:
        group = "ALL"
        if self.accept_keyword("IN"):
            token = self.current
            if token.kind != "IDENT" or token.text.upper() not in GROUPS:
                raise self.unexpected()
            group = self.advance().text.upper()
            if not self.current.is_keyword("FIELDS"):
                raise self.unexpected()
            self.advance()
        specs: list[tuple[soql.Query, bool]] = []
        if self.current.is_keyword("RETURNING"):
            self.advance()
            specs.append(self.spec())
            while self.current.kind == "COMMA":
                self.advance()
                specs.append(self.spec())
        limit = self.integer() if self.accept_keyword("LIMIT") else None
        if self.current.kind != "EOF":
            raise self.unexpected()
        return group, specs, limit

    def spec(self) -> tuple[soql.Query, bool]:
        name = self.identifier()
        fields: tuple[soql.FieldPath, ...] = (soql.FieldPath(("Id",), name.pos),)
        where = None
        order: tuple[soql.OrderItem, ...] = ()
        limit = offset = None
        if self.current.kind == "LPAREN":
            self.advance()
            paths = [self.field_path()]
            while self.current.kind == "COMMA":
                self.advance()
                paths.append(self.field_path())
            fields = tuple(paths)
            if self.accept_keyword("WHERE"):
                where = self.condition()
            if self.accept_keyword("ORDER"):
                self.expect_keyword("BY")
                order = self.order_list()
            if self.accept_keyword("LIMIT"):
                limit = self.integer()
            if self.accept_keyword("OFFSET"):
                offset = self.integer()
            self.expect("RPAREN")
        query = soql.Query(fields, False, name.text, name.pos, where, order, limit, offset)
        return query, limit is not None


def parse(text: str, schema: Schema, *, now: datetime | None = None, zone: tzinfo = UTC) -> Search:
    """Parse and bind a SOSL statement; SoqlError carries the API's code and message."""
    match = re.match(r"\s*FIND\s*", text or "", re.IGNORECASE)
    if not match:
        raise _malformed("unexpected token: SOSL statements must begin with FIND", 0)
    open_at = match.end()
    if text[open_at : open_at + 1] != "{":
        raise _malformed("mismatched character: the search query must be in curly braces", open_at)
    close_at = _closing_brace(text, open_at)
    body = text[open_at + 1 : close_at]
    tail = " " * (close_at + 1) + text[close_at + 1 :]  # keeps token positions absolute
    try:
        parser = _TailParser(soql.tokenize(tail))
        group, specs, limit = parser.tail()
    except SoqlError as exc:
        if exc.code == "MALFORMED_QUERY":
            raise _malformed(exc.message, exc.position) from None
        raise
    if group not in SUPPORTED_GROUPS:
        raise _malformed(f"IN {group} FIELDS is not supported by this sandbox", open_at)
    if not specs:
        specs = [
            (soql.Query((soql.FieldPath(("Id",), 0),), False, name, 0, None, (), None, None), False)
            for name in DEFAULT_OBJECTS
        ]
    bound = tuple(soql.bind(q, schema, now=now, zone=zone) for q, _ in specs)
    expr = _search_expr(body, open_at + 1, group)
    overall = MAX_ROWS if limit is None else min(limit, MAX_ROWS)
    return Search(expr, group, bound, tuple(own for _, own in specs), overall)


def _closing_brace(text: str, open_at: int) -> int:
    i = open_at + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "}":
            return i
        i += 1
    raise _malformed("mismatched character '<EOF>' expecting '}'", len(text))


def _search_expr(body: str, start: int, group: str) -> Expr | None:
    if len(body) > NO_ROWS_OVER:
        return None
    tokens = _lex(body, start, group)
    if not tokens:
        raise _malformed("search term must not be empty", start)
    expr = _TermParser(tokens, start + len(body)).parse()
    if len(body) > NO_OPERATORS_OVER:
        expr = _without_operators(expr)
    kept = _drop_short(expr)
    if kept is None:
        raise SoqlError("INVALID_SEARCH", "search term must be longer than one character")
    if group == "EMAIL":
        for term in _terms(kept):
            if "@" not in term.text:
                raise _malformed(
                    f"EMAIL FIELDS terms must be whole addresses in this sandbox: {term.text}",
                    start,
                )
    return kept


# --- running it -------------------------------------------------------------------------


def run(org: Org, search: Search, *, record_url: Any) -> dict[str, Any]:
    """The REST search resource's body: ``{"searchRecords": [...]}``."""
    if search.expr is None:
        return {"searchRecords": []}
    per_object: list[list[dict[str, Any]]] = []
    with org.lock:
        for bound in search.returning:
            hits = _hits(org, bound.sobject, search.group, search.expr)
            if not hits:
                per_object.append([])
                continue
            _, records = planner.select(
                org, bound, include_deleted=False, record_url=record_url, within=hits
            )
            per_object.append(records)
    quotas = _quotas([len(r) for r in per_object], search.own_limits, search.limit)
    out: list[dict[str, Any]] = []
    for records, quota in zip(per_object, quotas, strict=True):
        out.extend(records[:quota])
    return {"searchRecords": out}


def _quotas(counts: list[int], own: tuple[bool, ...], overall: int) -> list[int]:
    """Object limits in RETURNING order first, then the rest shared evenly ("LIMIT n")."""
    quotas = [0] * len(counts)
    remaining = overall
    for i, count in enumerate(counts):
        if own[i]:
            quotas[i] = min(count, remaining)
            remaining -= quotas[i]
    shared = sorted((count, i) for i, count in enumerate(counts) if not own[i])
    for position, (count, i) in enumerate(shared):
        share = remaining // (len(shared) - position)
        quotas[i] = min(count, share)
        remaining -= quotas[i]
    # Leftovers from rounding go to the objects in RETURNING order.
    for i, count in enumerate(counts):
        if not own[i] and remaining > 0 and quotas[i] < count:
            extra = min(count - quotas[i], remaining)
            quotas[i] += extra
            remaining -= extra
    return quotas


def _hits(org: Org, sobject: SObject, group: str, expr: Expr) -> set[str]:
    if isinstance(expr, Term):
        return _term_hits(org, sobject, group, expr)
    if isinstance(expr, Without):
        return _hits(org, sobject, group, expr.keep) - _hits(org, sobject, group, expr.drop)
    sets = [_hits(org, sobject, group, item) for item in expr.items]
    if isinstance(expr, AnyOf):
        return set().union(*sets)
    found = sets[0]
    for other in sets[1:]:
        found = found & other
    return found


def _term_hits(org: Org, sobject: SObject, group: str, term: Term) -> set[str]:
    if group == "PHONE":
        digits = phone_digits(term.text)
        if not digits:
            return set()
        if term.prefix:
            keys = [k for k in org.phone_keys(sobject) if k.startswith(digits)]
            return org.probe_phones(sobject, keys)
        return org.probe_phones(sobject, [digits])
    found: set[str] = set()
    wanted = term.text.strip().casefold()
    for name in _EMAIL_FIELDS.get(sobject.name, ()):
        if term.prefix:
            keys = [k for k in org.lookup_keys(sobject, name) if k.startswith(wanted)]
        else:
            keys = [wanted]
        found |= org.probe(sobject, name, keys) or set()
    return found

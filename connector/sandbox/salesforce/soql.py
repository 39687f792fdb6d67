"""SOQL: a tokenizer, a recursive-descent parser, a binder and an evaluator.

The pipeline is the one a real query planner has, so the sandbox rejects
what Salesforce rejects, at the same place:

* ``tokenize`` turns text into tokens, decoding string escapes (``\\'``,
  ``\\\\``, ``\\n``, ``\\u`` + four hex digits...). A quote ends a literal only when
  not escaped, so a value like ``x\\' OR Name != \\'`` stays one literal:
  an injection attempt can never become syntax.
* ``parse`` builds a ``Query`` tree or raises MALFORMED_QUERY pointing at
  the offending token.
* ``bind`` resolves the object and field names against the schema
  (case-insensitively, returning canonical names) and type-checks every
  literal against its field, raising INVALID_TYPE / INVALID_FIELD /
  INVALID_QUERY_FILTER_OPERATOR like the real API.
* ``execute`` filters, orders, offsets, limits and projects records.

Relationship paths (``Owner.Name``) are parsed as dotted field paths and
resolved one level deep through reference fields. Date literals (TODAY,
LAST_N_DAYS:n) are a literal kind of their own; ``bind`` resolves them to a
range of days from its ``now`` in the user's time zone (``dates.py``), and a
comparison with a range means inside (=), before (<) or after (>) it.

Semantics follow the SOQL reference: string comparison and LIKE are case
insensitive; ``!=`` and ``NOT IN`` match nulls; ORDER BY puts nulls first
unless told otherwise, and sorts text case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

from . import dates
from .errors import SoqlError
from .ids import normalize_id
from .schema import (
    ANYTYPE,
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    DOUBLE,
    ID,
    INT,
    NUMBER_TYPES,
    REFERENCE,
    TEXT_TYPES,
    Field,
    Schema,
    SObject,
    parse_date,
    parse_datetime,
)

MAX_OFFSET = 2000

MAX_QUERY_LENGTH = 100_000
"""Salesforce's default cap on a SOQL statement (Salesforce Developer Limits, "SOQL and
SOSL Limits for Search Queries"). Past it the API answers MALFORMED_QUERY "SOQL
statements cannot be longer than 100000 characters" (the wording clients report,
e.g. django-salesforce issue #164). Over REST GET the 16,384-byte URI cap
(``server.MAX_URI_BYTES``, a 414) is met long before this."""

KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC",
        "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE",
        "GROUP", "HAVING", "INCLUDES", "EXCLUDES", "WITH", "USING", "FOR", "TYPEOF",
    }
)  # fmt: skip

# --- tokens ----------------------------------------------------------------


class Token(NamedTuple):  # a tuple: a long query has thousands, built fast
    kind: str  # IDENT STRING NUMBER DATETIME DATE OP LPAREN RPAREN COMMA DOT COLON EOF
    text: str
    pos: int
    value: Any = None
    # For STRING: (char, is_wildcard) pairs, so LIKE can tell an escaped
    # \% or \_ (a literal) from a bare % or _ (a wildcard); None when the literal
    # has no escapes, so every % and _ in it is a wildcard.
    pattern: tuple[tuple[str, bool], ...] | None = ()

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.text.upper() in words

    def shown(self) -> str:
        return "<EOF>" if self.kind == "EOF" else f"'{self.text}'"


_ESCAPES = {
    "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t",
    "b": "\b", "B": "\b", "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\",
}  # fmt: skip

_DATETIME_LITERAL = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
)
_DATE_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _position(query: str, pos: int) -> str:
    row = query.count("\n", 0, pos) + 1
    column = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return f"line {row}:{column}"


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == "'":
            token, i = _string(query, i)
            tokens.append(token)
        elif char.isdigit() or (
            char in "+-." and i + 1 < n and (query[i + 1].isdigit() or query[i + 1] == ".")
        ):
            token, i = _number_or_datetime(query, i)
            tokens.append(token)
        elif char.isalpha() or char == "_":
            match = _IDENT.match(query, i)
            assert match
            tokens.append(Token("IDENT", match.group(), i))
            i = match.end()
        elif query.startswith(("!=", "<>", "<=", ">="), i):
            text = query[i : i + 2]
            tokens.append(Token("OP", "!=" if text == "<>" else text, i))
            i += 2
        elif char in "=<>":
            tokens.append(Token("OP", char, i))
            i += 1
        elif char in "(),.:":
            kind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", ".": "DOT", ":": "COLON"}[char]
            tokens.append(Token(kind, char, i))
            i += 1
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"{_position(query, i)} no viable alternative at character '{char}'",
                i,
            )
    tokens.append(Token("EOF", "", n))
    return tokens


def _string(query: str, start: int) -> tuple[Token, int]:
    end = query.find("'", start + 1)
    if end != -1 and query.find("\\", start + 1, end) == -1:  # no escapes: the common case
        text = query[start + 1 : end]
        return Token("STRING", query[start : end + 1], start, text, None), end + 1
    chars: list[str] = []
    pattern: list[tuple[str, bool]] = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if char == "'":
            return (
                Token("STRING", query[start : i + 1], start, "".join(chars), tuple(pattern)),
                i + 1,
            )
        if char == "\\":
            nxt = query[i + 1 : i + 2]
            if nxt in _ESCAPES:
                decoded = _ESCAPES[nxt]
                i += 2
            elif nxt in ("%", "_"):
                # Only meaningful in LIKE; elsewhere it is the plain character.
                chars.append(nxt)
                pattern.append((nxt, False))
                i += 2
                continue
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[i + 2 : i + 6]):
                decoded = chr(int(query[i + 2 : i + 6], 16))
                i += 6
            else:
                bad = query[i : i + 2]
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{query[start + 1 : i + 2]}'. Illegal character "
                    f"sequence '{bad}' in string literal.",
                    i,
                )
            chars.append(decoded)
            pattern.append((decoded, False))
            continue
        chars.append(char)
        pattern.append((char, char in "%_"))
        i += 1
    raise SoqlError(
        "MALFORMED_QUERY",
        f"{_position(query, len(query))} mismatched character '<EOF>' expecting '''",
        len(query),
    )


def _number_or_datetime(query: str, start: int) -> tuple[Token, int]:
    for regex, kind, parse in (
        (_DATETIME_LITERAL, "DATETIME", parse_datetime),
        (_DATE_LITERAL, "DATE", parse_date),
    ):
        match = regex.match(query, start)
        if match:
            value = parse(match.group())
            if value is None:
                raise SoqlError("MALFORMED_QUERY", f"invalid date: {match.group()}", start)
            return Token(kind, match.group(), start, value), match.end()
    match = _NUMBER.match(query, start)
    if not match:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"{_position(query, start)} no viable alternative at character '{query[start]}'",
            start,
        )
    text = match.group()
    number: float | int = float(text) if "." in text else int(text)
    return Token("NUMBER", text, start, number), match.end()


# --- syntax tree -------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    parts: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string number boolean null datetime date date_literal
    value: Any
    pos: int
    pattern: tuple[tuple[str, bool], ...] | None = ()  # as Token.pattern


@dataclass(frozen=True)
class Comparison:
    path: FieldPath
    op: str  # = != < > <= >= IN NOT IN LIKE
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Expr = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    fields: tuple[FieldPath, ...]  # empty for SELECT COUNT()
    count: bool
    sobject: str
    sobject_pos: int
    where: Expr | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- parser ------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "EOF":
            self.i += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return SoqlError("MALFORMED_QUERY", f"unexpected token: {token.shown()}", token.pos)

    def expect_keyword(self, word: str) -> Token:
        if not self.current.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.current.kind != kind:
            raise self.unexpected()
        return self.advance()

    def accept_keyword(self, *words: str) -> Token | None:
        return self.advance() if self.current.is_keyword(*words) else None

    # query := SELECT select FROM ident [WHERE cond] [ORDER BY order] [LIMIT n] [OFFSET n]
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields, count = self.select_list()
        self.expect_keyword("FROM")
        sobject = self.identifier()
        where = self.condition() if self.accept_keyword("WHERE") else None
        order_by: tuple[OrderItem, ...] = ()
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            order_by = self.order_list()
        limit = self.integer() if self.accept_keyword("LIMIT") else None
        offset = self.integer() if self.accept_keyword("OFFSET") else None
        if self.current.kind != "EOF":
            raise self.unexpected()
        return Query(fields, count, sobject.text, sobject.pos, where, order_by, limit, offset)

    def select_list(self) -> tuple[tuple[FieldPath, ...], bool]:
        if self.current.is_keyword("COUNT") and self.tokens[self.i + 1].kind == "LPAREN":
            self.advance()
            self.advance()
            if self.current.kind != "RPAREN":
                raise SoqlError(
                    "MALFORMED_QUERY",
                    "aggregate functions other than COUNT() are not supported by this sandbox",
                    self.current.pos,
                )
            self.advance()
            return (), True
        fields = [self.field_path()]
        while self.current.kind == "COMMA":
            self.advance()
            fields.append(self.field_path())
        return tuple(fields), False

    def identifier(self) -> Token:
        token = self.current
        if token.kind != "IDENT" or token.text.upper() in KEYWORDS:
            raise self.unexpected()
        return self.advance()

    def field_path(self) -> FieldPath:
        first = self.identifier()
        if self.current.kind == "LPAREN":
            raise SoqlError(
                "MALFORMED_QUERY",
                f"function {first.text}() is not supported by this sandbox",
                first.pos,
            )
        parts = [first.text]
        while self.current.kind == "DOT":
            self.advance()
            parts.append(self.identifier().text)
        return FieldPath(tuple(parts), first.pos)

    def integer(self) -> int:
        token = self.current
        if token.kind != "NUMBER" or not isinstance(token.value, int) or token.value < 0:
            raise self.unexpected()
        self.advance()
        return token.value

    # SOQL refuses to guess precedence: AND and OR may not be mixed at one
    # level without parentheses ("a AND b OR c" is MALFORMED_QUERY).
    def condition(self) -> Expr:
        first = self.unary()
        if self.current.is_keyword("AND", "OR"):
            joiner = self.current.text.upper()
            items = [first]
            while self.current.is_keyword("AND", "OR"):
                if self.current.text.upper() != joiner:
                    raise self.unexpected()
                self.advance()
                items.append(self.unary())
            return And(tuple(items)) if joiner == "AND" else Or(tuple(items))
        return first

    def unary(self) -> Expr:
        if self.accept_keyword("NOT"):
            return Not(self.unary())
        if self.current.kind == "LPAREN":
            self.advance()
            inner = self.condition()
            self.expect("RPAREN")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.field_path()
        token = self.current
        if token.kind == "OP":
            self.advance()
            return Comparison(path, token.text, self.value())
        if token.is_keyword("LIKE"):
            self.advance()
            return Comparison(path, "LIKE", self.value())
        if token.is_keyword("IN"):
            self.advance()
            return Comparison(path, "IN", self.value_list())
        if token.is_keyword("NOT") and self.tokens[self.i + 1].is_keyword("IN"):
            self.advance()
            self.advance()
            return Comparison(path, "NOT IN", self.value_list())
        raise self.unexpected()

    def value_list(self) -> tuple[Literal, ...]:
        self.expect("LPAREN")
        values = [self.value()]
        while self.current.kind == "COMMA":
            self.advance()
            values.append(self.value())
        self.expect("RPAREN")
        return tuple(values)

    def value(self) -> Literal:
        token = self.current
        if token.kind == "STRING":
            self.advance()
            return Literal("string", token.value, token.pos, token.pattern)
        if token.kind == "NUMBER":
            self.advance()
            return Literal("number", token.value, token.pos)
        if token.kind in ("DATETIME", "DATE"):
            self.advance()
            return Literal(token.kind.lower(), token.value, token.pos)
        if token.is_keyword("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.text.upper() == "TRUE", token.pos)
        if token.is_keyword("NULL"):
            self.advance()
            return Literal("null", None, token.pos)
        if token.kind == "IDENT" and token.text.upper() in dates.PLAIN:
            self.advance()
            return Literal("date_literal", (token.text.upper(), None), token.pos)
        if token.kind == "IDENT" and token.text.upper() in dates.WITH_N:
            self.advance()
            self.expect("COLON")
            return Literal("date_literal", (token.text.upper(), self.integer()), token.pos)
        raise self.unexpected()

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.current.kind == "COMMA":
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        path = self.field_path()
        descending = False
        if direction := self.accept_keyword("ASC", "DESC"):
            descending = direction.text.upper() == "DESC"
        nulls_first = True
        if self.accept_keyword("NULLS"):
            which = self.accept_keyword("FIRST", "LAST")
            if which is None:
                raise self.unexpected()
            nulls_first = which.text.upper() == "FIRST"
        return OrderItem(path, descending, nulls_first)


def parse(query: str) -> Query:
    if not query or not query.strip():
        raise SoqlError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    if len(query) > MAX_QUERY_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH} characters",
        )
    return _Parser(tokenize(query)).query()


# --- binding -----------------------------------------------------------------


@dataclass(frozen=True)
class BoundField:
    """A resolved select/filter/order path: canonical names and the leaf field."""

    names: tuple[str, ...]  # canonical, e.g. ("Owner", "Name") or ("Email",)
    leaf: Field
    reference: Field | None = None  # the OwnerId-style field a relationship goes through
    target: SObject | None = None


@dataclass(frozen=True)
class BoundComparison:
    field: BoundField
    op: str
    values: tuple[Any, ...]  # comparison keys, already in the field's type
    regex: Callable[[str], bool] | None = None  # the LIKE test
    members: frozenset[Any] | None = None
    """For IN and NOT IN over plain values: the values as a set, so a row is tested
    in one look-up however long the list (a date literal's bounds keep the scan)."""


BoundExpr = BoundComparison | And | Or | Not
# And/Or/Not are shared by parsed and bound trees.
Node = Comparison | BoundComparison | And | Or | Not


@dataclass(frozen=True)
class BoundQuery:
    sobject: SObject
    fields: tuple[BoundField, ...]
    count: bool
    where: Any
    order_by: tuple[tuple[BoundField, bool, bool], ...]
    limit: int | None
    offset: int | None
    select_paths: tuple[FieldPath, ...] = field(default=())


@dataclass(frozen=True)
class Bounds:
    """A date literal bound to a field: ``[low, high)`` in the field's comparison keys."""

    low: Any
    high: Any

    def holds(self, op: str, key: Any) -> bool:
        if key is None:
            return op == "!="
        inside = self.low <= key < self.high
        return {
            "=": inside,
            "!=": not inside,
            "<": key < self.low,
            "<=": key < self.high,
            ">": key >= self.high,
            ">=": key >= self.low,
        }[op]


@dataclass(frozen=True)
class _Now:
    """What date literals are relative to: the query's instant and the user's zone."""

    instant: datetime
    zone: tzinfo


NO_SUCH_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)


def bind(
    query: Query, schema: Schema, *, now: datetime | None = None, zone: tzinfo = UTC
) -> BoundQuery:
    """Resolve names and type-check literals; date literals count from ``now`` in ``zone``."""
    clock = _Now(now or datetime.now(UTC), zone)
    sobject = schema.get(query.sobject)
    if sobject is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
            query.sobject_pos,
        )
    fields = tuple(_resolve(path, sobject, schema) for path in query.fields)
    where = _bind_expr(query.where, sobject, schema, clock) if query.where else None
    order: list[tuple[BoundField, bool, bool]] = []
    for item in query.order_by:
        bound = _resolve(item.path, sobject, schema)
        if not bound.leaf.sortable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{bound.leaf.name}' can not be sorted in a query call",
                item.path.pos,
            )
        order.append((bound, item.descending, item.nulls_first))
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError(
            "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
        )
    return BoundQuery(
        sobject, fields, query.count, where, tuple(order), query.limit, query.offset, query.fields
    )


def _resolve(path: FieldPath, sobject: SObject, schema: Schema) -> BoundField:
    parts = path.parts
    if len(parts) == 2 and parts[0].lower() == sobject.name.lower():
        parts = parts[1:]  # "SELECT Lead.Email FROM Lead" names the queried object
    if len(parts) == 1:
        leaf = sobject.field(parts[0])
        if leaf is None:
            raise SoqlError(
                "INVALID_FIELD",
                NO_SUCH_COLUMN.format(name=parts[0], entity=sobject.name),
                path.pos,
            )
        return BoundField((leaf.name,), leaf)
    if len(parts) == 2:
        reference = sobject.relationship(parts[0])
        target = None
        if reference is not None:
            target = next(
                (schema.get(name) for name in reference.reference_to if schema.get(name)), None
            )
        if reference is None or target is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{parts[0]}' in field path. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after the "
                "custom relationship name. Please reference your WSDL or the describe call for "
                "the appropriate names.",
                path.pos,
            )
        leaf = target.field(parts[1])
        if leaf is None:
            raise SoqlError(
                "INVALID_FIELD",
                NO_SUCH_COLUMN.format(name=parts[1], entity=target.name),
                path.pos,
            )
        assert reference.relationship_name is not None
        return BoundField((reference.relationship_name, leaf.name), leaf, reference, target)
    raise SoqlError(
        "MALFORMED_QUERY",
        "relationship paths deeper than one level are not supported by this sandbox",
        path.pos,
    )


def _bind_expr(expr: Node, sobject: SObject, schema: Schema, clock: _Now) -> BoundExpr:
    if isinstance(expr, And):
        return And(tuple(_bind_expr(e, sobject, schema, clock) for e in expr.items))
    if isinstance(expr, Or):
        return Or(tuple(_bind_expr(e, sobject, schema, clock) for e in expr.items))
    if isinstance(expr, Not):
        return Not(_bind_expr(expr.item, sobject, schema, clock))
    assert isinstance(expr, Comparison), "binding a tree that is already bound"
    bound = _resolve(expr.path, sobject, schema)
    if not bound.leaf.filterable:
        raise SoqlError(
            "INVALID_FIELD",
            f"field '{bound.leaf.name}' can not be filtered in a query call",
            expr.path.pos,
        )
    literals = expr.value if isinstance(expr.value, tuple) else (expr.value,)
    values = tuple(_literal_key(bound.leaf, lit, clock) for lit in literals)
    regex = None
    if expr.op == "LIKE":
        literal = literals[0]
        if literal.kind != "string" or bound.leaf.type not in TEXT_TYPES:
            raise _filter_type_error(bound.leaf, literal)
        regex = _like(literal)
    elif expr.op in ("<", ">", "<=", ">=") and values[0] is None:
        raise SoqlError("MALFORMED_QUERY", "null is only allowed with = and !=", literals[0].pos)
    members = None
    if expr.op in ("IN", "NOT IN") and not any(isinstance(v, Bounds) for v in values):
        members = frozenset(v for v in values if v is not None)
    return BoundComparison(bound, expr.op, values, regex, members)


def _like(literal: Literal) -> Callable[[str], bool]:
    """A test for ``LIKE literal``: case-insensitive, % any run, _ one character.

    The patterns a connector sends most ('acme%', '%@acme.com') are, on an
    ASCII value, a prefix or suffix test; the rest go by regular expression."""
    pattern = (literal.pattern if literal.pattern is not None
               else tuple((c, c in "%_") for c in literal.value))
    source = "".join((".*" if c == "%" else ".") if w else re.escape(c) for c, w in pattern)
    flags = re.IGNORECASE | re.DOTALL

    def full(value: str) -> bool:
        return re.fullmatch(source, value, flags) is not None

    wild = [i for i, (_, w) in enumerate(pattern) if w]
    plain = "".join(c for c, w in pattern if not w).lower()
    if not plain.isascii() or len(wild) != 1 or pattern[wild[0]][0] != "%":
        return full
    if wild[0] == len(pattern) - 1:
        return lambda value: value.lower().startswith(plain) if value.isascii() else full(value)
    if wild[0] == 0:
        return lambda value: value.lower().endswith(plain) if value.isascii() else full(value)
    return full


def _type_name(f: Field) -> str:
    if f.type == INT:
        return "integer"
    if f.type in (DOUBLE, CURRENCY):
        return "double"
    if f.type == DATETIME:
        return "dateTime"
    return f.type if f.type in (BOOLEAN, DATE) else "string"


def _filter_type_error(f: Field, literal: Literal) -> SoqlError:
    quoted = (
        "should be enclosed in quotes"
        if f.type in TEXT_TYPES
        else ("should not be enclosed in quotes")
    )
    return SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{f.name}' must be of type {_type_name(f)} "
        f"and {quoted}",
        literal.pos,
    )


def _literal_key(f: Field, literal: Literal, clock: _Now | None = None) -> Any:
    """A literal as a comparison key of the field's type, or the real API's type error."""
    if literal.kind == "null":
        return None
    if literal.kind == "date_literal" and f.type in (DATE, DATETIME):
        clock = clock or _Now(datetime.now(UTC), UTC)
        name, n = literal.value
        days = dates.resolve(name, n, clock.instant.astimezone(clock.zone).date())
        low, high = days.bounds(f.type == DATETIME, clock.zone)
        return Bounds(low, high)
    if f.type in TEXT_TYPES:
        if literal.kind != "string":
            raise _filter_type_error(f, literal)
        if f.type in (ID, REFERENCE):
            canonical = normalize_id(literal.value)
            if canonical is None:
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {literal.value}",
                    literal.pos,
                )
            return canonical
        return literal.value.casefold()
    expected = {
        BOOLEAN: "boolean",
        DATETIME: "datetime",
        DATE: "date",
    }.get(f.type, "number" if f.type in NUMBER_TYPES else None)
    if literal.kind != expected:
        raise _filter_type_error(f, literal)
    if f.type in NUMBER_TYPES:
        return float(literal.value)
    return literal.value


# --- planning ----------------------------------------------------------------

Probe = Callable[[Field, list[Any]], "set[str] | None"]
Size = Callable[[Field, list[Any]], "int | None"]
Compound = Callable[[dict[str, list[Any]]], "set[str] | None"]
Check = Callable[[Any, set[str]], set[str]]


def plan(expr: Any, probe: Probe, size: Size | None = None, *,
         compound: Compound | None = None, check: Check | None = None) -> set[str] | None:
    """Ids that can possibly match ``expr``, from indexes; None means scan everything.

    Only ``=`` and ``IN`` on a field of the queried object itself can use an
    index (``probe`` answers None for a field without one). OR needs every
    child planned (the union); AND needs one: with ``size`` (how many ids a
    look-up would yield, without building them) it takes only its most
    selective child, so ``LastName = 'smith' AND FirstName IN ('robert', ...)``
    costs the few Smiths, not every Robert; without ``size`` it intersects all
    planned children. NOT, ranges, LIKE, relationship paths and ``= null``
    (which matches the nulls no index holds) are never planned. Candidates
    are a superset of the answer and the full predicate is applied to them
    afterwards, so results equal a scan's by construction.

    ``compound`` answers an AND of ``=``/``IN`` on two fields indexed together
    (last and first name) with the records holding both. ``check`` keeps the ids
    of an OR's branch whose rows match that branch: a query ORing a hundred name
    pairs then tests each candidate against its own pair, not against all hundred.
    """
    if isinstance(expr, And):
        if compound is not None:
            keyed: dict[str, list[Any]] = {}
            for item in expr.items:
                keys = _index_keys(item)
                if keys is not None:
                    keyed.setdefault(item.field.leaf.name, keys)
            if len(keyed) >= 2 and (found := compound(keyed)) is not None:
                return found
        if size is not None:
            costs = [(c, i) for i, c in enumerate(estimate(e, size) for e in expr.items)]
            planned = [(c, i) for c, i in costs if c is not None]
            if not planned:
                return None
            return plan(expr.items[min(planned)[1]], probe, size, compound=compound,
                        check=check)
        sets = [s for s in (plan(e, probe, compound=compound, check=check)
                            for e in expr.items) if s is not None]
        if not sets:
            return None
        sets.sort(key=len)
        found = set(sets[0])
        for other in sets[1:]:
            found &= other
        return found
    if isinstance(expr, Or):
        union: set[str] = set()
        for item in expr.items:
            part = plan(item, probe, size, compound=compound, check=check)
            if part is None:
                return None
            union |= check(item, part) if check is not None and len(expr.items) > 1 else part
        return union
    keys = _index_keys(expr)
    return None if keys is None else probe(expr.field.leaf, keys)


def estimate(expr: Any, size: Size) -> int | None:
    """How many candidates ``plan`` would produce (an upper bound), or None if unplannable."""
    if isinstance(expr, And):
        costs = [c for c in (estimate(e, size) for e in expr.items) if c is not None]
        return min(costs) if costs else None
    if isinstance(expr, Or):
        total = 0
        for item in expr.items:
            cost = estimate(item, size)
            if cost is None:
                return None
            total += cost
        return total
    keys = _index_keys(expr)
    return None if keys is None else size(expr.field.leaf, keys)


def _index_keys(expr: Any) -> list[Any] | None:
    """The match keys an index look-up needs for a comparison, or None if it cannot use one."""
    if not isinstance(expr, BoundComparison) or expr.field.reference is not None:
        return None
    if expr.op not in ("=", "IN") or any(isinstance(v, Bounds) for v in expr.values):
        return None
    if expr.op == "=" and expr.values[0] is None:
        return None
    # A null in an IN list matches nothing (see ``_matches``).
    return [v for v in expr.values if v is not None]


# --- evaluation --------------------------------------------------------------

Lookup = Callable[[str], dict[str, Any] | None]


def _sort_key(f: Field, value: Any) -> Any:
    """A stored value in the comparable form ``_literal_key`` produces."""
    if value is None:
        return None
    if f.type == ANYTYPE:
        # A history value holds text, numbers or dates; ordering compares them as text.
        return str(value).casefold()
    if f.type in (ID, REFERENCE):
        return normalize_id(value) or value
    if f.type in TEXT_TYPES:
        return str(value).casefold()
    if f.type in NUMBER_TYPES:
        return float(value)
    if f.type == DATETIME:
        return _stored_datetime(value)
    if f.type == DATE:
        return parse_date(value)
    return value


def _stored_datetime(text: str) -> datetime | None:
    """A datetime in the store's own wire form parses fast (sorting 1M stamps); others fully."""
    if len(text) == 28 and text.endswith("+0000"):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return parse_datetime(text)


def _raw_value(bound: BoundField, row: dict[str, Any], lookup: Lookup) -> Any:
    if bound.reference is None:
        return row.get(bound.leaf.name)
    ref = row.get(bound.reference.name)
    target = lookup(ref) if ref else None
    return target.get(bound.leaf.name) if target else None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return left < right
        if op == ">":
            return left > right
        if op == "<=":
            return left <= right
        if op == ">=":
            return left >= right
    except TypeError:
        return False
    raise AssertionError(op)


def matches(expr: Any, row: dict[str, Any], lookup: Lookup) -> bool:
    """Whether a stored row satisfies a bound WHERE expression."""
    return _matches(expr, row, lookup)


def _matches(expr: Any, row: dict[str, Any], lookup: Lookup) -> bool:
    if isinstance(expr, And):
        return all(_matches(e, row, lookup) for e in expr.items)
    if isinstance(expr, Or):
        return any(_matches(e, row, lookup) for e in expr.items)
    if isinstance(expr, Not):
        return not _matches(expr.item, row, lookup)
    raw = _raw_value(expr.field, row, lookup)
    if expr.op == "LIKE":
        return raw is not None and expr.regex(str(raw))
    key = _sort_key(expr.field.leaf, raw)
    if expr.members is not None:
        found = key is not None and key in expr.members
        return found if expr.op == "IN" else not found
    if expr.op in ("IN", "NOT IN"):
        found = key is not None and any(
            v.holds("=", key) if isinstance(v, Bounds) else key == v for v in expr.values
        )
        return found if expr.op == "IN" else not found
    if isinstance(expr.values[0], Bounds):
        return expr.values[0].holds(expr.op, key)
    return _compare(expr.op, key, expr.values[0])


def _order_key(
    bound: BoundField, nulls_rank: int, lookup: Lookup
) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    """Sort key putting nulls before (rank 0) or after (rank 2) every value (rank 1)."""

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        value = _sort_key(bound.leaf, _raw_value(bound, row, lookup))
        return (nulls_rank, 0) if value is None else (1, value)

    return key


def execute(
    bound: BoundQuery,
    rows: Sequence[dict[str, Any]],
    *,
    lookup: Lookup,
    record_url: Callable[[str, str], str],
) -> tuple[int, list[dict[str, Any]]]:
    """Run a bound query over ``rows`` (in creation order).

    Returns (totalSize, records). ``lookup`` resolves a referenced id to its
    record for relationship paths; ``record_url`` builds ``attributes.url``.
    """
    selected = [r for r in rows if bound.where is None or _matches(bound.where, r, lookup)]
    for bound_field, descending, nulls_first in reversed(bound.order_by):
        nulls_rank = 0 if nulls_first else 2
        if descending:
            nulls_rank = 2 - nulls_rank  # reverse=True flips it back
        selected.sort(key=_order_key(bound_field, nulls_rank, lookup), reverse=descending)
    if bound.offset:
        selected = selected[bound.offset :]
    if bound.limit is not None:
        selected = selected[: bound.limit]
    if bound.count:
        return len(selected), []
    return len(selected), [_project(bound, r, lookup, record_url) for r in selected]


def _project(
    bound: BoundQuery,
    row: dict[str, Any],
    lookup: Lookup,
    record_url: Callable[[str, str], str],
) -> dict[str, Any]:
    name = bound.sobject.name
    out: dict[str, Any] = {"attributes": {"type": name, "url": record_url(name, row["Id"])}}
    for bf in bound.fields:
        if bf.reference is None:
            out[bf.leaf.name] = row.get(bf.leaf.name)
            continue
        relationship = bf.names[0]
        ref = row.get(bf.reference.name)
        target_row = lookup(ref) if ref else None
        if target_row is None:
            out[relationship] = None
            continue
        assert bf.target is not None
        nested = out.get(relationship)
        if not isinstance(nested, dict):
            nested = {
                "attributes": {
                    "type": bf.target.name,
                    "url": record_url(bf.target.name, target_row["Id"]),
                }
            }
            out[relationship] = nested
        nested[bf.leaf.name] = target_row.get(bf.leaf.name)
    return out

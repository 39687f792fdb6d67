"""The embedded marketing-automation store.

A small stand-in for Marketo/Pardot-style systems: leads keyed by who they
are (an explicit id, else the person's email; on a shared mailbox such as info@
the email with the person's name, since two people on one mailbox are two
leads), their activities (page visits, form fills, email clicks), and the stage that
the closed loop writes back. Its change feed follows profile and activity
changes only; a stage written back by leadsync is not a marketing change and
would otherwise come straight back as one.

Import keeps every row it cannot take in ``import_reject`` with the line,
the field and the reason: refused, never dropped. A hostile record (a date past
year 9999 in UTC, a 1 MB value, a byte that is not UTF-8, an ambiguous number, NUL,
JSON of the wrong shape) costs that record alone; only a header that cannot be
read refuses the file. The rules are README's "Input files".
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import structlog
from anyascii import anyascii
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import JSON, Column, Index, UniqueConstraint, func, insert, or_, update
from sqlalchemy import Text as SAText
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, select

from connector.adapters.base import FieldUpdate, StageUpdate
from connector.adapters.registry import register_marketing
from connector.config import MatchingConfig, SettingError
from connector.db import UTCDateTime, make_engine, named_lock, rows_by_id
from connector.migrations import MARKETING, drop, forget, prepare
from connector.records import ACTIVITY_KIND, Activity, Lead, utcnow

if TYPE_CHECKING:
    from connector.config import Config

log = structlog.get_logger("leadsync.marketing")


class MarketingModel(SQLModel, registry=registry()):
    """Base of the marketing store's tables: a system of its own, its own metadata."""


class MkLead(MarketingModel, table=True):
    __tablename__ = "mk_lead"
    __table_args__ = (UniqueConstraint("key"), Index("ix_mk_lead_feed", "updated_at", "id"))
    id: int | None = Field(default=None, primary_key=True)
    key: str = ""
    """Who the lead is, for import to find it again: ``lead_key``."""
    email: str = Field(index=True)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stage: str | None = None
    stage_updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    field_times: dict[str, str] | None = Field(default=None, sa_column=Column(JSON,
                                                                            nullable=True))
    """Field → when its value last changed (ISO time), as a marketing tool keeps per
    property: a two-way conflict is decided by the field's own change, not by the
    lead's last change of any field."""


def _stamp_changes(lead: MkLead, before: dict[str, Any], after: dict[str, Any],
                   now: datetime) -> None:
    times = dict(lead.field_times or {})
    for name, value in after.items():
        if before.get(name) != value or name not in times:
            times[name] = now.isoformat()
    lead.field_times = times


class MkActivity(MarketingModel, table=True):
    __tablename__ = "mk_activity"
    __table_args__ = (UniqueConstraint("lead_id", "kind", "occurred_at", "detail"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="mk_lead.id", index=True)
    kind: str
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = ""


class MkStageChange(MarketingModel, table=True):
    """Marketing's own history of every step of a lead through the process: from, to,
    when (the CRM's own time of the change), who, and why."""

    __tablename__ = "mk_stage_change"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="mk_lead.id", index=True)
    from_stage: str | None = None
    stage: str
    crm_status: str
    amount: float | None = None
    """The opportunity's amount, once the lead became one: marketing's revenue attribution."""
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    who: str | None = None
    """A rep's name, "leadsync" (the hand-off, a recycle by SLA) or "marketing"."""
    reason: str | None = Field(default=None, sa_column=Column(SAText, nullable=True))


class ImportReject(MarketingModel, table=True):
    __tablename__ = "import_reject"
    id: int | None = Field(default=None, primary_key=True)
    source: str
    line: int
    record: str
    field: str
    reason: str = Field(sa_column=Column(SAText, nullable=False))
    raw: str = Field(sa_column=Column(SAText, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


LEAD_COLUMNS = ("email", "first_name", "last_name", "company", "title", "phone", "country",
                "state", "city", "postal_code", "industry", "employees", "annual_revenue",
                "website", "lead_source")
"""Standard profile fields. Any other column is kept as a custom field."""

NUMBER_FIELDS = ("employees", "annual_revenue")
"""Profile fields that are numbers (``normalize`` makes them so, the mapping sends them to
number fields): read strictly, since a misread number is a wrong fact, not a typo."""

TIME_FIELDS = ("created_at", "updated_at")

_RESERVED = {"activities", "created_at", "updated_at", "id", "stage"}

MAX_VALUE_CHARS = 131_072
"""The longest value imported, in characters: Salesforce's Long Text Area, the longest text
field of any CRM leadsync writes to, holds 131,072 (HubSpot's text properties stop at
65,536). A longer value can land nowhere; it is refused rather than cut. Activities, a list
rather than one value, are not capped as a whole; each detail is."""

READ_LIMIT = 16 * 1024 * 1024
"""Characters of one line (and of one CSV field) read at all. Longer is refused unread, so a
runaway line (a stray quote, a binary file) costs one row, not the memory of the import."""

_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Removed from every value and column name: C0 and C1 controls other than tab and line
breaks, DEL, and the bidi embeddings, overrides and isolates, which make text display in
another order than it is stored ("Trojan Source"). NUL is refused, not removed."""
_ESCAPES = {c: f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
            for c in map(chr, [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F),
                               *range(0x2066, 0x206A)])}
_LINE_BREAKS = re.compile(r"\r\n?")
_ONE_LINE = re.compile(r"[\t\r\n]+")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (its header, its kind): nothing in it is imported."""

    def __init__(self, path: Path, line: int, field: str, reason: str) -> None:
        where = f" line {line}, column {field}:" if line else ""
        super().__init__(f"{path}:{where} {reason}")
        self.line, self.field, self.reason = line, field, reason


@dataclass(frozen=True)
class Rejection:
    line: int
    record: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.record}), field {self.field}: {self.reason}"


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    activities: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    given_id: str | None
    """The row's own ``id`` column: the source system's key, kept as the lead's."""
    email: str
    fields: dict[str, Any]
    created_at: datetime | None
    activities: list[Activity]


@dataclass
class RawRow:
    """One record as read, before any check: its values, or why it could not be read."""

    line: int
    values: dict[str, Any]
    error: str = ""
    field: str = "(row)"
    undecodable: bool = False
    """The record's bytes were not all UTF-8: the bad bytes ride along as surrogate escapes."""


class _RowError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _show(text: str, limit: int = 60) -> str:
    """A value fit for a one-line message and a database: undecodable bytes, NUL, controls,
    bidi overrides and surrogates escaped (shown, never acted on), a long value cut."""
    shown = text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
    return "".join(_ESCAPES.get(c) or (f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                                       else f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff"
                                       else c) for c in shown)


def _quoted(value: Any) -> str:
    return f"'{_show(str(value))}'"


def _text_problem(text: str, undecodable: bool) -> str | None:
    """Why a value cannot be kept at all (stripping would change what it says)."""
    if "\x00" in text:
        return f"holds a NUL character ({_quoted(text)}); no CRM stores one"
    surrogates = [c for c in text if "\ud800" <= c <= "\udfff"]
    if surrogates and undecodable and all("\udc80" <= c <= "\udcff" for c in surrogates):
        found = ", ".join(dict.fromkeys(f"0x{ord(c) - 0xDC00:02X}" for c in surrogates))
        return (f"holds bytes that are not UTF-8 ({found} in {_quoted(text)}); "
                "save the file as UTF-8")
    if surrogates:
        return (f"holds a lone surrogate (\\u{ord(surrogates[0]):04x}), half of a character "
                "that cannot be stored")
    if len(text) > MAX_VALUE_CHARS:
        return (f"is {len(text):,} characters long; the cap is {MAX_VALUE_CHARS:,}, the longest "
                "text field of any CRM (Salesforce's Long Text Area)")
    return None


def _clean(text: str, *, one_line: bool) -> str:
    """Controls and bidi overrides removed; in one-line fields tab and breaks become a space."""
    text = _CONTROLS.sub("", text)
    text = _ONE_LINE.sub(" ", text) if one_line else _LINE_BREAKS.sub("\n", text)
    return text.strip()


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    return "a number" if isinstance(value, int | float) else "text"


def _value(name: str, value: Any, undecodable: bool) -> Any:
    """One profile value, cleaned; ``_RowError`` when it cannot be kept."""
    if value is None:
        return None
    standard = name in LEAD_COLUMNS or name in TIME_FIELDS
    expected = ("a number" if name in NUMBER_FIELDS else "an ISO 8601 time"
                if name in TIME_FIELDS else "text" if standard else "a single value")
    if isinstance(value, dict | list) or (isinstance(value, bool) and standard) or (
            isinstance(value, int | float) and name in TIME_FIELDS):
        raise _RowError(name, f"{_type_name(value)} where {expected} is expected")
    if isinstance(value, float) and not math.isfinite(value):
        raise _RowError(name, f"{value!r} is not a number")
    if not isinstance(value, str):
        return value
    problem = _text_problem(value, undecodable)
    if problem:
        raise _RowError(name, problem)
    return _clean(value, one_line=standard)


def _number_problem(name: str, value: Any) -> str | None:
    """Digits, an optional sign, a '.' decimal point and exponent. A comma is read only where
    it cannot be a decimal comma (1,000,000 or 1,500.5): '1,5' or '1,500' is 15/1500 in one
    locale and 1.5 in another, and guessing would store a wrong number without a word."""
    if isinstance(value, int | float):
        negative, whole = value < 0, not isinstance(value, float) or value.is_integer()
    else:
        text = str(value)
        if _PLAIN_NUMBER.fullmatch(text):
            number = float(text)
        elif _GROUPED_NUMBER.fullmatch(text) and (text.count(",") > 1 or "." in text):
            number = float(text.replace(",", ""))
        elif "," in text:
            return (f"{_quoted(text)} is ambiguous: ',' is a decimal comma in some locales and a "
                    "thousands separator in others; write the number with digits and a '.' "
                    "decimal point only (1500 or 1.5)")
        else:
            return (f"{_quoted(text)} is not a number; expected digits with an optional '.' "
                    "decimal point (1500 or 1500.5)")
        if not math.isfinite(number):
            return f"{_quoted(text)} is too large to be a number"
        negative, whole = number < 0, number.is_integer()
    if negative:
        return f"{_quoted(value)} is negative; {name} cannot be"
    if name == "employees" and not whole:
        return f"{_quoted(value)} is not a whole number of people"
    return None


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC. Only 1900–2099: beyond that it is a
    placeholder (9999-12-31, 0001-01-01), not a time, and scoring would count it as recent."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{_quoted(value)} is not an ISO 8601 time "
                         "(like 2026-10-03T14:05:00Z)") from None
    out_of_range = ValueError(f"{_quoted(value)} is outside 1900–2099 (in UTC); a date like "
                              "9999-12-31 is a placeholder, not a time")
    try:
        utc = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in year 10000 in UTC
        raise out_of_range from None
    if not _EARLIEST <= utc < _LATEST:
        raise out_of_range
    return utc


def _label(row: dict[str, Any], line: int) -> str:
    """The record as a person knows it: its email, else its name; safe to print."""
    def text(key: str) -> str:
        value = row.get(key)
        return _clean(str(value), one_line=True) if isinstance(value, str | int) else ""

    name = " ".join(text(k) for k in ("first_name", "last_name")).strip()
    return _show(text("email") or name or f"row {line}")


def _raw_activities(value: Any) -> list[Any]:
    """CSV holds ``kind|timestamp|detail;...``; JSONL holds a list of objects."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    items = []
    for chunk in str(value).split(";"):
        if chunk.strip():
            kind, _, rest = chunk.partition("|")
            occurred, _, detail = rest.partition("|")
            items.append({"kind": kind, "occurred_at": occurred, "detail": detail})
    return items


def _activity(item: Any, where: str, undecodable: bool) -> Activity:
    """One activity, or ``_RowError`` naming its part: a bad activity costs only itself."""
    if not isinstance(item, dict):
        raise _RowError(where, f"{_type_name(item)} where an activity object is expected")
    parts: dict[str, str] = {}
    for part in ("kind", "occurred_at", "detail"):
        value = item.get(part)
        if isinstance(value, int | float) and not isinstance(value, bool) and part == "detail":
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise _RowError(f"{where}.{part}", f"{_type_name(value)} where text is expected")
        problem = _text_problem(value or "", undecodable)
        if problem:
            raise _RowError(f"{where}.{part}", problem)
        parts[part] = _clean(value or "", one_line=True)
    kind = parts["kind"].strip().lower()
    if not ACTIVITY_KIND.fullmatch(kind):
        raise _RowError(f"{where}.kind", f"activity kind {_quoted(parts['kind'])}: a word "
                        "of letters, digits and _ (form_fill, page_visit, email_open, "
                        "webinar_attended ...)")
    try:
        occurred = parse_time(parts["occurred_at"])
    except ValueError as exc:
        raise _RowError(f"{where}.occurred_at", str(exc)) from None
    return Activity(kind, occurred, parts["detail"])


def _email(value: Any, given: Any) -> str:
    """The key of the store: required, a valid address, normalised and lower-cased."""
    if value in (None, ""):
        emptied = isinstance(given, str) and given.strip()
        raise _RowError("email", "missing; the store keys leads by email" + (
            " (nothing is left once control characters are removed)" if emptied else ""))
    if not isinstance(value, str):
        raise _RowError("email", f"{_type_name(value)} is not an email")
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _RowError("email", f"{_quoted(value)} is not an email: {exc}") from None


def parse_row(raw: dict[str, Any], line: int, *, undecodable: bool = False
              ) -> tuple[_Row | None, list[Rejection]]:
    """Validate one input row: every problem of a refused row at once. A bad activity costs
    only that activity."""
    values: dict[str, Any] = {}
    problems: list[_RowError] = []
    for key, value in raw.items():
        if key is None or key == "activities":
            continue
        try:
            values[key] = _value(key, value, undecodable)
        except _RowError as exc:
            problems.append(exc)
    email = ""
    if not any(p.field == "email" for p in problems):
        try:
            email = _email(values.get("email"), raw.get("email"))
        except _RowError as exc:
            problems.append(exc)
    times: dict[str, datetime] = {}
    for name in TIME_FIELDS:
        if values.get(name):
            try:
                times[name] = parse_time(str(values[name]))
            except ValueError as exc:
                problems.append(_RowError(name, str(exc)))
    for name in NUMBER_FIELDS:
        if values.get(name) not in (None, ""):
            problem = _number_problem(name, values[name])
            if problem:
                problems.append(_RowError(name, problem))
    label = _label(raw, line)
    if problems:
        return None, [Rejection(line, label, _show(p.field), str(p)) for p in problems]
    rejected: list[Rejection] = []
    activities: list[Activity] = []
    items = raw.get("activities")
    if items is not None and not isinstance(items, str | list):
        rejected.append(Rejection(line, label, "activities",
                                  f"{_type_name(items)} where a list of activities is expected; "
                                  "the lead is kept without them"))
        items = None
    for index, item in enumerate(_raw_activities(items)):
        try:
            activities.append(_activity(item, f"activities[{index}]", undecodable))
        except _RowError as exc:
            rejected.append(Rejection(line, label, _show(exc.field), str(exc)))
    fields = {key: value for key, value in values.items()
              if key not in _RESERVED and key != "email" and value not in (None, "")}
    fields["email"] = email
    given = values.get("id")
    given_id = str(given) if given not in (None, "") else None
    return _Row(line, given_id, email, fields, times.get("created_at"), activities), rejected


class _LineTooLong(Exception):
    pass


class _Lines:
    """The lines of a text file, none longer than ``READ_LIMIT``: a longer one is read to
    its end in pieces and reported, so the next line is read as usual."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text = self.handle.readline(READ_LIMIT + 1)
        if not text:
            raise StopIteration
        self.number += 1
        if len(text) > READ_LIMIT and text[-1] not in "\r\n":
            while (rest := self.handle.readline(READ_LIMIT)) and rest[-1] not in "\r\n":
                pass
            raise _LineTooLong
        return text


def _read_csv(path: Path) -> Iterator[RawRow]:
    """Decoded with surrogate escapes, so a byte that is not UTF-8 costs its row (named by
    line and column), not the file. Strict quoting: a quote left open would otherwise swallow
    every line after it into one value."""
    if csv.field_size_limit() < READ_LIMIT:
        csv.field_size_limit(READ_LIMIT)  # the default, 131,072, is a whole-file error
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines, strict=True)
        header: list[str] = []
        header_line = 0
        while not header:
            try:
                header = next(reader)
            except StopIteration:
                raise ImportFileError(path, lines.number or 1, "email",
                                      "the file is empty; expected a header row") from None
            except _LineTooLong:
                raise ImportFileError(path, lines.number, "(header)", "the header row is "
                                      f"longer than {READ_LIMIT:,} characters") from None
            except csv.Error as exc:
                raise ImportFileError(path, lines.number, "(header)",
                                      f"the header row cannot be read: {exc}") from None
            header_line = lines.number
        names = _header(path, header_line, header)
        end = header_line
        while True:
            start = end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _LineTooLong:
                yield RawRow(start, {}, f"line {lines.number} is longer than {READ_LIMIT:,} "
                             "characters and was not read")
                end = lines.number
                continue
            except csv.Error as exc:
                reason = str(exc)
                if reason == "unexpected end of data":
                    reason = (f"a quoted value opened here is never closed: lines {start}–"
                              f"{lines.number} were read as one record")
                elif "field limit" in reason:
                    reason = f"a value is longer than {READ_LIMIT:,} characters"
                else:
                    reason = f"malformed quoting ({reason})"
                yield RawRow(start, {}, reason)
                end = lines.number
                continue
            end = lines.number
            if not cells:
                continue  # a blank line
            if len(cells) > len(names):  # even blank extras: the shifted value may be blank
                yield RawRow(start, dict(zip(names, cells, strict=False)),
                             f"{len(cells)} values for {len(names)} columns: a comma inside an "
                             "unquoted value shifts every column after it")
                continue
            values = {name: cells[i] if i < len(cells) else None
                      for i, name in enumerate(names)}
            yield RawRow(start, values, undecodable=True)  # surrogates here can only be bytes


def _header(path: Path, line: int, header: list[str]) -> list[str]:
    """Column names, cleaned as values are. The header is the one whole-file problem: a
    column named twice would make every row's value for it ambiguous."""
    names: list[str] = []
    for index, cell in enumerate(header, start=1):
        problem = _text_problem(cell, undecodable=True)
        if problem:
            raise ImportFileError(path, line, f"#{index}",
                                  f"the header's name for it {problem}; nothing imported")
        names.append(_clean(cell, one_line=True))
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if name and name in seen:
            raise ImportFileError(path, line, name,
                                  f"the header names column {_quoted(name)} twice (columns "
                                  f"{seen[name]} and {index}); the whole file is refused, "
                                  "since every row's value for it would be ambiguous: rename "
                                  "or remove one")
        seen.setdefault(name, index)
    if "email" not in names:
        raise ImportFileError(path, line, "email", "the header has no 'email' column")
    return names


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are clean and appear once: ``json`` would keep the last."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        problem = _text_problem(key, undecodable=True)
        if problem:
            raise _RowError(_show(key), f"the key {problem}")
        name = _clean(key, one_line=True)
        if name in found:
            raise _RowError(name, f"the key {_quoted(name)} appears twice in one object; "
                            "which value is meant is ambiguous")
        found[name] = value
    return found


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    """One object per line, each decoded on its own: a line that is not UTF-8 or not JSON
    costs that line."""
    with path.open("rb") as handle:
        number = 0
        while chunk := handle.readline(READ_LIMIT + 1):
            number += 1
            if len(chunk) > READ_LIMIT and not chunk.endswith(b"\n"):
                while (rest := handle.readline(READ_LIMIT)) and not rest.endswith(b"\n"):
                    pass
                yield RawRow(number, {}, f"longer than {READ_LIMIT:,} bytes; not read")
                continue
            if number == 1:
                chunk = chunk.removeprefix(codecs.BOM_UTF8)
            undecodable = False
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                undecodable = True
                text = chunk.decode("utf-8", "surrogateescape")
                bad = f"byte 0x{chunk[exc.start]:02X} at byte {exc.start + 1} is not UTF-8"
            if not text.strip():
                continue
            try:
                row = json.loads(text, object_pairs_hook=_unique_keys)
            except _RowError as exc:
                try:  # read again leniently, to name the lead (a repeated key: its first)
                    plain = json.loads(text, object_pairs_hook=lambda p: dict(reversed(p)))
                except (ValueError, RecursionError):
                    plain = None
                yield RawRow(number, plain if isinstance(plain, dict) else {}, str(exc),
                             field=exc.field, undecodable=undecodable)
                continue
            except RecursionError:
                yield RawRow(number, {}, "not valid JSON: nested too deeply")
                continue
            except ValueError as exc:  # JSONDecodeError, or an integer of 4,300+ digits
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield RawRow(number, {}, f"not valid JSON: {reason}"
                             + (f"; {bad}" if undecodable else ""))
                continue
            if not isinstance(row, dict):
                yield RawRow(number, {}, f"{_type_name(row)}, not an object: each line must "
                             "be one lead")
                continue
            yield RawRow(number, row, undecodable=undecodable)


def read_rows(path: Path) -> Iterator[RawRow]:
    """The records of a CSV or JSON Lines file, each with its line."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    raise ImportFileError(path, 0, "(file)", "expected a .csv or .jsonl file")


DEFAULT_ROLE_MAILBOXES = frozenset(MatchingConfig().email.role_mailboxes)
"""``[matching.email] role_mailboxes`` when no config is at hand."""
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def lead_key(given_id: str | None, email: str, fields: dict[str, Any],
             roles: frozenset[str] = DEFAULT_ROLE_MAILBOXES) -> str:
    """Who a row is, so a later row of the same person updates their lead.

    An explicit id is the source's own key. Otherwise a person's email; but a
    shared mailbox (info@, sales@ ...) names a team, so there the folded name
    rides along: "Zoë Müller" and "zoe muller" on info@acme.com are one lead,
    Jane Doe on the same mailbox another. A shared mailbox with no name is one lead."""
    if given_id is not None:
        return f"id:{given_id}"
    if email.rpartition("@")[0] not in roles:
        return email
    name = " ".join(str(fields.get(k) or "") for k in ("first_name", "last_name"))
    folded = " ".join(_NOT_NAME.split(anyascii(name).lower())).strip()
    return f"{email} {folded}" if folded else email


class EmbeddedMarketingStore:
    name: ClassVar[str] = "embedded"

    def __init__(self, url: str, *, role_mailboxes: Iterable[str] | None = None) -> None:
        self.url = url
        self.roles = (DEFAULT_ROLE_MAILBOXES if role_mailboxes is None
                      else frozenset(r.lower() for r in role_mailboxes))
        self.engine = make_engine(url)
        try:
            prepare(self.engine, MARKETING)
        except BaseException:
            self.engine.dispose()
            raise
        with self.engine.begin() as connection:  # a store from before keys: keyed by email
            connection.execute(update(MkLead).where(col(MkLead.key) == "")
                               .values(key=MkLead.email))

    def close(self) -> None:
        self.engine.dispose()
        forget(self.engine)  # the file may go before the next open: ask its schema again

    def drop_all(self) -> None:
        drop(self.engine, MARKETING, MarketingModel.metadata)

    def is_empty(self) -> bool:
        with Session(self.engine) as session:
            return session.exec(select(MkLead.id).limit(1)).first() is None

    def known_fields(self) -> set[str]:
        """Every field a lead here can hold: the standard columns and each custom field
        some lead has. `leadsync check` holds the field names config.toml uses against it."""
        names = set(LEAD_COLUMNS)
        with Session(self.engine) as session:
            for fields in session.exec(select(MkLead.fields).execution_options(yield_per=1000)):
                names.update(fields or {})
        return names

    def known_kinds(self) -> set[str]:
        """Every activity kind some lead's activity has (what scoring rules name)."""
        with Session(self.engine) as session:
            return set(session.exec(select(MkActivity.kind).distinct()))

    # import ----------------------------------------------------------------
    def import_file(self, path: Path | str, *, clock: datetime | None = None) -> ImportReport:
        """Every record is taken or refused on its own; only a header that cannot be read
        (no email column, a column named twice) refuses the file, and that too is kept."""
        path = Path(path)
        report = ImportReport(source=str(path))
        now = clock or utcnow()
        with Session(self.engine) as session:
            try:
                for raw in read_rows(path):
                    report.rows += 1
                    if raw.error:
                        self._reject(session, report, path, raw.values, [Rejection(
                            raw.line, _label(raw.values, raw.line), _show(raw.field),
                            raw.error)], now)
                        continue
                    row, problems = parse_row(raw.values, raw.line,
                                              undecodable=raw.undecodable)
                    if problems:
                        self._reject(session, report, path, raw.values, problems, now)
                    if row is not None:
                        # Each row is its own change, one after the other: distinct stamps
                        # keep a change-feed cursor's boundary set small after a large import.
                        self._upsert(session, row, report,
                                     now + timedelta(microseconds=report.rows))
            except ImportFileError as exc:
                session.rollback()
                self._reject(session, report, path, {}, [Rejection(
                    exc.line, "(whole file)", exc.field, exc.reason)], now)
                session.commit()
                raise
            session.commit()
        return report

    def _reject(self, session: Session, report: ImportReport, path: Path, raw: dict[str, Any],
                problems: list[Rejection], now: datetime) -> None:
        report.rejected.extend(problems)
        shown = {_show(str(k), 200): _show(v, 2000) if isinstance(v, str) else v
                 for k, v in raw.items()}
        blob = _show(json.dumps(shown, default=str, ensure_ascii=False), MAX_VALUE_CHARS)
        for problem in problems:
            session.add(ImportReject(source=path.name, line=problem.line, record=problem.record,
                                     field=problem.field, reason=problem.reason, raw=blob, at=now))

    def _upsert(self, session: Session, row: _Row, report: ImportReport, now: datetime) -> None:
        key = lead_key(row.given_id, row.email, row.fields, self.roles)
        lead = session.exec(select(MkLead).where(MkLead.key == key)).first()
        created = lead is None
        changed = False
        if lead is None:
            lead = MkLead(key=key, email=row.email, fields=row.fields,
                          created_at=row.created_at or now, updated_at=now)
            _stamp_changes(lead, {}, row.fields, now)
            session.add(lead)
            session.flush()
            report.created += 1
        else:
            merged = {**lead.fields, **row.fields}  # a later row's filled values win
            if merged != lead.fields:
                _stamp_changes(lead, lead.fields, merged, now)
                lead.fields = merged
                changed = True
        assert lead.id is not None
        known = {(a.kind, a.occurred_at, a.detail) for a in session.exec(
            select(MkActivity).where(MkActivity.lead_id == lead.id))}
        for activity in row.activities:
            key = (activity.kind, activity.occurred_at, activity.detail)
            if key not in known:
                known.add(key)
                session.add(MkActivity(lead_id=lead.id, kind=activity.kind,
                                       occurred_at=activity.occurred_at, detail=activity.detail))
                report.activities += 1
                changed = True
        if not created:
            if changed:
                lead.updated_at = now  # only a real change moves the lead into the feed
                session.add(lead)
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()

    def rejects(self, limit: int = 100) -> list[ImportReject]:
        with Session(self.engine) as session:
            query = select(ImportReject).order_by(col(ImportReject.id).desc()).limit(limit)
            return list(session.exec(query))

    # change feed ------------------------------------------------------------
    def read_changes(self, since: datetime | None, *, page_size: int = 500) -> Iterator[Lead]:
        """Keyset-paged by (updated_at, id): no offset scans, no record skipped."""
        last: tuple[datetime, int] | None = None
        while True:
            with Session(self.engine) as session:
                query = select(MkLead)
                if since is not None:
                    query = query.where(col(MkLead.updated_at) >= since)
                if last is not None:
                    query = query.where(or_(col(MkLead.updated_at) > last[0],
                                            (col(MkLead.updated_at) == last[0])
                                            & (col(MkLead.id) > last[1])))
                rows = list(session.exec(query.order_by(col(MkLead.updated_at), col(MkLead.id))
                                         .limit(page_size)))
                if not rows:
                    return
                leads = self._with_activities(session, rows)
            yield from leads
            last = (rows[-1].updated_at, rows[-1].id)  # type: ignore[assignment]
            if len(rows) < page_size:
                return

    def count_changes(self, since: datetime | None) -> int:
        """How many leads ``read_changes(since)`` would yield now: one count query."""
        with Session(self.engine) as session:
            query = select(func.count()).select_from(MkLead)
            if since is not None:
                query = query.where(col(MkLead.updated_at) >= since)
            return int(session.exec(query).one())

    def _with_activities(self, session: Session, rows: list[MkLead]) -> list[Lead]:
        """Leads with their activities, one query for the whole page."""
        by_lead: dict[int, list[Activity]] = {}
        query = select(MkActivity).where(col(MkActivity.lead_id).in_([r.id for r in rows]))
        for act in session.exec(query.order_by(col(MkActivity.occurred_at))):
            by_lead.setdefault(act.lead_id, []).append(
                Activity(act.kind, act.occurred_at, act.detail))
        return [Lead(id=str(r.id), fields=dict(r.fields), updated_at=r.updated_at, stage=r.stage,
                     activities=by_lead.get(r.id or 0, []),
                     field_times={k: datetime.fromisoformat(v)
                                  for k, v in (r.field_times or {}).items()})
                for r in rows]

    def get(self, marketing_id: str) -> Lead | None:
        return next(iter(self.leads([marketing_id])), None)

    def find(self, email: str) -> list[str]:
        """Emails are stored normalised and lower-cased: one lead per person on the
        address (several on a shared mailbox), oldest first."""
        wanted = email.strip().lower()
        with Session(self.engine) as session:
            return [str(i) for i in session.exec(select(MkLead.id).where(MkLead.email == wanted)
                                                 .order_by(col(MkLead.id)))]

    def leads(self, marketing_ids: Sequence[str]) -> list[Lead]:
        ids = [int(i) for i in marketing_ids if str(i).isdigit()]
        found: list[Lead] = []
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                query = select(MkLead).where(col(MkLead.id).in_(ids[start:start + 500]))
                found.extend(self._with_activities(session, list(session.exec(query))))
        return found

    def leads_in_stages(self, stages: Sequence[str],
                        entered_before: datetime | None = None) -> list[Lead]:
        with Session(self.engine) as session:
            query = select(MkLead).where(col(MkLead.stage).in_(list(stages)))
            if entered_before is not None:
                query = query.where(col(MkLead.stage_updated_at) <= entered_before)
            return self._with_activities(session, list(session.exec(query.order_by(
                col(MkLead.id)))))

    # closed loop --------------------------------------------------------------
    def write_stages(self, updates: Sequence[StageUpdate]) -> set[str]:
        written: set[str] = set()
        steps: list[dict[str, Any]] = []
        with Session(self.engine) as session:
            leads = rows_by_id(session, MkLead, (int(u.marketing_id) for u in updates))
            for update in updates:
                lead = leads.get(int(update.marketing_id))
                if lead is None:
                    continue
                written.add(update.marketing_id)
                if update.stage == lead.stage and update.amount is None:
                    continue  # another status meaning the same stage: no step was taken
                steps.append({"lead_id": lead.id, "from_stage": lead.stage, "stage": update.stage,
                              "crm_status": update.crm_status, "amount": update.amount,
                              "at": update.at, "who": update.who, "reason": update.reason})
                lead.stage = update.stage
                lead.stage_updated_at = update.at
                session.add(lead)
            if steps:  # one executemany: no object a row
                session.execute(insert(MkStageChange), steps)
            session.commit()
        return written

    def write_fields(self, updates: Sequence[FieldUpdate]) -> set[str]:
        """CRM values into lead fields; the lead's change time moves, as in any
        marketing tool (the next hand-off finds the CRM already holds them)."""
        written: set[str] = set()
        now = utcnow()
        with Session(self.engine) as session:
            leads = rows_by_id(session, MkLead, (int(u.marketing_id) for u in updates))
            for update in updates:
                lead = leads.get(int(update.marketing_id))
                if lead is None:
                    continue
                fields = dict(lead.fields)
                fields.update(update.fields)
                _stamp_changes(lead, lead.fields, fields, now)
                if "email" in update.fields and update.fields["email"]:
                    lead.email = str(update.fields["email"]).strip().lower()
                    self._rekey(session, lead, fields)
                lead.fields = fields
                lead.updated_at = now
                session.add(lead)
                written.add(update.marketing_id)
            session.commit()
        return written

    def _rekey(self, session: Session, lead: MkLead, fields: dict[str, Any]) -> None:
        """A lead keyed by its email follows a new address, so the next import of the
        person under it finds them; unless another lead already is that person."""
        if lead.key.startswith("id:"):
            return
        key = lead_key(None, lead.email, fields, self.roles)
        taken = session.exec(select(MkLead.id).where(MkLead.key == key,
                                                     MkLead.id != lead.id)).first()
        if taken is None:
            lead.key = key

    def stage_history(self, marketing_id: str) -> list[MkStageChange]:
        return self._stage_rows([marketing_id]).get(marketing_id, [])

    def stage_histories(self, marketing_ids: Sequence[str]) -> dict[str, list[StageUpdate]]:
        return {lead_id: [StageUpdate(lead_id, r.stage, r.crm_status, r.at, r.amount, who=r.who,
                                      reason=r.reason, from_stage=r.from_stage) for r in rows]
                for lead_id, rows in self._stage_rows(marketing_ids).items()}

    def _stage_rows(self, marketing_ids: Sequence[str]) -> dict[str, list[MkStageChange]]:
        ids = [int(i) for i in marketing_ids if str(i).isdigit()]
        out: dict[str, list[MkStageChange]] = {}
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                query = select(MkStageChange).where(
                    col(MkStageChange.lead_id).in_(ids[start:start + 500]))
                for row in session.exec(query.order_by(col(MkStageChange.id))):
                    out.setdefault(str(row.lead_id), []).append(row)
        return out


def seed_store(store: EmbeddedMarketingStore, path: Path) -> ImportReport:
    """First run of the demo: fill the empty store from the seed file, saying what it refused."""
    report = store.import_file(path)
    log.info("marketing store seeded", source=str(path), leads=report.created,
             activities=report.activities, refused=len(report.rejected))
    for rejection in report.rejected:
        log.warning("seed row refused", source=path.name, line=rejection.line,
                    record=rejection.record, field=rejection.field, reason=rejection.reason)
    return report


@contextmanager
def open_embedded(config: Config, *, seed: bool = False) -> Iterator[EmbeddedMarketingStore]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url),
                                   role_mailboxes=config.matching.email.role_mailboxes)
    try:
        if seed and config.marketing.seed and store.is_empty():
            path = config.resolve_path(config.marketing.seed)
            if not path.is_file():
                raise SettingError(f"{config.where('marketing', 'seed')}: no file {path} to "
                                   "seed the empty marketing store from", key="marketing.seed")
            # pipelines (or workers) that share the store start together: one seeds it
            with named_lock(store.engine, "marketing-seed", wait=True):
                if store.is_empty():
                    seed_store(store, path)
        yield store
    finally:
        store.close()


register_marketing("embedded", open_embedded)

"""Value transforms for the field mapping language in config.toml.

An admin writes, per mapped field, a list such as
``transform = ["trim", "lower", {phone = {region = "GB"}}, {truncate = {}}]``.
:func:`parse` turns that list into :class:`Step` objects once, when the
config is loaded, so a typo or a bad argument stops the connector at start-up
with a message naming it (:class:`TransformError`) instead of failing on the
first lead. :func:`apply` then runs the steps on one value per lead.

Two kinds of "bad" are kept apart on purpose:

* a bad *spec* is the admin's mistake and raises :class:`TransformError`;
* a bad *value* is the lead's problem and is returned as a
  :class:`FieldIssue` inside the :class:`Outcome`, never raised, so one
  malformed phone number costs one field of one record, not a sync cycle.

Conventions every transform follows, so chains compose without surprises:

* ``None`` passes through as ``None`` (except ``default``, ``constant`` and
  ``concat``, whose job is to produce a value from elsewhere).
* The validating transforms (phone, email, country, state, date, datetime,
  number, integer, boolean) treat a blank string as "no value" and return
  ``None``: an empty form field is missing, not invalid.
* The text transforms (trim, lower, upper, title, truncate, split) leave
  values that are not strings unchanged: turning ``42`` into ``"42"`` is the
  CRM adapter's decision, which knows the target field's type.

The transforms and their arguments (``?`` = optional):
trim, lower, upper, title · phone {region?} · email · country ·
state {country_field? = "country"} · date {tz? = "UTC", format?} ·
datetime {tz? = "UTC", format?} · number · integer · boolean · truncate {length?} ·
default {value} · constant {value} ·
value_map {map, default?, strict? = true, exact? = false} or the inline {from = to} ·
concat {fields, sep? = " "} · split {part = "first" | "last", sep? = " "}.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from connector.normalize import _number, country_code, phone_e164, subdivision_code


class TransformError(ValueError):
    """A transform spec in config.toml that cannot work (unknown name, bad argument)."""


@dataclass(frozen=True)
class FieldIssue:
    """Why one value could not be transformed; becomes the record's field-level error."""

    code: str
    message: str


@dataclass
class Context:
    """What a transform may look at besides the value itself.

    ``record`` is there for transforms that combine fields (concat) or whose
    answer depends on another field (state codes depend on the country).
    ``warnings`` collects changes worth telling the admin about that are not
    errors (a value cut to fit), so the caller can put them in the audit trail.
    """

    record: Mapping[str, Any]
    target_length: int | None = None
    default_region: str = "US"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """A transformed value, or the issue that stopped it (then ``value`` is None)."""

    value: Any | None
    issue: FieldIssue | None = None


class _Invalid(Exception):
    """Carries a FieldIssue out of a step; never escapes :func:`apply`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.issue = FieldIssue(code, message)


Run = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Step:
    """One transform with validated arguments, ready to run.

    Constructing a Step validates it, so a Step that exists can run; the
    prepared function is built once here rather than per value.
    """

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    _run: Run = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = _KINDS.get(self.name)
        if kind is None:
            hint = _did_you_mean(self.name, NAMES)
            raise TransformError(f"unknown transform {self.name!r}{hint}")
        if not isinstance(self.args, Mapping):
            raise TransformError(f"{self.name}: arguments must be a table, "
                                 f"not {type(self.args).__name__}")
        args = _check_args(self.name, kind, self.args)
        object.__setattr__(self, "args", args)
        run = kind.build(args)
        if kind.none_passes:
            run = _skip_none(run)
        object.__setattr__(self, "_run", run)

    def __call__(self, value: Any, ctx: Context) -> Any:
        return self._run(value, ctx)


# ---------------------------------------------------------------- parsing


def parse(spec: Sequence[str | Mapping[str, Any]]) -> tuple[Step, ...]:
    """Steps for an admin's ``transform = [...]`` list; raises TransformError.

    A bare string is taken as a one-element list, since ``transform = "trim"``
    is what people write for a single transform.
    """
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, Sequence):
        raise TransformError(f"transform must be a list, not {type(spec).__name__}")
    steps: list[Step] = []
    for position, item in enumerate(spec, start=1):
        try:
            steps.append(_parse_item(item))
        except TransformError as exc:
            raise TransformError(f"transform #{position}: {exc}") from None
    return tuple(steps)


def _parse_item(item: str | Mapping[str, Any]) -> Step:
    if isinstance(item, str):
        kind = _KINDS.get(item)
        required = [name for name, arg in kind.args.items() if arg.required] if kind else []
        if required:
            raise TransformError(f"{item} needs arguments: {', '.join(required)} "
                                 f"(write it as a table, e.g. {{{item} = {{...}}}})")
        return Step(item, {})
    if not isinstance(item, Mapping):
        raise TransformError(f"expected a name or a table, not {type(item).__name__} {item!r}")
    if len(item) != 1:
        names = ", ".join(repr(k) for k in item) or "none"
        raise TransformError(f"a transform table names exactly one transform; got {names} "
                             "(list them separately to chain them)")
    ((name, args),) = item.items()
    if name == "value_map" and isinstance(args, Mapping) and not _long_value_map(args):
        args = {"map": args}
    if name == "value_map" and isinstance(args, Mapping) and args.get("exact") is not True:
        _check_map_keys(args.get("map"))
    return Step(name, args)


def _long_value_map(args: Mapping[str, Any]) -> bool:
    """The ``{map = {...}, default = ...}`` form, told from the inline map by its ``map`` table."""
    return isinstance(args.get("map"), Mapping)


def _check_map_keys(table: Any) -> None:
    """Two keys that match the same input would make the mapping depend on their order."""
    if not isinstance(table, Mapping):
        return
    seen: dict[str, Any] = {}
    for key, target in table.items():
        folded = _fold(str(key))
        if folded in seen and table[seen[folded]] != target:
            raise TransformError(f"value_map: keys {seen[folded]!r} and {key!r} match the same "
                                 "input (matching ignores case and surrounding spaces) but map "
                                 "to different values")
        seen.setdefault(folded, key)


def _did_you_mean(word: str, choices: frozenset[str] | Sequence[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# ------------------------------------------------------------ argument checks


class _Arg(NamedTuple):
    check: Callable[[str, str, Any], Any]
    required: bool = False


class _Kind(NamedTuple):
    build: Callable[[Mapping[str, Any]], Run]
    args: Mapping[str, _Arg]
    none_passes: bool = True
    inverse: str = "keep"  # "keep" | "drop" | "invert"


def _check_args(name: str, kind: _Kind, args: Mapping[str, Any]) -> dict[str, Any]:
    for key in args:
        if key not in kind.args:
            allowed = ", ".join(kind.args) or "none"
            raise TransformError(f"{name}: unknown argument {key!r}"
                                 f"{_did_you_mean(str(key), list(kind.args))} (allowed: {allowed})")
    checked: dict[str, Any] = {}
    for key, arg in kind.args.items():
        if key in args:
            checked[key] = arg.check(name, key, args[key])
        elif arg.required:
            raise TransformError(f"{name}: missing argument {key!r}")
    return checked


def _string(name: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TransformError(f"{name}: {key} must be a non-empty string, not {value!r}")
    return value


def _region(name: str, key: str, value: Any) -> str:
    region = _string(name, key, value).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise TransformError(f"{name}: {key} {value!r} is not a region code phonenumbers knows "
                             "(use ISO 3166-1 alpha-2, e.g. 'US', 'GB')")
    return region


def _zone(name: str, key: str, value: Any) -> str:
    text = _string(name, key, value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise TransformError(f"{name}: {key} {value!r} is not an IANA time zone "
                             "(e.g. 'UTC', 'Europe/Berlin')") from None
    return text


def _format(name: str, key: str, value: Any) -> str:
    """A strptime format that cannot read back what it writes would reject every value."""
    text = _string(name, key, value)
    sample = datetime(2026, 11, 25, 13, 45, 30, tzinfo=UTC)
    try:
        if "%" not in text:
            raise ValueError("no % directive")
        datetime.strptime(sample.strftime(text), text)
    except ValueError as exc:
        raise TransformError(f"{name}: {key} {value!r} is not a usable date format "
                             f"({exc}); e.g. '%d/%m/%Y'") from None
    return text


def _length(name: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TransformError(f"{name}: {key} must be a positive integer, not {value!r}")
    return value


def _boolean(name: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TransformError(f"{name}: {key} must be true or false, not {value!r}")
    return value


def _anything(name: str, key: str, value: Any) -> Any:
    return value


def _field_names(name: str, key: str, value: Any) -> tuple[str, ...]:
    if (isinstance(value, str) or not isinstance(value, Sequence) or not value
            or not all(isinstance(item, str) and item for item in value)):
        raise TransformError(f"{name}: {key} must be a non-empty list of field names, "
                             f"not {value!r}")
    return tuple(value)


def _part(name: str, key: str, value: Any) -> str:
    if value not in ("first", "last"):
        raise TransformError(f"{name}: {key} must be 'first' or 'last', not {value!r}")
    return str(value)


_SCALAR = (str, int, float, bool)


def _value_table(name: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise TransformError(f"{name}: {key} must be a non-empty table of from = to pairs, "
                             f"not {value!r}")
    for source, target in value.items():
        if not isinstance(source, str):
            raise TransformError(f"{name}: key {source!r} must be a string")
        if not isinstance(target, _SCALAR):
            raise TransformError(f"{name}: {source!r} maps to {target!r}; targets must be "
                                 "strings, numbers or booleans")
    return dict(value)


# ------------------------------------------------------------ the transforms


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _fold(text: str) -> str:
    return text.strip().casefold()


def _skip_none(run: Run) -> Run:
    def skipping(value: Any, ctx: Context) -> Any:
        return None if value is None else run(value, ctx)
    return skipping


def _text(method: Callable[[str], str]) -> Callable[[Mapping[str, Any]], Run]:
    def build(args: Mapping[str, Any]) -> Run:
        return lambda value, ctx: method(value) if isinstance(value, str) else value
    return build


_WORD = re.compile(r"[^\W_]+")
_QUOTES = "'’"


def _title_case(text: str) -> str:
    """Capitalise words for names: "o'brien" → "O'Brien" but "macy's" → "Macy's", "3rd" stays.

    ``str.title`` gives "Macy'S" and "3Rd"; after an apostrophe we capitalise
    only when a single letter precedes it (O', D', L'), which is the name
    pattern, and a word starting with a digit keeps the rest lower-case.
    """
    def word(match: re.Match[str]) -> str:
        start = match.start()
        if start >= 2 and text[start - 1] in _QUOTES:
            before = _WORD.match(text[start - 2::-1])  # the word before the apostrophe
            if before and len(before[0]) >= 2:
                return match[0].lower()
        return match[0].capitalize()
    return _WORD.sub(word, text)


def _phone(args: Mapping[str, Any]) -> Run:
    fixed = args.get("region")

    def run(value: Any, ctx: Context) -> Any:
        region = fixed or str(ctx.default_region).upper()
        if _blank(value):
            return None
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        e164 = phone_e164(text, region) if isinstance(text, str) else None
        if e164 is None:
            raise _Invalid("INVALID_PHONE",
                           f"{_show(value)} is not a phone number (region {region})")
        return e164
    return run


def _email(args: Mapping[str, Any]) -> Run:
    def run(value: Any, ctx: Context) -> Any:
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise _Invalid("INVALID_EMAIL", f"{_show(value)} is not an email address")
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise _Invalid("INVALID_EMAIL",
                           f"{_show(value)} is not an email address: {exc}") from None
    return run


def _country(args: Mapping[str, Any]) -> Run:
    def run(value: Any, ctx: Context) -> Any:
        if _blank(value):
            return None
        code = country_code(value) if isinstance(value, str) else None
        if code is None:
            raise _Invalid("UNKNOWN_COUNTRY", f"{_show(value)} is not a known country")
        return code
    return run


def _state(args: Mapping[str, Any]) -> Run:
    country_field = args.get("country_field", "country")

    def run(value: Any, ctx: Context) -> Any:
        if _blank(value):
            return None
        raw = ctx.record.get(country_field)
        given = ctx.default_region if raw is None or _blank(raw) else raw
        country = country_code(str(given))
        if country is None:
            raise _Invalid("UNKNOWN_STATE", f"cannot look up state {_show(value)}: the record's "
                                            f"{country_field} {_show(raw)} is not a known country")
        code = subdivision_code(value, country) if isinstance(value, str) else None
        if code is None:
            raise _Invalid("UNKNOWN_STATE",
                           f"{_show(value)} is not a state or subdivision of {country}")
        return code
    return run


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLIS = re.compile(r"-?[0-9]{12,}")
"""Twelve digits or more is epoch milliseconds (after 1973); eight is an ISO basic date."""


def _moment(value: Any, zone: ZoneInfo, fmt: str | None) -> datetime:
    """An aware datetime for anything date-like; naive times are read in ``zone``."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a date")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, int | float):
        moment = _EPOCH + timedelta(milliseconds=value)
    elif isinstance(value, str):
        moment = _parse_moment(value.strip(), fmt)
    else:
        raise ValueError(f"{type(value).__name__} is not a date")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _parse_moment(text: str, fmt: str | None) -> datetime:
    if fmt:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass  # ISO is unambiguous, so it is still accepted: values already normalised pass
    if _MILLIS.fullmatch(text):
        return _EPOCH + timedelta(milliseconds=int(text))
    return datetime.fromisoformat(text)


def _date_like(render: Callable[[datetime, ZoneInfo], str]) -> Callable[[Mapping[str, Any]], Run]:
    def build(args: Mapping[str, Any]) -> Run:
        zone = ZoneInfo(args.get("tz", "UTC"))
        fmt = args.get("format")
        expected = f"format {fmt!r} or ISO 8601" if fmt else "ISO 8601 or epoch milliseconds"

        def run(value: Any, ctx: Context) -> Any:
            if _blank(value):
                return None
            try:
                return render(_moment(value, zone, fmt), zone)
            except (ValueError, OverflowError, TypeError):
                raise _Invalid("INVALID_DATE",
                               f"{_show(value)} is not a date ({expected})") from None
        return run
    return build


def _render_date(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat()


def _render_datetime(moment: datetime, zone: ZoneInfo) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


_INTEGER = re.compile(r"[+-]?[0-9]+")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")
"""Commas only as thousands separators: "1,5" is a European 1.5, not 15, so it is refused."""


def _to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None  # a checkbox in a number field is a mapping mistake, not 1
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if "," in text and not _GROUPED.fullmatch(text):
            return None
        plain = text.replace(",", "")
        if _INTEGER.fullmatch(plain):
            try:
                return int(plain)  # exact, where float() would round long ids
            except ValueError:  # beyond int's digit limit
                return None
        number = _number(text)
    elif isinstance(value, float):
        number = value
    else:
        return None
    if isinstance(number, float):
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() else number
    return number


def _numeric(whole: bool) -> Callable[[Mapping[str, Any]], Run]:
    def build(args: Mapping[str, Any]) -> Run:
        def run(value: Any, ctx: Context) -> Any:
            if _blank(value):
                return None
            number = _to_number(value)
            if number is None:
                hint = " (commas only as thousands separators)" if "," in str(value) else ""
                raise _Invalid("INVALID_NUMBER", f"{_show(value)} is not a number{hint}")
            if whole and not isinstance(number, int):
                raise _Invalid("INVALID_NUMBER", f"{_show(value)} is not a whole number")
            return number
        return run
    return build


_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def _bool(args: Mapping[str, Any]) -> Run:
    def run(value: Any, ctx: Context) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if _blank(value):
            return None
        if isinstance(value, str):
            word = _fold(value)
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise _Invalid("INVALID_BOOLEAN", f"{_show(value)} is not a yes/no value")
    return run


def _truncate(args: Mapping[str, Any]) -> Run:
    length = args.get("length")

    def run(value: Any, ctx: Context) -> Any:
        limits = [n for n in (length, ctx.target_length) if n is not None and n > 0]
        if not limits or not isinstance(value, str):
            return value
        limit = min(limits)  # the CRM's limit is hard; a shorter admin limit is a choice
        if len(value) <= limit:
            return value
        ctx.warnings.append(f"truncated to {limit} characters (was {len(value)})")
        return value[:limit]
    return run


def _default(args: Mapping[str, Any]) -> Run:
    fallback = args["value"]
    return lambda value, ctx: fallback if value is None or _blank(value) else value


def _constant(args: Mapping[str, Any]) -> Run:
    fixed = args["value"]
    return lambda value, ctx: fixed


_MISSING = object()


def _value_map(args: Mapping[str, Any]) -> Run:
    table: dict[str, Any] = args["map"]
    folded: dict[str, Any] = {}
    for key, target in table.items():
        folded.setdefault(_fold(key), target)
    default = args.get("default", _MISSING)
    strict = args.get("strict", True)
    exact = args.get("exact", False)
    known = ", ".join(repr(k) for k in list(table)[:8]) + (", ..." if len(table) > 8 else "")

    def run(value: Any, ctx: Context) -> Any:
        key = value if isinstance(value, str) else str(value)
        found = table.get(key, _MISSING)  # exact first: "Hot" and "hot" may both be keys
        if found is _MISSING and not exact:
            found = folded.get(_fold(key), _MISSING)
        if found is not _MISSING:
            return found
        if default is not _MISSING:
            return default
        if strict:
            raise _Invalid("NOT_IN_VALUE_MAP",
                           f"{_show(value)} is not in the value map (known: {known})")
        return value
    return run


def _concat(args: Mapping[str, Any]) -> Run:
    fields, sep = args["fields"], args.get("sep", " ")

    def run(value: Any, ctx: Context) -> Any:
        parts = [str(v).strip() for v in (ctx.record.get(name) for name in fields)
                 if v is not None]
        return sep.join(part for part in parts if part) or None
    return run


def _split(args: Mapping[str, Any]) -> Run:
    """Last name = the last token, first name = everything before it.

    "Mary Ann Smith" → "Mary Ann" / "Smith": compound given names are more
    common in form data than compound surnames written without a hyphen, and a
    single token ("Cher") goes to the last name because CRMs require it there.
    """
    part, sep = args["part"], args.get("sep", " ")

    def run(value: Any, ctx: Context) -> Any:
        if not isinstance(value, str):
            return value
        if sep == " ":
            tokens = value.split()
            head, last = " ".join(tokens[:-1]), (tokens[-1] if tokens else "")
        else:
            pieces = value.rsplit(sep, 1)
            head, last = ("", pieces[0]) if len(pieces) == 1 else pieces
        chosen = (head if part == "first" else last).strip()
        return chosen or None
    return run


_REGION = _Arg(_region)
_TZ = _Arg(_zone)
_FORMAT = _Arg(_format)

_KINDS: dict[str, _Kind] = {
    "trim": _Kind(_text(str.strip), {}),
    "lower": _Kind(_text(str.lower), {}),
    "upper": _Kind(_text(str.upper), {}),
    "title": _Kind(_text(_title_case), {}),
    "phone": _Kind(_phone, {"region": _REGION}),
    "email": _Kind(_email, {}),
    "country": _Kind(_country, {}),
    "state": _Kind(_state, {"country_field": _Arg(_string)}),
    "date": _Kind(_date_like(_render_date), {"tz": _TZ, "format": _FORMAT}),
    "datetime": _Kind(_date_like(_render_datetime), {"tz": _TZ, "format": _FORMAT}),
    "number": _Kind(_numeric(whole=False), {}),
    "integer": _Kind(_numeric(whole=True), {}),
    "boolean": _Kind(_bool, {}),
    "truncate": _Kind(_truncate, {"length": _Arg(_length)}),
    "default": _Kind(_default, {"value": _Arg(_anything, required=True)},
                     none_passes=False, inverse="drop"),
    "constant": _Kind(_constant, {"value": _Arg(_anything, required=True)},
                      none_passes=False, inverse="drop"),
    "value_map": _Kind(_value_map, {"map": _Arg(_value_table, required=True),
                                    "default": _Arg(_anything), "strict": _Arg(_boolean),
                                    "exact": _Arg(_boolean)},
                       inverse="invert"),
    "concat": _Kind(_concat, {"fields": _Arg(_field_names, required=True), "sep": _Arg(_string)},
                    none_passes=False, inverse="drop"),
    "split": _Kind(_split, {"part": _Arg(_part, required=True), "sep": _Arg(_string)},
                   inverse="drop"),
}

NAMES: frozenset[str] = frozenset(_KINDS)


# ------------------------------------------------------------ running


def apply(steps: Sequence[Step], value: Any, ctx: Context) -> Outcome:
    """Run ``steps`` in order on one value; stops at the first issue.

    Never raises for any value: an unexpected exception inside a step is
    reported as a TRANSFORM_FAILED issue, because one odd value in one lead
    must not abort the cycle for every other lead. Tests assert that code
    never appears, so such a bug still fails the suite.
    """
    for step in steps:
        try:
            value = step(value, ctx)
        except _Invalid as invalid:
            return Outcome(None, invalid.issue)
        except Exception as exc:  # the guarantee above; see the docstring
            return Outcome(None, FieldIssue(
                "TRANSFORM_FAILED",
                f"{step.name} failed on {_show(value)}: {type(exc).__name__}: {exc}"))
    return Outcome(value)


def inverse(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Steps for the CRM → marketing direction of a two-way field.

    The order is reversed, as for any composed function. Normalisers are
    kept because they are already what the marketing side wants; value maps
    are turned around; steps that invent or combine values (constant,
    default, concat, split) are dropped, since their input cannot be
    recovered from their output. Whether a concat field should sync back at
    all is the mapping language's call, not this module's.
    """
    result: list[Step] = []
    for step in reversed(steps):
        policy = _KINDS[step.name].inverse
        if policy == "keep":
            result.append(step)
        elif policy == "invert":
            result.append(_invert_value_map(step))
    return tuple(result)


def _invert_value_map(step: Step) -> Step:
    """Targets → sources; where several sources share a target, the first listed wins.

    The inverse matches exactly: CRM values are the CRM's own canonical ones,
    and folding them would let an unmapped value that passed through ("HOT")
    come back as a mapped source and be rewritten as "Hot" on the next sync,
    so a round trip would change the CRM.
    """
    turned: dict[str, Any] = {}
    for source, target in step.args["map"].items():
        turned.setdefault(str(target), source)
    return Step("value_map", {"map": turned, "strict": step.args.get("strict", True),
                              "exact": True})

"""SOQL date literals (TODAY, LAST_N_DAYS:n, THIS_QUARTER...) as half-open day ranges.

Each literal names a range of whole days ``[start, end)`` counted from today
in the querying user's time zone, per the SOQL reference: ``LAST_N_DAYS:n``
and ``LAST_90_DAYS`` include today (``LAST_N_DAYS:1`` is yesterday and
today); ``NEXT_N_DAYS:n`` and ``NEXT_90_DAYS`` start tomorrow; ``LAST_N_WEEKS:n``
ends where this week starts, ``NEXT_N_WEEKS:n`` starts where next week
starts, and months, quarters and years work the same way. Weeks start on
Sunday (the en_US locale every sandbox user has). Fiscal literals use the
default fiscal year, which is the calendar year.

On a dateTime field the day bounds become local midnights converted to UTC;
``=`` means inside the range, ``<`` before its start, ``>`` after its end,
``<=`` before its end and ``>=`` from its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UNITS = {"DAY": "day", "WEEK": "week", "MONTH": "month", "QUARTER": "quarter", "YEAR": "year"}

_PERIODS = ("WEEK", "MONTH", "QUARTER", "YEAR")
_FISCAL = ("QUARTER", "YEAR")

PLAIN = frozenset(
    {
        "YESTERDAY", "TODAY", "TOMORROW", "LAST_90_DAYS", "NEXT_90_DAYS",
        *(f"{w}_{u}" for w in ("LAST", "THIS", "NEXT") for u in _PERIODS),
        *(f"{w}_FISCAL_{u}" for w in ("LAST", "THIS", "NEXT") for u in _FISCAL),
    }
)  # fmt: skip
WITH_N = frozenset(
    {
        *(f"{w}_N_{u}S" for w in ("LAST", "NEXT") for u in ("DAY", *_PERIODS)),
        *(f"N_{u}S_AGO" for u in ("DAY", *_PERIODS)),
        *(f"{w}_N_FISCAL_{u}S" for w in ("LAST", "NEXT") for u in _FISCAL),
        *(f"N_FISCAL_{u}S_AGO" for u in _FISCAL),
    }
)  # fmt: skip


@dataclass(frozen=True)
class DayRange:
    """A literal resolved to local days ``[start, end)``."""

    start: date
    end: date

    def bounds(self, field_is_datetime: bool, tz: tzinfo) -> tuple[object, object]:
        """The range as comparison keys: dates, or UTC datetimes of local midnights."""
        if not field_is_datetime:
            return self.start, self.end
        return (
            datetime.combine(self.start, time(), tz).astimezone(UTC),
            datetime.combine(self.end, time(), tz).astimezone(UTC),
        )


def user_zone(name: str | None) -> tzinfo:
    """A user's ``TimeZoneSidKey`` as a tzinfo; "GMT" and unknown names are UTC."""
    if not name or name.upper() in ("GMT", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _period_start(today: date, unit: str) -> date:
    if unit == "day":
        return today
    if unit == "week":
        return today - timedelta(days=(today.weekday() + 1) % 7)  # back to Sunday
    if unit == "month":
        return today.replace(day=1)
    if unit == "quarter":
        return date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    return date(today.year, 1, 1)


def _shift(start: date, unit: str, count: int) -> date:
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    return _add_months(start, months * count)


def resolve(name: str, n: int | None, today: date) -> DayRange:
    """The days a literal covers on ``today``; ``name`` is upper case and known."""
    if name in ("YESTERDAY", "TODAY", "TOMORROW"):
        offset = {"YESTERDAY": -1, "TODAY": 0, "TOMORROW": 1}[name]
        return DayRange(today + timedelta(days=offset), today + timedelta(days=offset + 1))
    if name == "LAST_90_DAYS":
        name, n = "LAST_N_DAYS", 90
    elif name == "NEXT_90_DAYS":
        name, n = "NEXT_N_DAYS", 90
    words = name.replace("FISCAL_", "").split("_")
    if name in PLAIN:  # LAST_WEEK, THIS_QUARTER, NEXT_FISCAL_YEAR...
        unit = _UNITS[words[1]]
        start = _period_start(today, unit)
        shift = {"LAST": -1, "THIS": 0, "NEXT": 1}[words[0]]
        first = _shift(start, unit, shift)
        return DayRange(first, _shift(first, unit, 1))
    assert n is not None
    if words[0] == "N":  # N_DAYS_AGO:n, N_MONTHS_AGO:n ...
        unit = _UNITS[words[1].rstrip("S")]
        first = _shift(_period_start(today, unit), unit, -n)
        return DayRange(first, _shift(first, unit, 1))
    unit = _UNITS[words[2].rstrip("S")]
    if words[0] == "LAST":
        if unit == "day":  # n days back *and* today: LAST_N_DAYS:1 is yesterday and today
            return DayRange(today - timedelta(days=n), today + timedelta(days=1))
        end = _period_start(today, unit)  # weeks, months...: up to the current one's start
        return DayRange(_shift(end, unit, -n), end)
    start = _shift(_period_start(today, unit), unit, 1)  # tomorrow, next week's start...
    return DayRange(start, _shift(start, unit, n))

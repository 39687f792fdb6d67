"""Business time: the clock SLAs count in ("first touch within 4 business hours").

A shared noun of the lowest layer, beside ``connector.config``: it imports only the
standard library, pydantic and the ``holidays`` package, so that config.toml's
``[calendars]`` tables can be typed with ``CalendarConfig`` and any step can ask a
``Calendar`` when a clock is due.

A calendar opens at most one shift per local day: the day's ``hours`` on a working day
(a weekday in ``days`` that is neither a public holiday nor a day off). A shift may run
past midnight and still belongs to the day it started on. Every answer is computed from
these shifts one day at a time, as real instants in UTC: wall-clock hours are kept
across DST, and a shift lasts the real time between its opening and closing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from holidays import HolidayBase, country_holidays, list_localized_countries
from holidays import list_supported_countries as holiday_countries
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS: list[Day] = ["mon", "tue", "wed", "thu", "fri"]

SEARCH_DAYS = 3 * 366
"""Days in a row without a shift after which a calendar is taken to never open: the walk
fails with a ValueError instead of looping (no working days, or every day closed)."""

_HOURS = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d-(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")
_DAY_MINUTES = 24 * 60


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "Europe"
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. \"Europe/Berlin\")") from None
    return value


def _hours(value: str) -> str:
    text = value.replace(" ", "")
    if not _HOURS.match(text):
        raise ValueError(f"{value!r} is not local working hours like \"09:00-17:30\" "
                         "(\"22:00-06:00\" spans midnight)")
    start, end = parse_hours(text)
    if start == end:
        raise ValueError(f"{value!r} opens and closes at the same time; leave hours out for "
                         "the whole day")
    return text


def parse_hours(value: str) -> tuple[int, int]:
    """``"09:00-17:30"`` → minutes after midnight, (540, 1050); ``"24:00"`` is 1440."""
    start, end = value.split("-")
    return (int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:]))


def _iso_day(value: object) -> object:
    """A TOML date, or the same written as a quoted "2026-12-24"; never a number (a lax
    date would read 20261224 as seconds since 1970)."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2026-12-24") from None
    return value


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or code not in holiday_countries():
        raise ValueError(f"{value!r} is not a country with public holidays on record; give "
                         "its ISO 3166 alpha-2 code, e.g. \"DE\" or \"US\"")
    return code


TimeZone = Annotated[str, AfterValidator(_timezone)]
Hours = Annotated[str, AfterValidator(_hours)]
IsoDate = Annotated[date, BeforeValidator(_iso_day)]
Country = Annotated[str, AfterValidator(_country)]


class CalendarConfig(BaseModel):
    """One ``[calendars.NAME]`` table of config.toml: when business time runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    timezone: TimeZone = "UTC"
    """The IANA zone the hours, days and holidays are local to."""
    days: list[Day] = WORKDAYS
    hours: Hours | None = None
    """Local opening hours of each working day; left out, the whole day."""
    holidays: Country | None = None
    """Whose public holidays close the calendar: an ISO 3166 alpha-2 code."""
    holidays_region: str | None = None
    """A subdivision of ``holidays`` adding its own days, e.g. "BY" (Bavaria) for "DE"."""
    days_off: list[IsoDate] = []
    """Further closed days: company days off, a team's shutdown."""

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[Day]) -> list[Day]:
        if not value:
            raise ValueError("no working days, so business time would never run; list them, "
                             "e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]")
        return value

    @field_validator("holidays_region")
    @classmethod
    def _known_region(cls, value: str, info: ValidationInfo) -> str:
        """Checked against the country when that is valid; ``_region_has_country`` covers
        a region without one (and stays quiet when the country itself was wrong)."""
        country = info.data.get("holidays")
        if country is None:
            return value
        known = holiday_countries()[country]
        if not known:
            raise ValueError(f"{value!r}: {country} has no regional holidays on record; "
                             "leave holidays_region out")
        by_upper = {region.upper(): region for region in known}
        if value.strip().upper() not in by_upper:
            raise ValueError(f"{value!r} is not a subdivision of {country}; known: "
                             f"{', '.join(known)}")
        return by_upper[value.strip().upper()]

    @model_validator(mode="after")
    def _region_has_country(self) -> CalendarConfig:
        if self.holidays_region is not None and self.holidays is None:
            raise ValueError(f"holidays_region {self.holidays_region!r} needs holidays, the "
                             "country it belongs to (e.g. holidays = \"DE\")")
        return self


class Shift(NamedTuple):
    """One working day's opening, as UTC instants."""

    day: date
    """The local working day it belongs to (the day it starts on)."""
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Calendar:
    """When business time runs; every method takes aware datetimes and answers in UTC."""

    timezone: ZoneInfo
    days: frozenset[int]
    """Working weekdays, Monday = 0."""
    hours: tuple[int, int] | None = None
    """Opening and closing as minutes after local midnight; an end at or before the start
    is on the next day. None: the whole day."""
    days_off: frozenset[date] = frozenset()
    holidays: HolidayBase | None = field(default=None, compare=False, repr=False)
    """Loads each year's holidays the first time a day of it is asked about."""

    @classmethod
    def from_config(cls, config: CalendarConfig, *,
                    extra_days_off: Iterable[date] = ()) -> Calendar:
        """The calendar of a config table; ``extra_days_off`` adds closed days kept elsewhere,
        such as a rep's away days, so one config serves a whole team."""
        return cls(
            timezone=ZoneInfo(config.timezone),
            days=frozenset(DAYS.index(day) for day in config.days),
            hours=parse_hours(config.hours) if config.hours else None,
            days_off=frozenset(config.days_off) | frozenset(extra_days_off),
            holidays=_holidays(config.holidays, config.holidays_region),
        )

    def closed_reason(self, day: date) -> str | None:
        """Why a local day has no shift ("weekend", "Christmas Day (DE)", "day off"), for
        the evidence in SLA messages; None on a working day."""
        weekday = day.weekday()
        if weekday not in self.days:
            return "weekend" if weekday >= 5 else f"not a working day ({DAYS[weekday]})"
        holiday = self.holidays.get(day) if self.holidays is not None else None
        if holiday:
            return f"{holiday} ({_holiday_source(self.holidays)})"
        if day in self.days_off:
            return "day off"
        return None

    def closed_days(self, a: datetime, b: datetime) -> list[tuple[date, str]]:
        """The closed local days from a's day to b's day, both included, with their reasons:
        what paused a clock between two moments."""
        first, last = self._local_day(a), self._local_day(b)
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        return [(day, reason) for day in days if (reason := self.closed_reason(day))]

    def is_open(self, at: datetime) -> bool:
        return self._shift_at(_utc(at)) is not None

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next opening."""
        at = _utc(at)
        return max(self._next_shift(at).start, at)

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """The moment ``delta`` of business time has run after ``start``. Time before the
        next opening does not count, so a zero delta gives ``next_open(start)``; a delta
        that ends exactly at a closing gives the closing, not the next opening."""
        if delta < timedelta(0):
            raise ValueError(f"business time to add is negative: {delta}")
        start, left = _utc(start), delta
        shifts = self._shifts(self._local_day(start) - timedelta(days=1))
        shift = next(s for s in shifts if s.end > start)
        begin = max(shift.start, start)
        while left > shift.end - begin:
            left -= shift.end - begin
            shift = next(shifts)
            begin = shift.start
        return begin + left

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time run from ``a`` to ``b``; nothing when ``b`` is not after ``a``."""
        a, b = _utc(a), _utc(b)
        total = timedelta(0)
        day, last = self._local_day(a) - timedelta(days=1), self._local_day(b)
        while day <= last:
            shift = self._shift(day)
            if shift is not None:
                total += max(timedelta(0), min(shift.end, b) - max(shift.start, a))
            day += timedelta(days=1)
        return total

    def add_days(self, start: datetime, n: int) -> datetime:
        """The close of business on the n-th working day after the day ``start`` falls on.

        What a sales team means by "a decision within 2 business days": the rest of the
        day a lead arrives on is extra, then come n whole working days, and the clock is
        due when the last of them closes. Counting whole days keeps the deadline at a
        closing time whatever the hours of each day; ``add(start, n * a day's hours)``
        would land mid-day as soon as days differ. With n = 2, a lead in on Friday at 10:00
        or at 20:00, or on Saturday, is due at Tuesday's close. ``start``'s day is the
        working day whose shift is open at ``start`` (for a night shift, the day it
        started), else its local date. n = 0 is the close of the shift open at ``start``,
        or of the next one.
        """
        if n < 0:
            raise ValueError(f"business days to add are negative: {n}")
        start = _utc(start)
        if n == 0:
            return self._next_shift(start).end
        open_shift = self._shift_at(start)
        day = open_shift.day if open_shift is not None else self._local_day(start)
        later = self._shifts(day + timedelta(days=1))
        return next(islice(later, n - 1, None)).end

    def _local_day(self, at: datetime) -> date:
        return _utc(at).astimezone(self.timezone).date()

    def _shift(self, day: date) -> Shift | None:
        """The day's shift, or None when closed. Opening and closing are wall-clock times
        read with fold=0 (a time the clocks skip reads with the offset before the change);
        a shift wholly inside a skipped hour does not happen."""
        if self.closed_reason(day) is not None:
            return None
        start, end = self.hours or (0, _DAY_MINUTES)
        if end <= start:
            end += _DAY_MINUTES
        shift = Shift(day, self._instant(day, start), self._instant(day, end))
        return shift if shift.end > shift.start else None

    def _instant(self, day: date, minutes: int) -> datetime:
        """Wall-clock ``minutes`` after the local midnight starting ``day``, in UTC."""
        day += timedelta(days=minutes // _DAY_MINUTES)
        hour, minute = divmod(minutes % _DAY_MINUTES, 60)
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.timezone)
        return local.astimezone(UTC)

    def _shifts(self, first: date) -> Iterator[Shift]:
        """Shifts from ``first`` on, without end; a ValueError after SEARCH_DAYS closed days
        in a row, so a calendar that never opens fails instead of looping."""
        day, closed = first, 0
        while True:
            shift = self._shift(day)
            if shift is not None:
                closed = 0
                yield shift
            elif (closed := closed + 1) > SEARCH_DAYS:
                raise ValueError(f"the calendar has no working time in the {SEARCH_DAYS} "
                                 f"days from {day - timedelta(days=SEARCH_DAYS)} on; check its "
                                 "days, hours, holidays and days_off")
            day += timedelta(days=1)

    def _shift_at(self, at: datetime) -> Shift | None:
        """The shift open at ``at``: the day's own, or the day before's running past
        midnight."""
        day = self._local_day(at)
        for candidate in (self._shift(day - timedelta(days=1)), self._shift(day)):
            if candidate is not None and candidate.start <= at < candidate.end:
                return candidate
        return None

    def _next_shift(self, at: datetime) -> Shift:
        """The shift open at ``at``, or else the next to open."""
        shifts = self._shifts(self._local_day(at) - timedelta(days=1))
        return next(shift for shift in shifts if shift.end > at)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; business time needs an aware "
                         "datetime")
    return at.astimezone(UTC)


def _holidays(country: str | None, region: str | None) -> HolidayBase | None:
    """Holiday names in English where the package has them, as SLA messages are."""
    if country is None:
        return None
    english = "en_US" in list_localized_countries().get(country, ())
    return country_holidays(country, subdiv=region, language="en_US" if english else None)


def _holiday_source(holidays: HolidayBase) -> str:
    """"DE", or "DE-BY" (ISO 3166-2) when the region adds its own days."""
    return f"{holidays.country}-{holidays.subdiv}" if holidays.subdiv else holidays.country

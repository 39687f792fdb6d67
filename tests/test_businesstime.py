"""Business calendars (connector/businesstime.py): the clock SLAs count in.

Expected values are worked out by hand from a 2026 wall calendar; each row says how.
2026 facts used: 01-05 Mon, 01-06 Tue, 03-02 Mon, 03-06 Fri, 03-08 Sun (US clocks
forward), 03-29 Sun (EU clocks forward), 10-02 Fri, 10-03 Sat, 10-25 Sun (EU clocks
back), 11-01 Sun (US clocks back), 11-25 Wed, 11-26 Thu, 12-23 Wed, 12-25 Fri.
"""

from __future__ import annotations

import re
import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.businesstime import DAYS, Calendar, CalendarConfig

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def calendar(**config: object) -> Calendar:
    return Calendar.from_config(CalendarConfig.model_validate(config))


CALENDARS = {
    # 8.5 h a day, Bavarian holidays, Christmas Eve off.
    "de_by": calendar(timezone=BERLIN, hours="09:00-17:30", holidays="DE",
                      holidays_region="BY", days_off=["2026-12-24"]),
    "de_be": calendar(timezone=BERLIN, hours="09:00-17:30", holidays="DE",
                      holidays_region="BE"),
    "de": calendar(timezone=BERLIN, hours="09:00-17:30", holidays="DE"),
    "us": calendar(timezone=NEW_YORK, hours="09:00-17:00", holidays="US"),
    # A night desk, Monday to Friday nights.
    "night": calendar(timezone=BERLIN, hours="22:00-06:00"),
    # Every hour of every day, in local time: what DST does to a whole day.
    "berlin_24_7": calendar(timezone=BERLIN, days=list(DAYS)),
    "new_york_24_7": calendar(timezone=NEW_YORK, days=list(DAYS)),
    "berlin_daily_9_17": calendar(timezone=BERLIN, days=list(DAYS), hours="09:00-17:00"),
    "berlin_nightly": calendar(timezone=BERLIN, days=list(DAYS), hours="22:00-06:00"),
    "mon_wed_fri": calendar(timezone=BERLIN, days=["mon", "wed", "fri"]),
}

ZONES = {"de_by": BERLIN, "de_be": BERLIN, "de": BERLIN, "us": NEW_YORK, "night": BERLIN,
         "berlin_24_7": BERLIN, "new_york_24_7": NEW_YORK, "berlin_daily_9_17": BERLIN,
         "berlin_nightly": BERLIN, "mon_wed_fri": BERLIN}


def local(name: str, text: str) -> datetime:
    """``"2026-03-02 10:00"`` as wall-clock time in the calendar's zone."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(ZONES[name]))


@pytest.mark.parametrize(("name", "start", "hours", "expected"), [
    # Inside a shift: plain addition.
    ("de_by", "2026-03-02 10:00", 4, "2026-03-02 14:00"),
    # Mon 15:00: 2.5 h to 17:30, 1.5 h more from Tue 09:00.
    ("de_by", "2026-03-02 15:00", 4, "2026-03-03 10:30"),
    # Fri 16:00: 1.5 h Friday, Sat/Sun closed, 2.5 h from Mon 09:00.
    ("de_by", "2026-03-06 16:00", 4, "2026-03-09 11:30"),
    # Before opening: counts from 09:00.
    ("de_by", "2026-03-03 07:00", 1, "2026-03-03 10:00"),
    # After closing: counts from Wednesday 09:00.
    ("de_by", "2026-03-03 18:00", 1, "2026-03-04 10:00"),
    # Ending exactly at a closing gives the closing, not the next opening.
    ("de_by", "2026-03-03 13:30", 4, "2026-03-03 17:30"),
    # On Christmas Day (Fri): 26/27 weekend, counts from Mon 12-28 09:00.
    ("de_by", "2026-12-25 10:00", 4, "2026-12-28 13:00"),
    # Wed 12-23 16:00: 1.5 h; 24 day off, 25 holiday, 26/27 weekend; 2.5 h on Mon 28.
    ("de_by", "2026-12-23 16:00", 4, "2026-12-28 11:30"),
    # Mon 01-05 16:00: 1.5 h; Epiphany Tue 01-06 closes Bavaria; 2.5 h on Wed.
    ("de_by", "2026-01-05 16:00", 4, "2026-01-07 11:30"),
    # Same in Berlin, where Epiphany is a working day: 2.5 h on Tue.
    ("de_be", "2026-01-05 16:00", 4, "2026-01-06 11:30"),
    # German Unity Day falls on Sat 10-03 and moves nothing: Fri 1.5 h, Mon 2.5 h.
    ("de", "2026-10-02 16:00", 4, "2026-10-05 11:30"),
    # Wed 11-25 15:00 in New York: 2 h; Thanksgiving Thu closed; 2 h on Fri (a working day).
    ("us", "2026-11-25 15:00", 4, "2026-11-27 11:00"),
    # A full 8.5 h day on the day Berlin springs forward (Sun 03-29): still 8 h of 09-17.
    ("berlin_daily_9_17", "2026-03-29 09:00", 8, "2026-03-29 17:00"),
    # 24 h of a 24/7 calendar are 24 real hours: the wall clock shows 25 across the jump.
    ("berlin_24_7", "2026-03-28 12:00", 24, "2026-03-29 13:00"),
    # ... and 23 on the wall across the fall back (Sun 10-25).
    ("berlin_24_7", "2026-10-24 12:00", 24, "2026-10-25 11:00"),
    ("new_york_24_7", "2026-03-07 12:00", 24, "2026-03-08 13:00"),
    ("new_york_24_7", "2026-10-31 12:00", 24, "2026-11-01 11:00"),
    # Night shift: Tue 03:00 is in Monday's shift: 3 h to 06:00, 1 h from Tue 22:00.
    ("night", "2026-03-03 03:00", 4, "2026-03-03 23:00"),
    # Fri 23:00: 7 h to Sat 06:00; no Sat/Sun shifts; 1 h from Mon 22:00.
    ("night", "2026-03-06 23:00", 8, "2026-03-09 23:00"),
    # Between shifts (Tue 12:00): counts from Tue 22:00.
    ("night", "2026-03-03 12:00", 2, "2026-03-04 00:00"),
])
def test_add(name: str, start: str, hours: float, expected: str) -> None:
    result = CALENDARS[name].add(local(name, start), timedelta(hours=hours))
    assert result == local(name, expected)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(("name", "at", "open_", "next_open"), [
    # The opening minute is open, the closing minute is not.
    ("de_by", "2026-03-02 09:00", True, "2026-03-02 09:00"),
    ("de_by", "2026-03-02 17:30", False, "2026-03-03 09:00"),
    # Saturday noon: Monday's opening.
    ("de_by", "2026-03-07 12:00", False, "2026-03-09 09:00"),
    # Christmas Day (Fri), then the weekend: Monday 12-28.
    ("de_by", "2026-12-25 10:00", False, "2026-12-28 09:00"),
    # Epiphany: closed in Bavaria, open in Berlin.
    ("de_by", "2026-01-06 10:00", False, "2026-01-07 09:00"),
    ("de_be", "2026-01-06 10:00", True, "2026-01-06 10:00"),
    # Thanksgiving: the Friday after is a working day.
    ("us", "2026-11-26 10:00", False, "2026-11-27 09:00"),
    # Sat 05:00 is still Friday's night shift; Sat 22:30 has none (Saturday does not work).
    ("night", "2026-03-07 05:00", True, "2026-03-07 05:00"),
    ("night", "2026-03-07 22:30", False, "2026-03-09 22:00"),
    # Mon 03:00 would be Sunday's shift, which does not exist.
    ("night", "2026-03-09 03:00", False, "2026-03-09 22:00"),
])
def test_is_open_and_next_open(name: str, at: str, open_: bool, next_open: str) -> None:
    cal = CALENDARS[name]
    assert cal.is_open(local(name, at)) is open_
    assert cal.next_open(local(name, at)) == local(name, next_open)


@pytest.mark.parametrize(("name", "a", "b", "hours"), [
    # Fri 16:00 → Mon 11:30: 1.5 h + 2.5 h (the inverse of a row of test_add).
    ("de_by", "2026-03-06 16:00", "2026-03-09 11:30", 4),
    # b before a: nothing.
    ("de_by", "2026-03-09 11:30", "2026-03-06 16:00", 0),
    # A whole week of the Bavarian calendar: 5 × 8.5 h.
    ("de_by", "2026-03-02 00:00", "2026-03-09 00:00", 42.5),
    # Christmas week: 12-21..23 (3 days); 24 off, 25 holiday: 3 × 8.5 h.
    ("de_by", "2026-12-21 00:00", "2026-12-28 00:00", 25.5),
    # The local day of the spring forward is 23 h long, of the fall back 25 h.
    ("berlin_24_7", "2026-03-29 00:00", "2026-03-30 00:00", 23),
    ("berlin_24_7", "2026-10-25 00:00", "2026-10-26 00:00", 25),
    ("new_york_24_7", "2026-03-08 00:00", "2026-03-09 00:00", 23),
    ("new_york_24_7", "2026-11-01 00:00", "2026-11-02 00:00", 25),
    # Wall-clock hours away from the change keep their length: 09-17 is 8 h both days.
    ("berlin_daily_9_17", "2026-03-29 00:00", "2026-03-30 00:00", 8),
    ("berlin_daily_9_17", "2026-10-25 00:00", "2026-10-26 00:00", 8),
    # A night shift across the change: 22:00-06:00 lasts 7 h, then 9 h.
    ("berlin_nightly", "2026-03-28 22:00", "2026-03-29 06:00", 7),
    ("berlin_nightly", "2026-10-24 22:00", "2026-10-25 06:00", 9),
    # Monday night 22:00 to Tuesday 02:00, seen from inside.
    ("night", "2026-03-02 23:00", "2026-03-03 02:00", 3),
])
def test_between(name: str, a: str, b: str, hours: float) -> None:
    assert CALENDARS[name].between(local(name, a), local(name, b)) == timedelta(hours=hours)


@pytest.mark.parametrize(("name", "start", "n", "expected"), [
    # Friday (at 10:00, after closing, or a Saturday): Mon is day 1, Tue day 2.
    ("de_by", "2026-03-06 10:00", 2, "2026-03-10 17:30"),
    ("de_by", "2026-03-06 20:00", 2, "2026-03-10 17:30"),
    ("de_by", "2026-03-07 11:00", 2, "2026-03-10 17:30"),
    # Before Monday's opening: Monday is the arrival day, Tuesday day 1.
    ("de_by", "2026-03-09 07:00", 1, "2026-03-10 17:30"),
    # n = 0: today's close while open, the next close after hours.
    ("de_by", "2026-03-09 10:00", 0, "2026-03-09 17:30"),
    ("de_by", "2026-03-09 18:00", 0, "2026-03-10 17:30"),
    # Wed 12-23: 24 off, 25 holiday, 26/27 weekend; Mon 28 day 1, Tue 29 day 2.
    ("de_by", "2026-12-23 10:00", 2, "2026-12-29 17:30"),
    # Epiphany: Bavaria's day 1 after Mon 01-05 is Wed, Berlin's Tue.
    ("de_by", "2026-01-05 10:00", 1, "2026-01-07 17:30"),
    ("de_be", "2026-01-05 10:00", 1, "2026-01-06 17:30"),
    # Thanksgiving Thu: day 1 after Wed 11-25 is Fri.
    ("us", "2026-11-25 10:00", 1, "2026-11-27 17:00"),
    # Tue 03:00 belongs to Monday's night shift: day 1 is Tuesday's, closing Wed 06:00.
    ("night", "2026-03-03 03:00", 1, "2026-03-04 06:00"),
    # Tue 12:00, between shifts: Tuesday is the arrival day; Wednesday's shift ends Thu.
    ("night", "2026-03-03 12:00", 1, "2026-03-05 06:00"),
])
def test_add_days(name: str, start: str, n: int, expected: str) -> None:
    assert CALENDARS[name].add_days(local(name, start), n) == local(name, expected)


@pytest.mark.parametrize(("name", "day", "reason"), [
    ("de", "2026-12-25", "Christmas Day (DE)"),
    ("de_by", "2026-12-25", "Christmas Day (DE-BY)"),
    # A holiday on a weekend reads as the weekend: it changes nothing.
    ("de", "2026-12-26", "weekend"),
    ("de", "2026-10-03", "weekend"),
    ("de_by", "2026-01-06", "Epiphany (DE-BY)"),
    ("de_be", "2026-01-06", None),
    ("de_by", "2026-12-24", "day off"),
    ("us", "2026-11-26", "Thanksgiving Day (US)"),
    ("mon_wed_fri", "2026-03-03", "not a working day (tue)"),
    # Years load as needed.
    ("de", "2031-12-25", "Christmas Day (DE)"),
])
def test_closed_reason(name: str, day: str, reason: str | None) -> None:
    assert CALENDARS[name].closed_reason(date.fromisoformat(day)) == reason


def test_closed_days_lists_the_evidence() -> None:
    cal = CALENDARS["de_by"]
    assert cal.closed_days(local("de_by", "2026-12-23 16:00"),
                           local("de_by", "2026-12-28 11:30")) == [
        (date(2026, 12, 24), "day off"),
        (date(2026, 12, 25), "Christmas Day (DE-BY)"),
        (date(2026, 12, 26), "weekend"),
        (date(2026, 12, 27), "weekend"),
    ]


def test_extra_days_off_close_days_for_one_person() -> None:
    config = CalendarConfig(timezone=BERLIN, hours="09:00-17:30")
    rep = Calendar.from_config(config, extra_days_off=[date(2026, 3, 3)])
    assert rep.closed_reason(date(2026, 3, 3)) == "day off"
    # Mon 15:00: 2.5 h, Tuesday away, 1.5 h on Wednesday.
    assert rep.add(local("de", "2026-03-02 15:00"), timedelta(hours=4)) \
        == local("de", "2026-03-04 10:30")


def test_a_long_delta_is_walked_day_by_day_quickly() -> None:
    cal, start = CALENDARS["de_by"], local("de_by", "2026-03-02 10:00")
    began = time.perf_counter()
    end = cal.add(start, timedelta(days=400))  # about 1130 working days, 4.5 years
    assert time.perf_counter() - began < 2
    assert cal.between(start, end) == timedelta(days=400)


def test_a_calendar_that_never_opens_fails_instead_of_looping() -> None:
    every_day_off = (date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366))
    cal = Calendar.from_config(CalendarConfig(), extra_days_off=every_day_off)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no working time in the 1098 days from 2026-01-01"):
        cal.next_open(start)
    with pytest.raises(ValueError, match="no working time"):
        cal.add(start, timedelta(hours=1))
    assert cal.is_open(start) is False
    assert cal.between(start, start + timedelta(days=30)) == timedelta(0)


@pytest.mark.parametrize("call", [
    lambda cal: cal.is_open(datetime(2026, 3, 2, 10)),
    lambda cal: cal.next_open(datetime(2026, 3, 2, 10)),
    lambda cal: cal.add(datetime(2026, 3, 2, 10), timedelta(hours=1)),
    lambda cal: cal.between(datetime(2026, 3, 2, 10), datetime(2026, 3, 3, tzinfo=UTC)),
    lambda cal: cal.add_days(datetime(2026, 3, 2, 10), 1),
])
def test_naive_datetimes_are_refused(call) -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        call(CALENDARS["de_by"])


def test_negative_amounts_are_refused() -> None:
    cal, start = CALENDARS["de_by"], datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="negative"):
        cal.add(start, timedelta(minutes=-1))
    with pytest.raises(ValueError, match="negative"):
        cal.add_days(start, -1)


# --- config ---------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "loc", "words"), [
    ({"timezone": "Europe/Munich"}, ("timezone",), ["'Europe/Munich'", "IANA", "Europe/Berlin"]),
    ({"timezone": "Europe"}, ("timezone",), ["'Europe'", "IANA"]),
    ({"hours": "9-5"}, ("hours",), ["'9-5'", '"09:00-17:30"', "spans midnight"]),
    ({"hours": "09:00-24:30"}, ("hours",), ["'09:00-24:30'", '"09:00-17:30"']),
    ({"hours": "09:00-09:00"}, ("hours",), ["'09:00-09:00'", "same time"]),
    ({"hours": 9}, ("hours",), ["string"]),
    ({"days": []}, ("days",), ["no working days"]),
    ({"days": ["monday"]}, ("days", 0), ["'mon'"]),
    ({"holidays": "XX"}, ("holidays",), ["'XX'", "ISO 3166", '"DE"']),
    ({"holidays": "DE", "holidays_region": "XX"}, ("holidays_region",),
     ["'XX' is not a subdivision of DE", "known: BB, BE, BW"]),
    ({"holidays": "FR", "holidays_region": "BY"}, ("holidays_region",), ["'BY'", "FR"]),
    ({"holidays_region": "BY"}, (), ["holidays_region 'BY' needs holidays"]),
    ({"days_off": ["2026-13-01"]}, ("days_off", 0), ["'2026-13-01'", "2026-12-24"]),
    ({"days_off": [20261224]}, ("days_off", 0), ["date"]),
    ({"timezon": "UTC"}, ("timezon",), ["Extra inputs"]),
])
def test_config_errors_name_key_and_value(config: dict, loc: tuple, words: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        CalendarConfig.model_validate(config)
    [error] = caught.value.errors()
    assert error["loc"] == loc
    for word in words:
        assert word in error["msg"]


def test_config_reads_toml_and_normalizes_codes() -> None:
    config = CalendarConfig.model_validate(tomllib.loads("""
        timezone = "Europe/Berlin"
        hours = "08:00 - 16:00"
        holidays = "de"
        holidays_region = "by"
        days_off = [2026-12-24, "2026-12-31"]
    """))
    assert (config.hours, config.holidays, config.holidays_region) == ("08:00-16:00", "DE", "BY")
    assert config.days_off == [date(2026, 12, 24), date(2026, 12, 31)]
    assert config.days == ["mon", "tue", "wed", "thu", "fri"]


def test_the_docs_example_is_a_valid_config() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "sla.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example is not None
    for name, table in tomllib.loads(example.group(1))["calendars"].items():
        assert Calendar.from_config(CalendarConfig.model_validate(table)), name


# --- properties -----------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2028, 6, 1),
                       timezones=st.sampled_from([UTC, ZoneInfo(BERLIN), ZoneInfo(NEW_YORK)]))
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
calendars = st.sampled_from(sorted(set(CALENDARS) - {"mon_wed_fri"})).map(CALENDARS.get)


@settings(deadline=None)
@given(cal=calendars, start=moments, delta=spans)
def test_between_is_the_inverse_of_add(cal: Calendar, start: datetime,
                                       delta: timedelta) -> None:
    end = cal.add(start, delta)
    assert end >= cal.next_open(start)
    assert cal.between(start, end) == delta


@settings(deadline=None)
@given(cal=calendars, a=moments, b=moments, c=moments)
def test_between_adds_up_and_never_exceeds_real_time(cal: Calendar, a: datetime, b: datetime,
                                                     c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert cal.between(a, c) == cal.between(a, b) + cal.between(b, c)
    # in UTC: Python subtracts two times of one zone by their wall clocks, DST unseen
    assert cal.between(a, c) <= c.astimezone(UTC) - a.astimezone(UTC)


@settings(deadline=None)
@given(cal=calendars, a=moments, b=moments, n=st.integers(min_value=0, max_value=10))
def test_add_days_ends_at_a_closing_and_never_moves_back(cal: Calendar, a: datetime,
                                                         b: datetime, n: int) -> None:
    a, b = sorted((a, b))
    due = cal.add_days(a, n)
    assert due > a
    assert cal.add_days(b, n) >= due
    assert cal.is_open(due - timedelta(microseconds=1))
    assert not cal.is_open(due) or cal.hours is None

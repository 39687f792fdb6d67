"""Round-robin within a pool, pure: rotation, weights, caps, hours, time zones, away."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.routing.config import Rep, RoutingConfig
from connector.routing.pool import Away, CompiledPool, Ledger, in_hours, periods, pick, view, views

# Wednesday 25 November 2026, 10:00 UTC: 11:00 in Berlin, 02:00 in Los Angeles.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def config(weights: dict[str, int], **rep_settings: dict[str, Any]) -> RoutingConfig:
    reps = {key: {"id": f"id-{key}", "name": key.title(), **rep_settings.get(key, {})}
            for key in weights}
    return RoutingConfig.model_validate({"reps": reps, "pools": {"p": {"reps": weights}}})


def run(cfg: RoutingConfig, n: int, *, now: datetime = NOW, ledger: Ledger | None = None,
        active: set[str] | None = None) -> list[str | None]:
    """``n`` picks from pool "p"; the rep key picked each time, None when nobody was free."""
    ledger = ledger if ledger is not None else Ledger()
    pool = CompiledPool.of("p", cfg.pools["p"].weights(), cfg)
    reps = views(cfg, now, active, ledger)
    return [(chosen.member.key if chosen.member else None)
            for chosen in (pick(pool, reps, ledger) for _ in range(n))]


def test_smooth_weighted_round_robin_interleaves() -> None:
    assert run(config({"a": 5, "b": 1, "c": 1}), 7) == ["a", "a", "b", "a", "c", "a", "a"]
    assert run(config({"a": 2, "b": 1}), 6) == ["a", "b", "a", "a", "b", "a"]
    assert run(config({"a": 1, "b": 1, "c": 1}), 6) == ["a", "b", "c", "a", "b", "c"]


def test_weight_zero_never_gets_a_lead_and_is_not_reported_as_skipped() -> None:
    cfg = config({"a": 0, "b": 1})
    assert run(cfg, 3) == ["b", "b", "b"]
    ledger = Ledger()
    chosen = pick(CompiledPool.of("p", {"a": 0, "b": 1}, cfg), views(cfg, NOW, None, ledger),
                  ledger)
    assert chosen.skipped == ()


def test_the_rotation_lives_in_the_ledger_so_it_continues_across_batches() -> None:
    cfg = config({"a": 3, "b": 2, "c": 1})
    whole = run(cfg, 30)
    ledger = Ledger()
    parts = [key for size in (4, 1, 11, 14) for key in run(cfg, size, ledger=ledger)]
    assert parts == whole


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=8),
       n=st.integers(min_value=1, max_value=600))
def test_shares_follow_the_weights(weights: list[int], n: int) -> None:
    """Each rep's count stays within one pool size of n·w/W (so the share within
    len(pool)/n of w/W), whatever n: smooth WRR never lets a rep run ahead."""
    named = {f"r{i}": w for i, w in enumerate(weights)}
    counts = Counter(run(config(named), n))
    total = sum(weights)
    for key, weight in named.items():
        assert abs(counts[key] - n * weight / total) <= len(weights), (key, counts)
    if n % total == 0:  # every full cycle gives exactly the weights
        assert all(counts[k] == n // total * w for k, w in named.items())


@settings(max_examples=60, deadline=None)
@given(reps=st.lists(st.tuples(st.integers(min_value=1, max_value=5),
                               st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
                               st.one_of(st.none(), st.integers(min_value=0, max_value=30))),
                     min_size=1, max_size=6),
       n=st.integers(min_value=0, max_value=150),
       already=st.integers(min_value=0, max_value=10))
def test_caps_are_never_exceeded(reps: list[tuple[int, int | None, int | None]], n: int,
                                 already: int) -> None:
    """With daily and weekly caps (and leads already counted earlier in the week),
    no rep passes a cap, and a lead goes unplaced only when every rep is at one."""
    named = {f"r{i}": w for i, (w, _, _) in enumerate(reps)}
    caps = {f"r{i}": {"daily_cap": d, "weekly_cap": wk} for i, (_, d, wk) in enumerate(reps)}
    cfg = config(named, **caps)
    ledger = Ledger()
    day, week = periods(NOW)
    for key in named:  # leads from earlier days this week count toward the weekly cap
        ledger.load[(f"id-{key}", week)] = already
    picked = run(cfg, n, ledger=ledger)
    counts = Counter(picked)
    room = {}
    for key in named:
        daily, weekly = caps[key]["daily_cap"], caps[key]["weekly_cap"]
        limit = min(x for x in (daily, None if weekly is None else max(weekly - already, 0),
                                 n) if x is not None)
        room[key] = limit
        assert counts[key] <= limit
        assert ledger.load.get((f"id-{key}", day), 0) == counts[key]
    unplaced = counts[None]
    assert unplaced == max(0, n - sum(room.values()))


def test_sitting_a_pick_out_costs_no_turns() -> None:
    """A rep away for a while neither gains nor loses weight: on return the rotation
    carries on where it was, rather than handing them a burst of leads."""
    cfg = config({"a": 1, "b": 1})
    ledger = Ledger()
    run(cfg, 1, ledger=ledger)  # a
    ledger.away["id-b"] = [Away("id-b", NOW.date())]
    assert run(cfg, 3, ledger=ledger) == ["a", "a", "a"]
    ledger.away.clear()
    assert run(cfg, 4, ledger=ledger) == ["b", "a", "b", "a"]


# availability with a frozen clock --------------------------------------------------------
BERLIN = {"timezone": "Europe/Berlin", "hours": "09:00-17:30"}
HOURS = [
    # rep settings, UTC time, available
    (BERLIN, datetime(2026, 11, 25, 7, 59, tzinfo=UTC), False),  # 08:59 Berlin (CET, +1)
    (BERLIN, datetime(2026, 11, 25, 8, 0, tzinfo=UTC), True),  # 09:00
    (BERLIN, datetime(2026, 11, 25, 16, 29, tzinfo=UTC), True),  # 17:29
    (BERLIN, datetime(2026, 11, 25, 16, 30, tzinfo=UTC), False),  # 17:30: end is exclusive
    (BERLIN, datetime(2026, 7, 1, 7, 0, tzinfo=UTC), True),  # 09:00 CEST (+2)
    (BERLIN, datetime(2026, 7, 1, 6, 59, tzinfo=UTC), False),
    (BERLIN, datetime(2026, 11, 28, 10, 0, tzinfo=UTC), False),  # Saturday
    ({**BERLIN, "days": ["sat"]}, datetime(2026, 11, 28, 10, 0, tzinfo=UTC), True),
    ({"timezone": "America/Los_Angeles", "hours": "08:00-17:00"}, NOW, False),  # 02:00 PST
    ({"timezone": "America/Los_Angeles", "hours": "08:00-17:00"},
     datetime(2026, 11, 25, 16, 0, tzinfo=UTC), True),  # 08:00 PST
    # Friday 23:30 in Sydney is still Friday's shift (22:00-06:00)
    ({"timezone": "Australia/Sydney", "hours": "22:00-06:00", "days": ["fri"]},
     datetime(2026, 11, 27, 12, 30, tzinfo=UTC), True),
    # 02:00 Saturday in Sydney belongs to Friday's shift
    ({"timezone": "Australia/Sydney", "hours": "22:00-06:00", "days": ["fri"]},
     datetime(2026, 11, 27, 15, 0, tzinfo=UTC), True),
    # 02:00 Friday belongs to Thursday's shift, which it does not work
    ({"timezone": "Australia/Sydney", "hours": "22:00-06:00", "days": ["fri"]},
     datetime(2026, 11, 26, 15, 0, tzinfo=UTC), False),
    ({"timezone": "Asia/Tokyo"}, datetime(2026, 11, 29, 3, 0, tzinfo=UTC), True),  # no hours
]


@pytest.mark.parametrize(("settings_", "at", "available"), HOURS)
def test_working_hours_in_the_reps_time_zone(settings_: dict[str, Any], at: datetime,
                                             available: bool) -> None:
    rep = Rep.model_validate({"id": "U1", **settings_})
    local = at.astimezone(ZoneInfo(rep.timezone))
    assert in_hours(rep, local) is available
    seen = view("anna", rep, "Anna", at, None, ())
    assert (seen.unavailable is None) is available
    if not available:
        assert seen.off_hours is not None and rep.timezone in seen.off_hours


AWAY = [
    # config periods, store periods, today (UTC noon), reason or None
    ([{"from": "2026-11-20", "until": "2026-11-25"}], [], date(2026, 11, 25),
     "Anna away until 2026-11-25"),
    ([{"from": "2026-11-20", "until": "2026-11-25"}], [], date(2026, 11, 26), None),
    ([{"from": "2026-11-26", "until": "2026-11-30"}], [], date(2026, 11, 25), None),
    ([{"until": "2026-12-01", "reason": "parental leave"}], [], date(2026, 11, 25),
     "Anna away until 2026-12-01 (parental leave)"),
    ([], [Away("U1", date(2026, 12, 1))], date(2026, 11, 25), "Anna away until 2026-12-01"),
    ([], [Away("U1", date(2026, 12, 1), start=date(2026, 11, 27))], date(2026, 11, 25), None),
    # overlapping: the later end is the one that matters
    ([{"until": "2026-11-28"}], [Away("U1", date(2026, 12, 3))], date(2026, 11, 26),
     "Anna away until 2026-12-03"),
]


@pytest.mark.parametrize(("configured", "stored", "today", "reason"), AWAY)
def test_away_periods_from_config_and_store(configured: list[dict[str, str]], stored: list[Away],
                                            today: date, reason: str | None) -> None:
    rep = Rep.model_validate({"id": "U1", "away": configured})
    at = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    assert view("anna", rep, "Anna", at, None, stored).away == reason


def test_away_days_are_the_reps_own_days() -> None:
    """Away until 25 November means through the end of the 25th in Tokyo, which is
    15:00 UTC: at 14:59 UTC Anna is still away, at 15:00 she is back."""
    rep = Rep.model_validate({"id": "U1", "timezone": "Asia/Tokyo",
                              "away": [{"until": "2026-11-25"}]})
    assert view("a", rep, "Anna", datetime(2026, 11, 25, 14, 59, tzinfo=UTC), None, ()).away
    assert view("a", rep, "Anna", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), None, ()).away is None


def test_caps_count_in_the_reps_local_day_and_iso_week() -> None:
    """At 23:30 UTC on Sunday it is already Monday in Berlin: a new day and a new week."""
    rep = Rep.model_validate({"id": "U1", "timezone": "Europe/Berlin"})
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    seen = view("a", rep, "Anna", sunday_night, None, ())
    assert (seen.day, seen.week) == ("d2026-11-30", "w2026-W49")
    utc = view("a", Rep(id="U2"), "Ben", sunday_night, None, ())
    assert (utc.day, utc.week) == ("d2026-11-29", "w2026-W48")
    assert periods(sunday_night + timedelta(hours=1)) == ("d2026-11-30", "w2026-W49")


def test_inactive_reps_are_skipped_only_when_the_crm_said_so() -> None:
    cfg = config({"a": 1, "b": 1})
    assert run(cfg, 2, active={"id-b"}) == ["b", "b"]
    assert run(cfg, 2, active=None) == ["a", "b"]
    assert run(cfg, 1, active=set()) == [None]


def test_skip_reasons_name_each_rep_passed_over_in_pool_order() -> None:
    cfg = config({"a": 1, "b": 2, "c": 1, "d": 1},
                 a={"away": [{"until": "2026-12-01"}]},
                 b={"daily_cap": 0},
                 c={"timezone": "America/Los_Angeles", "hours": "08:00-17:00"})
    ledger = Ledger()
    pool = CompiledPool.of("p", cfg.pools["p"].weights(), cfg)
    chosen = pick(pool, views(cfg, NOW, {"id-a", "id-b", "id-c"}, ledger), ledger)
    assert chosen.member is None
    assert chosen.skipped == ("A away until 2026-12-01", "B at daily cap 0",
                              "C off hours (Wed 02:00 America/Los_Angeles)",
                              "D inactive in CRM")
    chosen = pick(pool, views(cfg, NOW, None, ledger), ledger)
    assert chosen.member is not None and chosen.member.key == "d"
    assert chosen.describe(4) == ("round-robin 4/4, weight 1, A away until 2026-12-01 skipped, "
                                  "B at daily cap 0 skipped, C off hours (Wed 02:00 "
                                  "America/Los_Angeles) skipped")

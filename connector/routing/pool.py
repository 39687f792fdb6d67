"""Round-robin within a pool: who is available now, and whose turn it is.

Smooth weighted round-robin (the nginx upstream algorithm): each pick, every
eligible rep's current weight grows by its weight, the largest is chosen and
pays back the sum of the eligible weights. Over any run of picks each rep's
share follows its weight and the picks interleave (2:1 gives a, b, a, a, b,
a..., not a, a, b, b). It is deterministic, so a restarted connector or a
second instance holding the same counters continues the same rotation. A rep
who is away, off hours, inactive or at a cap sits a pick out without gaining
or losing weight: nobody is owed leads for time they could not take them.

Everything here is pure: the counters come in a ``Ledger`` the store loaded
(and saves after), the time is a parameter. Per batch, availability that does
not change within the batch (away, hours, active) is worked out once per rep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from connector.routing.config import DAYS, Rep, RoutingConfig, parse_hours


class AwayLike(Protocol):
    @property
    def start(self) -> date | None: ...
    @property
    def until(self) -> date: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Away:
    """An away period set by `leadsync rep away` (the store's row, as data)."""

    rep_id: str
    until: date
    start: date | None = None
    reason: str = ""


@dataclass
class Ledger:
    """The counters one batch reads and moves; the store loads it and saves what changed."""

    rotation: dict[tuple[str, str], int] = field(default_factory=dict)
    """(pool, rep id) → the rep's current weight in that pool's rotation."""
    assigned: dict[tuple[str, str], int] = field(default_factory=dict)
    """(pool, rep id) → leads the pool has given the rep, ever."""
    load: dict[tuple[str, str], int] = field(default_factory=dict)
    """(rep id, period) → leads the rep got that day ("d2026-11-25") or week ("w2026-W48")."""
    away: dict[str, list[Away]] = field(default_factory=dict)
    """rep id → away periods from the store."""

    def copy(self) -> Ledger:
        return Ledger(dict(self.rotation), dict(self.assigned), dict(self.load),
                      {k: list(v) for k, v in self.away.items()})


def periods(local: datetime) -> tuple[str, str]:
    """The cap periods a local time falls in: its day and its ISO week."""
    iso = local.isocalendar()
    return f"d{local.date().isoformat()}", f"w{iso.year}-W{iso.week:02d}"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(slots=True)
class RepView:
    """One rep as a batch sees them: fixed for the batch except the cap counters."""

    key: str
    id: str
    name: str
    day: str
    week: str
    daily_cap: int | None
    weekly_cap: int | None
    inactive: str | None = None
    away: str | None = None
    off_hours: str | None = None

    @property
    def unavailable(self) -> str | None:
        """Why the rep takes no pool leads now (None: they do, caps permitting)."""
        return self.inactive or self.away or self.off_hours

    def capped(self, ledger: Ledger) -> str | None:
        if self.daily_cap is not None and ledger.load.get((self.id, self.day), 0) >= self.daily_cap:
            return f"{self.name} at daily cap {self.daily_cap}"
        if (self.weekly_cap is not None
                and ledger.load.get((self.id, self.week), 0) >= self.weekly_cap):
            return f"{self.name} at weekly cap {self.weekly_cap}"
        return None

    def count(self, ledger: Ledger) -> None:
        for period in (self.day, self.week):
            ledger.load[(self.id, period)] = ledger.load.get((self.id, period), 0) + 1


def away_reason(name: str, today: date, periods_: Iterable[AwayLike]) -> str | None:
    """"Anna away until 2026-12-01" when a period covers ``today`` (both ends inclusive)."""
    until: date | None = None
    why = ""
    for period in periods_:
        if (period.start is None or period.start <= today) and today <= period.until and (
                until is None or period.until > until):
            until, why = period.until, period.reason
    if until is None:
        return None
    return f"{name} away until {until.isoformat()}" + (f" ({why})" if why else "")


def in_hours(rep: Rep, local: datetime) -> bool:
    """Within the rep's working hours; a shift past midnight belongs to the day it starts."""
    if rep.hours is None:
        return True
    start, end = parse_hours(rep.hours)
    minute = local.hour * 60 + local.minute
    weekday = DAYS[local.weekday()]
    if start < end:
        return weekday in rep.days and start <= minute < end
    if minute >= start:
        return weekday in rep.days
    return minute < end and DAYS[(local.weekday() - 1) % 7] in rep.days


def view(key: str, rep: Rep, name: str, now: datetime, active: frozenset[str] | set[str] | None,
         stored_away: Iterable[AwayLike],
         local_time: tuple[datetime, str, str] | None = None) -> RepView:
    """The rep at ``now`` (aware): their local day and week, and why they are unavailable.

    ``local_time`` is ``now`` in the rep's zone with its periods, when the caller
    has it (``views`` works it out once per zone, not once per rep)."""
    local, day, week = local_time or local_periods(now, rep.timezone)
    found = RepView(key=key, id=rep.id, name=name, day=day, week=week,
                    daily_cap=rep.daily_cap, weekly_cap=rep.weekly_cap)
    if active is not None and rep.id not in active:
        found.inactive = f"{name} inactive in CRM"
    if rep.away or stored_away:
        found.away = away_reason(name, local.date(), [*rep.away, *stored_away])
    if rep.hours is not None and not in_hours(rep, local):
        found.off_hours = f"{name} off hours ({local:%a %H:%M} {rep.timezone})"
    return found


def local_periods(now: datetime, timezone: str) -> tuple[datetime, str, str]:
    local = now.astimezone(zone(timezone))
    return (local, *periods(local))


def views(config: RoutingConfig, now: datetime, active: frozenset[str] | set[str] | None,
          ledger: Ledger) -> dict[str, RepView]:
    """Every configured rep at ``now``, by rep key."""
    zones = {rep.timezone: local_periods(now, rep.timezone) for rep in config.reps.values()}
    return {key: view(key, rep, config.rep_name(key), now, active, ledger.away.get(rep.id, ()),
                      zones[rep.timezone])
            for key, rep in config.reps.items()}


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    id: str
    weight: int
    position: int
    """1-based place in the pool, for "round-robin 3/5"."""


@dataclass(frozen=True, slots=True)
class CompiledPool:
    name: str
    members: tuple[Member, ...]

    @classmethod
    def of(cls, name: str, weights: Mapping[str, int], config: RoutingConfig) -> CompiledPool:
        return cls(name, tuple(Member(key, config.reps[key].id, weight, position)
                               for position, (key, weight) in enumerate(weights.items(), 1)))


@dataclass(frozen=True, slots=True)
class Pick:
    member: Member | None
    skipped: tuple[str, ...]
    """Why each passed-over rep was passed over, in pool order."""

    def describe(self, size: int) -> str:
        assert self.member is not None
        text = f"round-robin {self.member.position}/{size}, weight {self.member.weight}"
        return text + "".join(f", {s} skipped" for s in self.skipped)


def pick(pool: CompiledPool, reps: Mapping[str, RepView], ledger: Ledger,
         exclude: frozenset[str] | set[str] = frozenset()) -> Pick:
    """Whose turn it is in ``pool``; moves the ledger's rotation and load when someone is.

    ``exclude`` holds rep ids left out this time (a lead's current owner when
    re-routing); they keep their place in the rotation.
    """
    eligible: list[Member] = []
    skipped: list[str] = []
    for member in pool.members:
        if member.weight == 0:
            continue
        rep = reps[member.key]
        if member.id in exclude:
            skipped.append(f"{rep.name} (current owner)")
            continue
        why = rep.unavailable or rep.capped(ledger)
        if why:
            skipped.append(why)
            continue
        eligible.append(member)
    if not eligible:
        return Pick(None, tuple(skipped))
    rotation = ledger.rotation
    total = 0
    best: Member = eligible[0]
    best_current: int | None = None
    for member in eligible:
        key = (pool.name, member.id)
        current = rotation.get(key, 0) + member.weight
        rotation[key] = current
        total += member.weight
        if best_current is None or current > best_current:
            best, best_current = member, current
    key = (pool.name, best.id)
    rotation[key] -= total
    ledger.assigned[key] = ledger.assigned.get(key, 0) + 1
    reps[best.key].count(ledger)
    return Pick(best, tuple(skipped))

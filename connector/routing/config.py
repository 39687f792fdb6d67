"""The ``[routing]`` section of config.toml as typed models.

Lives here rather than in ``connector.config`` so the routing package owns
its own vocabulary; ``connector.config`` imports ``RoutingConfig`` from here,
so nothing in this module may import ``connector.config`` (that would be a
cycle). The base model repeats that module's conventions: unknown keys are
errors, types are strict, models are frozen.

Every cross-reference (a territory's pool, a pool's reps, a score tier) is
checked when the file loads, so a typo is a config error naming the key,
never a lead silently sent to the fallback queue.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


class RoutingModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class KeyedProblems(ValueError):
    """Several problems of one section, each with the key path (relative to the section)
    it sits at: ``connector.config`` reports each at its own line of config.toml."""

    def __init__(self, keyed: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.keyed = keyed
        super().__init__("; ".join(f"{'.'.join(map(str, path))}: {message}"
                                   for path, message in keyed))


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS: list[Day] = ["mon", "tue", "wed", "thu", "fri"]

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder of zones
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. \"Europe/Berlin\")") from None
    return value


def _hours(value: str) -> str:
    match = _HOURS.match(value.replace(" ", ""))
    if not match or match.group(1, 2) == match.group(3, 4):
        raise ValueError("must be local working hours like \"09:00-17:30\" (\"22:00-06:00\" "
                         "spans midnight)")
    return value.replace(" ", "")


def parse_hours(value: str) -> tuple[int, int]:
    """``"09:00-17:30"`` → minutes after midnight, (540, 1050)."""
    start, end = value.split("-")
    return (int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:]))


def _iso_day(value: object) -> object:
    """A TOML date, or the same written as a quoted "2026-12-21"; never a number (a lax
    date would read 20261221 as seconds since 1970)."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2026-12-21") from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]
IsoDate = Annotated[date, BeforeValidator(_iso_day)]
Hours = Annotated[str, AfterValidator(_hours)]
Count = Annotated[int, Field(ge=0)]


class AwayPeriod(RoutingModel):
    """Out of office, both days inclusive, in the rep's own time zone."""

    start: IsoDate | None = Field(default=None, alias="from")
    until: IsoDate
    """The last day away; the rep takes leads again the day after."""
    reason: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True,
                              allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> AwayPeriod:
        if self.start is not None and self.start > self.until:
            raise ValueError(f"from {self.start} is after until {self.until}")
        return self


class Rep(RoutingModel):
    """A sales rep leads can be routed to: a CRM user (Salesforce) or owner (HubSpot)."""

    id: Annotated[str, Field(min_length=1)]
    """The CRM user or owner id the lead's owner field is set to."""
    name: str | None = None
    """Shown in reasons and accepted by `leadsync rep away`; the table key otherwise."""
    timezone: TimeZone = "UTC"
    hours: Hours | None = None
    """Local working hours; leave out for a rep who takes leads at any time."""
    days: list[Day] = WORKDAYS
    """Working days, when ``hours`` is set."""
    daily_cap: Count | None = None
    """Most leads a day (the rep's local day) from every rule that counts."""
    weekly_cap: Count | None = None
    """Most leads an ISO week (Monday to Sunday, local)."""
    away: list[AwayPeriod] = []
    """Planned absences; `leadsync rep away` adds more without editing this file."""
    calendar: str | None = None
    """The [calendars] entry this rep's SLA clocks run on (their team's: time zone,
    hours, public holidays); left out, the [sla] calendar with this rep's own
    ``timezone``, ``days`` and ``hours`` when ``hours`` is set."""


class Pool(RoutingModel):
    """Reps sharing a territory's leads by weighted round-robin."""

    reps: dict[str, Count] | list[str]
    """Rep keys with their weights (``{ anna = 2, ben = 1 }``), or a list for weight 1 each.
    A weight of 0 keeps the rep in the pool without giving them leads."""

    def weights(self) -> dict[str, int]:
        if isinstance(self.reps, list):
            return dict.fromkeys(self.reps, 1)
        return dict(self.reps)


class Band(RoutingModel):
    """An inclusive numeric range; either end may be left open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    def __str__(self) -> str:
        low = "" if self.min is None else f"{self.min:g}"
        high = "" if self.max is None else f"{self.max:g}"
        return f"{low}..{high}"


def _postal_rule(value: str) -> str:
    text = value.replace(" ", "").upper()
    if not text:
        raise ValueError("empty postal code rule")
    if ".." in text:
        low, _, high = text.partition("..")
        if not low or not high or len(low) != len(high) or low > high:
            raise ValueError(f"{value!r}: a range is LOW..HIGH with both ends the same length, "
                             "e.g. \"80000..87999\"")
    elif "*" in text[:-1]:
        raise ValueError(f"{value!r}: '*' may only end a prefix, e.g. \"SW1*\"")
    return text


PostalRule = Annotated[str, AfterValidator(_postal_rule)]


class Territory(RoutingModel):
    """A named slice of the market and the pool that works it.

    Every condition given must hold (AND); within one condition any listed value
    matches (OR). A condition left out matches every lead, so a territory with
    no conditions catches everything that reaches it.
    """

    name: Annotated[str, Field(min_length=1)]
    pool: str
    country: list[str] = []
    """ISO 3166 alpha-2 codes (or country names, turned into codes when the file loads)."""
    state: list[str] = []
    """State/region codes or names, compared case-insensitively."""
    postal_code: list[PostalRule] = []
    """Exact codes, prefixes ("8*", "SW1*") and ranges ("80000..87999": the lead's code is
    cut to the range's length and compared, so "94105-1234" falls in "94000..94999")."""
    industry: list[str] = []
    employees: Band | None = None
    revenue: Band | None = None
    """Annual revenue (the lead's ``annual_revenue``)."""
    lead_source: list[str] = []
    score_tier: list[str] = []
    """Tier names from ``[routing.score_tiers]``."""

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        from connector.normalize import country_code

        codes = []
        for given in value:
            code = given.upper() if len(given) == 2 else country_code(given)
            if code is None:
                raise ValueError(f"country {given!r} is not an ISO 3166 code or country name")
            codes.append(code)
        return codes


def _did_you_mean(word: str, names: Iterable[str]) -> str:
    """The same hint as ``connector.config.did_you_mean`` (which this module may not import)."""
    found = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


class Expansion(RoutingModel):
    """A lead of a company that is already a customer: an expansion opportunity, not a
    new logo. Flagged (the ``expansion`` mapping source, the rep's task, the routing
    reason) and given to the account's owner, or to a pool that works expansion."""

    account_field: Annotated[str, Field(min_length=1)]
    """The account (Salesforce Account, HubSpot company) field that says it is a customer,
    e.g. "Type" or "lifecyclestage"."""
    customer_values: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    """Its values that mean a customer, e.g. ["Customer - Direct", "Customer - Channel"]."""
    to: Annotated[str, Field(min_length=1)] = "account_owner"
    """"account_owner", or a pool of [routing.pools]."""


class RoutingConfig(RoutingModel):
    """Who gets a qualified lead: account owner, territory pool, fallback, in that order."""

    account_owner: bool = True
    """Rule 1: a lead whose company matches a CRM account goes to the account's owner."""
    fallback_owner: str | None = None
    """A queue or default owner id for leads no rule could place (each one is a warning).
    Left out, such leads keep the CRM's default owner (the integration user)."""
    reroute_on_sla: bool = False
    """When the first-touch SLA clock ([sla.first_touch]) is breached, give the lead to
    the next rep of its pool (the history keeps every owner it had), as `leadsync
    reroute` does by hand: the same as "reroute" in that clock's ``on_breach``."""
    score_tiers: dict[str, float] = {}
    """Tier name = lowest score in the tier; a lead is in the highest tier it reaches."""
    reps: dict[str, Rep] = {}
    pools: dict[str, Pool] = {}
    territories: list[Territory] = []
    """Tried in order; the first that matches and has an available rep takes the lead."""
    expansion: Expansion | None = None
    """Leads of customer accounts (rule 0, before the account owner rule)."""

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[str, str] = {}
        for key, rep in self.reps.items():
            if rep.id in seen:
                problems.append((("reps", key, "id"),
                                 f"id {rep.id!r} is also reps.{seen[rep.id]}"))
            seen[rep.id] = key
        for name, pool in self.pools.items():
            for rep_key in pool.weights():
                if rep_key not in self.reps:
                    problems.append((("pools", name, "reps"), f"no rep {rep_key!r} in "
                                     f"[routing.reps]{_did_you_mean(rep_key, self.reps)}"))
        if (self.expansion is not None and self.expansion.to != "account_owner"
                and self.expansion.to not in self.pools):
            problems.append((("expansion", "to"), f"{self.expansion.to!r} is neither "
                             f"\"account_owner\" nor a pool in [routing.pools]"
                             f"{_did_you_mean(self.expansion.to, self.pools)}"))
        names: set[str] = set()
        for index, territory in enumerate(self.territories):
            where = f"territory {territory.name!r}"
            if territory.name in names:
                problems.append((("territories", index, "name"),
                                 f"{where}: another territory has this name"))
            names.add(territory.name)
            if territory.pool not in self.pools:
                problems.append((("territories", index, "pool"),
                                 f"{where}: no pool {territory.pool!r} in [routing.pools]"
                                 f"{_did_you_mean(territory.pool, self.pools)}"))
            for tier in territory.score_tier:
                if tier not in self.score_tiers:
                    problems.append((("territories", index, "score_tier"),
                                     f"{where}: no score tier {tier!r} in [routing.score_tiers]"
                                     f"{_did_you_mean(tier, self.score_tiers)}"))
        if problems:
            raise KeyedProblems(problems)
        return self

    @property
    def configured(self) -> bool:
        """Whether routing has anything to decide (else the CRM's default owner applies)."""
        return bool(self.territories or self.fallback_owner or self.reps)

    def tiers(self) -> list[tuple[str, float]]:
        """[routing.score_tiers] as (name, lowest score), highest first (``score_tier``)."""
        return sorted(self.score_tiers.items(), key=lambda item: -item[1])

    def rep_name(self, key: str) -> str:
        rep = self.reps[key]
        return rep.name or key

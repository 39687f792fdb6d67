"""Who gets each qualified lead: account owner, territory pool, fallback, in that order.

``Router.route_batch`` is the one call a cycle makes per batch: one locked
transaction reads the counters, ``Router.decide`` places every lead in memory
(no I/O, no clock: the time is read once per batch and passed in), and the
moved counters and one history row per new assignment are written back
before the lock is released.

A lead that already has an owner from an earlier batch keeps it (rule
"kept"): a lead seen again (updated, re-read, or routed by two instances at
once) is never assigned twice. Changing an owner is ``reroute``'s job, and
it keeps the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from connector.errors import LeadsyncError
from connector.records import Decision, utcnow
from connector.routing.config import RoutingConfig
from connector.routing.pool import (
    CompiledPool,
    Ledger,
    Pick,
    RepView,
    away_reason,
    periods,
    pick,
    views,
    zone,
)
from connector.routing.rules import (
    AccountHint,
    AccountIndex,
    RoutingInput,
    Territories,
    score_order,
)
from connector.routing.store import Current, RoutingStore

Clock = Callable[[], datetime]
Rule = Literal["expansion", "account", "territory", "fallback", "none", "kept"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a lead went. ``owner_id`` None: nobody could be chosen and no fallback is
    configured, so the CRM's default owner applies."""

    owner_id: str | None
    rule: Rule
    territory: str | None = None
    pool: str | None = None
    warning: str | None = None
    """Set for fallback and unrouted leads: the run summary shows it."""
    rerouted_from: str | None = None


class UnknownRep(LeadsyncError, LookupError):
    """No rep, or more than one, answers to the name given."""


@dataclass(frozen=True, slots=True)
class RepStatus:
    """One rep for `leadsync rep list`."""

    key: str
    name: str
    id: str
    pools: dict[str, int]
    timezone: str
    hours: str | None
    today: int
    daily_cap: int | None
    week: int
    weekly_cap: int | None
    status: str


class Router:
    """The routing rules of one config over one store. Cheap to keep for a whole run."""

    def __init__(self, config: RoutingConfig, store: RoutingStore, clock: Clock = utcnow,
                 owner_names: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.territories = Territories(config)
        self.pools = {name: CompiledPool.of(name, pool.weights(), config)
                      for name, pool in config.pools.items()}
        self.key_of = {rep.id: key for key, rep in config.reps.items()}
        self.owner_names = dict(owner_names or {})
        """CRM user/owner names by id, for reasons naming owners not in [routing.reps]."""

    # the cycle's calls ----------------------------------------------------------------
    def route_batch(self, leads: Sequence[RoutingInput],
                    active_owner_ids: Iterable[str] | None = None, *,
                    accounts: AccountIndex | None = None,
                    dry_run: bool = False) -> list[Decision[Assignment]]:
        """A decision for every lead, in the order given; leads are placed highest score
        first so the best ones get the reps when caps bite.

        ``active_owner_ids``: the CRM's active users/owners; reps outside it are skipped.
        None means unknown, and nobody is skipped for it. ``accounts`` matches leads
        that carry no ``AccountHint`` by email domain, website and company name.
        """
        if not leads:
            return []
        now = self.clock()
        active = frozenset(active_owner_ids) if active_owner_ids is not None else None
        with self.store.batch(dry_run=dry_run) as batch:
            ledger = batch.ledger(self.periods(now), now.date())
            current = batch.current(lead.lead_id for lead in leads)
            decisions, rows = self.decide(leads, ledger, current, now, active, accounts=accounts)
            batch.save(ledger, rows)
        return decisions

    def reroute_batch(self, leads: Sequence[tuple[RoutingInput, str]],
                      active_owner_ids: Iterable[str] | None = None, *,
                      why: str = "not followed up in time",
                      dry_run: bool = False) -> list[Decision[Assignment]]:
        """Give each lead to the next rep of the pool it was routed through, leaving out
        its current owner; a lead not routed through a pool goes through the territories.
        The account rule is not asked again: it chose the owner being replaced."""
        now = self.clock()
        active = frozenset(active_owner_ids) if active_owner_ids is not None else None
        with self.store.batch(dry_run=dry_run) as batch:
            ledger = batch.ledger(self.periods(now), now.date())
            current = batch.current(lead.lead_id for lead, _ in leads)
            reps = views(self.config, now, active, ledger)
            decisions: list[Decision[Assignment]] = []
            rows: list[dict[str, Any]] = []
            for lead, owner in leads:
                last = current.get(lead.lead_id)
                first = self.pools.get(last.pool) if last and last.pool else None
                found = self._place(lead, reps, ledger, exclude=frozenset({owner}),
                                    use_account=False, accounts=None, active=active,
                                    first=(last.territory or "", first) if first else None)
                value, reason = found
                prefix = f"rerouted from {self.name_of(owner)} ({why}): "
                value = Assignment(value.owner_id, value.rule, value.territory, value.pool,
                                   value.warning and prefix + value.warning, rerouted_from=owner)
                decisions.append(Decision(value, prefix + reason))
                rows.append(self._row(lead.lead_id, value, prefix + reason, now))
            batch.save(ledger, rows)
        return decisions

    def reroute(self, lead: RoutingInput, current_owner: str,
                active_owner_ids: Iterable[str] | None = None, *,
                why: str = "not followed up in time") -> Decision[Assignment]:
        """One lead to the next rep of its pool, its current owner left out."""
        return self.reroute_batch([(lead, current_owner)], active_owner_ids, why=why)[0]

    # the decisions (pure) --------------------------------------------------------------
    def periods(self, now: datetime) -> set[str]:
        """Every cap period some rep is in at ``now`` (reps' days differ by time zone)."""
        found: set[str] = set()
        for timezone in {rep.timezone for rep in self.config.reps.values()}:
            found.update(periods(now.astimezone(zone(timezone))))
        return found

    def decide(self, leads: Sequence[RoutingInput], ledger: Ledger,
               current: Mapping[str, Current], now: datetime,
               active: frozenset[str] | None, *,
               accounts: AccountIndex | None = None
               ) -> tuple[list[Decision[Assignment]], list[dict[str, Any]]]:
        """Place a batch against ``ledger`` (moved in place) without I/O.

        Returns the decisions in input order and the history rows to store.
        """
        reps = views(self.config, now, active, ledger)
        placed: dict[int, Decision[Assignment]] = {}
        rows: list[dict[str, Any]] = []
        kept: dict[str, Current] = dict(current)
        for index in score_order(leads):
            lead = leads[index]
            earlier = kept.get(lead.lead_id)
            if earlier is not None:
                placed[index] = self._kept(earlier)
                continue
            value, reason = self._place(lead, reps, ledger, exclude=frozenset(),
                                        use_account=self.config.account_owner,
                                        accounts=accounts, active=active)
            placed[index] = Decision(value, reason)
            rows.append(self._row(lead.lead_id, value, reason, now))
            kept[lead.lead_id] = Current(lead.lead_id, value.owner_id, value.rule,
                                         value.territory, value.pool, reason, now)
        return [placed[i] for i in range(len(leads))], rows

    def _place(self, lead: RoutingInput, reps: Mapping[str, RepView], ledger: Ledger, *,
               exclude: frozenset[str], use_account: bool, accounts: AccountIndex | None,
               active: frozenset[str] | None,
               first: tuple[str, CompiledPool] | None = None) -> tuple[Assignment, str]:
        notes: list[str] = []
        expansion = self.config.expansion
        if expansion is not None and lead.account is not None and lead.account.customer:
            placed = self._expansion(lead.account, expansion.to, reps, ledger, active,
                                     exclude, notes)
            if placed is not None:
                return placed
        if use_account:
            hint = lead.account or (accounts.match(lead.fields) if accounts else None)
            if hint is not None and hint.owner_id:  # an ownerless customer's: no owner
                placed = self._to_owner(hint, "account",
                                        f"{hint.label} {hint.account_name} ({hint.via})",
                                        reps, ledger, active, exclude, notes)
                if placed is not None:
                    return placed
        tried = False
        if first is not None:
            territory_name, pool = first
            tried = True
            chosen = pick(pool, reps, ledger, exclude)
            if chosen.member is not None:
                return self._pooled(chosen, pool, territory_name, notes)
            notes.append(self._nobody(territory_name, pool, chosen.skipped))
        for territory in self.territories.matching(self.territories.facts(lead)):
            pool = self.pools[territory.pool]
            if first is not None and pool is first[1] and territory.name == first[0]:
                continue
            tried = True
            chosen = pick(pool, reps, ledger, exclude)
            if chosen.member is not None:
                return self._pooled(chosen, pool, territory.name, notes)
            notes.append(self._nobody(territory.name, pool, chosen.skipped))
        if not tried:
            notes.append("no territory matched")
        return self._fallback(notes, exclude)

    def _expansion(self, hint: AccountHint, to: str, reps: Mapping[str, RepView],
                   ledger: Ledger, active: frozenset[str] | None, exclude: frozenset[str],
                   notes: list[str]) -> tuple[Assignment, str] | None:
        """Rule 0: a customer's lead to its account's owner, or to the expansion pool.
        None (with a note) when they cannot take it: the other rules go on."""
        what = f"expansion: {hint.label} {hint.account_name} is a customer ({hint.customer})"
        if to == "account_owner":
            if not hint.owner_id:
                notes.append(f"{what}: it has no owner, passed on")
                return None
            return self._to_owner(hint, "expansion", what, reps, ledger, active, exclude,
                                  notes)
        pool = self.pools[to]
        chosen = pick(pool, reps, ledger, exclude)
        if chosen.member is not None:
            return (Assignment(chosen.member.id, "expansion", pool=pool.name),
                    f"{what}, pool {pool.name}, {chosen.describe(len(pool.members))}")
        notes.append(f"{what}: nobody available in pool {pool.name}, passed on")
        return None

    def _to_owner(self, hint: AccountHint, rule: Rule, label: str,
                  reps: Mapping[str, RepView], ledger: Ledger, active: frozenset[str] | None,
                  exclude: frozenset[str], notes: list[str]) -> tuple[Assignment, str] | None:
        """The account's owner takes the lead (counted against their caps), or a note
        says why not and None lets the next rule try."""
        refused = self._account_refusal(hint, reps, active, exclude)
        if refused is not None:
            notes.append(f"{label}: {refused}, passed on")
            return None
        key = self.key_of.get(hint.owner_id)
        if key is not None:
            reps[key].count(ledger)
        return Assignment(hint.owner_id, rule), f"{label}, owner {self.name_of(hint.owner_id)}"

    @staticmethod
    def _pooled(chosen: Pick, pool: CompiledPool, territory: str,
                notes: list[str]) -> tuple[Assignment, str]:
        assert chosen.member is not None
        reason = f"territory {territory}, {chosen.describe(len(pool.members))}"
        return (Assignment(chosen.member.id, "territory", territory, pool.name),
                "; ".join([*notes, reason]))

    @staticmethod
    def _nobody(territory: str, pool: CompiledPool, skipped: Sequence[str]) -> str:
        why = f" ({', '.join(skipped)})" if skipped else ""
        return f"territory {territory}: nobody available in pool {pool.name}{why}"

    def _fallback(self, notes: list[str], exclude: frozenset[str]) -> tuple[Assignment, str]:
        owner = self.config.fallback_owner
        why = "; ".join(notes)
        if owner is not None and owner not in exclude:
            reason = f"fallback {self.name_of(owner)}: {why}"
            return Assignment(owner, "fallback", warning=reason), reason
        reason = (f"unrouted: {why}; " + (
            f"the fallback {self.name_of(owner)} is the current owner"
            if owner is not None else
            "no fallback_owner in [routing], so the CRM's default owner applies"))
        return Assignment(None, "none", warning=reason), reason

    def _account_refusal(self, hint: AccountHint, reps: Mapping[str, RepView],
                         active: frozenset[str] | None, exclude: frozenset[str]) -> str | None:
        """Why the account owner cannot take the lead; None when they can.

        Off hours and caps do not pass an account's lead on: its owner keeps the
        relationship. Being inactive or away does."""
        name = self.name_of(hint.owner_id)
        if hint.owner_id in exclude:
            return f"owner {name} is the current owner"
        if active is not None and hint.owner_id not in active:
            return f"owner {name} inactive in CRM"
        key = self.key_of.get(hint.owner_id)
        if key is not None and reps[key].away:
            return f"owner {reps[key].away}"
        return None

    def _kept(self, earlier: Current) -> Decision[Assignment]:
        owner = self.name_of(earlier.owner_id) if earlier.owner_id else "nobody"
        return Decision(Assignment(earlier.owner_id, "kept", earlier.territory, earlier.pool),
                        f"kept: assigned to {owner} on {earlier.at:%Y-%m-%d} ({earlier.reason})")

    @staticmethod
    def _row(lead_id: str, value: Assignment, reason: str, now: datetime) -> dict[str, Any]:
        return {"lead_id": lead_id, "owner_id": value.owner_id, "rule": value.rule,
                "territory": value.territory, "pool": value.pool, "reason": reason,
                "warning": value.warning, "rerouted_from": value.rerouted_from, "at": now}

    def name_of(self, owner_id: str) -> str:
        key = self.key_of.get(owner_id)
        if key is not None:
            return self.config.rep_name(key)
        return self.owner_names.get(owner_id, owner_id)

    # reps, for the command line ----------------------------------------------------------
    def resolve(self, name: str) -> str:
        """The rep key answering to ``name``: a key, a CRM id, or a name (any case)."""
        if name in self.config.reps:
            return name
        if name in self.key_of:
            return self.key_of[name]
        folded = name.casefold()
        found = [key for key, rep in self.config.reps.items()
                 if (rep.name or "").casefold() == folded or key.casefold() == folded]
        if len(found) == 1:
            return found[0]
        known = ", ".join(sorted(self.config.reps)) or "none configured"
        if found:
            raise UnknownRep(f"{name!r} names several reps ({', '.join(found)}); use the key")
        raise UnknownRep(f"no rep {name!r} in [routing.reps] (reps: {known})")

    def set_away(self, name: str, until: date, *, start: date | None = None,
                 reason: str = "") -> str:
        """Mark a rep away through ``until`` (inclusive); returns the rep's key."""
        key = self.resolve(name)
        rep = self.config.reps[key]
        today = self.clock().astimezone(zone(rep.timezone)).date()
        if until < today:
            raise ValueError(f"--until {until} is in the past (today is {today} in "
                             f"{rep.timezone})")
        if start is not None and start > until:
            raise ValueError(f"--from {start} is after --until {until}")
        self.store.set_away(rep.id, until, start=start, reason=reason, at=self.clock())
        return key

    def set_back(self, name: str) -> tuple[str, int, str | None]:
        """Clear the away periods set from the command line; returns the key, how many were
        cleared, and a config.toml away period still in force (the file wins)."""
        key = self.resolve(name)
        rep = self.config.reps[key]
        cleared = self.store.clear_away(rep.id)
        today = self.clock().astimezone(zone(rep.timezone)).date()
        return key, cleared, away_reason(self.config.rep_name(key), today, rep.away)

    def status(self, active_owner_ids: Iterable[str] | None = None) -> list[RepStatus]:
        """Every rep now: pools, today's and this week's load against the caps, availability."""
        now = self.clock()
        active = frozenset(active_owner_ids) if active_owner_ids is not None else None
        ledger = Ledger(load=self.store.loads(self.periods(now)))
        for away in self.store.away(since=now.date()):
            ledger.away.setdefault(away.rep_id, []).append(away)
        reps = views(self.config, now, active, ledger)
        found = []
        for key, rep in self.config.reps.items():
            seen = reps[key]
            pools = {name: pool.weights()[key] for name, pool in self.config.pools.items()
                     if key in pool.weights()}
            found.append(RepStatus(
                key=key, name=seen.name, id=rep.id, pools=pools, timezone=rep.timezone,
                hours=rep.hours, today=ledger.load.get((rep.id, seen.day), 0),
                daily_cap=rep.daily_cap, week=ledger.load.get((rep.id, seen.week), 0),
                weekly_cap=rep.weekly_cap,
                status=seen.unavailable or seen.capped(ledger) or "available"))
        return found

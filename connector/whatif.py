"""`leadsync whatif CHANGED.toml`: the stored leads replayed through a changed config.

Steps 3 to 5 of a cycle (score and qualify, match, route) for every lead of the
marketing store, twice: through the config leadsync is loaded with and through the
changed one, with the same code the cycle runs (``connector.scoring``, the matcher
over the local candidate index, ``Router.decide``), from the same starting point:

- scores are worked out at one moment, now (decay included), for both;
- every lead is replayed as if it were new: one already handed off is matched and
  routed again (its own CRM record, the one leadsync created, left out), so what
  differs is the configs' doing, not what happened since;
- routing places the leads as a run reads them, a batch (``[sync] batch_size``) at a
  time, at the time the batch's last lead changed, against counters that start at
  nought and the away periods of `leadsync rep away`: caps and working hours bite as
  they would have. The CRM's
  users are not asked, so nobody is skipped as inactive, and the expansion rule
  (which reads the account's type from the CRM) places nobody.

Nothing is written anywhere: no CRM call (no adapter is opened), the marketing store
is only read, and the state database is opened read-only at the database's own level
(SQLite ``query_only``, a PostgreSQL read-only session): a write anywhere below would
fail, not land. A candidate index keyed under other settings than a side's
``[matching]`` is keyed again in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine

from connector.config import Config, database_error
from connector.db import make_engine, read_only_engine, sqlite_file
from connector.mapping import Payload
from connector.matching import Index, MatchDecision, Matcher, Person, Prepared
from connector.matching.estimation import (
    Learned,
    WeightsRow,
    current_weights,
    learn,
    sample_pairs,
)
from connector.matching.index import NAME_KEYS, ROWS, CandidateIndex
from connector.matching.lookup import Accounts, people
from connector.migrations import STATE, SchemaOutOfDate, found, prepare
from connector.normalize import normalize
from connector.pipeline import Handoff, account_hint, answer_for, unfit_value
from connector.records import Candidate, Lead, utcnow
from connector.routing import Router, RoutingInput, RoutingStore
from connector.routing.pool import Ledger
from connector.routing.rules import AccountHint
from connector.routing.store import LOCK, LOCKS
from connector.scoring import qualify, score
from connector.state import Reviews

T = TypeVar("T")
REPLAYED = ("scoring", "matching", "routing", "select")
"""The sections of the changed file a replay uses; the rest comes from the loaded one."""
BATCH = 500
"""Leads asked of the candidate index together, as a cycle's batch would."""
NOBODY = "(CRM default owner)"
HELD = "(held for review)"


@dataclass(frozen=True)
class Outcome:
    """One lead under one config: qualified or not and why, the match step's decision
    and the owner routing gives it (all None for a lead that does not qualify)."""

    mql: bool
    score: float
    qualify: str
    match: str | None = None
    """new, match, review (held for a person), or off ([matching] enabled = false)."""
    record: str | None = None
    """The earlier record matched or asked about: "contact 003…", "lead 12 of this replay"."""
    match_reason: str | None = None
    owner_id: str | None = None
    owner: str | None = None
    rule: str | None = None
    territory: str | None = None
    pool: str | None = None
    routing: str | None = None

    def describe(self) -> str:
        """One line: "not MQL: score 35 < 40", "MQL 52, match contact 003… → Avery Chen
        (Americas)", "MQL 61, held for review (lead 00Q…)"."""
        if not self.mql:
            return f"not MQL: {self.qualify}"
        if self.match == "review":
            return f"MQL {self.score:g}, held for review ({self.record})"
        matched = f", match {self.record}" if self.match == "match" else ""
        where = self.territory or (f"by the {self.rule} rule" if self.rule not in (None, "none")
                                   else "not routed")
        return f"MQL {self.score:g}{matched} → {self.rep} ({where})"

    @property
    def team(self) -> str | None:
        """The territory the lead lands in, or the rule that placed it without one."""
        if not self.mql:
            return None
        if self.match == "review":
            return HELD
        return self.territory or f"({self.rule or 'not routed'})"

    @property
    def rep(self) -> str | None:
        if not self.mql:
            return None
        return HELD if self.match == "review" else self.owner or NOBODY


@dataclass(frozen=True)
class Change:
    """A lead whose fate differs between the two configs, and how."""

    lead: str
    email: str | None
    kinds: tuple[str, ...]
    """became_mql, stopped_mql, owner, match."""
    now: Outcome
    changed: Outcome

    @property
    def moved(self) -> str | None:
        """Why the owner changed: another territory or rule, or only the round-robin's
        turn in the same pool (the pool's share per rep is what counts there)."""
        if "owner" not in self.kinds:
            return None
        a, b = self.now, self.changed
        if (a.rule, a.territory, a.pool) == (b.rule, b.territory, b.pool) and a.pool:
            return f"same pool {a.pool}: the round-robin's turn"
        return f"{a.team} → {b.team}"

    def as_dict(self) -> dict[str, Any]:
        return {"lead": self.lead, "email": self.email, "kinds": list(self.kinds),
                "moved": self.moved, "now": asdict(self.now), "changed": asdict(self.changed)}


@dataclass
class Difference:
    """What `leadsync whatif` prints: the counts, the groups and every change."""

    current: str
    changed: str
    at: datetime
    leads: int
    skipped: int
    """Leads no config can replay: a value no step takes (refused in a run)."""
    changes: list[Change]
    counts: dict[str, int]
    territories: list[dict[str, Any]]
    reps: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"current": self.current, "changed": self.changed, "at": self.at.isoformat(),
                "leads": self.leads, "skipped": self.skipped, "counts": self.counts,
                "territories": self.territories, "reps": self.reps, "notes": self.notes,
                "changes": [c.as_dict() for c in self.changes]}


# --- the comparison (pure) -------------------------------------------------------------

def compare(now: dict[str, Outcome], changed: dict[str, Outcome],
            emails: dict[str, str | None]) -> tuple[list[Change], dict[str, int]]:
    """Every lead whose fate differs, in the order given, and the counts."""
    changes: list[Change] = []
    counts = dict.fromkeys(("mql_now", "mql_changed", "became_mql", "stopped_mql",
                            "owner_changes", "owner_changes_by_turn", "match_changes",
                            "matches_now", "matches_changed", "reviews_now",
                            "reviews_changed"), 0)
    for lead_id, a in now.items():
        b = changed[lead_id]
        counts["mql_now"] += a.mql
        counts["mql_changed"] += b.mql
        counts["matches_now"] += a.match == "match"
        counts["matches_changed"] += b.match == "match"
        counts["reviews_now"] += a.match == "review"
        counts["reviews_changed"] += b.match == "review"
        kinds: list[str] = []
        if a.mql != b.mql:
            kinds.append("became_mql" if b.mql else "stopped_mql")
        elif a.mql:
            if a.owner_id != b.owner_id:
                kinds.append("owner")
            if (a.match, a.record) != (b.match, b.record):
                kinds.append("match")
        if kinds:
            change = Change(lead_id, emails.get(lead_id), tuple(kinds), a, b)
            changes.append(change)
            if kinds[0] in ("became_mql", "stopped_mql"):
                counts[kinds[0]] += 1
            if "owner" in kinds:
                counts["owner_changes"] += 1
                counts["owner_changes_by_turn"] += "round-robin" in (change.moved or "")
            if "match" in kinds:
                counts["match_changes"] += 1
    return changes, counts


def groups(now: dict[str, Outcome], changed: dict[str, Outcome],
           of: str) -> list[dict[str, Any]]:
    """Per territory (``of="team"``) or rep: the MQLs it gets under each config, and
    the leads it gains and loses (new MQLs and owners moved in; MQLs lost, moved out)."""
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for lead_id, outcome in now.items():
        if (key := getattr(outcome, of)) is not None:
            before.setdefault(key, set()).add(lead_id)
    for lead_id, outcome in changed.items():
        if (key := getattr(outcome, of)) is not None:
            after.setdefault(key, set()).add(lead_id)
    rows = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, set()), after.get(key, set())
        rows.append({"territory" if of == "team" else "rep": key, "now": len(a),
                     "changed": len(b), "gained": len(b - a), "lost": len(a - b)})
    return [row for row in rows if row["gained"] or row["lost"] or row["now"]]


def not_replayed(current: Config, changed: Config) -> list[str]:
    """The sections the changed file gives otherwise that a replay does not use."""
    differ = [name for name in type(current).model_fields
              if name not in REPLAYED and getattr(current, name) != getattr(changed, name)]
    if not differ:
        return []
    return [f"{', '.join(f'[{name}]' for name in differ)} "
            f"{'differs' if len(differ) == 1 else 'differ'} in the changed file, but a replay "
            "uses only [scoring], [matching], [routing] and [select]: the rest is the loaded "
            "config's"]


# --- one side of the replay -------------------------------------------------------------

@dataclass
class Stores:
    """What a replay reads besides the leads: the state database, read-only."""

    engine: Engine
    """The state database, read-only; an empty one in memory when there is none yet."""
    routing: RoutingStore
    """Its routing tables (away periods); an empty one in memory when nothing was ever
    routed there (a routing store makes its lock row when missing: a write)."""
    crm: str
    empty: bool = False
    """No state database yet: no candidate index, no routing history."""


def replay(config: Config, leads: Sequence[Lead], stores: Stores, region: str,
           at: datetime, *, batch_size: int | None = None,
           kept_weights: bool = True) -> tuple[dict[str, Outcome], list[str]]:
    """Every lead (in the order a run reads them) through ``config``'s scoring, matching
    and routing; each lead's outcome by id (a lead with a value no step takes is left
    out, as a run refuses it), and notes for the admin. ``batch_size``: the leads a run
    reads together (the loaded config's, for both sides). ``kept_weights``: the weights
    the runs estimated and kept fit this config's [matching] (else they are estimated
    again, in memory)."""
    notes: list[str] = []
    scored: dict[str, Outcome] = {}
    mqls: list[tuple[Lead, Outcome]] = []
    chosen = config.select
    for raw in leads:
        if unfit_value(raw) is not None:
            continue
        normalized = normalize(raw, region)
        lead = normalized.lead
        if normalized.issues:
            continue  # refused whatever the config: a value no CRM field takes
        if chosen is not None and not chosen.takes(lead.get(chosen.field)):
            scored[lead.id] = Outcome(False, 0.0, "another pipeline's lead ([select])")
            continue
        points = score(lead, config.scoring, at)
        verdict = qualify(lead, points, config.scoring)
        outcome = Outcome(bool(verdict.value), points.value, verdict.reason)
        scored[lead.id] = outcome
        if outcome.mql:
            mqls.append((lead, outcome))
    hints: dict[str, AccountHint | None] = {}
    after: dict[str, str] = {}
    if config.matching.enabled and mqls:
        with _index(config, stores, region, notes, kept_weights) as (index, matcher):
            seen = Index(matcher)
            for batch in _batches(mqls, BATCH):
                for (lead, outcome), (decided, hint, first) in zip(
                        batch, _match(batch, index, matcher, seen, stores), strict=True):
                    scored[lead.id] = replace(outcome, **decided)
                    hints[lead.id] = hint
                    if first is not None:
                        after[lead.id] = first
    elif not config.matching.enabled:
        for lead, outcome in mqls:
            scored[lead.id] = replace(outcome, match="off")
    size = batch_size or config.sync.batch_size
    batches = {lead.id: n // size for n, lead in enumerate(leads)}
    _route(config, [lead for lead, _ in mqls], scored, hints, after, stores, batches)
    return scored, notes


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@contextmanager
def _index(config: Config, stores: Stores, region: str, notes: list[str],
           kept_weights: bool) -> Iterator[tuple[CandidateIndex, Matcher]]:
    """The candidate index as this config's matcher asks it, with the weights a run
    would use: the stored index when it was keyed under these settings, else a copy
    keyed again in memory (the stored one is never touched)."""
    matcher = Matcher(config.matching, region=region)
    index = CandidateIndex(stores.engine, stores.crm, matcher)
    scratch: Engine | None = None
    try:
        if not index.keyed_alike():
            notes.append("the candidate index was keyed under other [matching] settings: "
                         "it was keyed again in memory for the replay")
            scratch = memory_state()
            copy = CandidateIndex(scratch, stores.crm, matcher)
            copy.put((c, copy.keys_of(c), utcnow()) for c in _stored(index))
            index = copy
        learned = _weights(index, matcher, kept=kept_weights and scratch is None)
        matcher.use_weights(learned.weights, learned.source, learned.prior)
        yield index, matcher
    finally:
        if scratch is not None:
            scratch.dispose()


def _stored(index: CandidateIndex) -> Iterator[Candidate]:
    """Every record of the stored index, a chunk at a time."""
    with index.engine.connect() as conn:
        refs = list(conn.execute(select(ROWS.c.crm_id).where(ROWS.c.crm == index.crm)
                                 .order_by(ROWS.c.crm_id)).scalars())
    for chunk in _batches(refs, 2000):
        yield from index.get(chunk).values()


def _weights(index: CandidateIndex, matcher: Matcher, *, kept: bool) -> Learned:
    """The weights the decision by weights uses, as a run's ``current_weights`` gives
    them, without keeping anything: the estimate the runs kept when it fits (same
    index, same [matching]), else one made now, in memory."""
    config = matcher.config
    if config.weights != "estimated":
        return current_weights(index, matcher)  # the configured m/u: nothing read
    if kept:
        table = WeightsRow.__table__  # type: ignore[attr-defined]
        with index.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.crm == index.crm)).first()
        if row is not None:
            stored = json.loads(row.weights)
            return Learned({n: (w[0], w[1]) for n, w in stored["fields"].items()},
                           row.source, row.why, row.records, stored["prior"])
    size = sum(n for kind, n in index.sizes().items() if kind != "account")
    return learn(matcher, sample_pairs(index, limit=config.estimate_pairs), size)


def _match(batch: Sequence[tuple[Lead, Outcome]], index: CandidateIndex, matcher: Matcher,
           seen: Index, stores: Stores
           ) -> Iterator[tuple[dict[str, Any], AccountHint | None, str | None]]:
    """The match step for a batch, decided as the cycle decides it: candidates from the
    index (the lead's own record, the one leadsync created, left out) and earlier
    leads of the replay (``seen``), a reviewer's answers honoured, a pending review
    still waiting for its person. Yields per lead the outcome's match fields, the
    routing hint (whose person or account it already is) and, for a duplicate of an
    earlier lead of the replay, that lead's id."""
    prepared = {lead.id: matcher.prepare(Person(lead.id, "incoming", lead.fields))
                for lead, _ in batch}
    keys = {lead_id: index.lead_keys(me) for lead_id, me in prepared.items()}
    found, crowded = index.find(keys)
    ready: dict[str, Prepared] = {}
    for person in people([c for cs in found.values() for c in cs]):
        ready.setdefault(person.id, matcher.prepare(person))
    accounts = Accounts(matcher, sorted({c.crm_id: c for cs in found.values() for c in cs
                                         if c.kind == "account"}.values(),
                                        key=lambda c: c.crm_id))
    answers = Reviews(stores.engine).of_leads(stores.crm, list(prepared))
    for lead, _ in batch:
        me = prepared[lead.id]
        answered = {r.crm_id: r for r in answers.get(lead.id, ())}
        earlier = [ready[c.crm_id] for c in found.get(lead.id, ())
                   if c.crm_id in ready and c.key != lead.id]
        compared = earlier + seen.candidates(me)
        pool = [c for c in compared if answer_for(answered, c) != "different"]
        decision = matcher.decide(
            me, pool, common_name=any(k.startswith(NAME_KEYS) for k in keys[lead.id] & crowded),
            ruled_out=[c for c in compared if answer_for(answered, c) == "different"])
        chosen = next((c.person for c in pool if answer_for(answered, c) == "same"), None)
        if chosen is not None:
            decision = MatchDecision("match", 1.0, "a reviewer said it is the same person",
                                     chosen)
        pending = [r for r in answered.values() if r.status == "pending"]
        best = decision.best
        if pending and chosen is None and decision.outcome != "review":
            yield ({"match": "review", "record": f"{pending[0].kind} {pending[0].crm_id}",
                    "match_reason": f"still waiting for `leadsync review {pending[0].id}`"},
                   None, None)
            continue
        if decision.outcome == "review" and best is not None:
            yield ({"match": "review", "record": f"{best.kind} {best.id}",
                    "match_reason": f"score {decision.score:.2f}, {decision.reason}"},
                   None, None)
            continue
        target = first = None
        if decision.outcome == "match" and best is not None:
            if isinstance(best.ref, Candidate):
                target = best.ref
                shown = f"{best.kind} {best.id}"
            else:
                first = str(best.ref)
                shown = f"lead {first} of this replay"
            fields = {"match": "match", "record": shown,
                      "match_reason": f"score {decision.score:.2f}, {decision.reason}"}
        else:
            fields = {"match": "new", "record": None, "match_reason": decision.reason}
        handoff = Handoff(lead, Payload({}, {}, {}), None, "")
        handoff.target = target
        handoff.account = accounts.find(me, target)
        seen.add(Prepared(Person(lead.id, "link", me.person.fields, ref=lead.id),
                          me.values, matcher.keys(me)))
        yield fields, account_hint(handoff), first


def _route(config: Config, mqls: Sequence[Lead], scored: dict[str, Outcome],
           hints: dict[str, AccountHint | None], after: dict[str, str], stores: Stores,
           batches: Mapping[str, int]) -> None:
    """An owner for each qualified lead not held for review, as the cycle's route step
    chooses it: a batch of the leads read together at a time, at the time the batch's
    last lead changed (``batches``: each lead's batch, in reading order). A duplicate of
    an earlier lead of the replay gets that lead's owner."""
    routing = config.routing
    if not (routing.configured or routing.account_owner):
        return  # no rule at all: the CRM's default owner, as in a run
    router = Router(routing, stores.routing)
    ledger = Ledger()
    for away in stores.routing.away():
        ledger.away.setdefault(away.rep_id, []).append(away)
    todo: dict[int, list[Lead]] = {}
    for lead in mqls:
        if scored[lead.id].match == "review" or lead.id in after:
            continue  # held for a person, or waiting for the earlier lead's owner
        if not routing.configured and hints.get(lead.id) is None:
            continue  # only the account rule speaks: the CRM's default owner
        todo.setdefault(batches[lead.id], []).append(lead)
    for batch in (todo[n] for n in sorted(todo)):
        decisions, _ = router.decide(
            [RoutingInput(lead.id, scored[lead.id].score, lead.fields, hints.get(lead.id))
             for lead in batch], ledger, {}, max(lead.updated_at for lead in batch), None)
        for lead, decision in zip(batch, decisions, strict=True):
            value = decision.value
            scored[lead.id] = replace(
                scored[lead.id], owner_id=value.owner_id,
                owner=router.name_of(value.owner_id) if value.owner_id else None,
                rule=value.rule, territory=value.territory, pool=value.pool,
                routing=decision.reason)
    for lead_id, first in after.items():
        earlier = scored.get(first)
        if earlier is not None:
            scored[lead_id] = replace(
                scored[lead_id], owner_id=earlier.owner_id, owner=earlier.owner,
                rule=earlier.rule, territory=earlier.territory, pool=earlier.pool,
                routing=f"the same person as lead {first} of this replay: its owner")


# --- the stores, read-only ---------------------------------------------------------------

def memory_state() -> Engine:
    """An empty state database in memory (its own engine each time), at head."""
    engine = make_engine("sqlite://")
    prepare(engine, STATE)
    return engine


@contextmanager
def open_stores(config: Config) -> Iterator[Stores]:
    """The state database of ``config``, read-only; an empty one in memory when there is
    none yet (no SQLite file, a PostgreSQL schema without leadsync's tables)."""
    from connector.wiring import DATABASE_ERRORS, schema_error

    url = config.resolve_url(config.state.url)
    file = sqlite_file(url)
    new, routed = True, False
    engine: Engine | None = None
    if file is None or file.exists():
        engine = read_only_engine(url)
        try:
            with engine.connect() as conn:
                new = found(conn, STATE).new
                routed = not new and conn.execute(select(LOCKS.c.name).where(
                    LOCKS.c.name == LOCK)).first() is not None
            if not new:
                prepare(engine, STATE)  # at head, or SchemaOutOfDate: never upgraded here
        except DATABASE_ERRORS as exc:
            engine.dispose()
            raise database_error(config, "state.url", exc) from None
        except SchemaOutOfDate as exc:
            engine.dispose()
            raise schema_error(config, exc) from None
    if new:
        if engine is not None:
            engine.dispose()
        engine = memory_state()
    assert engine is not None
    routing = RoutingStore(engine) if routed else RoutingStore(memory_state(),
                                                               owns_engine=True)
    try:
        yield Stores(engine, routing, config.crm.adapter, empty=new)
    finally:
        routing.close()
        engine.dispose()


def known_fields(config: Config) -> set[str] | None:
    """The fields the marketing store's leads hold (None: it cannot say), for `check`'s
    findings on the changed file."""
    from connector.wiring import open_marketing, require_marketing_store

    require_marketing_store(config, "no lead to replay")
    with open_marketing(config) as marketing:
        lister = getattr(marketing, "known_fields", None)
        return set(lister()) if lister is not None else None


def whatif(current: Config, changed: Config, *, since: datetime | None = None,
           at: datetime | None = None) -> Difference:
    """The stored leads (those changed since ``since``, else all) through both configs,
    compared lead by lead."""
    from connector.wiring import open_marketing, require_marketing_store

    at = at or utcnow()
    require_marketing_store(current, "no lead to replay")
    with open_marketing(current) as marketing:
        leads = list(marketing.read_changes(since))
    region = current.marketing.default_region
    with open_stores(current) as stores:
        now, notes = replay(current, leads, stores, region, at)
        then, more = replay(changed, leads, stores, region, at,
                            batch_size=current.sync.batch_size,
                            kept_weights=changed.matching == current.matching)
    notes = list(dict.fromkeys([*(f"loaded config: {n}" for n in notes),
                                *(f"changed config: {n}" for n in more)]))
    if stores.empty:
        notes.append("no state database yet (nothing synced with this config): no "
                     "candidate index to match against, no away periods")
    if current.routing.expansion is not None or changed.routing.expansion is not None:
        notes.append("[routing.expansion] reads each account's type from the CRM, which a "
                     "replay does not ask: no lead is placed as expansion")
    notes += not_replayed(current, changed)
    ids = [lead_id for lead_id in now if lead_id in then]
    emails = {lead.id: lead.get("email") for lead in leads}
    a = {i: now[i] for i in ids}
    b = {i: then[i] for i in ids}
    changes, counts = compare(a, b, emails)
    return Difference(str(current.source), str(changed.source), at, len(leads),
                      len(leads) - len(ids), changes, counts, groups(a, b, "team"),
                      groups(a, b, "rep"), notes)

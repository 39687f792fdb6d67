"""Weights learned from the CRM's own people: `[matching] weights = "estimated"`.

How often strangers share a postcode, or how often a person's second entry
keeps the street, differs from one CRM to the next. Both are read off the
pairs the matcher compares, without labels (EM, ``connector.matching.weights``),
as splink and recordlinkage do: pairs of the CRM's people that share a blocking
key, drawn from the local candidate index.

EM separates two classes; it cannot know which is "the same person". A CRM
without duplicates among its own records (a clean one, or one leadsync has
kept clean) still splits in two, and the second class is then colleagues or
families, whose given names differ. Such an estimate says "a given name
agreeing counts against a match" and is refused: the configured m/u stay.
The outcome, taken or refused and why, is kept with the weights.

Estimating costs a pass over the index's keys, so it runs when the index has
grown by ``reestimate_growth`` since the last estimate, never per batch; the
result is kept in the state database (``match_weights``).

    learned = current_weights(candidate_index, matcher)   # cached, or estimated now
    matcher.use_weights(learned.weights, learned.source, learned.prior)
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, select
from sqlalchemy import Text as SAText
from sqlmodel import Field

from connector.db import UTCDateTime
from connector.matching import Index, Matcher, Person, Prepared
from connector.matching.weights import AGREE, DIFFER, NEUTRAL, Estimate, estimate
from connector.migrations import STATE, prepare
from connector.state import StateModel

if TYPE_CHECKING:
    from connector.matching.index import CandidateIndex

LEVEL_CODE = {"agree": AGREE, "neutral": NEUTRAL, "differ": DIFFER, "missing": None}
MIN_SEEN = 50
"""Pairs in which a field must be present on both sides before its estimate is used
(or judged): fewer say nothing about it, and it keeps its configured weights."""
MIN_PAIRS = 500
"""Fewer candidate pairs than this and nothing is estimated (a new, small CRM)."""
MIN_GROWTH = 100
"""Records an index must gain, whatever the share, before estimating again: an
empty or tiny CRM is not estimated over and over."""
SEED = 20_240_601


@dataclass(frozen=True)
class Learned:
    """Weights for the decision by weights, and where they come from."""

    weights: dict[str, tuple[float, float]]
    """(agreeing, differing) log2 weights of the fields estimated; empty when refused."""
    source: str
    """"estimated", or "configured" when the estimate was refused or not attempted."""
    why: str
    """What a rep or admin reads: how many pairs, the duplicate share, or why refused."""
    records: int = 0
    """Records the candidate index held when this was estimated."""
    prior: float | None = None
    """The estimated duplicate share among candidate pairs, when taken."""


def vectors(matcher: Matcher, pairs: Iterable[tuple[Prepared, Prepared]]
            ) -> list[list[int | None]]:
    """Each pair's comparison vector over the matcher's fields (``Matcher.levels``)."""
    fields = list(matcher.kinds)
    out = []
    for a, b in pairs:
        levels = matcher.levels(a, b)
        out.append([LEVEL_CODE[levels[name]] for name in fields])
    return out


def learn(matcher: Matcher, pairs: Sequence[tuple[Prepared, Prepared]],
          records: int = 0) -> Learned:
    """Estimate m/u from candidate pairs and judge the estimate: a pure function."""
    if len(pairs) < MIN_PAIRS:
        return Learned({}, "configured", f"{len(pairs)} candidate pairs, fewer than "
                       f"{MIN_PAIRS}: configured m/u", records)
    fields = list(matcher.kinds)
    found = vectors(matcher, pairs)
    est = estimate(fields, found)
    seen = {name: sum(v[i] is not None for v in found) for i, name in enumerate(fields)}
    return judge(est, seen, len(pairs), records)


def judge(est: Estimate, seen: dict[str, int], pairs: int, records: int = 0) -> Learned:
    """Take the estimate only if every field seen often enough agrees *for* a match
    and differs *against* it; else EM has split colleagues from strangers."""
    weights = {n: w for n, w in est.weights().items() if seen.get(n, 0) >= MIN_SEEN}
    wrong = sorted(n for n, (agree, differ) in weights.items() if agree <= 0 or differ > 0)
    head = f"{pairs:,} candidate pairs, {est.prior:.1%} estimated duplicates"
    if wrong:
        return Learned({}, "configured", f"{head}; estimate refused ({', '.join(wrong)} "
                       "would count the wrong way: no duplicates to learn from): "
                       "configured m/u", records)
    return Learned(weights, "estimated", f"{head}; {len(weights)} fields estimated", records,
                   est.prior)


def local_pairs(matcher: Matcher, people: Sequence[Prepared], *, limit: int,
                seed: int = SEED) -> list[tuple[Prepared, Prepared]]:
    """Pairs of ``people`` sharing a blocking key (``Matcher.keys``), a seeded sample
    of at most ``limit``: the same pairs a run would compare, without a database."""
    index = Index(matcher)
    for person in people:
        index.add(person)
    pairs: list[tuple[Prepared, Prepared]] = []
    seen: set[frozenset[str]] = set()
    for person in people:
        for other in index.candidates(person):
            key = frozenset((person.person.id, other.person.id))
            if other.person.id != person.person.id and key not in seen:
                seen.add(key)
                pairs.append((person, other))
    return _sample(pairs, limit, seed)


def sample_pairs(index: CandidateIndex, *, limit: int, seed: int = SEED
                 ) -> list[tuple[Prepared, Prepared]]:
    """A seeded sample of people pairs in the candidate index that share one of the
    matcher's blocking keys (``b:`` keys); keys as crowded as the index's cap are
    skipped, as ``CandidateIndex.find`` skips them."""
    from connector.matching.index import KEYS

    def groups() -> Iterable[list[str]]:
        group: list[str] = []
        current = None
        query = (select(KEYS.c.key, KEYS.c.crm_id)
                 .where(KEYS.c.crm == index.crm, KEYS.c.key.like("b:%"))
                 .order_by(KEYS.c.key, KEYS.c.crm_id)
                 .execution_options(yield_per=10_000))
        with index.engine.connect() as conn:
            for key, crm_id in conn.execute(query):
                if key != current:
                    yield group
                    group, current = [], key
                group.append(crm_id)
        yield group

    # a reservoir: a million records share tens of millions of pairs, never all held
    rng, kept, seen = random.Random(seed), list[tuple[str, str]](), 0
    for group in groups():
        for pair in _group_pairs(group):
            seen += 1
            if len(kept) < limit:
                kept.append(pair)
            elif (at := rng.randrange(seen)) < limit:
                kept[at] = pair
    chosen = sorted(set(kept))
    records = index.get({i for pair in chosen for i in pair})
    prepared = {i: index.matcher.prepare(Person(i, c.kind, c.fields))
                for i, c in records.items() if c.kind != "account"}
    return [(prepared[x], prepared[y]) for x, y in chosen if x in prepared and y in prepared]


def _group_pairs(group: list[str]) -> list[tuple[str, str]]:
    from connector.matching import BLOCK_CAP

    if len(group) > BLOCK_CAP:
        return []
    return [(x, y) for i, x in enumerate(group) for y in group[i + 1:]]


def _sample(items: list[Any], limit: int, seed: int) -> list[Any]:
    if len(items) <= limit:
        return items
    return random.Random(seed).sample(items, limit)


# -- the cache ---------------------------------------------------------------------
class WeightsRow(StateModel, table=True):
    __tablename__ = "match_weights"
    crm: str = Field(primary_key=True)
    records: int
    source: str
    why: str
    weights: str = Field(sa_column=Column(SAText, nullable=False))
    """{"fields": {field: [agreeing, differing]}, "prior": share or null} as JSON."""
    estimated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def current_weights(index: CandidateIndex, matcher: Matcher, *,
                    now: datetime | None = None) -> Learned:
    """The weights kept for this CRM, estimated again only when the index has grown
    by ``reestimate_growth`` since (or was never estimated)."""
    config = matcher.config
    if config.weights != "estimated":
        return Learned({}, "configured", f"[matching] weights = {config.weights!r}")
    prepare(index.engine, STATE)
    size = sum(n for kind, n in index.sizes().items() if kind != "account")
    table = WeightsRow.__table__  # type: ignore[attr-defined]
    with index.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.crm == index.crm)).first()
    grown = max(row.records * (1 + config.reestimate_growth), row.records + MIN_GROWTH) \
        if row is not None else 0
    if row is not None and size < grown:
        kept = json.loads(row.weights)
        return Learned({n: (w[0], w[1]) for n, w in kept["fields"].items()},
                       row.source, row.why, row.records, kept["prior"])
    learned = learn(matcher, sample_pairs(index, limit=config.estimate_pairs), size)
    with index.engine.begin() as conn:
        conn.execute(table.delete().where(table.c.crm == index.crm))
        conn.execute(table.insert().values(
            crm=index.crm, records=size, source=learned.source, why=learned.why,
            weights=json.dumps({"fields": {n: list(w) for n, w in learned.weights.items()},
                                "prior": learned.prior}),
            estimated_at=now or datetime.now(UTC)))
    return learned

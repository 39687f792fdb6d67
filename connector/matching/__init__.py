"""Step 4 of a cycle: is this lead someone the CRM already knows?

Pure decisions, like scoring and routing: a prepared lead and its candidates
in, a ``MatchDecision`` (outcome, the record, score and a reason a rep can
read) out. Fetching candidates is the adapters' job (``CrmAdapter.find_people``,
by blocking keys); this package only normalises, compares and decides.

    matcher = Matcher(config.matching, region="US")
    decision = matcher.decide(matcher.prepare(lead_person), [matcher.prepare(c) ...])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.matching.compare import SIMILARITY, blocking_values, prepare
from connector.matching.config import MatchingConfig, MatchRule
from connector.matching.keys import EmailRules

Outcome = Literal["match", "review", "none"]
NAME_PAIR = ("first_name", "last_name")
VETO = 0.5


@dataclass(frozen=True)
class Person:
    """One side of a comparison: a lead on its way in, or a record met before."""

    id: str
    kind: str  # incoming | lead | contact | link
    fields: Mapping[str, Any]
    ref: Any = None
    """What the caller needs back with a decision (the CRM candidate, a link ...)."""


@dataclass(frozen=True)
class Prepared:
    person: Person
    values: dict[str, Any]


@dataclass(frozen=True)
class Scored:
    score: float
    rule: str
    reason: str


@dataclass(frozen=True)
class MatchDecision:
    outcome: Outcome
    score: float
    reason: str
    best: Person | None = None
    others: list[tuple[Person, Scored]] = field(default_factory=list)
    """Further candidates at or above the review threshold, best first."""


NO_MATCH = Scored(0.0, "", "")
KIND_PREFERENCE = {"contact": 0, "lead": 1, "link": 2, "incoming": 3}
"""On equal scores: a contact (a customer's person) before a lead, before a lead
leadsync handed over in this same run."""


class Matcher:
    def __init__(self, config: MatchingConfig, *, region: str = "US") -> None:
        self.config = config
        self.region = region
        email = config.email
        self.email_rules = EmailRules(dotless=frozenset(email.dotless_domains),
                                      plus_tags=frozenset(email.plus_tag_domains),
                                      plus_everywhere=email.plus_tags_everywhere,
                                      aliases=dict(email.domain_aliases))
        self.kinds = {name: rule.kind for name, rule in config.fields.items()}
        self.minimum = {name: rule.min for name, rule in config.fields.items()}
        self.rules = sorted(config.rules, key=lambda r: -r.score)
        self.blocking = [[(name, int(size) if size else 0)
                          for name, _, size in (part.partition(":") for part in spec.split("+"))]
                         for spec in config.blocking]

    # -- normalise -------------------------------------------------------------
    def prepare(self, person: Person) -> Prepared:
        values: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            raw = person.fields.get(name)
            if raw is None and kind == "domain":  # an employer domain from the email
                raw = person.fields.get("email")
            value = prepare(kind, raw, region=self.region, email_rules=self.email_rules)
            if value is not None:
                values[name] = value
        return Prepared(person, values)

    def keys(self, prepared: Prepared) -> set[str]:
        """Blocking keys: records that share none are never compared."""
        found: set[str] = set()
        for index, spec in enumerate(self.blocking):
            parts: list[list[str]] = []
            for name, size in spec:
                values = blocking_values(self.kinds[name], prepared.values.get(name))
                if size:
                    values = [v[:size] for v in values]
                if not values:
                    break
                parts.append(values)
            else:
                combos = [""]
                for values in parts:
                    combos = [f"{c}|{v}" for c in combos for v in values]
                found.update(f"{index}{c}" for c in combos)
        return found

    # -- compare ---------------------------------------------------------------
    def similarity(self, name: str, a: Prepared, b: Prepared) -> float | None:
        left, right = a.values.get(name), b.values.get(name)
        if left is None or right is None:
            return None
        return SIMILARITY[self.kinds[name]](left, right)

    def _names(self, a: Prepared, b: Prepared) -> tuple[dict[str, float | None], bool]:
        """First and last name similarity, trying them swapped too (Smith John)."""
        straight = {n: self.similarity(n, a, b) for n in NAME_PAIR}
        if None in straight.values() or all(s == 1.0 for s in straight.values()):  # type: ignore[comparison-overlap]
            return straight, False
        first, last = a.values["first_name"], a.values["last_name"]
        swapped_a = Prepared(a.person, {**a.values, "first_name": last, "last_name": first})
        swapped = {n: self.similarity(n, swapped_a, b) for n in NAME_PAIR}
        if min(swapped.values()) > min(straight.values()):  # type: ignore[type-var]
            return swapped, True
        return straight, False

    def score(self, a: Prepared, b: Prepared) -> Scored:
        """The best rule these two records satisfy, with the evidence for it."""
        sims: dict[str, float | None] = {}
        swapped = False
        if all(self.kinds.get(n) == "name" for n in NAME_PAIR):
            names, swapped = self._names(a, b)
            sims.update(names)
        for rule in self.rules:
            if self._holds(rule, a, b, sims):
                return Scored(rule.score, rule.name, self._reason(rule, a, b, sims, swapped))
        return NO_MATCH

    def _sim(self, name: str, a: Prepared, b: Prepared, sims: dict[str, float | None]) -> float | None:
        if name not in sims:
            sims[name] = self.similarity(name, a, b)
        return sims[name]

    def _holds(self, rule: MatchRule, a: Prepared, b: Prepared,
               sims: dict[str, float | None]) -> bool:
        for name in rule.fields:
            value = self._sim(name, a, b, sims)
            if value is None or value < self.minimum[name]:
                return False
        for name in rule.unless_differ:
            value = self._sim(name, a, b, sims)
            if value is not None and value < VETO:
                return False
        return True

    def _reason(self, rule: MatchRule, a: Prepared, b: Prepared,
                sims: dict[str, float | None], swapped: bool) -> str:
        shown = []
        for name in rule.fields:
            mine = name
            if swapped and name in NAME_PAIR:  # a's last name agreed with b's first
                mine = NAME_PAIR[1 - NAME_PAIR.index(name)]
            left, right = a.person.fields.get(mine), b.person.fields.get(name)
            if name == "domain":
                left = left or a.person.fields.get("email")
                right = right or b.person.fields.get("email")
            same = sims[name] == 1.0 and str(left).strip().lower() == str(right).strip().lower()
            value = f"{left!r}" if same else f"{left!r}~{right!r}"
            shown.append(f"{name} {value} {sims[name]:.2f}")
        note = ", names swapped" if swapped and set(NAME_PAIR) & set(rule.fields) else ""
        return f"rule {rule.name}: " + "; ".join(shown) + note

    # -- decide ----------------------------------------------------------------
    def decide(self, incoming: Prepared, candidates: Iterable[Prepared]) -> MatchDecision:
        scored = [(c.person, s) for c in candidates
                  if c.person.id != incoming.person.id
                  and (s := self.score(incoming, c)).score >= self.config.review_threshold]
        if not scored:
            return MatchDecision("none", 0.0, "no earlier record matches")
        scored.sort(key=lambda ps: (-ps[1].score, KIND_PREFERENCE.get(ps[0].kind, 9), ps[0].id))
        best, top = scored[0]
        outcome: Outcome = "match" if top.score >= self.config.match_threshold else "review"
        return MatchDecision(outcome, top.score, top.reason, best, scored[1:])


class Index:
    """Records by blocking key, for the link table and the leads of one run."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self._by_key: dict[str, list[Prepared]] = defaultdict(list)

    def add(self, prepared: Prepared) -> None:
        for key in self.matcher.keys(prepared):
            self._by_key[key].append(prepared)

    def candidates(self, prepared: Prepared) -> list[Prepared]:
        seen: dict[int, Prepared] = {}
        for key in self.matcher.keys(prepared):
            for other in self._by_key.get(key, ()):
                seen.setdefault(id(other), other)
        return list(seen.values())


__all__ = ["Index", "MatchDecision", "Matcher", "MatchingConfig", "Person", "Prepared", "Scored"]

"""Step 4 of a cycle: is this lead someone the CRM already knows?

Pure decisions, like scoring and routing: a prepared lead and its candidates
in, a ``MatchDecision`` (outcome, the record, score and a reason a rep can
read) out. Candidates come from the local candidate index (``index.py``, kept in
step with the CRM by the adapters' ``read_people`` feeds, by the keys of
``blocking.py``); the rest of this package normalises, compares and decides.

    matcher = Matcher(config.matching, region="US")
    decision = matcher.decide(matcher.prepare(lead_person), [matcher.prepare(c) ...])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar

from connector.matching.compare import (
    SIMILARITY,
    blocking_values,
    keystrokes,
    known_given,
    other_form,
    prepare,
)
from connector.matching.config import MatchingConfig, MatchRule
from connector.matching.keys import FREE_MAIL, EmailRules, house_number, record_region

T = TypeVar("T")
Outcome = Literal["match", "review", "none"]
Level = Literal["agree", "neutral", "differ", "missing"]
NAME_PAIR = ("first_name", "last_name")


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
    blocking: frozenset[str] | None = field(default=None, compare=False, repr=False)
    """Its blocking keys, once ``Matcher.keys`` has made them (they follow from ``values``)."""


@dataclass(frozen=True)
class Scored:
    score: float
    rule: str
    reason: str
    weight: float = 0.0
    """Summed log2 weights of every field compared (agreeing +, differing -): the
    evidence that orders candidates one rule scores alike."""

    @property
    def probability(self) -> float:
        """The weight mapped to [0, 1] (even prior odds): 0.5 is no evidence either way."""
        return 1 / (1 + 2 ** -max(-60.0, min(60.0, self.weight)))


@dataclass(frozen=True)
class MatchDecision:
    outcome: Outcome
    score: float
    reason: str
    best: Person | None = None
    others: list[tuple[Person, Scored]] = field(default_factory=list)
    """Further candidates at or above the review threshold, best first."""


NO_MATCH = Scored(0.0, "", "")
BLOCK_CAP = 50
"""Records one blocking key may bring into a comparison; a bigger block is skipped
(its records are namesakes to a lead: they rank below anyone sharing a rarer key,
see ``closest``). Measured (docs/candidate-index.md): 50 finds the same records of
each person as 200, for a quarter of the rows read."""
PER_LEAD = 10
"""Records one lead is compared with at most: the closest by the keys they share
(``closest``). Measured (docs/candidate-index.md): the record of the same person
ranks first for 99.96% of leads that have one, and within the first ten wherever
blocking finds it at all, in the generated CRM data and in Febrl 4."""
PREPARED_CACHE = 200_000
"""Distinct (kind, text) values kept prepared before the cache starts again."""
KIND_PREFERENCE = {"contact": 0, "lead": 1, "link": 2, "incoming": 3}
"""On equal scores and equal evidence: a contact (a customer's person) before a
lead, before a lead leadsync handed over in this same run."""
RUN_KINDS = ("link", "incoming")
"""Records of this run's leads (``Person.kind``), not of the CRM."""
NAME_KINDS = ("name", "surname")
WEIGHED_CAP = 0.94
"""Highest score a decision by weights earns: a match, yet below the rules that are
sure (name+company 0.95), so a rule's match on one candidate is not outranked."""
PLACE = ("postal_code", "city", "state")
"""One place said three times: a postcode names the city and the state, so the
decision by weights counts the strongest of them, not their sum (a namesake in
the same town is not three coincidences)."""
HOUSE = ("street", "street_number", "address_2")
"""Where in a town someone lives: agreeing in another place (the postcode, city or
state differs and none of them agrees) they are one street name in two towns
("2 Main Street" in Denver and in Boston), and the decision by weights counts them
neither way."""
ADDRESS_LINES = ("street", "address_2")
"""Two address lines people fill either way round ("Killarney" then "Kingham Place",
or the other way): compared swapped too, as the names are, when that fits better."""
STRONG_ADDRESS = (("street", "postal_code"), ("street", "city"),
                  ("street_number", "address_2", "postal_code"),
                  ("street_number", "address_2", "city"))
"""Address fields that together vouch for a person whose given name was mistyped
beyond recognition (Febrl's "Jayden" for "Kayden" at the same house), or is missing:
the street with its postcode or town, or the house number and the second address
line (a house name, a unit) with one of them."""

PLACEHOLDERS = frozenset({"[not provided]"})
"""What a CRM writes where a required field had no value (Salesforce's Web-to-Lead
puts "[not provided]" in LastName and Company): no value, not one every such record
shares. Two web leads of unknown company are not colleagues."""

NUMBER_IN_TOWN = ("street_number", "postal_code", "city")
"""The house as far as a record whose street line is its number alone ("39") can say:
that number in the same postcode and town. Vouches for a name that is missing (a
record with only the family name), never for one that differs (a relative)."""


class Matcher:
    def __init__(self, config: MatchingConfig, *, region: str = "US") -> None:
        self.config = config
        self.region = region
        email = config.email
        self.email_rules = EmailRules(dotless=frozenset(email.dotless_domains),
                                      plus_tags=frozenset(email.plus_tag_domains),
                                      plus_everywhere=email.plus_tags_everywhere,
                                      aliases=dict(email.domain_aliases),
                                      roles=frozenset(r.lower() for r in email.role_mailboxes))
        self.kinds = {name: rule.kind for name, rule in config.fields.items()}
        self.agree = {name: rule.agree_at for name, rule in config.fields.items()}
        self.differ = {name: rule.differ_below for name, rule in config.fields.items()}
        self.weights = {name: rule.weights for name, rule in config.fields.items()}
        self.rules = sorted(config.rules, key=lambda r: -r.score)
        self._needs = [(r, frozenset(r.fields) if r.all_must_agree else frozenset())
                       for r in self.rules]
        """Fields a rule needs on both sides: a cheap test before any comparison."""
        self.blocking = [[(name, int(size) if size else 0)
                          for name, _, size in (part.partition(":") for part in spec.split("+"))]
                         for spec in config.blocking]
        self.name_pair: tuple[str, str] = (config.names[0], config.names[1])
        self._swappable = all(self.kinds.get(n) in NAME_KINDS for n in self.name_pair)
        self._name_specs = [i for i, spec in enumerate(self.blocking)
                            if any(name in self.name_pair for name, _ in spec)]
        self._blocked = {name for spec in self.blocking for name, _ in spec}
        """Fields whose blocking values a record's keys need: those a spec names, and
        both names when they are swapped (a last_name spec is fed the first name)."""
        if self._swappable and self._name_specs:
            self._blocked |= set(self.name_pair)
        self._lines = all(self.kinds.get(n) == "text" for n in ADDRESS_LINES)
        pairs = ([self.name_pair] if self._swappable else []) + \
            ([ADDRESS_LINES] if self._lines else [])
        self._partner = {x: y for one, other in pairs for x, y in ((one, other), (other, one))}
        """A field's partner when a pair is compared swapped: a's value shown beside b's."""
        self._email_fields = [n for n, kind in self.kinds.items() if kind == "email"]
        self._phone_fields = [n for n, kind in self.kinds.items() if kind == "phone"]
        self._employer = [n for n, kind in self.kinds.items() if kind in ("company", "domain")]
        self._own = self._email_fields + self._phone_fields + self._employer
        self._namesakes_apart = self._phone_fields + self._employer
        """What tells two namesakes apart where both carry it and it differs: a phone, an
        employer; not a mailbox (people have two)."""
        """A person's own contact details: mailbox, number, employer."""
        self._identity_fields = [n for n, kind in self.kinds.items()
                                 if kind in ("email", "company", "domain")]
        self._personal_rules = {r.name for r in config.rules
                                if any(self.kinds.get(f) in ("email", "phone")
                                       for f in r.fields)}
        """Rules that hold on a person's own address or number: another employer's
        domain does not count against them (a new job, the same mobile)."""
        self.fs_weights: dict[str, tuple[float, float]] = dict(self.weights)
        """What the decision by weights uses: the configured m/u until ``use_weights``
        lays estimated ones over them."""
        self.fs_source = "configured"
        self._prior = math.log2(config.prior / (1 - config.prior))
        self._prepared: dict[tuple[str, str], Any] = {}
        """Prepared forms of text values by (kind, text): the same first names, last
        names and companies come back in record after record."""
        self._house = self.kinds.get("street") == "text" \
            and self.kinds.get("street_number") == "code"
        """Both a street and a house number are compared: a record with one address
        line (a CRM's Street) has its number read out of it (``house_number``)."""
        self._second_line = self.kinds.get("address_2") == "text"
        """A second address line is compared: a CRM's one Street field with lines in
        it ("12 Main Street" then "Kingham Place") gives its later lines as that."""

    # -- normalise -------------------------------------------------------------
    def prepare(self, person: Person) -> Prepared:
        """Each value in its comparable form; phones read in the person's own country
        (a German contact's "030 1234567"), else in the configured region."""
        values: dict[str, Any] = {}
        known = self._prepared
        if len(known) > PREPARED_CACHE:
            known.clear()
        fields = person.fields
        region = record_region(fields.get("country"), self.region)
        if self._second_line and not fields.get("address_2") \
                and (lines := street_lines(fields.get("street"))):
            fields = {**fields, "street": lines[0], "address_2": lines[1]}
        if self._house and not fields.get("street_number") \
                and (split := house_number(fields.get("street"))):
            # "41 Handasyde Street" is number 41 of Handasyde Street: a copy with
            # number 83 is the same street and another house, not another street
            fields = {**fields, "street_number": split[0], "street": split[1] or None}
        for name, kind in self.kinds.items():
            raw = fields.get(name)
            if raw is None and kind == "domain":  # an employer domain from the email
                raw = fields.get("email")
            if raw is None:
                continue
            if isinstance(raw, str):  # names and companies recur across records
                key = (kind, f"{region} {raw}" if kind == "phone" else raw)
                value = known.get(key, known)
                if value is known:  # a placeholder is no value, remembered as such
                    value = known[key] = None if raw.strip().casefold() in PLACEHOLDERS \
                        else prepare(kind, raw, region=region, email_rules=self.email_rules)
            else:
                value = prepare(kind, raw, region=region, email_rules=self.email_rules)
            if value is not None:
                values[name] = value
        return Prepared(person, values)

    def keys(self, prepared: Prepared) -> frozenset[str]:
        """Blocking keys: records that share none are never compared.

        Keys naming a first or last name are made from the names swapped too,
        so "Smith John" meets "John Smith"."""
        if prepared.blocking is not None:
            return prepared.blocking
        values = prepared.values
        parts = {name: blocking_values(self.kinds[name], values.get(name))
                 for name in self._blocked}
        found = self._keys(parts, range(len(self.blocking)))
        if self._name_specs and self._swappable and all(n in values for n in self.name_pair):
            first, last = self.name_pair
            found |= self._keys({**parts, first: parts[last], last: parts[first]},
                                self._name_specs)
        keys = frozenset(found)
        object.__setattr__(prepared, "blocking", keys)  # a cache: the keys follow from values
        return keys

    def _keys(self, parts: Mapping[str, list[str]], specs: Iterable[int]) -> set[str]:
        found: set[str] = set()
        for index in specs:
            combos = [str(index)]
            for name, size in self.blocking[index]:
                values = parts[name]
                if size:
                    values = sorted({v[:size] for v in values})
                if not values:
                    break
                combos = [f"{c}|{v}" for c in combos for v in values]
            else:
                found.update(combos)
        return found

    # -- compare ---------------------------------------------------------------
    def similarity(self, name: str, a: Prepared, b: Prepared) -> float | None:
        left, right = a.values.get(name), b.values.get(name)
        if left is None or right is None:
            return None
        return SIMILARITY[self.kinds[name]](left, right)

    def level(self, name: str, similarity: float | None) -> Level:
        """Whether a field agrees, differs or is neutral (in the band between the two
        levels: neither way); a value missing on a side is "missing"."""
        if similarity is None:
            return "missing"
        if similarity >= self.agree[name]:
            return "agree"
        return "differ" if similarity < self.differ[name] else "neutral"

    def _weight(self, name: str, similarity: float | None) -> float:
        level = self.level(name, similarity)
        agreeing, differing = self.weights[name]
        return agreeing if level == "agree" else differing if level == "differ" else 0.0

    def _names(self, a: Prepared, b: Prepared) -> tuple[dict[str, float | None], bool]:
        """First and last name similarity, trying them swapped too (Smith John)."""
        first, last = self.name_pair
        straight = {n: self.similarity(n, a, b) for n in self.name_pair}
        s_first, s_last = straight[first], straight[last]
        if (s_first is None or s_last is None
                or (s_first >= self.agree[first] and s_last >= self.agree[last])):
            return straight, False  # agreeing as they stand: swapping cannot help a rule
        a_first, a_last = a.values[first], a.values[last]
        swapped = {first: SIMILARITY[self.kinds[first]](a_last, b.values[first]),
                   last: SIMILARITY[self.kinds[last]](a_first, b.values[last])}
        # by the names that agree, then those that do not differ, then by the sum: one
        # name agreeing (or near) as it stands (Christian Ferris/Christian Walch,
        # Bradley/Giaan Sribar) is not traded for two half-alike swapped ones

        def fit(sims: dict[str, float]) -> tuple[int, int, float]:
            return (sum(sims[n] >= self.agree[n] for n in self.name_pair),
                    sum(sims[n] >= self.differ[n] for n in self.name_pair), sum(sims.values()))

        if fit(swapped) > fit({first: s_first, last: s_last}):
            return swapped, True  # type: ignore[return-value]
        return straight, False

    def use_weights(self, weights: Mapping[str, tuple[float, float]],
                    source: str = "estimated", prior: float | None = None) -> None:
        """Lay (agreeing, differing) log2 weights over the configured ones for the
        decision by weights; fields not named keep theirs, and an estimated prior
        (the duplicate share among candidate pairs) replaces ``[matching] prior``.
        Rules keep the configured weights: a rule reads the same whatever the data
        taught."""
        self.fs_weights = {**self.weights, **{n: w for n, w in weights.items()
                                               if n in self.weights}}
        self.fs_source = source
        if prior is not None:
            self._prior = math.log2(prior / (1 - prior))

    def levels(self, a: Prepared, b: Prepared) -> dict[str, Level]:
        """Every field's level for this pair (names swapped when that fits better):
        the comparison vector weights are estimated from."""
        sims: dict[str, float | None] = {}
        self._swaps(a, b, sims)
        return {name: self.level(name, self._sim(name, a, b, sims)) for name in self.kinds}

    def score(self, a: Prepared, b: Prepared, *,
              alone: Callable[[], bool] = lambda: False) -> Scored:
        """The best rule these two records satisfy, with the evidence for it; where no
        rule is sure (below ``match_threshold``), the weight of every field decides,
        within the guards of ``_unsafe``. ``alone``: no other record compared with
        ``a`` bears its full name (``decide`` knows; a pair alone does not), asked
        only where it decides."""
        sims: dict[str, float | None] = {}
        swapped = self._swaps(a, b, sims)
        ruled = self._ruled(a, b, sims, swapped)
        if self.config.weights == "off" or ruled.score >= self.config.match_threshold:
            return ruled
        weighed = self._weighed(a, b, sims, swapped, alone)
        return weighed if weighed is not None and weighed.score > ruled.score else ruled

    def _swaps(self, a: Prepared, b: Prepared, sims: dict[str, float | None]
               ) -> frozenset[str]:
        """Names, and address lines, compared swapped where that fits better: their
        similarities go into ``sims``; the fields compared swapped come back."""
        swapped: set[str] = set()
        if self._swappable:
            names, turned = self._names(a, b)
            sims.update(names)
            if turned:
                swapped.update(self.name_pair)
        if self._lines:
            one, other = ADDRESS_LINES
            mine, theirs = a.values, b.values
            if all(n in mine and n in theirs for n in ADDRESS_LINES):
                compare = SIMILARITY["text"]
                straight = (self._sim(one, a, b, sims), self._sim(other, a, b, sims))
                if straight[0] < self.agree[one] or straight[1] < self.agree[other]:
                    turned_lines = (compare(mine[other], theirs[one]),
                                    compare(mine[one], theirs[other]))
                    if sum(turned_lines) > sum(straight):  # type: ignore[arg-type]
                        sims[one], sims[other] = turned_lines
                        swapped.update(ADDRESS_LINES)
        return frozenset(swapped)

    def _ruled(self, a: Prepared, b: Prepared, sims: dict[str, float | None],
               swapped: frozenset[str]) -> Scored:
        present = a.values.keys() & b.values.keys()
        penalised = NO_MATCH
        for rule, needs in self._needs:
            if rule.score <= penalised.score:
                break  # sorted by score: nothing further can beat it
            if needs <= present and self._holds(rule, a, b, sims):
                reason = self._reason(rule, a, b, sims, swapped)
                weight = self.evidence(a, b, sims)
                against = None if rule.name in self._personal_rules \
                    else self._against(a, b, sims)
                if against is None:
                    return Scored(rule.score, rule.name, reason, weight)
                against, penalty = against
                lowered = round(max(0.0, rule.score - penalty), 6)
                if lowered > penalised.score:
                    penalised = Scored(lowered, rule.name, f"{reason}; {against}", weight)
        return penalised

    def _weighed(self, a: Prepared, b: Prepared, sims: dict[str, float | None],
                 swapped: frozenset[str], alone: Callable[[], bool]) -> Scored | None:
        """Fellegi-Sunter: the prior odds plus each shared field's weight, as a
        probability. None when a guard says the weights may not speak here."""
        levels = {n: self.level(n, self._sim(n, a, b, sims))
                  for n in a.values.keys() & b.values.keys()}
        town = [levels[n] for n in PLACE if n in levels]
        if "differ" in town and "agree" not in town:  # Main Street in another town
            levels.update({n: "neutral" for n in HOUSE if levels.get(n) == "agree"})
        if self._unsafe(levels, a, b, alone):
            return None
        parts = [(n, self.fs_weights[n][0 if level == "agree" else 1])
                 for n, level in levels.items() if level in ("agree", "differ")]
        place = [nw for nw in parts if nw[0] in PLACE]
        if place:
            parts = [nw for nw in parts if nw[0] not in PLACE] + [max(place, key=lambda nw: nw[1])]
        parts.sort(key=lambda nw: -nw[1])
        total = self._prior + sum(w for _, w in parts)
        probability = 1 / (1 + 2 ** -max(-60.0, min(60.0, total)))
        shown = [f"{name} {self._shown(name, b)}{weight:+.1f}"
                 if levels[name] == "agree" else f"{name} differs {weight:+.1f}"
                 for name, weight in parts if weight]
        note = self._swap_note(swapped, levels)
        reason = (f"weights ({self.fs_source}): " + ", ".join(shown)
                  + f" → {probability:.2f}{note}")
        score = min(probability, WEIGHED_CAP)
        if self._namesake_guarded(levels):  # and yet not unsafe: alone said so
            reason += ("; no other record compared bears this name, and the postcode "
                       "agrees")
            if self._moved(levels):
                reason += " (another house: moved within it, nothing else to tell)"
        near = [n for n in self.name_pair if levels.get(n) == "neutral"]
        if levels.get(self.name_pair[0]) == "agree":
            if near:  # said, or a rep reads a merge whose reason has no family name
                reason += f"; {self._pair_shown(near, a, b)}: a typo"
            near = []  # one given name, a near family name: a typo (relatives differ
            # in the given name, Xaver and Javier Huber, not in the family name)
        elif near == [self.name_pair[0]] and self._misspelt(a, b, swapped):
            near = []  # a misspelt given name: a relative's is another name
            reason += f"; {self._pair_shown([self.name_pair[0]], a, b)}: a typo"
        if near and score >= self.config.match_threshold \
                and any(n in a.values or n in b.values for n in self._own) \
                and not any(levels.get(n) == "agree" for n in self._own):
            # Xaver and Javier Huber at one house, one with a mailbox and an employer:
            # a typo, or a relative. With nothing of a person's own in common (mailbox,
            # number, employer), a person decides. (Postal records with none of these,
            # Febrl's, are left to the weights: a near name there is mostly a typo.)
            score = round(self.config.match_threshold - 0.01, 6)
            reason += (f"; {' and '.join(near)} only near ({self._pair_shown(near, a, b)}) "
                       "and no email or phone shared: held for a person")
        if against := self._against(a, b, sims):
            against, penalty = against
            score, reason = max(0.0, score - penalty), f"{reason}; {against}"
        return Scored(round(score, 6), "weights", reason, total)

    def _misspelt(self, a: Prepared, b: Prepared, swapped: frozenset[str]) -> bool:
        """The given names are a misspelling of one another: one keystroke apart (a
        letter wrong, missing or extra, two swapped: Ned and Nec) where neither is a
        name the nickname table knows, two where one is and the other is not (Lily
        and Livyl). Two names it knows (Jon and Jan, Paul and Paula) are two people's
        names however close; Javier and Xaver, two keystrokes and neither known, may
        be too."""
        first, last = self.name_pair
        mine = a.values.get(last if first in swapped else first)
        theirs = b.values.get(first)
        if mine is None or theirs is None or self.kinds[first] != "name" \
                or other_form(mine[0], theirs[0]):  # Jan and Jana: two people's names
            return False
        known = known_given(mine) + known_given(theirs)
        return known < 2 and keystrokes(mine[0], theirs[0]) <= (2 if known else 1)

    def _pair_shown(self, names: Iterable[str], a: Prepared, b: Prepared) -> str:
        return ", ".join(f"{self._as_read(a.person.fields, n)!r} vs "
                         f"{self._as_read(b.person.fields, n)!r}" for n in names)

    def _unsafe(self, levels: Mapping[str, Level], a: Prepared, b: Prepared,
                alone: Callable[[], bool]) -> bool:
        """Where summed weights would merge two people a CRM holds apart:

        - neither name agrees (colleagues share the office's address, company and
          switchboard; a shared info@ mailbox its domain), unless one is missing and
          the other one typo away, with the house below;
        - nothing agrees but the names and the place (a namesake in the same town),
          unless both names and the postcode agree (or it is one typo off in a town
          that agrees) and no other record compared bears that name (``alone``): a
          namesake at one postcode is then not in the CRM to be confused with. At
          another house too (people move within their town, or give another address
          of theirs), unless both carry a phone or an employer, which would tell
          two namesakes apart, and none of them agrees (a second personal mailbox
          does not: one person signs up from two, and the record holds whichever
          came first);
        - one name differs (a relative, or a typo beyond recognition) or is missing,
          when both carry an email, a company or an employer domain (what tells a
          relative or a colleague apart in a CRM), or unless the address agrees
          strongly (``STRONG_ADDRESS``: the house, not the town; for a missing
          name, ``NUMBER_IN_TOWN`` when a side has no street name);
        - one name is only near (Seán and Susan: a typo, or a relative's other name)
          when both carry an email, a company or an employer domain and none of
          those nor the phone agrees: a family shares an address, not a job.
        A role mailbox (info@) is no personal mailbox: it never counts either way."""
        names = [levels.get(n) for n in self.name_pair]
        if "agree" not in names and not (None in names and "neutral" in names):
            return True
        if self._namesake_guarded(levels):
            return not (all(level == "agree" for level in names)
                        and self._same_postcode(levels)
                        and (not self._moved(levels) or not self._told_apart(levels))
                        and alone())
        if all(level == "agree" for level in names):
            return False
        identity = [levels[n] for n in self._identity_fields if n in levels]
        if "differ" in names or None in names:
            if identity:
                return True
            return not (any(all(self._place_agrees(levels, n) for n in group)
                            for group in STRONG_ADDRESS)
                        or ("differ" not in names and "street" not in levels
                            and all(self._place_agrees(levels, n) for n in NUMBER_IN_TOWN)))
        personal = identity + [levels[n] for n in self._phone_fields if n in levels]
        return bool(identity) and "agree" not in personal

    def _place_agrees(self, levels: Mapping[str, Level], name: str) -> bool:
        """A field of the address agrees; a postcode one typo off counts in a town that
        agrees (``_same_postcode``): 2202 for 2220 in Newcastle is the same place."""
        if name == "postal_code":
            return self._same_postcode(levels)
        return levels.get(name) == "agree"

    @staticmethod
    def _same_postcode(levels: Mapping[str, Level]) -> bool:
        """The postcode agrees, or is one typo off (neutral) in a town that agrees."""
        postcode = levels.get("postal_code")
        return postcode == "agree" or (postcode == "neutral" and levels.get("city") == "agree")

    @staticmethod
    def _moved(levels: Mapping[str, Level]) -> bool:
        """The street, house number or second line differs: another house."""
        return any(levels.get(n) == "differ" for n in HOUSE)

    def _told_apart(self, levels: Mapping[str, Level]) -> bool:
        """Both records carry a phone or employer (none of which agrees, or the pair
        would not be a namesake's): what tells two namesakes apart is there to
        compare, and differs. Not a mailbox: people have two, and which one the
        record holds depends on which sign-up came first."""
        return any(n in levels for n in self._namesakes_apart)

    def _namesake_guarded(self, levels: Mapping[str, Level]) -> bool:
        """Nothing agrees but the names and the place."""
        return not any(level == "agree" for n, level in levels.items()
                       if n not in self.name_pair and n not in PLACE)

    def _as_read(self, fields: Mapping[str, Any], name: str) -> Any:
        """A record's value as a reason shows it: of a street on lines of its own, the
        line compared as the street or as the second line (where ``prepare`` splits
        it: ``address_2`` compared, the record without one of its own)."""
        value = fields.get(name)
        if self._second_line and name in ADDRESS_LINES and not fields.get("address_2") \
                and (lines := street_lines(fields.get("street"))):
            return lines[0] if name == "street" else lines[1]
        return value

    def _shown(self, name: str, b: Prepared) -> str:
        """The record's value of an agreeing field as a rep reads it (names, streets);
        codes and flags go by their name alone."""
        if self.kinds[name] not in ("name", "surname", "text", "company"):
            return ""
        return f"{self._as_read(b.person.fields, name)!r} "

    def evidence(self, a: Prepared, b: Prepared,
                 sims: dict[str, float | None] | None = None) -> float:
        """Summed weights of every field both records carry: Fellegi-Sunter's
        match weight, what orders candidates a rule scores alike."""
        sims = {} if sims is None else sims
        return sum(self._weight(name, self._sim(name, a, b, sims))
                   for name in a.values.keys() & b.values.keys())

    def same_address(self, a: Prepared, b: Prepared) -> bool:
        """Both carry the same personal mailbox (after normalising): the one kind of
        match that may speak for the record's identity (name, email, owner)."""
        return any(a.values.get(n) is not None and a.values.get(n) == b.values.get(n)
                   for n in self._email_fields)

    def _against(self, a: Prepared, b: Prepared,
                 sims: dict[str, float | None]) -> tuple[str, float] | None:
        """What in the two records' own contact details counts against a match by name,
        as one reason and the summed penalty (each kind of evidence once):

        - two employers' email domains: two jobs or two people;
        - two personal mailboxes at one employer's domain: namesakes there at least as
          often as one person with two addresses;
        - two direct phones, when the employer agrees (company or domain): at one
          company a number is a person's own line, and namesakes there have two. Not
          at a home address, where a landline and a mobile say little.
        Each is a reason to ask a person; together they say two people. Free mail
        and shared mailboxes (info@) say nothing either way."""
        found: list[tuple[str, float]] = []
        config = self.config
        for name in self._email_fields:
            left, right = a.values.get(name), b.values.get(name)
            if left is None or right is None or left == right:
                continue
            domains = left.rpartition("@")[2], right.rpartition("@")[2]
            if set(domains) & FREE_MAIL:
                continue
            if domains[0] != domains[1]:
                found.append((f"work email domains differ ({domains[0]} vs {domains[1]})",
                              config.work_email_differs_penalty))
            elif config.two_mailboxes_penalty:
                found.append((f"two mailboxes at {domains[0]}", config.two_mailboxes_penalty))
            break
        if config.phones_differ_penalty and any(
                self.level(n, self._sim(n, a, b, sims)) == "agree" for n in self._employer):
            for name in self._phone_fields:
                if self.level(name, self._sim(name, a, b, sims)) == "differ":
                    found.append((f"phones differ ({_shown_phone(a, name)} vs "
                                  f"{_shown_phone(b, name)})", config.phones_differ_penalty))
                    break
        found = [(why, penalty) for why, penalty in found if penalty]
        if not found:
            return None
        return ("; ".join(f"{why} (-{penalty:.2f})" for why, penalty in found),
                round(sum(penalty for _, penalty in found), 6))

    def _sim(self, name: str, a: Prepared, b: Prepared,
             sims: dict[str, float | None]) -> float | None:
        if name not in sims:
            sims[name] = self.similarity(name, a, b)
        return sims[name]

    def _holds(self, rule: MatchRule, a: Prepared, b: Prepared,
               sims: dict[str, float | None]) -> bool:
        agree = self.agree
        if rule.all_must_agree:
            for name in rule.fields:
                value = self._sim(name, a, b, sims)
                if value is None or value < agree[name]:
                    return False
        else:
            spare = len(rule.fields) - (rule.at_least or 0)  # fields that may disagree
            total = 0.0
            for name in rule.fields:
                value = self._sim(name, a, b, sims)
                if value is None or value < agree[name]:
                    spare -= 1
                    if spare < 0:
                        return False
                total += self._weight(name, value)
            if rule.min_weight is not None and total < rule.min_weight:
                return False
        if rule.require_one_of and not any(
                all((v := self._sim(n, a, b, sims)) is not None and v >= agree[n] for n in group)
                for group in rule.require_one_of):
            return False
        for group in rule.vetoes:  # present on both sides and differing
            if all((v := self._sim(n, a, b, sims)) is not None and v < self.differ[n]
                   for n in group):
                return False
        return True

    def _swap_note(self, swapped: frozenset[str], fields: Iterable[str]) -> str:
        named = swapped & set(fields)
        return "".join(note for pair, note in ((self.name_pair, ", names swapped"),
                                               (ADDRESS_LINES, ", address lines swapped"))
                       if named & set(pair))

    def _reason(self, rule: MatchRule, a: Prepared, b: Prepared,
                sims: dict[str, float | None], swapped: frozenset[str]) -> str:
        shown = []
        levels = {n: self.level(n, sims.get(n)) for n in rule.fields}
        agreeing = [n for n in rule.fields if levels[n] == "agree"]
        for name in agreeing:
            mine = self._partner[name] if name in swapped else name  # a's last with b's first
            left, right = self._as_read(a.person.fields, mine), self._as_read(b.person.fields, name)
            if name == "domain":
                left = left or a.person.fields.get("email")
                right = right or b.person.fields.get("email")
            same = sims[name] == 1.0 and str(left).strip().lower() == str(right).strip().lower()
            value = f"{left!r}" if same else f"{left!r}~{right!r}"
            shown.append(f"{name} {value} {sims[name]:.2f}")
        note = self._swap_note(swapped, rule.fields)
        count = ""
        if not rule.all_must_agree:
            count = f" ({len(agreeing)} of {len(rule.fields)} agree"
            if rule.min_weight is not None:
                total = sum(self._weight(n, sims.get(n)) for n in rule.fields)
                count += f", weight {total:.1f} of {rule.min_weight:g} needed"
            count += ")"
            for level in ("differ", "neutral"):
                if named := [n for n in rule.fields if levels[n] == level]:
                    note += f"; {'differ' if level == 'differ' else 'neutral'}: " + \
                        ", ".join(named)
        return f"rule {rule.name}{count}: " + "; ".join(shown) + note

    # -- decide ----------------------------------------------------------------
    def _same_name(self, a: Prepared, b: Prepared) -> bool:
        """Both names agree, as they stand or swapped."""
        if not self._swappable:
            return False
        sims, _ = self._names(a, b)
        return all(sims[n] is not None and sims[n] >= self.agree[n]  # type: ignore[operator]
                   for n in self.name_pair)

    def decide(self, incoming: Prepared, candidates: Iterable[Prepared], *,
               common_name: bool = False, ruled_out: Sequence[Prepared] = ()
               ) -> MatchDecision:
        """The best candidate: a match before a review, and among matches a rule's
        before the weights' (a rule is sure of its house; the weights may favour a
        namesake elsewhere); then by score, by the weight of all the evidence (a
        closer namesake before a farther one), and only then by record kind.
        ``common_name``: the lead's name is held by more records than were fetched
        (its name key was crowded), so the candidates cannot tell it is alone.
        ``ruled_out``: records a person said are someone else; not candidates, but a
        namesake among them still means the name is not the lead's alone. (Only the
        closest records are compared, ``PER_LEAD``: a namesake beyond them is not
        seen, unless the name key is crowded.)"""
        others = [c for c in candidates if c.person.id != incoming.person.id]

        @cache
        def alone() -> bool:  # asked only where it decides
            if common_name:
                return False
            bearers = [c for c in [*others, *ruled_out] if self._same_name(incoming, c)]
            return len(bearers) - len(self._one_of(incoming, bearers)) <= 1

        scored = [(c.person, s) for c in others
                  if (s := self.score(incoming, c, alone=alone)).score
                  >= self.config.review_threshold]
        if not scored:
            return MatchDecision("none", 0.0, "no earlier record matches")
        threshold = self.config.match_threshold
        scored.sort(key=lambda ps: (below := ps[1].score < threshold,  # matches first;
                                    # of them a sure rule's before the weights'
                                    not below and ps[1].rule == "weights",
                                    -ps[1].score, -ps[1].weight,
                                    KIND_PREFERENCE.get(ps[0].kind, 9), ps[0].id))
        best, top = scored[0]
        outcome: Outcome = "match" if top.score >= self.config.match_threshold else "review"
        return MatchDecision(outcome, top.score, top.reason, best, scored[1:])

    def _one_of(self, incoming: Prepared, bearers: Sequence[Prepared]) -> list[Prepared]:
        """Leads of this run among the bearers of a name that are one of the CRM's
        bearers compared (they match it on their own, without the one-bearer rule:
        its house, its mailbox): one person, counted once. A run-mate told apart
        from ``incoming`` by a phone or an employer of its own is counted still: if
        it is that record, ``incoming`` is someone else. (A second mailbox is not
        enough to tell: one person signs up from two.)"""
        records = [c for c in bearers if c.person.kind not in RUN_KINDS]
        if not records:
            return []
        same = []
        for mate in bearers:
            if mate.person.kind not in RUN_KINDS:
                continue
            sims: dict[str, float | None] = {}
            if any(self.level(n, self._sim(n, incoming, mate, sims)) == "differ"
                   for n in self._namesakes_apart):
                continue
            if any(self._is(mate, r) for r in records):
                same.append(mate)
        return same

    def _is(self, mate: Prepared, record: Prepared) -> bool:
        """A run-mate is this CRM record: it matches it on its own, or by the one-bearer
        rule where nothing on it tells of another house than the record's."""
        threshold = self.config.match_threshold
        if self.score(mate, record).score >= threshold:
            return True
        sims: dict[str, float | None] = {}
        if self._moved({n: self.level(n, self._sim(n, mate, record, sims)) for n in HOUSE}):
            return False
        return self.score(mate, record, alone=lambda: True).score >= threshold


def street_lines(street: Any) -> tuple[str, str] | None:
    """A street written on lines of its own (Salesforce's Street, a textarea: "12 Main
    Street" then "Suite 400"): the first line, and the others as one second line; None
    for a one-line street."""
    if not isinstance(street, str) or "\n" not in street.strip():
        return None
    first, *rest = [line.strip() for line in street.strip().splitlines() if line.strip()]
    return first, ", ".join(rest)


def _shown_phone(side: Prepared, name: str) -> str:
    """A phone as the record holds it (the first of several)."""
    raw = side.person.fields.get(name)
    if isinstance(raw, (list, tuple)):
        raw = raw[0] if raw else None
    return str(raw)


def closest(blocks: Iterable[Sequence[T]], best: int = PER_LEAD,
            order: Callable[[T], Any] | None = None) -> list[T]:
    """The ``best`` items sharing the most evidence with an asker, given the blocks
    (the holders of each of its keys): each key counts one over its block's size,
    so a shared mailbox or phone (a block of one or two) outweighs a sound key
    held by dozens of namesakes, and many shared keys outweigh one. Ties go by
    ``order`` (default: the order items were first met)."""
    weight: dict[T, float] = {}
    for block in blocks:
        share = 1 / len(block)
        for item in block:
            weight[item] = weight.get(item, 0.0) + share
    if len(weight) <= best:
        return list(weight)
    if order is None:
        first = {item: at for at, item in enumerate(weight)}
        order = first.__getitem__
    return sorted(weight, key=lambda i: (-weight[i], order(i)))[:best]


class Index:
    """Records by blocking key, for the link table and the leads of one run.

    The leads of a run stay here until its end, so it holds little for each: a key
    only one record carries (most of a lead's twenty-odd: its mailbox, its phone,
    its street and number) names that record alone, not a list of one; a list is
    made once a second record shares the key (issue 18: 100,000 leads)."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self._by_key: dict[str, Prepared | list[Prepared]] = {}

    def add(self, prepared: Prepared, keys: Iterable[str] | None = None) -> None:
        """``keys``: the record's blocking keys when the caller made them already, so
        ``prepared`` need not carry its own set of them (each is a string the index
        holds already)."""
        by_key = self._by_key
        for key in self.matcher.keys(prepared) if keys is None else keys:
            held = by_key.get(key)
            if held is None:
                by_key[key] = prepared
            elif isinstance(held, list):
                held.append(prepared)
            else:
                by_key[key] = [held, prepared]

    def _block(self, key: str) -> Sequence[Prepared]:
        held = self._by_key.get(key)
        return () if held is None else held if isinstance(held, list) else (held,)

    def discard(self, prepared: Prepared) -> None:
        """Take out the records of ``prepared``'s person (by id): a lead of the run
        placed again is no candidate of its own, nor its run-mates' as it was."""
        for key in self.matcher.keys(prepared):
            if key not in self._by_key:
                continue
            block = [p for p in self._block(key) if p.person.id != prepared.person.id]
            if not block:
                del self._by_key[key]
            else:
                self._by_key[key] = block[0] if len(block) == 1 else block

    def candidates(self, prepared: Prepared) -> list[Prepared]:
        """The records closest to this one (``closest``) among those sharing a key;
        a key more than ``BLOCK_CAP`` records share is skipped (a run of 3,000 leads
        at one company is not compared pairwise on "company + initial": their other
        keys still meet). Returned in the order they were added (deterministic)."""
        by_id: dict[int, Prepared] = {}
        blocks = []
        for key in sorted(self.matcher.keys(prepared)):
            block = self._block(key)
            if block and len(block) <= BLOCK_CAP:
                blocks.append([id(other) for other in block])
                by_id.update((id(other), other) for other in block)
        added = {key: at for at, key in enumerate(by_id)}
        return [by_id[k] for k in sorted(closest(blocks), key=added.__getitem__)]


__all__ = ["Index", "MatchDecision", "Matcher", "MatchingConfig", "Person", "Prepared", "Scored",
           "closest"]

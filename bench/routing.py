"""Routing decisions: 100,000 leads through 50 territories and 200 reps.

    .venv/bin/python -m bench.routing            # 100,000 leads, figures recorded
    .venv/bin/python -m bench.routing --quick    # 10,000 leads, a smoke run

Measured twice over the same leads: ``Router.decide`` alone (the rules and the
rotation in memory), and ``Router.route_batch`` on a SQLite state store, which
is what a cycle calls: per batch one locked transaction that reads the
counters and the leads' earlier assignments, decides, then writes the moved
counters and one history row per lead. No CRM I/O in either. The recorded
``routing_decisions_per_s`` is the second, with the store, at the pipeline's
default batch size.

The config is built to make every rule work: territories on country, state,
postal prefixes and ranges, industry, employee and revenue bands, lead source
and score tier, most of them country-bound with a catch-all per region;
reps in a dozen time zones, a quarter with working hours, some away, daily
caps (every tenth rep 50 a day, which bites within the run), a slice of leads
carrying an account hint (a few of them to inactive owners), and leads from
countries no territory takes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import record
from connector.routing import AccountHint, Ledger, Router, RoutingInput, RoutingStore
from connector.routing.config import RoutingConfig

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday afternoon in Europe
SEED = 7
REPS, TERRITORIES = 200, 50
ZONES = ["Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York",
         "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo",
         "Asia/Singapore", "Australia/Sydney", "Asia/Kolkata", "UTC"]
COUNTRIES = ["US", "DE", "GB", "FR", "CA", "AT", "CH", "NL", "JP", "AU", "BR", "IN", "ES", "IT"]
INDUSTRIES = ["Technology", "Finance", "Healthcare", "Retail", "Manufacturing", "Education"]
SOURCES = ["Web", "Event", "Partner", "Webinar", "Referral"]
STATES = ["CA", "NY", "TX", "WA", "MA", "IL", "FL", "CO"]


def build_config(rng: random.Random) -> dict[str, Any]:
    reps: dict[str, Any] = {}
    for i in range(REPS):
        rep: dict[str, Any] = {"id": f"005{i:015d}", "name": f"Rep {i}",
                               "timezone": ZONES[i % len(ZONES)],
                               "daily_cap": 2000 if i % 10 else 50}
        if i % 4 == 0:
            rep["hours"] = "08:00-18:00"
        if i % 23 == 0:
            rep["away"] = [{"until": "2026-12-01"}]
        reps[f"r{i}"] = rep
    pools = {f"p{t}": {"reps": {f"r{t * 4 + k}": 1 + (t + k) % 3 for k in range(4)}}
             for t in range(TERRITORIES)}
    territories: list[dict[str, Any]] = []
    for t in range(TERRITORIES - 6):
        country = COUNTRIES[t % len(COUNTRIES)]
        rule: dict[str, Any] = {"name": f"T{t:02d}-{country}", "pool": f"p{t}",
                                "country": [country]}
        kind = t % 6
        if kind == 0 and country == "US":
            rule["state"] = STATES[(t // 6) % len(STATES):(t // 6) % len(STATES) + 2]
        elif kind == 1:
            rule["postal_code"] = [f"{t % 9 + 1}*", f"{(t + 3) % 9 + 1}0000..{(t + 3) % 9 + 1}4999"]
        elif kind == 2:
            rule["industry"] = INDUSTRIES[t % len(INDUSTRIES):t % len(INDUSTRIES) + 2]
        elif kind == 3:
            rule["employees"] = {"min": 500}
        elif kind == 4:
            rule["revenue"] = {"min": 5_000_000}
            rule["score_tier"] = ["hot"]
        else:
            rule["lead_source"] = SOURCES[t % len(SOURCES):t % len(SOURCES) + 2]
        territories.append(rule)
    regions = {"Americas": ["US", "CA", "BR"], "DACH": ["DE", "AT", "CH"],
               "Europe": ["GB", "FR", "NL", "ES", "IT"], "APAC": ["JP", "AU", "IN"],
               "Small business": [], "Everything else": []}
    for offset, (name, countries) in enumerate(regions.items()):
        rule = {"name": name, "pool": f"p{TERRITORIES - 6 + offset}"}
        if countries:
            rule["country"] = countries
        if name == "Small business":
            rule["employees"] = {"max": 49}
        if name != "Everything else":
            territories.append(rule)
    return {"fallback_owner": "00G000000000001", "score_tiers": {"hot": 80, "warm": 40},
            "reps": reps, "pools": pools, "territories": territories}


def build_leads(rng: random.Random, n: int) -> list[RoutingInput]:
    leads = []
    for i in range(n):
        country = rng.choice(COUNTRIES + ["MX", "ZA"])  # two countries no territory names
        fields = {"country": country, "state": rng.choice(STATES) if country == "US" else "",
                  "postal_code": f"{rng.randint(10000, 99999)}",
                  "industry": rng.choice(INDUSTRIES), "employees": rng.choice(
                      [5, 20, 60, 250, 800, 5000]), "annual_revenue": rng.choice(
                      [1e5, 1e6, 6e6, 5e7]), "lead_source": rng.choice(SOURCES),
                  "company": f"Company {i % 5000}", "email": f"p{i}@company{i % 5000}.example"}
        hint = None
        if i % 20 == 0:  # 5% belong to a known account; a few of their owners left
            owner = f"005{rng.randrange(REPS):015d}" if i % 100 else "005GONE0000000000"
            hint = AccountHint(owner, f"Company {i % 5000}", "email domain")
        leads.append(RoutingInput(f"lead-{i:06d}", round(rng.uniform(0, 100), 1), fields, hint))
    return leads


def measure(n: int, batch_size: int) -> dict[str, float]:
    rng = random.Random(SEED)
    config = RoutingConfig.model_validate(build_config(rng))
    assert len(config.reps) == REPS and len(config.pools) == TERRITORIES
    leads = build_leads(rng, n)
    active = {rep.id for rep in config.reps.values()} | {config.fallback_owner or ""}
    with tempfile.TemporaryDirectory() as folder:
        store = RoutingStore.from_url(f"sqlite:///{Path(folder)}/state.db")
        router = Router(config, store, lambda: NOW)
        # decisions alone: the rules and the rotation in memory
        ledger = Ledger()
        start = time.perf_counter()
        for at in range(0, n, batch_size):
            router.decide(leads[at:at + batch_size], ledger, {}, NOW, frozenset(active))
        pure = time.perf_counter() - start
        # what a cycle calls: a locked store transaction per batch
        rules: dict[str, int] = {}
        start = time.perf_counter()
        for at in range(0, n, batch_size):
            for decision in router.route_batch(leads[at:at + batch_size], active):
                rules[decision.value.rule] = rules.get(decision.value.rule, 0) + 1
        stored = time.perf_counter() - start
        store.close()
    return {"pure": n / pure, "stored": n / stored, "seconds": stored, **{
        f"rule_{k}": v for k, v in rules.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 leads, nothing recorded")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    runs = {size: measure(n, size) for size in (200, 1000)}
    default = runs[200]
    share = ", ".join(f"{k.removeprefix('rule_')} {v:,.0f}" for k, v in default.items()
                      if k.startswith("rule_"))
    lines = ["## Routing decisions (`bench/routing.py`)", "",
             f"{n:,} leads through {TERRITORIES} territories and {REPS} reps "
             "(pools of 4, weights 1-3, 12 time zones, a quarter with working hours, some "
             "away, daily caps of 2,000, and of 50 for every tenth rep); no CRM I/O. "
             "*decide* is `Router.decide` alone: rules and rotation in memory. "
             "*route_batch* is what a cycle calls: per batch one locked transaction on a "
             "SQLite state store reading the counters and earlier assignments, deciding, "
             "and writing the moved counters and one history row per lead.", "",
             "| batch size | decide leads/s | route_batch leads/s (with store) |",
             "| ---: | ---: | ---: |"]
    for size, m in runs.items():
        lines.append(f"| {size:,} | {m['pure']:,.0f} | {m['stored']:,.0f} |")
    lines += ["", f"Where the leads went (batch size 200): {share}.",
              "", f"`routing_decisions_per_s` = route_batch at batch size 200 (the default "
              f"`[sync] batch_size`): {default['stored']:,.0f} leads/s; target 20,000.",
              "", f"Command: `.venv/bin/python -m bench.routing{' --quick' if args.quick else ''}`"]
    print("\n".join(lines))
    if args.quick:
        print("quick run: figures not recorded")
        return
    record("routing", "\n".join(lines), {
        "routing_decisions_per_s": default["stored"],
        "routing_decide_only_per_s": default["pure"],
        "routing_decisions_per_s_batch_1000": runs[1000]["stored"],
    })


if __name__ == "__main__":
    main()

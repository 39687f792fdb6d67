"""Four assigners on one state store at once: no lead assigned twice, no cap passed,
and the rotation exactly as if one assigner had done it all (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from connector.records import Decision
from connector.routing import Assignment, Ledger, Router, RoutingInput, RoutingStore
from connector.routing.config import RoutingConfig
from connector.routing.pool import CompiledPool, pick, views
from connector.routing.store import HISTORY

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ASSIGNERS, BATCHES, PER_BATCH = 4, 5, 4
CONFIG = RoutingConfig.model_validate({
    "fallback_owner": "QUEUE",
    "reps": {"a": {"id": "A", "daily_cap": 30}, "b": {"id": "B", "daily_cap": 20},
             "c": {"id": "C", "daily_cap": 10}},
    "pools": {"p": {"reps": {"a": 3, "b": 2, "c": 1}}},
    "territories": [{"name": "All", "pool": "p"}],
})


def lead(name: str) -> RoutingInput:
    return RoutingInput(name, 50, {"country": "DE"})


def reference(n: int) -> tuple[list[str], Ledger]:
    """The owners one assigner alone would hand out, in order, and its counters after."""
    ledger = Ledger()
    pool = CompiledPool.of("p", CONFIG.pools["p"].weights(), CONFIG)
    reps = views(CONFIG, NOW, None, ledger)
    picked = [m.member.id for m in (pick(pool, reps, ledger) for _ in range(n)) if m.member]
    return picked, ledger


def test_four_assigners_share_one_pool(db_url: str) -> None:
    barrier = threading.Barrier(ASSIGNERS)
    results: dict[int, list[tuple[str, Decision[Assignment]]]] = {}
    failures: list[BaseException] = []

    def assigner(number: int) -> None:
        try:
            store = RoutingStore.from_url(db_url)  # its own engine and connections
            router = Router(CONFIG, store, lambda: NOW)
            barrier.wait(timeout=30)
            mine: list[tuple[str, Decision[Assignment]]] = []
            for batch in range(BATCHES):
                # its own leads, plus one lead every assigner routes at about the same time
                names = [f"T{number}-{batch}-{i}" for i in range(PER_BATCH)] + [f"S{batch}"]
                for item, decision in zip(names, router.route_batch([lead(n) for n in names]),
                                          strict=True):
                    mine.append((item, decision))
            results[number] = mine
            store.close()
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=assigner, args=(n,)) for n in range(ASSIGNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(results) == ASSIGNERS

    store = RoutingStore.from_url(db_url)
    with store.engine.connect() as conn:
        rows = list(conn.execute(select(HISTORY).order_by(HISTORY.c.id)))
    store.close()

    unique = ASSIGNERS * BATCHES * PER_BATCH + BATCHES
    # no double assignment: one history row per lead, and every assigner saw that owner
    assert Counter(r.lead_id for r in rows) == Counter({r.lead_id: 1 for r in rows})
    assert len(rows) == unique
    owner = {r.lead_id: r.owner_id for r in rows}
    for mine in results.values():
        for item, decision in mine:
            assert decision.value.owner_id == owner[item], (item, decision)
    shared = [d.value.rule for mine in results.values() for item, d in mine
              if item.startswith("S")]
    assert shared.count("kept") == BATCHES * (ASSIGNERS - 1)

    # no cap passed, the overflow went to the fallback
    counts = Counter(owner.values())
    assert counts == {"A": 30, "B": 20, "C": 10, "QUEUE": unique - 60}
    # no skew: the picks in commit order are exactly one assigner's rotation
    picks = [r.owner_id for r in rows if r.rule == "territory"]
    alone, ledger = reference(unique)
    assert picks == alone
    rotation = RoutingStore.from_url(db_url).rotation()
    assert rotation == {key: (ledger.rotation[key], ledger.assigned[key])
                        for key in ledger.rotation}
    assert {key: n for key, (_, n) in rotation.items()} == {("p", "A"): 30, ("p", "B"): 20,
                                                            ("p", "C"): 10}

"""The router over its store (SQLite and PostgreSQL): rules in order, reasons, history,
restarts, re-routing, away periods, dry runs. Time is a frozen, settable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.routing import (
    AccountHint,
    AccountIndex,
    KnownAccount,
    Router,
    RoutingInput,
    RoutingStore,
    UnknownRep,
)
from connector.routing.config import RoutingConfig

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday; 11:00 in Berlin


class FrozenClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def lead(n: int, score: float | None = 50, account: AccountHint | None = None,
         **fields: Any) -> RoutingInput:
    """The one helper that builds a lead to route (German by default)."""
    return RoutingInput(f"L{n}", score, {"country": "DE", **fields}, account)


CONFIG: dict[str, Any] = {
    "fallback_owner": "Q-FALLBACK",
    "score_tiers": {"hot": 80, "warm": 40},
    "reps": {
        "anna": {"id": "U-ANNA", "name": "Anna", "timezone": "Europe/Berlin",
                 "away": [{"until": "2026-12-01"}]},
        "ben": {"id": "U-BEN", "name": "Ben", "timezone": "Europe/Berlin"},
        "carla": {"id": "U-CARLA", "name": "Carla", "timezone": "Europe/Berlin"},
        "dora": {"id": "U-DORA", "name": "Dora", "timezone": "Europe/Berlin"},
        "emil": {"id": "U-EMIL", "name": "Emil", "timezone": "Europe/Berlin"},
        "hank": {"id": "U-HANK", "name": "Hank", "timezone": "America/New_York",
                 "hours": "09:00-17:00"},
        "ines": {"id": "U-INES", "name": "Ines"},
    },
    "pools": {
        "dach": {"reps": {"anna": 1, "ben": 1, "carla": 2, "dora": 1, "emil": 1}},
        "us": {"reps": ["hank"]},
        "emea": {"reps": ["ines"]},
    },
    "territories": [
        {"name": "EMEA-DACH", "pool": "dach", "country": ["DE", "AT", "CH"]},
        {"name": "US", "pool": "us", "country": ["US"]},
        {"name": "EMEA", "pool": "emea", "country": ["DE", "FR", "US"]},
    ],
}
ALL_ACTIVE = {rep["id"] for rep in CONFIG["reps"].values()} | {"U-ACCT", "Q-FALLBACK"}


def make_router(url: str, clock: FrozenClock | None = None, **overrides: Any) -> Router:
    config = RoutingConfig.model_validate({**CONFIG, **overrides})
    return Router(config, RoutingStore.from_url(url), clock or FrozenClock(),
                  owner_names={"U-ACCT": "Olga Owner", "Q-FALLBACK": "Unassigned queue"})


def test_the_issues_reason_example(db_url: str) -> None:
    router = make_router(db_url)
    [decision] = router.route_batch([lead(1)], ALL_ACTIVE)
    assert decision.value.owner_id == "U-CARLA"
    assert decision.reason == ("territory EMEA-DACH, round-robin 3/5, weight 2, "
                               "Anna away until 2026-12-01 skipped")
    [row] = router.store.history("L1")
    assert (row.owner_id, row.rule, row.territory, row.pool, row.reason, row.at) == (
        "U-CARLA", "territory", "EMEA-DACH", "dach", decision.reason, NOW)


ACCOUNT = AccountHint("U-ACCT", "Acme GmbH", "email domain acme.de")
RULES = [
    # lead, active owners, owner, rule, reason
    (lead(1, account=ACCOUNT), ALL_ACTIVE, "U-ACCT", "account",
     "account Acme GmbH (email domain acme.de), owner Olga Owner"),
    (lead(2, account=ACCOUNT), ALL_ACTIVE - {"U-ACCT"}, "U-CARLA", "territory",
     "account Acme GmbH (email domain acme.de): owner Olga Owner inactive in CRM, passed on; "
     "territory EMEA-DACH, round-robin 3/5, weight 2, Anna away until 2026-12-01 skipped"),
    (lead(3, account=AccountHint("U-ANNA", "Anna's Acc", "contact on account")), ALL_ACTIVE,
     "U-CARLA", "territory",
     "account Anna's Acc (contact on account): owner Anna away until 2026-12-01, passed on; "
     "territory EMEA-DACH, round-robin 3/5, weight 2, Anna away until 2026-12-01 skipped"),
    # account owners keep their accounts off hours (Hank: 05:00 in New York)
    (lead(4, account=AccountHint("U-HANK", "Initech", "company name")), ALL_ACTIVE,
     "U-HANK", "account", "account Initech (company name), owner Hank"),
    (lead(5, country="FR"), ALL_ACTIVE, "U-INES", "territory",
     "territory EMEA, round-robin 1/1, weight 1"),
    # US pool off hours: overflow to the next territory that matches
    (lead(6, country="US"), ALL_ACTIVE, "U-INES", "territory",
     "territory US: nobody available in pool us (Hank off hours (Wed 05:00 America/New_York)); "
     "territory EMEA, round-robin 1/1, weight 1"),
    (lead(7, country="JP"), ALL_ACTIVE, "Q-FALLBACK", "fallback",
     "fallback Unassigned queue: no territory matched"),
    (lead(8, country="US"), ALL_ACTIVE - {"U-INES"}, "Q-FALLBACK", "fallback",
     "fallback Unassigned queue: territory US: nobody available in pool us (Hank off hours "
     "(Wed 05:00 America/New_York)); territory EMEA: nobody available in pool emea (Ines "
     "inactive in CRM)"),
]


@pytest.mark.parametrize(("item", "active", "owner", "rule", "reason"), RULES)
def test_rules_in_order(tmp_path: Any, item: RoutingInput, active: set[str], owner: str,
                        rule: str, reason: str) -> None:
    router = make_router(f"sqlite:///{tmp_path}/state.db")
    [decision] = router.route_batch([item], active)
    assert (decision.value.owner_id, decision.value.rule, decision.reason) == (owner, rule, reason)
    assert (decision.value.warning == reason) is (rule == "fallback")


def test_no_fallback_configured_leaves_the_crm_default_with_a_warning(tmp_path: Any) -> None:
    router = make_router(f"sqlite:///{tmp_path}/s.db", fallback_owner=None)
    [decision] = router.route_batch([lead(1, country="JP")], ALL_ACTIVE)
    assert decision.value.owner_id is None and decision.value.rule == "none"
    assert decision.value.warning == decision.reason
    assert decision.reason.startswith("unrouted: no territory matched; no fallback_owner")


def test_account_rule_can_be_turned_off_and_matches_by_domain(tmp_path: Any) -> None:
    accounts = AccountIndex([KnownAccount("Acme GmbH", "acme.de", "U-ACCT")])
    router = make_router(f"sqlite:///{tmp_path}/s.db")
    [by_domain] = router.route_batch([lead(1, email="kim@acme.de")], ALL_ACTIVE,
                                     accounts=accounts)
    assert by_domain.value.owner_id == "U-ACCT"
    assert by_domain.reason == "account Acme GmbH (email domain acme.de), owner Olga Owner"
    off = make_router(f"sqlite:///{tmp_path}/t.db", account_owner=False)
    [ignored] = off.route_batch([lead(1, email="kim@acme.de", account=ACCOUNT)], ALL_ACTIVE,
                                accounts=accounts)
    assert ignored.value.rule == "territory"


CUSTOMER = AccountHint("U-ACCT", "Acme GmbH", "email domain acme.de",
                       customer="Type = Customer - Direct")
EXPANSION_TO_OWNER = {"account_field": "Type", "customer_values": ["Customer - Direct"]}


def test_a_customers_lead_is_expansion_before_any_other_rule(tmp_path: Any) -> None:
    # to the account owner, even with the account rule turned off
    router = make_router(f"sqlite:///{tmp_path}/a.db", account_owner=False,
                         expansion=EXPANSION_TO_OWNER)
    [owned, prospect] = router.route_batch([lead(1, account=CUSTOMER),
                                            lead(2, account=ACCOUNT)], ALL_ACTIVE)
    assert (owned.value.owner_id, owned.value.rule, owned.reason) == (
        "U-ACCT", "expansion", "expansion: account Acme GmbH is a customer "
        "(Type = Customer - Direct), owner Olga Owner")
    assert prospect.value.rule == "territory"  # not a customer; the account rule is off
    # an inactive account owner passes the lead on, saying why
    [passed] = router.route_batch([lead(3, account=CUSTOMER)], ALL_ACTIVE - {"U-ACCT"})
    assert passed.value.rule == "territory" and passed.reason.startswith(
        "expansion: account Acme GmbH is a customer (Type = Customer - Direct): owner Olga "
        "Owner inactive in CRM, passed on; territory EMEA-DACH")
    # a customer account without an owner: the other rules, saying why
    ownerless = AccountHint("", "Globex", "company name", customer="Type = Customer - Direct")
    [nobody] = router.route_batch([lead(5, account=ownerless)], ALL_ACTIVE)
    assert nobody.value.rule == "territory" and nobody.reason.startswith(
        "expansion: account Globex is a customer (Type = Customer - Direct): it has no "
        "owner, passed on; territory EMEA-DACH")
    # or to a pool that works expansion, by its round-robin
    pooled = make_router(f"sqlite:///{tmp_path}/b.db",
                         expansion={**EXPANSION_TO_OWNER, "to": "emea"})
    [to_pool] = pooled.route_batch([lead(4, account=CUSTOMER)], ALL_ACTIVE)
    assert (to_pool.value.owner_id, to_pool.value.rule, to_pool.value.pool) == (
        "U-INES", "expansion", "emea")
    assert to_pool.reason.endswith("is a customer (Type = Customer - Direct), pool emea, "
                                   "round-robin 1/1, weight 1")


def test_the_expansion_pool_must_exist() -> None:
    with pytest.raises(ValueError, match="'expansio' is neither \"account_owner\" nor a pool"):
        RoutingConfig.model_validate({**CONFIG, "expansion": {**EXPANSION_TO_OWNER,
                                                              "to": "expansio"}})


def test_restart_continues_the_rotation(db_url: str, tmp_path: Any) -> None:
    """Routing 12 leads in one go, or 5, a restart (new store, new router), then 7, gives
    every lead the same owner: the rotation lives in the store."""
    reference = make_router(f"sqlite:///{tmp_path}/reference.db")
    expected = [d.value.owner_id for d in reference.route_batch([lead(i) for i in range(12)])]
    assert len(set(expected)) == 4  # Anna is away: four reps share

    first = make_router(db_url)
    got = [d.value.owner_id for d in first.route_batch([lead(i) for i in range(5)])]
    first.store.close()
    second = make_router(db_url)
    got += [d.value.owner_id for d in second.route_batch([lead(i) for i in range(5, 12)])]
    assert got == expected
    rotation = second.store.rotation()
    assert rotation[("dach", "U-CARLA")][1] == expected.count("U-CARLA")


def test_a_lead_is_never_assigned_twice(db_url: str) -> None:
    router = make_router(db_url)
    first = router.route_batch([lead(1), lead(2), lead(1)])
    assert first[2].value.rule == "kept" and first[2].value.owner_id == first[0].value.owner_id
    again = make_router(db_url).route_batch([lead(2), lead(3)])
    assert again[0].value.rule == "kept"
    assert again[0].value.owner_id == first[1].value.owner_id
    assert again[0].reason.startswith("kept: assigned to ")
    assert again[1].value.rule == "territory"
    assert [len(router.store.history(f"L{i}")) for i in (1, 2, 3)] == [1, 1, 1]
    assert sum(n for _, n in router.store.rotation().values()) == 3


def test_highest_scores_get_the_reps_when_caps_bite(tmp_path: Any) -> None:
    reps = {"ines": {"id": "U-INES", "name": "Ines", "daily_cap": 2}}
    router = make_router(f"sqlite:///{tmp_path}/s.db", reps={**CONFIG["reps"], **reps})
    batch = [lead(1, 10, country="FR"), lead(2, 95, country="FR"), lead(3, None, country="FR"),
             lead(4, 60, country="FR")]
    decisions = router.route_batch(batch, ALL_ACTIVE)
    assert [d.value.owner_id for d in decisions] == ["Q-FALLBACK", "U-INES", "Q-FALLBACK",
                                                     "U-INES"]
    assert "Ines at daily cap 2" in decisions[0].reason
    # the next day the cap has room again (her day, in her zone: UTC)
    router.clock.now = NOW + timedelta(days=1)  # type: ignore[attr-defined]
    [next_day] = router.route_batch([lead(5, country="FR")], ALL_ACTIVE)
    assert next_day.value.owner_id == "U-INES"


def test_reroute_goes_to_the_next_rep_and_keeps_the_history(db_url: str) -> None:
    router = make_router(db_url)
    [first] = router.route_batch([lead(1)], ALL_ACTIVE)
    assert first.value.owner_id == "U-CARLA"
    moved = router.reroute(lead(1), "U-CARLA", ALL_ACTIVE)
    assert moved.value.owner_id == "U-BEN" and moved.value.rerouted_from == "U-CARLA"
    assert moved.reason == ("rerouted from Carla (not followed up in time): territory "
                            "EMEA-DACH, round-robin 2/5, weight 1, Anna away until 2026-12-01 "
                            "skipped, Carla (current owner) skipped")
    history = router.store.history("L1")
    assert [(h.owner_id, h.rerouted_from) for h in history] == [("U-CARLA", None),
                                                                ("U-BEN", "U-CARLA")]
    # a lead that went to its account owner is re-routed through the territories
    router.route_batch([lead(2, account=ACCOUNT)], ALL_ACTIVE)
    again = router.reroute(lead(2, account=ACCOUNT), "U-ACCT", ALL_ACTIVE, why="SLA breached")
    assert again.value.rule == "territory"
    assert again.reason.startswith("rerouted from Olga Owner (SLA breached): territory EMEA-DACH")
    # a pool of one has nobody else: the next territory, then the fallback
    router.route_batch([lead(3, country="FR")], ALL_ACTIVE)
    alone = router.reroute(lead(3, country="FR"), "U-INES", ALL_ACTIVE)
    assert alone.value.owner_id == "Q-FALLBACK"
    assert "Ines (current owner)" in alone.reason and alone.value.warning


def test_dry_run_decides_the_same_and_moves_nothing(db_url: str) -> None:
    router = make_router(db_url)
    dry = router.route_batch([lead(i) for i in range(4)], ALL_ACTIVE, dry_run=True)
    assert router.store.rotation() == {} and router.store.history("L0") == []
    real = router.route_batch([lead(i) for i in range(4)], ALL_ACTIVE)
    assert [d.value for d in dry] == [d.value for d in real]


def test_away_from_the_command_line_then_back(db_url: str) -> None:
    clock = FrozenClock()
    router = make_router(db_url, clock)
    assert router.set_away("carla", date(2026, 11, 27), reason="offsite") == "carla"
    [d] = router.route_batch([lead(1)], ALL_ACTIVE)
    assert "Carla away until 2026-11-27 (offsite) skipped" in d.reason
    assert d.value.owner_id != "U-CARLA"
    clock.now = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)  # 23:59 on the 27th in Berlin
    [d] = router.route_batch([lead(2)], ALL_ACTIVE)
    assert "Carla away" in d.reason
    clock.now = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # the 28th in Berlin: back
    [d] = router.route_batch([lead(3)], ALL_ACTIVE)
    assert "Carla away" not in d.reason
    router.set_away("U-BEN", date(2026, 12, 31))
    key, cleared, still = router.set_back("Ben")
    assert (key, cleared, still) == ("ben", 1, None)
    assert router.set_back("anna") == ("anna", 0, "Anna away until 2026-12-01")
    with pytest.raises(ValueError, match="in the past"):
        router.set_away("ben", date(2026, 11, 1))
    with pytest.raises(UnknownRep, match="no rep 'zoe'"):
        router.set_away("zoe", date(2026, 12, 1))


def test_status_shows_load_caps_and_availability(db_url: str) -> None:
    reps = {**CONFIG["reps"], "ines": {"id": "U-INES", "name": "Ines", "daily_cap": 1}}
    router = make_router(db_url, reps=reps)
    router.route_batch([lead(1, country="FR")], ALL_ACTIVE)
    status = {s.key: s for s in router.status(ALL_ACTIVE)}
    assert (status["ines"].today, status["ines"].week, status["ines"].status) == (
        1, 1, "Ines at daily cap 1")
    assert status["anna"].status == "Anna away until 2026-12-01"
    assert status["hank"].status.startswith("Hank off hours")
    assert status["carla"].pools == {"dach": 2} and status["carla"].status == "available"


def test_instances_taking_turns_see_each_others_counters(db_url: str, tmp_path: Any) -> None:
    """A store reuses its own last counters only while nobody else wrote in between:
    two routers alternating batches (with a dry run and an away period set in the
    middle) hand out exactly what one router alone would."""
    reference = make_router(f"sqlite:///{tmp_path}/reference.db")
    expected = [d.value.owner_id for d in reference.route_batch([lead(i) for i in range(3)])]
    reference.set_away("ben", date(2026, 11, 30))
    expected += [d.value.owner_id for d in reference.route_batch([lead(i) for i in range(3, 9)])]

    one, two = make_router(db_url), make_router(db_url)
    got = [d.value.owner_id for d in one.route_batch([lead(0), lead(1)])]
    got += [d.value.owner_id for d in two.route_batch([lead(2)])]
    two.set_away("ben", date(2026, 11, 30))
    one.route_batch([lead(3), lead(4)], dry_run=True)
    got += [d.value.owner_id for d in one.route_batch([lead(3), lead(4)])]
    got += [d.value.owner_id for d in one.route_batch([lead(5)])]
    got += [d.value.owner_id for d in two.route_batch([lead(6), lead(7)])]
    got += [d.value.owner_id for d in one.route_batch([lead(8)])]
    assert got == expected
    assert "U-BEN" not in got[3:]
    assert one.store.rotation() == reference.store.rotation()

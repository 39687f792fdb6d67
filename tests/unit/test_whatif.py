"""The what-if replay's parts: one side of it over a state database in memory (scoring,
the candidate index, routing), the comparison of two sides, and the read-only engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from connector import config as configuration
from connector.db import read_only_engine
from connector.matching import Matcher
from connector.matching.index import CandidateIndex
from connector.records import Activity, Candidate, Lead
from connector.routing import RoutingStore
from connector.whatif import (
    Change,
    Outcome,
    Stores,
    compare,
    groups,
    memory_state,
    not_replayed,
    replay,
)

NOW = datetime(2027, 3, 3, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
BASE = '''
[crm.salesforce]
username = "u"

[mapping.fields]
email = "Email"

[scoring]
threshold = 40
required_fields = ["email", "company"]

[scoring.activity_points]
form_fill = 25
webinar_attended = 20

[matching]
weights = "configured"

[routing]
account_owner = true
fallback_owner = "005QUEUE"

[routing.reps.ann]
id = "005ANN"
timezone = "UTC"

[routing.reps.bob]
id = "005BOB"
timezone = "UTC"

[routing.reps.cy]
id = "005CY"
timezone = "UTC"

[routing.pools.west]
reps = ["ann", "bob"]

[routing.pools.east]
reps = ["cy"]

[[routing.territories]]
name = "West"
pool = "west"
state = ["CA"]

[[routing.territories]]
name = "East"
pool = "east"
state = ["NY"]
'''


def config(*edits: tuple[str, str]) -> configuration.Config:
    text_ = BASE
    for old, new in edits:
        assert old in text_, old
        text_ = text_.replace(old, new, 1)
    return configuration.parse(text_)


def lead(n: int, *kinds: str, state: str = "CA", minutes: int = 0, **fields: str) -> Lead:
    """Lead ``n``, read in that order (``minutes`` apart from the first)."""
    return Lead(str(n), {"email": f"p{n}@co{n}.example", "first_name": f"Pat{n}",
                         "last_name": f"Lee{n}", "company": f"Co {n}", "state": state,
                         "country": "US", **fields},
                NOW - timedelta(hours=2) + timedelta(minutes=minutes or n),
                activities=[Activity(kind, NOW - timedelta(days=1)) for kind in kinds])


@pytest.fixture
def stores() -> Iterator[Stores]:
    engine = memory_state()
    routing = RoutingStore(engine)
    yield Stores(engine, routing, "salesforce")
    engine.dispose()


def test_one_side_scores_and_routes_every_lead_as_the_cycle_would(stores: Stores) -> None:
    leads = [lead(1, "form_fill", "webinar_attended"), lead(2, "form_fill"),
             lead(3, "form_fill", "webinar_attended"), lead(4, "form_fill", "webinar_attended",
                                                            state="NY"),
             lead(5, "form_fill", "webinar_attended", state="TX")]
    found, notes = replay(config(), leads, stores, "US", NOW)
    assert notes == []
    assert [found[str(n)].mql for n in range(1, 6)] == [True, False, True, True, True]
    assert found["2"].qualify == "score 25 < 40" and found["2"].owner_id is None
    # the west pool takes turns in reading order; east has cy; Texas falls back
    assert [found[n].owner for n in ("1", "3", "4", "5")] == ["ann", "bob", "cy", "005QUEUE"]
    assert (found["1"].rule, found["1"].territory, found["1"].pool) == (
        "territory", "West", "west")
    assert found["5"].rule == "fallback" and found["5"].team == "(fallback)"
    assert found["1"].match == "new"


def test_the_lead_s_own_record_is_left_out_but_another_record_of_the_person_is_found(
        stores: Stores) -> None:
    matcher = Matcher(config().matching)
    index = CandidateIndex(stores.engine, "salesforce", matcher)
    ours = Candidate("lead", "Lead", "00QOURS", {"email": "p1@co1.example", "first_name": "Pat1",
                                                 "last_name": "Lee1", "company": "Co 1"},
                     key="1", owner_id="005ANN")
    theirs = Candidate("contact", "Contact", "003THEIRS", {
        "email": "p3@co3.example", "first_name": "Pat3", "last_name": "Lee3",
        "company": "Co 3"}, owner_id="005REP")
    index.put([(c, index.keys_of(c), NOW) for c in (ours, theirs)])
    found, _ = replay(config(), [lead(1, "form_fill", "webinar_attended"),
                                 lead(3, "form_fill", "webinar_attended")], stores, "US", NOW)
    assert found["1"].match == "new"  # the record leadsync made for it is not an earlier one
    assert (found["3"].match, found["3"].record) == ("match", "contact 003THEIRS")
    assert (found["3"].owner_id, found["3"].rule) == ("005REP", "account")  # its owner keeps it


def test_a_duplicate_within_the_replay_follows_the_first_lead(stores: Stores) -> None:
    twin = lead(7, "form_fill", "webinar_attended", email="p1@co1.example",
                first_name="Pat1", last_name="Lee1", company="Co 1")
    found, _ = replay(config(), [lead(1, "form_fill", "webinar_attended"), twin], stores,
                      "US", NOW)
    assert (found["7"].match, found["7"].record) == ("match", "lead 1 of this replay")
    assert found["7"].owner_id == found["1"].owner_id == "005ANN"


def test_a_config_whose_keys_differ_asks_a_copy_of_the_index_keyed_again(
        stores: Stores) -> None:
    matcher = Matcher(config().matching)
    index = CandidateIndex(stores.engine, "salesforce", matcher)
    theirs = Candidate("contact", "Contact", "003X", {
        "email": "p3@co3.example", "first_name": "Pat3", "last_name": "Lee3",
        "company": "Co 3"}, owner_id="005REP")
    index.put([(theirs, index.keys_of(theirs), NOW)])
    index.mark_keyed()
    rekeyed = config(("[matching]\n", '[matching]\nblocking = ["last_name+company"]\n'))
    found, notes = replay(rekeyed, [lead(3, "form_fill", "webinar_attended")], stores,
                          "US", NOW)
    assert notes == ["the candidate index was keyed under other [matching] settings: it "
                     "was keyed again in memory for the replay"]
    assert found["3"].record == "contact 003X"
    assert CandidateIndex(stores.engine, "salesforce", matcher).keyed_alike()  # untouched


def outcome(mql: bool = True, owner: str | None = "005ANN", territory: str | None = "West",
            pool: str | None = "west", match: str | None = "new",
            record: str | None = None) -> Outcome:
    return Outcome(mql, 50 if mql else 20, "why", match if mql else None, record,
                   owner_id=owner if mql else None, owner=owner if mql else None,
                   rule="territory" if mql else None, territory=territory if mql else None,
                   pool=pool if mql else None)


@pytest.mark.parametrize(("now", "changed", "kinds", "moved"), [
    (outcome(), outcome(), (), None),
    (outcome(mql=False), outcome(), ("became_mql",), None),
    (outcome(), outcome(mql=False), ("stopped_mql",), None),
    (outcome(), outcome(owner="005BOB"), ("owner",), "same pool west: the round-robin's turn"),
    (outcome(), outcome(owner="005CY", territory="East", pool="east"), ("owner",),
     "West → East"),
    (outcome(), outcome(match="match", record="contact 003"), ("match",), None),
    (outcome(), outcome(owner=None, territory=None, pool=None, match="review",
                        record="lead 00Q"), ("owner", "match"), "West → (held for review)"),
])
def test_what_changes_between_two_outcomes(now: Outcome, changed: Outcome,
                                           kinds: tuple[str, ...], moved: str | None) -> None:
    changes, counts = compare({"1": now}, {"1": changed}, {"1": "p@x.example"})
    if not kinds:
        assert changes == []
        return
    [change] = changes
    assert (change.kinds, change.moved) == (kinds, moved)
    assert counts["owner_changes"] == ("owner" in kinds)
    assert counts["owner_changes_by_turn"] == (moved is not None and "turn" in moved)


def test_the_groups_count_what_each_territory_and_rep_gains_and_loses() -> None:
    now = {"1": outcome(), "2": outcome(owner="005BOB"), "3": outcome(mql=False)}
    changed = {"1": outcome(owner="005CY", territory="East", pool="east"),
               "2": outcome(owner="005BOB"), "3": outcome(owner="005ANN")}
    assert groups(now, changed, "team") == [
        {"territory": "East", "now": 0, "changed": 1, "gained": 1, "lost": 0},
        {"territory": "West", "now": 2, "changed": 2, "gained": 1, "lost": 1}]
    assert groups(now, changed, "rep") == [
        {"rep": "005ANN", "now": 1, "changed": 1, "gained": 1, "lost": 1},
        {"rep": "005BOB", "now": 1, "changed": 1, "gained": 0, "lost": 0},
        {"rep": "005CY", "now": 0, "changed": 1, "gained": 1, "lost": 0}]
    assert Change("1", None, ("owner",), now["1"], changed["1"]).as_dict()["moved"] == \
        "West → East"


def test_sections_a_replay_does_not_use_are_named() -> None:
    assert not_replayed(config(), config(("threshold = 40", "threshold = 50"))) == []
    notes = not_replayed(config(), config(("[matching]\n", '[sync]\nbatch_size = 5\n\n'
                                                          "[matching]\n")))
    assert notes == ["[sync] differs in the changed file, but a replay uses only [scoring], "
                     "[matching], [routing] and [select]: the rest is the loaded config's"]


def test_the_read_only_engine_refuses_a_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    from connector.db import make_engine

    writer = make_engine(url)
    with writer.begin() as conn:
        conn.execute(text("create table t (x integer)"))
        conn.execute(text("insert into t values (1)"))
    writer.dispose()
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select x from t")).scalar() == 1
            with pytest.raises(OperationalError, match="readonly|read-only|query_only"):
                conn.execute(text("insert into t values (2)"))
    finally:
        engine.dispose()


def test_a_lead_another_pipeline_takes_is_no_mql_of_this_one(stores: Stores) -> None:
    leads = [lead(1, "form_fill", "webinar_attended"),
             lead(2, "form_fill", "webinar_attended", country="CA")]
    everyone, _ = replay(config(), leads, stores, "US", NOW)
    us_only, _ = replay(config(("[matching]\n", '[select]\nfield = "country"\nvalues = ["US"]'
                                                "\n\n[matching]\n")), leads, stores, "US", NOW)
    changes, counts = compare(everyone, us_only, {})
    assert [(c.lead, c.kinds) for c in changes] == [("2", ("stopped_mql",))]
    assert us_only["2"].qualify == "another pipeline's lead ([select])"

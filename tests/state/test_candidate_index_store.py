"""The candidate index's tables on SQLite and PostgreSQL: records and their keys
written, replaced and removed together, crowded keys skipped, pairs sampled for the
weight estimate without holding them all, and the estimate kept between runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.matching import Matcher, MatchingConfig, Person
from connector.matching.estimation import current_weights, sample_pairs
from connector.matching.index import CandidateIndex, ref
from connector.records import Candidate, PersonChange
from connector.state import StateStore

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def index(db_url: str) -> Any:
    store = StateStore(db_url)
    held = CandidateIndex(store.engine, "salesforce", Matcher(MatchingConfig()))
    held.clear()
    yield held
    held.clear()
    store.close()


def lead(n: int, **fields: str) -> Candidate:
    return Candidate("lead", "Lead", f"00Q{n:05d}", {
        "first_name": "Dana", "last_name": f"Nguyen{n}", "company": f"Firm {n}",
        "email": f"dana{n}@firm{n}.example", **fields}, key=str(n))


def test_records_are_found_by_their_keys_replaced_and_removed(index: CandidateIndex) -> None:
    zoe = lead(1, first_name="Zoë", last_name="Müller", company="The Halvorsen Maritime AG")
    index.apply([PersonChange(zoe, NOW), PersonChange(lead(2), NOW),
                 PersonChange(Candidate("account", "Account", "001A", {
                     "company": "Alpha Beta Cosmetics", "website": "https://abc.example"}),
                              NOW)])
    assert index.sizes() == {"lead": 2, "account": 1}
    asking = index.matcher.prepare(Person(
        "in", "incoming", {"first_name": "Zoe", "last_name": "Muller",
                           "company": "Halvorsen Maritime", "email": "zoe@gmail.com"}))
    found, crowded = index.find({"in": index.lead_keys(asking)})
    assert [c.crm_id for c in found["in"]] == [zoe.crm_id] and not crowded
    assert found["in"][0].fields["last_name"] == "Müller" and found["in"][0].key == "1"
    # the name's words and the website find the account; an acronym does not
    found, _ = index.find({"x": {"c:alpha beta cosmetics"}, "y": {"w:abc.example"},
                           "z": {"c:abc"}})
    assert [c.crm_id for c in found["x"]] == [c.crm_id for c in found["y"]] == ["001A"]
    assert found["z"] == []
    # a record written again is replaced, keys and all; a removed one is gone
    index.apply([PersonChange(lead(1, last_name="Berg"), NOW),
                 PersonChange(lead(2), NOW, removed=True)])
    assert index.find({"in": index.lead_keys(asking)})[0]["in"] == []
    assert set(index.get([ref(zoe), ref(lead(2))])) == {ref(zoe)}


def test_a_key_more_records_share_than_the_cap_is_skipped(index: CandidateIndex) -> None:
    index.put((lead(n), {"k:shared", f"k:{n}"}, NOW) for n in range(30))
    found, crowded = index.find({"a": {"k:shared", "k:7"}}, cap=20)
    assert crowded == {"k:shared"} and [c.key for c in found["a"]] == ["7"]
    found, crowded = index.find({"a": {"k:shared"}}, cap=30, best=30)
    assert len(found["a"]) == 30 and not crowded


def test_pairs_are_sampled_within_the_limit_the_same_way_each_time(
        index: CandidateIndex) -> None:
    # 60 records at one company: their "company + initial" blocks hold many pairs
    index.apply(PersonChange(lead(n, company="Globex", email=f"p{n}@globex.example",
                                  last_name=["Nguyen", "Novak", "Nash"][n % 3]), NOW)
                for n in range(60))
    first = sample_pairs(index, limit=50)
    again = sample_pairs(index, limit=50)
    assert 0 < len(first) <= 50
    assert [(a.person.id, b.person.id) for a, b in first] == \
        [(a.person.id, b.person.id) for a, b in again]
    everything = sample_pairs(index, limit=100_000)
    assert len(everything) > 50  # the limit, not the data, bounded the first sample


def test_the_estimate_is_kept_until_the_index_grows(index: CandidateIndex) -> None:
    index.apply(PersonChange(lead(n), NOW) for n in range(200))
    kept = current_weights(index, index.matcher, now=NOW)
    again = current_weights(index, index.matcher, now=NOW)
    assert (again.source, again.weights) == (kept.source, kept.weights)
    assert again.records == kept.records == 200


def test_a_lead_meets_the_records_sharing_most_of_its_keys_and_its_accounts(
        index: CandidateIndex) -> None:
    """Forty namesakes share one key with the lead; its own record shares three: the
    record is kept when only a few may be compared, and the account is never cut."""
    index.put((lead(n), {"n:smith"}, NOW) for n in range(40))
    index.put([(lead(99), {"n:smith", "e:jo@acme.example", "p:155550100"}, NOW),
               (Candidate("account", "Account", "001A", {"company": "Acme"}), {"c:acme"},
                NOW)])
    found, crowded = index.find({"jo": {"n:smith", "e:jo@acme.example", "p:155550100",
                                        "c:acme"}}, best=5)
    ids = [c.crm_id for c in found["jo"]]
    assert not crowded and len(ids) == 6
    assert lead(99).crm_id in ids and "001A" in ids


def test_a_rare_shared_key_outranks_common_ones(index: CandidateIndex) -> None:
    """Two records share two name keys each held by thirty namesakes; the person's
    own record shares only its phone, held by it alone: it is the closest."""
    index.put((lead(n), {"n:smith|j", "b:smith|j"}, NOW) for n in range(30))
    index.put([(lead(99), {"p:155550100"}, NOW)])
    found, _ = index.find({"jo": {"n:smith|j", "b:smith|j", "p:155550100"}}, best=1)
    assert [c.crm_id for c in found["jo"]] == [lead(99).crm_id]


def test_keys_made_under_other_settings_are_made_again(db_url: str) -> None:
    """After [matching] blocking changes, the next sync re-keys the stored records
    from their stored fields: what the new keys name is found, the old keys are gone."""
    store = StateStore(db_url)
    try:
        before = CandidateIndex(store.engine, "hubspot", Matcher(MatchingConfig(
            blocking=["email"])))
        before.clear()
        before.apply([PersonChange(lead(n, postal_code="0150"), NOW) for n in range(3)])
        before.mark_keyed()
        assert before.keyed_alike()
        after = CandidateIndex(store.engine, "hubspot", Matcher(MatchingConfig(
            blocking=["email", "postal_code"])))
        wanted = {"in": {"b:1|0150"}}
        assert not after.keyed_alike() and after.find(wanted)[0]["in"] == []
        assert after.rekey() == 3
        assert after.keyed_alike() and not before.keyed_alike()
        assert len(after.find(wanted)[0]["in"]) == 3
        assert after.sizes() == {"lead": 3}
        after.clear()
        assert after.keyed_alike()  # empty: nothing to be stale
    finally:
        store.close()


def test_the_keying_fingerprint_is_the_same_in_every_process() -> None:
    """Sets in the email settings iterate in a per-process order: a fingerprint that
    followed it would re-key the whole index on every run."""
    import subprocess
    import sys

    script = ("from sqlalchemy import create_engine\n"
              "from connector.matching import Matcher, MatchingConfig\n"
              "from connector.matching.index import CandidateIndex\n"
              "print(CandidateIndex(create_engine('sqlite://'), 'salesforce',\n"
              "                     Matcher(MatchingConfig())).fingerprint)\n")
    seen = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}
                           ).stdout.strip() for seed in (1, 2, 3, 4)}
    assert len(seen) == 1 and len(seen.pop()) == 16


def test_a_contact_and_a_company_with_one_id_are_two_records(index: CandidateIndex) -> None:
    """HubSpot numbers contacts and companies apart: contact 101 and company 101 are
    both held, and the company archived takes only itself out of the index."""
    person = Candidate("contact", "contacts", "101", {"first_name": "Ana", "last_name": "Lind",
                                                      "email": "ana@lind.example"})
    company = Candidate("account", "companies", "101", {"company": "Lind AB"})
    index.apply([PersonChange(person, NOW), PersonChange(company, NOW)])
    assert index.sizes() == {"contact": 1, "account": 1}
    index.apply([PersonChange(company, NOW, removed=True, deleted=True)])
    found, _ = index.find({"ana": {"e:ana@lind.example"}})
    assert [(c.crm_object, c.crm_id) for c in found["ana"]] == [("contacts", "101")]


def test_rows_stored_by_bare_id_are_written_again_by_reference(index: CandidateIndex) -> None:
    """An index written before references held rows by the bare id: the next sync's
    re-keying writes them again under their reference, and they are found as before."""
    from sqlalchemy import insert, update

    from connector.matching.index import KEYING, KEYS, ROWS

    index.apply([PersonChange(lead(1), NOW)])
    with index.engine.begin() as conn:  # as an earlier version stored it
        conn.execute(update(ROWS).values(crm_id=lead(1).crm_id))
        conn.execute(update(KEYS).values(crm_id=lead(1).crm_id))
        conn.execute(insert(KEYING), [{"crm": index.crm, "fingerprint": "scheme-3"}])
    assert not index.keyed_alike()
    assert index.rekey() == 1
    assert set(index.get([ref(lead(1))])) == {ref(lead(1))}
    found, _ = index.find({"in": {"k:1"}})
    assert [c.crm_id for c in found["in"]] == [lead(1).crm_id]


def test_a_records_keys_are_its_leads_keys_without_the_account_ones(
        index: CandidateIndex) -> None:
    """The keys a lead asked with, less the account keys (``ACCOUNT_KEYS``), plus our
    id, are the keys its new record is indexed by: the pipeline reuses them."""
    from connector.matching.index import ACCOUNT_KEYS

    people = [lead(1, first_name="Zoë", last_name="Müller", phone="+49 30 1234567",
                   company="The Halvorsen Maritime AG", website="https://halvorsen.example"),
              lead(2, email="info@firm2.example"), lead(3, last_name="Smith, John")]
    for record in people:
        asked = index.lead_keys(index.matcher.prepare(
            Person(record.crm_id, "incoming", record.fields)))
        kept = {k for k in asked if not k.startswith(ACCOUNT_KEYS)} | {f"k:{record.key}"}
        assert kept == index.keys_of(record)
        assert any(k.startswith(ACCOUNT_KEYS) for k in asked)  # there were some to drop


def test_a_record_read_back_as_the_index_holds_it_is_not_written_again(
        index: CandidateIndex) -> None:
    """The run after a load reads its own writes back: records held as they are cost
    no keys and no writes; one a rep changed is keyed anew."""
    records = [lead(n) for n in range(1, 4)]
    assert index.apply([PersonChange(r, NOW) for r in records]) == (3, 0)
    assert index.apply([PersonChange(r, NOW) for r in records]) == (0, 0)
    moved = Candidate("lead", "Lead", records[0].crm_id, {
        **records[0].fields, "last_name": "Okafor"}, key=records[0].key)
    assert index.apply([PersonChange(moved, NOW), PersonChange(records[1], NOW)]) == (1, 0)
    asking = index.matcher.prepare(Person("in", "incoming", {
        "first_name": "Dana", "last_name": "Okafor", "email": "d.okafor@gmail.com"}))
    found, _ = index.find({"in": index.lead_keys(asking)})
    assert [c.fields["last_name"] for c in found["in"]] == ["Okafor"]

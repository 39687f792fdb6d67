"""The Febrl CRM-path benchmark's own parts: how a Febrl record is held in the org,
the bench's config, the scoring of where each record ended, and one tiny run of
the whole path (sandbox process, `leadsync import`, `leadsync sync --once`).

A wrong shape or a wrong count here would make every figure of
``bench/febrl_e2e.py`` measure something else. No Febrl data is loaded (the
``bench`` extra is not installed for the tests): the records are made here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.febrl_e2e import (
    NOT_PROVIDED,
    Case,
    as_org,
    bench_config,
    best_partners,
    clusters,
    crm_fields,
    crm_path,
    mailing,
    score,
    write_fixture,
)
from connector.config import load
from connector.sandbox.salesforce import SalesforceSandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("febrl", "expected"), [
    ({"given_name": "michaela", "surname": "neumann", "street_number": "8",
      "address_1": "stanley street", "address_2": "miami", "suburb": "winston hills",
      "postcode": "4223", "state": "nsw", "date_of_birth": "19151111", "soc_sec_id": "5304218"},
     {"first_name": "michaela", "last_name": "neumann", "street": "8 stanley street",
      "address_2": "miami", "city": "winston hills", "postal_code": "4223", "state": "nsw"}),
    ({"given_name": " zac ", "surname": float("nan"), "street_number": float("nan"),
      "address_1": "sturt  avenue", "postcode": "6024"},
     {"first_name": "zac", "street": "sturt avenue", "postal_code": "6024"}),
    ({"street_number": "24", "address_1": None, "suburb": "", "state": "vic"},
     {"street": "24", "state": "vic"}),
])
def test_a_febrl_record_is_held_as_a_crm_holds_it(febrl: dict, expected: dict) -> None:
    assert crm_fields(febrl) == expected


def test_a_contact_holds_the_second_address_line_in_its_mailing_street() -> None:
    assert mailing({"street": "8 stanley street", "address_2": "miami", "city": "x"}) == \
        {"street": "8 stanley street\nmiami", "city": "x"}
    assert mailing({"street": "8 stanley street"}) == {"street": "8 stanley street"}
    assert mailing({"address_2": "miami"}) == {"street": "miami"}


def test_the_org_puts_a_placeholder_where_salesforce_requires_a_surname() -> None:
    assert as_org({"first_name": "zac"}) == {"first_name": "zac", "last_name": NOT_PROVIDED}
    assert as_org({"last_name": "vincent"}) == {"last_name": "vincent"}


def small_case() -> Case:
    org = {"rec-1-org": {"first_name": "chloe", "last_name": "vincent",
                         "street": "196 miller street", "city": "wallsend",
                         "postal_code": "2745", "state": "wa"},
           "rec-2-org": {"first_name": "zac", "last_name": NOT_PROVIDED,
                         "street": "19 sturt avenue", "city": "brighton-le-sands",
                         "postal_code": "6024", "state": "nsw"},
           "rec-3-org": {"first_name": "bethany", "last_name": "eyre",
                         "street": "47 madigan street", "city": "balhannah",
                         "postal_code": "3165", "state": "sa"}}
    leads = {"rec-1-dup-0": dict(org["rec-1-org"]),  # an exact copy
             "rec-1-dup-1": org["rec-1-org"] | {"first_name": "chole"},
             "rec-3-dup-0": {"first_name": "harriet", "last_name": "smith",
                             "street": "3 king street", "city": "sale",
                             "postal_code": "3850", "state": "vic"}}
    truth = {frozenset(p) for p in (("rec-1-org", "rec-1-dup-0"), ("rec-1-org", "rec-1-dup-1"),
                                    ("rec-1-dup-0", "rec-1-dup-1"),
                                    ("rec-3-org", "rec-3-dup-0"))}
    return Case("febrl3", "tiny", org, leads, truth,
                {lead: f"rec-{lead.split('-')[1]}-org" for lead in leads})


def test_the_fixture_seeds_contacts_without_accounts(tmp_path: Path) -> None:
    case = small_case()
    ids = write_fixture(case, tmp_path / "org.json")
    sandbox = SalesforceSandbox(seed=tmp_path / "org.json")
    contacts = {row["Id"]: row for row in sandbox.org.rows(sandbox.org.schema.get("Contact"))}
    assert set(contacts) == set(ids.values())
    assert not sandbox.org.rows(sandbox.org.schema.get("Account"))
    held = contacts[ids["rec-1-org"]]
    assert (held["FirstName"], held["LastName"], held["MailingStreet"], held["MailingCity"],
            held["MailingState"], held["MailingPostalCode"]) == \
        ("chloe", "vincent", "196 miller street", "wallsend", "wa", "2745")
    assert held["AccountId"] is None
    assert contacts[ids["rec-2-org"]]["LastName"] == NOT_PROVIDED


def test_the_bench_config_keeps_the_shipped_matching(tmp_path: Path) -> None:
    path = bench_config(tmp_path, "127.0.0.1:9")
    mine, shipped = load(path), load(ROOT / "config.toml")
    assert mine.matching == shipped.matching
    assert mine.scoring.required_fields == ["email"]
    assert mine.mapping.on_create == shipped.mapping.on_create | {
        "LastName": NOT_PROVIDED, "Company": NOT_PROVIDED}


@pytest.mark.parametrize(("cluster_of", "tp", "fp", "pairs", "correct"), [
    ({}, 0, 0, 0, 0),  # nothing matched: every lead alone
    ({"rec-1-dup-0": "rec-1-org", "rec-1-dup-1": "rec-1-org"}, 2, 0, 3, 3),
    # two copies of one person together on a new record: a right pair, no original
    ({"rec-1-dup-0": "new", "rec-1-dup-1": "new"}, 0, 0, 1, 1),
    # a stranger on chloe's record: a false positive, and two wrong pairs
    ({"rec-1-dup-0": "rec-1-org", "rec-3-dup-0": "rec-1-org"}, 1, 1, 3, 1),
    # a stranger sharing a new record with one of chloe's copies: both wrong
    ({"rec-1-dup-1": "new", "rec-3-dup-0": "new"}, 0, 2, 1, 0),
])
def test_where_records_end_decides_the_score(cluster_of: dict[str, str], tp: int, fp: int,
                                              pairs: int, correct: int) -> None:
    case = small_case()
    result = score(case, "x", {rid: rid for rid in case.org} | cluster_of)
    assert (result.tp, result.fp, result.pairs_predicted, result.pairs_correct) == \
        (tp, fp, pairs, correct)
    assert result.leads == 3 and result.pairs_true == 4
    assert result.f1 == pytest.approx(2 * tp / (tp + fp + 3))


def test_a_baseline_writes_each_lead_to_one_best_partner() -> None:
    case = small_case()
    scored = [("rec-1-org", "rec-1-dup-0", 0.97), ("rec-2-org", "rec-1-dup-0", 0.99),
              ("rec-1-dup-0", "rec-1-dup-1", 0.9), ("rec-1-org", "rec-1-dup-1", 0.9),
              ("rec-1-org", "rec-2-org", 1.0)]  # org records are never partners
    partner = best_partners(case, scored)
    assert partner == {"rec-1-dup-0": "rec-2-org", "rec-1-dup-1": "rec-1-org"}  # tie: org
    joined = clusters(case, partner)
    assert joined["rec-1-dup-0"] == "rec-2-org" and joined["rec-1-dup-1"] == "rec-1-org"
    assert joined["rec-3-dup-0"] == "rec-3-dup-0"
    # a chain through leads ends at one org record, never joins two
    chain = clusters(case, {"rec-1-dup-0": "rec-1-dup-1", "rec-1-dup-1": "rec-1-org",
                            "rec-3-dup-0": "rec-1-dup-0"})
    assert {chain[r] for r in case.leads} == {"rec-1-org"}
    assert chain["rec-2-org"] == "rec-2-org"


def test_the_crm_path_scores_a_tiny_sync(tmp_path: Path) -> None:
    """The whole path on three contacts and three leads: the exact copy updates
    its contact, the stranger is created, the org is read back."""
    case = small_case()
    synced = crm_path(case, tmp_path)
    assert synced.org == {"Contact": 3, "Lead": synced.org["Lead"]}
    assert synced.cluster_of["rec-1-dup-0"] == synced.cluster_of["rec-1-org"]
    assert synced.cluster_of["rec-3-dup-0"] not in {synced.cluster_of[r] for r in case.org}
    assert synced.fates["match"] >= 1 and synced.fates["wrong_merge"] == 0
    assert sum(synced.fates.values()) == 3
    assert synced.counts["read"] == 3 and synced.counts["refused"] == 0
    assert isinstance(synced.fates, Counter)

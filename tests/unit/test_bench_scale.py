"""The scale benchmark's own parts: the org it seeds, the lead files it imports,
how it reads a profile. A wrong fixture or a lead file with clashing addresses
would make every figure of ``bench/scale.py`` measure something else."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.scale import SEEDED_AT, label, lead_files, make_org, top_costs, write_fixture
from connector.sandbox.salesforce import SalesforceSandbox


def test_the_fixture_seeds_the_sandbox_with_every_record_and_its_account(tmp_path: Path) -> None:
    org = make_org(400)
    held = write_fixture(org, tmp_path / "org.json")
    sandbox = SalesforceSandbox(seed=tmp_path / "org.json")
    schema = sandbox.org.schema
    tables = {name: sandbox.org.rows(schema.get(name)) for name in ("Account", "Contact", "Lead")}
    assert held == sum(len(rows) for rows in tables.values()) == len(org.people) + len(org.accounts)
    assert len(tables["Contact"]) == sum(p["object"] == "Contact" for p in org.people) > 0
    accounts = {row["Id"]: row["Name"] for row in tables["Account"]}
    by_email = {p["email"]: p for p in org.people}
    for contact in tables["Contact"]:
        assert accounts[contact["AccountId"]] == by_email[contact["Email"]]["account"]
    # An org with a past: the first sync's delta cursor must not reach back to the seed.
    stamps = {row["SystemModstamp"][:10] for rows in tables.values() for row in rows}
    assert stamps == {SEEDED_AT[:10]}


def test_lead_files_hold_each_address_once_and_half_known_people() -> None:
    org = make_org(3_000)
    files = lead_files(org, [100, 1_000])
    assert [len(f) for f in files] == [100, 1_000]
    leads = [lead for f in files for lead in f]
    emails = Counter(lead.row["email"].lower() for lead in leads)
    assert max(emails.values()) == 1
    known = [lead for lead in leads if lead.label is not None]
    assert len(known) == 550 and len({lead.label for lead in known}) == 550
    org_emails = {p["email"].lower(): i for i, p in enumerate(org.people)}
    for lead in leads:  # an org address comes only with the person who has it
        email = lead.row["email"].lower()
        assert email not in org_emails or org_emails[email] == lead.label
    same = [lead for lead in known if lead.kind == "same"]
    assert all(lead.row["last_name"] == org.people[lead.label]["last_name"] for lead in same)
    assert all("form_fill" in lead.row["activities"] for lead in leads)  # all qualify


def test_top_costs_ranks_own_samples_and_counts_unreadable_ones(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("main (a.py:1);work (b.py:7);parse (c.py:3) 6\n"
                   "main (a.py:1);work (b.py:9) 2\n"
                   " 2\n")
    assert top_costs(raw, 2) == [("parse (c.py)", 0.6, 0.6), ("work (b.py)", 0.2, 0.8)]


def test_labels_name_sizes_as_figures_do() -> None:
    assert [label(n) for n in (100, 1_000, 10_000, 300_000, 1_000_431)] == \
        ["100", "1k", "10k", "300k", "1m"]

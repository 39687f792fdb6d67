"""The benchmark's lead generator: deterministic, and its labels say what they claim."""

from __future__ import annotations

from bench.leadgen import FIELDS, HARD, VARIATIONS, people, with_duplicates
from connector.matching.keys import company_key, email_key, name_key, phone_key


def test_same_seed_same_people_other_seed_other_people() -> None:
    assert people(300, seed=5) == people(300, seed=5)
    assert people(300, seed=5) != people(300, seed=6)
    assert all(tuple(p) == FIELDS for p in people(50, seed=1))


def test_phones_parse_and_emails_are_addresses() -> None:
    for p in people(500, seed=3):
        assert phone_key(p["phone"], "US") is not None, p["phone"]
        assert email_key(p["email"]) is not None, p["email"]


def test_duplicates_are_labelled_with_their_original() -> None:
    base = people(2_000, seed=1)
    incoming = with_duplicates(base, 600, seed=2)
    assert incoming == with_duplicates(base, 600, seed=2)
    seen = {x.variation for x in incoming}
    assert set(VARIATIONS) <= seen and set(HARD) <= seen
    for x in incoming:
        if x.duplicate_of is None:
            assert x.variation in HARD and x.near is not None
            continue
        original = base[x.duplicate_of]
        if x.variation == "phone_format":
            assert phone_key(x.record["phone"]) == phone_key(original["phone"])
        if x.variation == "company_suffix":
            assert company_key(x.record["company"]) == company_key(original["company"])
        if x.variation == "swapped":
            assert (name_key(x.record["first_name"]), name_key(x.record["last_name"])) == \
                (name_key(original["last_name"]), name_key(original["first_name"]))
        if x.variation == "gmail":
            assert email_key(x.record["email"]) == email_key(original["email"])


def test_phone_format_variation_rewrites_the_number() -> None:
    base = people(500, seed=1)
    changed = [x for x in with_duplicates(base, 300, seed=4, hard_share=0.0)
               if x.variation == "phone_format"]
    assert changed
    rewritten = sum(x.record["phone"] != base[x.duplicate_of]["phone"] for x in changed
                    if x.duplicate_of is not None)
    assert rewritten >= len(changed) * 0.8  # a later drift may write it back


def test_hard_non_duplicates_differ_in_what_identifies_a_person() -> None:
    base = people(2_000, seed=1)
    for x in with_duplicates(base, 600, seed=2):
        if x.duplicate_of is not None:
            continue
        near = base[x.near]  # type: ignore[index]
        if x.variation == "same_name_other_company":
            assert company_key(x.record["company"]) != company_key(near["company"])
        if x.variation == "shared_mailbox":
            assert x.record["email"] == near["email"]
            assert name_key(x.record["last_name"]) != name_key(near["last_name"])
        if x.variation in ("same_company_other_person", "relative"):
            assert name_key(x.record["first_name"]) != name_key(near["first_name"])

"""From index records to what matching compares: people (not accounts, not converted
leads), and the accounts a lead may belong to, as routing sees them."""

from __future__ import annotations

from connector.matching import Matcher, MatchingConfig, Person
from connector.matching.lookup import Accounts, people
from connector.records import Candidate

MATCHER = Matcher(MatchingConfig())


def incoming(lead_id: str, **fields: object) -> object:
    return MATCHER.prepare(Person(lead_id, "incoming", fields))


def account(crm_id: str, name: str, website: str | None = None,
            owner: str = "005OWNER") -> Candidate:
    return Candidate("account", "Account", crm_id, {"company": name, "website": website},
                     owner_id=owner, account_id=crm_id, account_name=name,
                     account_owner_id=owner)


def test_people_leaves_out_accounts_and_converted_leads() -> None:
    found = people([
        Candidate("lead", "Lead", "00Q1", {"last_name": "Lee"}),
        Candidate("lead", "Lead", "00Q2", {"last_name": "Lee"}, converted=True),
        Candidate("contact", "Contact", "0031", {"last_name": "Lee"}),
        account("0011", "Initech"),
    ])

    assert [(p.id, p.kind) for p in found] == [("00Q1", "lead"), ("0031", "contact")]
    assert found[0].ref.crm_id == "00Q1"


def test_account_by_company_without_its_legal_form() -> None:
    accounts = Accounts(MATCHER, [account("0011", "Initech Corp."),
                                  account("0012", "Globex GmbH", "https://www.globex.example/")])

    found = accounts.find(incoming("l1", company="INITECH", email="p@gmail.com"))

    assert found is not None
    assert (found.account_id, found.owner_id) == ("0011", "005OWNER")
    assert found.via == "company 'INITECH' is account 'Initech Corp.'"


def test_account_by_website_domain_of_the_lead_email() -> None:
    accounts = Accounts(MATCHER, [account("0011", "Initech Corp."),
                                  account("0012", "Globex GmbH", "https://www.globex.example/")])

    found = accounts.find(incoming("l1", company="Someone Else", email="hank@globex.example"))

    assert found is not None and found.account_id == "0012"
    assert found.via == "email domain globex.example is account 'Globex GmbH''s website"


def test_account_first_in_look_up_order_wins_a_tie_between_name_and_site() -> None:
    accounts = Accounts(MATCHER, [account("0011", "Globex Site", "globex.example"),
                                  account("0012", "Initech")])
    lead = incoming("l1", company="Initech", email="x@globex.example")

    found = accounts.find(lead)

    assert found is not None and found.account_id == "0011"  # the first one found
    assert Accounts(MATCHER, [account("0012", "Initech"),
                              account("0011", "Globex Site", "globex.example")]
                    ).find(lead).account_id == "0012"  # type: ignore[union-attr]


def test_a_matched_contact_brings_its_own_account() -> None:
    contact = Candidate("contact", "Contact", "0031", {"last_name": "Lee"},
                        account_id="0019", account_name="Umbrella", account_owner_id="005REP")
    accounts = Accounts(MATCHER, [account("0011", "Initech")])

    found = accounts.find(incoming("l1", company="Initech"), contact)

    assert found is not None
    assert (found.account_id, found.name, found.owner_id) == ("0019", "Umbrella", "005REP")
    assert found.via == "contact 0031 is on account Umbrella"


def test_no_account_for_a_lead_without_company_or_work_domain() -> None:
    accounts = Accounts(MATCHER, [account("0011", "Initech", "initech.example")])

    assert accounts.find(incoming("l1", first_name="Ann", email="ann@gmail.com")) is None
    assert Accounts(MATCHER, []).find(incoming("l2", company="Initech")) is None


def test_prepared_values_are_shared_but_not_across_kinds() -> None:
    """The matcher prepares a text once per (kind, text): the same value as a name
    and as a company keeps each kind's own form."""
    one = incoming("l1", first_name="Acme", company="Acme Inc")
    two = incoming("l2", last_name="Acme Inc", company="Acme Inc")

    assert one.values["company"] == two.values["company"] == "acme"
    assert one.values["first_name"][0] == "acme"
    assert two.values["last_name"][0] == "acmeinc"


def test_blocking_keys_are_kept_with_the_record() -> None:
    lead = incoming("l1", first_name="John", last_name="Smith", email="john@acme.example")

    keys = MATCHER.keys(lead)

    assert lead.blocking == keys
    assert MATCHER.keys(lead) is keys
    assert "0|john@acme.example" in keys
    assert {"2|smith|j", "2|john|s"} <= keys  # as written and swapped

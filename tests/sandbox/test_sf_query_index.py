"""Index-planned SOQL gives exactly what a full scan gives: same rows, same order."""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import FakeClock, connect, lead
from simple_salesforce import SalesforceGeneralError

from connector.sandbox.salesforce import SalesforceSandbox, planner, soql
from connector.sandbox.salesforce.errors import SoqlError
from connector.sandbox.salesforce.schema import Field


def _url(name: str, record_id: str) -> str:
    return f"/services/data/v59.0/sobjects/{name}/{record_id}"


@pytest.fixture(scope="module")
def org_box() -> Any:
    """An org with the awkward cases: nulls, case variants, deletes, a converted lead."""
    with SalesforceSandbox(clock=FakeClock()) as box:
        account = box.create("Account", {"Name": "Acme Corp", "Website": "acme.example"})["Id"]
        other = box.create("Account", {"Name": "ACME CORP", "Phone": "+1 415 555 0100"})["Id"]
        box.create("Account", {"Name": "Globex"})
        for first, last, email, company in (
            ("Robert", "Smith", "bob@acme.example", "Acme"),
            ("bob", "SMITH", "BOB@ACME.EXAMPLE", "acme"),
            ("Rob", "smith", None, "Initech"),
            (None, "Smith", "r.smith@x.example", "Initech"),
            ("Mary", "Jones", "mary@jones.example", "Jones & Co"),
            ("Maria", "Jones", None, "Jones & Co"),
            ("Robert", "Jones", "robert@jones.example", "Acme"),
        ):
            box.create("Lead", lead(FirstName=first, LastName=last, Email=email, Company=company))
        gone = box.create(
            "Lead", lead(FirstName="Robert", LastName="Smith", Email="gone@x.example")
        )
        box.org.delete(box.org.schema.get("Lead"), gone["Id"], user_id=box.org.admin_id)
        converted = box.create(
            "Lead", lead(FirstName="Bob", LastName="Smith", Email="conv@x.example")
        )
        box.convert_lead(converted["Id"], opportunity=False)
        moved = box.create("Lead", lead(FirstName="Ann", LastName="Old", Email="old@x.example"))
        box.update("Lead", moved["Id"], {"Email": "new@x.example", "LastName": "New"})
        for first, last, email, acct in (
            ("Robert", "Smith", "bob@acme.example", account),
            ("Jane", "Doe", None, other),
            ("Jo", "Doe", "jo@doe.example", None),
        ):
            box.create(
                "Contact", {"FirstName": first, "LastName": last, "Email": email, "AccountId": acct}
            )
        contact = box.org.rows(box.org.schema.get("Contact"))[0]["Id"]
        box.create("Task", {"Subject": "Call", "WhoId": contact, "WhatId": account})
        box.create("Task", {"Subject": "Email", "WhatId": other})
        box.create("Task", {"Subject": "Note"})
        yield box, {"account": account, "other": other, "contact": contact}


# (query, whether the planner must use an index rather than scan)
QUERIES: list[tuple[str, bool]] = [
    ("SELECT Id, Email FROM Lead WHERE Email = 'bob@acme.example'", True),
    ("SELECT Id FROM Lead WHERE Email IN ('BOB@acme.example', 'mary@jones.example', null)", True),
    ("SELECT Id FROM Lead WHERE Email = null", False),
    ("SELECT Id FROM Lead WHERE Email != null", False),
    ("SELECT Id FROM Lead WHERE Email NOT IN ('bob@acme.example')", False),
    ("SELECT Id FROM Lead WHERE NOT (Email = 'bob@acme.example')", False),
    ("SELECT Id FROM Lead WHERE IsConverted = false AND Email IN ('bob@acme.example', "
     "'conv@x.example', 'gone@x.example')", True),
    ("SELECT Id, FirstName FROM Lead WHERE IsConverted = false AND (Email IN ('x@y.example') OR "
     "(LastName = 'smith' AND FirstName IN ('robert', 'bob', 'rob')) OR "
     "(LastName = 'JONES' AND FirstName IN ('mary')))", True),
    ("SELECT Id FROM Lead WHERE LastName = 'smith' OR Company LIKE 'Jones%'", False),
    ("SELECT Id FROM Lead WHERE LastName = 'smith' AND Company LIKE 'Init%'", True),
    ("SELECT Id FROM Lead WHERE LastName IN ('Smith', 'Jones') ORDER BY FirstName DESC NULLS LAST, "
     "Id LIMIT 4 OFFSET 1", True),
    ("SELECT Id FROM Lead WHERE LastName IN ('Smith', 'Jones') ORDER BY Email", True),
    ("SELECT COUNT() FROM Lead WHERE Company = 'acme'", True),
    ("SELECT Id FROM Lead WHERE Email IN ('old@x.example')", True),
    ("SELECT Id FROM Lead WHERE Email IN ('new@x.example') AND LastName = 'New'", True),
    ("SELECT Id FROM Lead WHERE Owner.Name = 'Sandbox Admin' AND LastName = 'Jones'", True),
    ("SELECT Id FROM Lead WHERE Owner.Name = 'Sandbox Admin'", False),
    ("SELECT Id FROM Lead WHERE FirstName = 'robert' AND LastName = 'nobody'", True),
    ("SELECT Id FROM Lead WHERE CreatedDate = TODAY AND LastName = 'smith'", True),
    ("SELECT Id, Account.OwnerId, Account.Name FROM Contact WHERE Email IN ('bob@acme.example') "
     "OR (LastName = 'doe' AND FirstName IN ('jane', 'jo'))", True),
    ("SELECT Id FROM Contact WHERE Account.Name = 'acme corp'", False),
    ("SELECT Id, Name FROM Account WHERE Name IN ('acme corp', 'Nope') OR Website IN "
     "('ACME.example')", True),
    ("SELECT Id FROM Account WHERE Name IN ('acme corp') ORDER BY Name, Id DESC", True),
    ("SELECT Id FROM Lead WHERE Id IN ('{lead0}', '{lead1}') AND Email != null", True),
    ("SELECT Id FROM Lead WHERE (LastName = 'smith' AND FirstName IN ('robert', 'bob') AND "
     "(Company LIKE 'acme%' OR Email LIKE '%@x.example')) OR (LastName = 'jones' AND "
     "FirstName = 'robert' AND Company LIKE 'Ac%') OR Email IN ('mary@jones.example')", True),
    ("SELECT Id FROM Lead WHERE LastName = 'smith' AND FirstName = null", True),
    ("SELECT Id FROM Lead WHERE LastName = 'smith' AND FirstName IN ('robert') AND "
     "FirstName IN ('bob')", True),
    ("SELECT Id FROM Contact WHERE (LastName = 'doe' AND FirstName IN ('jane')) OR "
     "(LastName = 'smith' AND FirstName = 'robert' AND Account.Name LIKE 'acme%')", True),
]  # fmt: skip

ID_QUERIES: list[tuple[str, bool]] = [
    ("SELECT Id FROM Contact WHERE AccountId = '{account}'", True),
    ("SELECT Id, Subject FROM Task WHERE WhoId IN ('{contact}')", True),
    (
        "SELECT Id, Subject FROM Task WHERE WhatId IN ('{account}', '{other}') ORDER BY Subject",
        True,
    ),
    ("SELECT Id FROM Task WHERE WhatId = null", False),
    ("SELECT Id FROM Task WHERE WhatId != '{account}'", False),
]


def _fill(query: str, box: SalesforceSandbox, ids: dict[str, str]) -> str:
    leads = box.org.rows(box.org.schema.get("Lead"), include_deleted=True)
    ids = {**ids, "lead0": leads[0]["Id"][:15], "lead1": leads[8]["Id"]}
    return query.format(**ids)


def _scan(box: SalesforceSandbox, bound: soql.BoundQuery, include_deleted: bool) -> Any:
    """The reference answer: every row, in creation order, through the evaluator."""

    def lookup(record_id: str) -> dict[str, Any] | None:
        found = box.org.record_by_id(record_id)
        return found[1] if found else None

    rows = box.org.rows(bound.sobject, include_deleted=include_deleted)
    return soql.execute(bound, rows, lookup=lookup, record_url=_url)


@pytest.mark.parametrize("include_deleted", [False, True], ids=["query", "queryAll"])
@pytest.mark.parametrize(("query", "indexed"), QUERIES + ID_QUERIES)
def test_indexed_results_equal_a_scan(
    org_box: Any, query: str, indexed: bool, include_deleted: bool
) -> None:
    box, ids = org_box
    text = _fill(query, box, ids)
    bound = soql.bind(soql.parse(text), box.org.schema)
    with box.org.lock:

        def probe(f: Field, keys: list[Any]) -> set[str] | None:
            return box.org.probe(bound.sobject, f.name, keys)

        planned = soql.plan(bound.where, probe) if bound.where is not None else None
    assert (planned is not None) == indexed
    got = planner.select(box.org, bound, include_deleted=include_deleted, record_url=_url)
    assert got == _scan(box, bound, include_deleted)


def test_results_are_not_empty_where_they_should_not_be(org_box: Any) -> None:
    """Guards the equality table against comparing two empty answers."""
    box, _ = org_box
    bound = soql.bind(soql.parse(QUERIES[7][0]), box.org.schema)
    total, records = planner.select(box.org, bound, include_deleted=False, record_url=_url)
    assert total == 4
    assert [r["FirstName"] for r in records] == ["Robert", "bob", "Rob", "Mary"]


def test_a_name_pair_is_answered_from_the_compound_index(clock: FakeClock) -> None:
    """Last AND first name costs the people holding both, and the index follows edits."""
    with SalesforceSandbox(clock=clock) as box:
        sf = connect(box)
        bob = sf.Lead.create(lead(FirstName="Bob", LastName="Smith"))["id"]
        sf.Lead.create(lead(FirstName="Ann", LastName="Smith"))
        sf.Lead.create(lead(FirstName="Bob", LastName="Jones"))
        leads = box.org.schema.get("Lead")
        with box.org.lock:
            assert box.org.probe_compound(leads, {"LastName": ["smith"],
                                                  "FirstName": ["bob", "rob"]}) == {
                bob}
            assert box.org.probe_compound(leads, {"LastName": ["smith"]}) is None
        sf.Lead.update(bob, {"LastName": "Jones-Smith"})
        with box.org.lock:
            assert box.org.probe_compound(leads, {"LastName": ["smith"],
                                                  "FirstName": ["bob"]}) == set()
            assert box.org.probe_compound(leads, {"LastName": ["jones-smith"],
                                                  "FirstName": ["bob"]}) == {bob}
        query = "SELECT Id FROM Lead WHERE LastName = 'Jones-Smith' AND FirstName = 'BOB'"
        assert [r["Id"] for r in sf.query(query)["records"]] == [bob]


def test_indexes_follow_updates_deletes_and_rollbacks(clock: FakeClock) -> None:
    with SalesforceSandbox(clock=clock) as box:
        sf = connect(box)
        made = sf.Lead.create(lead(Email="first@x.example"))
        found = "SELECT Id FROM Lead WHERE Email = '{}'"
        assert sf.query(found.format("first@x.example"))["totalSize"] == 1
        sf.Lead.update(made["id"], {"Email": "second@x.example"})
        assert sf.query(found.format("first@x.example"))["totalSize"] == 0
        assert sf.query(found.format("second@x.example"))["totalSize"] == 1
        sf.Lead.delete(made["id"])
        assert sf.query(found.format("second@x.example"))["totalSize"] == 0
        assert (
            sf.query_all(found.format("second@x.example"), include_deleted=True)["totalSize"] == 1
        )
        leads = box.org.schema.get("Lead")
        with box.org.transaction() as rollback:
            box.org.insert(leads, lead(Email="undone@x.example"), user_id=box.org.admin_id)
            rollback()
        with box.org.lock:
            assert box.org.probe(leads, "Email", ["undone@x.example"]) == set()
        assert sf.query(found.format("undone@x.example"))["totalSize"] == 0


def test_query_longer_than_100000_characters_is_malformed() -> None:
    names = ", ".join(f"'name{i:07d}'" for i in range(8400))
    text = f"SELECT Id FROM Lead WHERE LastName IN ({names})"
    assert len(text) > soql.MAX_QUERY_LENGTH
    with pytest.raises(SoqlError) as failure:
        soql.parse(text)
    assert failure.value.code == "MALFORMED_QUERY"
    assert failure.value.message == "SOQL statements cannot be longer than 100000 characters"
    soql.parse(text[: text.rindex(",", 0, soql.MAX_QUERY_LENGTH)] + ")")  # just under: fine


def test_over_http_a_long_query_meets_the_uri_cap_first(sf: Any) -> None:
    emails = ", ".join(f"'someone{i:05d}@example.com'" for i in range(600))
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.query(f"SELECT Id FROM Lead WHERE Email IN ({emails})")
    assert failure.value.status == 414

"""SOQL parser, binder and evaluator, table-driven against a small in-memory org."""

from __future__ import annotations

from typing import Any

import pytest
from sf_helpers import FakeClock

from connector.sandbox.salesforce.errors import SoqlError, render_query_error
from connector.sandbox.salesforce.objects import default_schema
from connector.sandbox.salesforce.soql import bind, execute, parse, tokenize
from connector.sandbox.salesforce.store import Org

INJECTION = "x' OR Name != '"

ROWS: list[dict[str, Any]] = [
    {
        "LastName": "O'Brien", "Company": "Acme", "Email": "sean@acme.example",
        "NumberOfEmployees": 50, "Leadsync_Score__c": 80.0, "Status": "Working - Contacted",
        "LeadSource": "Web", "Leadsync_Id__c": "ls-1",
    },
    {"LastName": INJECTION, "Company": "Evil"},
    {
        "LastName": "Lovelace", "Company": "Analytical", "NumberOfEmployees": 10,
        "Leadsync_Score__c": 95.5, "Industry": "Technology",
    },
    {"FirstName": "Grace", "LastName": "Hopper", "Company": "Navy", "LeadSource": "Phone Inquiry"},
    {"LastName": "100%_Real", "Company": "Wild", "LeadSource": "Other"},
    {"LastName": "Back\\slash", "Company": "Wild"},
    {"LastName": "Line\nBreak", "Company": "Wild"},
    # Company 'Evil' keeps this row out of the ORDER BY cases
    {"FirstName": "Jörg", "LastName": "Müller GmbH", "Company": "Evil", "LeadSource": "Web"},
]  # fmt: skip

EVERYONE = {row["LastName"] for row in ROWS}


@pytest.fixture(scope="module")
def org() -> Org:
    org = Org.fresh(default_schema(), FakeClock(), admin_username="admin@leadsync.sandbox")
    lead, user = org.schema.get("Lead"), org.schema.get("User")
    assert lead and user
    avery = org.find(user, "Username", "avery.chen@leadsync.sandbox")[0]["Id"]
    for row in ROWS:
        owner = {"OwnerId": avery} if row["LastName"] == "Hopper" else {}
        org.insert(lead, {**row, **owner}, user_id=org.admin_id)
    return org


def run(org: Org, query: str) -> tuple[int, list[dict[str, Any]]]:
    bound = bind(parse(query), org.schema)

    def lookup(record_id: str) -> dict[str, Any] | None:
        found = org.record_by_id(record_id)
        return found[1] if found else None

    return execute(
        bound,
        org.rows(bound.sobject),
        lookup=lookup,
        record_url=lambda name, rid: f"/services/data/v59.0/sobjects/{name}/{rid}",
    )


def last_names(org: Org, where: str) -> set[str]:
    _, records = run(org, f"SELECT LastName FROM Lead WHERE {where}")
    return {r["LastName"] for r in records}


WHERE_CASES: list[tuple[str, set[str]]] = [
    (r"LastName = 'O\'Brien'", {"O'Brien"}),
    (r"lastname = 'o\'brien'", {"O'Brien"}),  # names and text are case-insensitive
    # An injection attempt is one literal: the escaped quotes never end the string.
    (r"LastName = 'x\' OR Name != \''", {INJECTION}),
    (r"Company = 'Acme\' OR Company != \'Acme'", set()),
    (r"LastName = 'Back\\slash'", {"Back\\slash"}),
    (r"LastName = 'Line\nBreak'", {"Line\nBreak"}),
    (r"LastName = 'Hopp\u0065r'", {"Hopper"}),
    ("Email = null", EVERYONE - {"O'Brien"}),
    ("Email != null", {"O'Brien"}),
    ("LeadSource != 'Web'", EVERYONE - {"O'Brien", "Müller GmbH"}),  # != matches nulls in SOQL
    ("NumberOfEmployees > 20", {"O'Brien"}),
    ("NumberOfEmployees <= 10", {"Lovelace"}),  # nulls never satisfy a range
    ("Leadsync_Score__c >= 80.0 AND Leadsync_Score__c < 90", {"O'Brien"}),
    ("Leadsync_Score__c > -1.5", {"O'Brien", "Lovelace"}),
    ("LeadSource IN ('Web', 'Other')", {"O'Brien", "100%_Real", "Müller GmbH"}),
    ("LeadSource IN ('WEB')", {"O'Brien", "Müller GmbH"}),
    ("LeadSource NOT IN ('Web')", EVERYONE - {"O'Brien", "Müller GmbH"}),  # nulls are not in
    ("LeadSource NOT IN ('Web', 'Other', 'Phone Inquiry')", EVERYONE - {
        "O'Brien", "100%_Real", "Müller GmbH", "Hopper"}),
    ("Leadsync_Score__c IN (80, 95.5)", {"O'Brien", "Lovelace"}),
    ("CreatedDate IN (2026-11-25T03:00:00Z, TODAY)", set()),
    ("LastName LIKE 'ho%'", {"Hopper"}),
    ("LastName LIKE 'HOP%'", {"Hopper"}),
    ("Email LIKE '%@ACME.example'", {"O'Brien"}),
    ("Email LIKE '%@acme'", set()),
    ("LastName LIKE 'm%'", {"Müller GmbH"}),  # an ASCII pattern against a value that is not
    ("LastName LIKE '%GMBH'", {"Müller GmbH"}),
    ("LastName LIKE 'MÜL%'", {"Müller GmbH"}),
    ("FirstName LIKE 'J_RG'", {"Müller GmbH"}),
    ("LastName LIKE '%'", EVERYONE),
    ("LastName LIKE '%p_er'", {"Hopper"}),
    (r"LastName LIKE '100\%\_%'", {"100%_Real"}),
    (r"LastName LIKE '100\%x%'", set()),
    ("Status = 'working - contacted'", {"O'Brien"}),
    ("NOT LastName = 'Hopper' AND Company = 'Navy'", set()),
    ("NOT (LastName = 'Hopper' OR Company = 'Wild')",
     {"O'Brien", INJECTION, "Lovelace", "Müller GmbH"}),
    ("(LastName = 'Hopper' OR LastName = 'Lovelace') AND NumberOfEmployees = 10", {"Lovelace"}),
    ("Owner.Username = 'avery.chen@leadsync.sandbox'", {"Hopper"}),
    ("IsConverted = false AND IsDeleted = FALSE", EVERYONE),
    ("CreatedDate > 2026-11-25T03:00:00Z", EVERYONE),
    ("CreatedDate < 2026-11-25T03:00:00.000+0000", set()),
    ("CreatedDate >= 2026-11-25T04:00:00+01:00", EVERYONE),
    ("Leadsync_Id__c = 'LS-1'", {"O'Brien"}),
    ("ConvertedDate = 2026-11-25", set()),
    ("ConvertedDate = null AND SystemModstamp >= 2026-11-25T03:00:00.006Z", EVERYONE),
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES, ids=[c[0] for c in WHERE_CASES])
def test_where(org: Org, where: str, expected: set[str]) -> None:
    assert last_names(org, where) == expected


def test_id_filter_accepts_fifteen_char_ids(org: Org) -> None:
    leads = org.schema.get("Lead")
    assert leads is not None
    hopper = next(r for r in org.rows(leads) if r["LastName"] == "Hopper")

    assert last_names(org, f"Id = '{hopper['Id'][:15]}'") == {"Hopper"}
    assert last_names(org, f"Id IN ('{hopper['Id']}')") == {"Hopper"}


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            "ORDER BY NumberOfEmployees DESC NULLS LAST, LastName",
            ["O'Brien", "Lovelace", "100%_Real", "Back\\slash", "Hopper", "Line\nBreak"],
        ),
        ("ORDER BY NumberOfEmployees, LastName LIMIT 2", ["100%_Real", "Back\\slash"]),
        ("ORDER BY NumberOfEmployees NULLS LAST LIMIT 2", ["Lovelace", "O'Brien"]),
        ("ORDER BY lastname DESC LIMIT 2 OFFSET 1", ["Lovelace", "Line\nBreak"]),
        ("ORDER BY Owner.Username DESC, LastName LIMIT 2", ["Hopper", "100%_Real"]),
    ],
)
def test_order_limit_offset(org: Org, tail: str, expected: list[str]) -> None:
    _, records = run(org, f"SELECT LastName FROM Lead WHERE Company != 'Evil' {tail}")

    assert [r["LastName"] for r in records] == expected


def test_projection_uses_canonical_names_and_nests_relationships(org: Org) -> None:
    total, records = run(
        org, "select id, LASTNAME, owner.name, Owner.Email from lead where LastName = 'Hopper'"
    )

    assert total == 1
    record = records[0]
    assert list(record) == ["attributes", "Id", "LastName", "Owner"]
    assert record["attributes"]["type"] == "Lead"
    assert record["Owner"]["attributes"]["type"] == "User"
    assert record["Owner"]["Name"] == "Avery Chen"
    assert record["Owner"]["Email"] == "avery.chen@leadsync.sandbox"


def test_count(org: Org) -> None:
    assert run(org, "SELECT COUNT() FROM Lead WHERE Company = 'Wild'") == (3, [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"'O\'Brien'", "O'Brien"),
        (r"'a\\b'", "a\\b"),
        (r"'tab\there'", "tab\there"),
        (r"'new\Nline'", "new\nline"),
        (r"'\"quoted\"'", '"quoted"'),
        (r"'caf\u00e9'", "café"),
        (r"'100\%'", "100%"),
    ],
)
def test_string_escapes(text: str, value: str) -> None:
    [token, _eof] = tokenize(text)

    assert (token.kind, token.value) == ("STRING", value)


ERROR_CASES: list[tuple[str, str, str, int | None]] = [
    ("", "MALFORMED_QUERY", "SOQL statements cannot be empty or null", None),
    ("SELECT Id FRM Lead", "MALFORMED_QUERY", "unexpected token: 'FRM'", 11),
    ("SELECT Id, FROM Lead", "MALFORMED_QUERY", "unexpected token: 'FROM'", 12),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>", 26),
    (
        "SELECT Id FROM Lead WHERE LastName = 'a' AND Company = 'b' OR Email = null",
        "MALFORMED_QUERY",
        "unexpected token: 'OR'",
        60,
    ),
    (
        "SELECT Id FROM Lead WHERE LastName = 'open",
        "MALFORMED_QUERY",
        "line 1:43 mismatched character '<EOF>' expecting '''",
        43,
    ),
    (
        r"SELECT Id FROM Lead WHERE LastName = 'bad\q'",
        "MALFORMED_QUERY",
        r"Invalid string literal 'bad\q'. Illegal character sequence '\q' in string literal.",
        42,
    ),
    (
        "SELECT Id FROM Lead WHERE LastName = 'a' #",
        "MALFORMED_QUERY",
        "line 1:42 no viable alternative at character '#'",
        42,
    ),
    ("SELECT Id FROM Lead LIMIT 1 LIMIT 2", "MALFORMED_QUERY", "unexpected token: 'LIMIT'", 29),
    (
        "SELECT Id FROM Lead OFFSET 2001",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
        None,
    ),
    (
        "SELECT Id, Nmae FROM Lead",
        "INVALID_FIELD",
        "No such column 'Nmae' on entity 'Lead'. If you are attempting to use a custom field, be "
        "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
        12,
    ),
    (
        "SELECT Id FROM Leed",
        "INVALID_TYPE",
        "sObject type 'Leed' is not supported. If you are attempting to use a custom object, be "
        "sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
        16,
    ),
    (
        "SELECT Id FROM Lead WHERE NumberOfEmployees = '5'",
        "INVALID_FIELD",
        "value of filter criterion for field 'NumberOfEmployees' must be of type integer and "
        "should not be enclosed in quotes",
        47,
    ),
    (
        "SELECT Id FROM Lead WHERE LastName = 5",
        "INVALID_FIELD",
        "value of filter criterion for field 'LastName' must be of type string and should be "
        "enclosed in quotes",
        38,
    ),
    (
        "SELECT Id FROM Lead WHERE CreatedDate > 2026-11-25",
        "INVALID_FIELD",
        "value of filter criterion for field 'CreatedDate' must be of type dateTime and should "
        "not be enclosed in quotes",
        41,
    ),
    (
        "SELECT Id FROM Lead WHERE IsConverted = 'false'",
        "INVALID_FIELD",
        "value of filter criterion for field 'IsConverted' must be of type boolean and should "
        "not be enclosed in quotes",
        41,
    ),
    (
        "SELECT Id FROM Lead WHERE Id = 'abc'",
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid ID field: abc",
        32,
    ),
    (
        "SELECT Id FROM Lead WHERE Description = 'x'",
        "INVALID_FIELD",
        "field 'Description' can not be filtered in a query call",
        27,
    ),
    (
        "SELECT Id FROM Lead ORDER BY Description",
        "INVALID_FIELD",
        "field 'Description' can not be sorted in a query call",
        30,
    ),
    (
        "SELECT Id, Boss.Name FROM Lead",
        "INVALID_FIELD",
        "Didn't understand relationship 'Boss' in field path. If you are attempting to use a "
        "custom relationship, be sure to append the '__r' after the custom relationship name. "
        "Please reference your WSDL or the describe call for the appropriate names.",
        12,
    ),
]


@pytest.mark.parametrize(
    ("query", "code", "message", "column"), ERROR_CASES, ids=[c[0] or "empty" for c in ERROR_CASES]
)
def test_errors(org: Org, query: str, code: str, message: str, column: int | None) -> None:
    with pytest.raises(SoqlError) as failure:
        run(org, query)

    assert (failure.value.code, failure.value.message) == (code, message)
    position = failure.value.position
    assert (None if position is None else position + 1) == column


def test_error_banner_points_at_the_token() -> None:
    query = "SELECT Id,\n  Nmae FROM Lead"

    assert render_query_error(query, "No such column", 13) == (
        "\n  Nmae FROM Lead\n  ^\nERROR at Row:2:Column:3\nNo such column"
    )

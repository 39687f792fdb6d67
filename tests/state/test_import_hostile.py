"""Hostile input files: each bad record refused on its own line, the good ones around it kept.

Every case is a file whose first and last records are good and whose middle one is hostile:
the table gives the refusals expected (line, field, a fragment of the reason) and the emails
that must be in the store afterwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.adapters.marketing_store import (
    MAX_VALUE_CHARS,
    EmbeddedMarketingStore,
    ImportFileError,
)
from tests.conftest import config_text

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
HEADER = "email,first_name,last_name,company,employees,annual_revenue,created_at,activities,notes"
VISIT = "page_visit|2026-11-02T10:00:00Z|/pricing"
BEFORE = "before@ok.example"
AFTER = "after@ok.example"
BAD = "bad@ok.example"


@dataclass
class Case:
    id: str
    content: bytes
    refused: list[tuple[int, str, str]]
    """(line, field, fragment of the reason), in the order reported."""
    imported: set[str]
    record: str | None = BAD
    """What the refusal names the record by: its email when known."""
    stored: dict[str, object] = field(default_factory=dict)
    """Fields of the hostile row's lead, as stored, when it is imported."""
    suffix: str = ".csv"


def csv_row(email: str = BAD, *, first: str = "Ana", last: str = "Lima", company: str = "Acme",
            employees: str = "250", revenue: str = "1000000",
            created: str = "2026-11-01T09:00:00Z", activities: str = VISIT,
            notes: str = "") -> str:
    cells = [email, first, last, company, employees, revenue, created, activities, notes]
    return ",".join(f'"{c}"' if any(ch in c for ch in ',"\n\r') else c for c in cells)


def csv_file(middle: str | bytes) -> bytes:
    """Header (line 1), a good row (2), the hostile record (3), a good row (4)."""
    hostile = middle if isinstance(middle, bytes) else middle.encode("utf-8")
    return (f"{HEADER}\r\n{csv_row(BEFORE)}\r\n".encode() + hostile
            + f"\r\n{csv_row(AFTER)}\r\n".encode())


def jsonl_file(middle: str | bytes) -> bytes:
    """A good lead (line 1), the hostile line (2), a good lead (3)."""
    hostile = middle if isinstance(middle, bytes) else middle.encode("utf-8")
    good = [json.dumps({"email": e, "last_name": "Lima", "employees": 250}).encode()
            for e in (BEFORE, AFTER)]
    return good[0] + b"\n" + hostile + b"\n" + good[1] + b"\n"


def lead(**overrides: object) -> str:
    """One JSON line for the hostile lead."""
    return json.dumps({"email": BAD, "last_name": "Lima", **overrides})


BOTH = {BEFORE, AFTER}
ALL = {BEFORE, BAD, AFTER}

CSV_CASES = [
    # dates: a time that overflows in UTC, or a placeholder, costs its row (or its activity)
    Case("created_at overflows in UTC", csv_file(csv_row(created="9999-12-31T23:59:59-05:00")),
         [(3, "created_at", "outside 1900–2099")], BOTH),
    Case("created_at year 1", csv_file(csv_row(created="0001-01-01T00:00:00+01:00")),
         [(3, "created_at", "outside 1900–2099")], BOTH),
    Case("created_at placeholder in UTC", csv_file(csv_row(created="9999-12-31T00:00:00Z")),
         [(3, "created_at", "placeholder")], BOTH),
    Case("activity time overflows: only that activity goes",
         csv_file(csv_row(activities=f"{VISIT};form_fill|9999-12-31T23:59:59-05:00|Demo")),
         [(3, "activities[1].occurred_at", "outside 1900–2099")], ALL),
    # huge values: read (the csv module's own limit is not a file error), refused by name
    Case("1 MB field", csv_file(csv_row(notes="x" * 1_000_000)),
         [(3, "notes", "1,000,000 characters long; the cap is 131,072")], BOTH),
    Case("company one character over the cap", csv_file(csv_row(company="y" * 131_073)),
         [(3, "company", "131,073 characters")], BOTH),
    Case("a value at the cap is kept", csv_file(csv_row(notes="z" * MAX_VALUE_CHARS)),
         [], ALL, stored={"notes": "z" * MAX_VALUE_CHARS}),
    # bytes that are not UTF-8: the row and its column named, the rest of the file read
    Case("one Latin-1 byte", csv_file(csv_row(company="Caf\udce9 SA").encode(
        "utf-8", "surrogateescape")), [(3, "company", "not UTF-8 (0xE9 in 'Caf\\xe9 SA')")],
        BOTH),
    Case("Latin-1 byte in the email", csv_file("g\udcf6ran@ok.example,G,L,Acme,1,1,,,".encode(
        "utf-8", "surrogateescape")), [(3, "email", "not UTF-8 (0xF6")], BOTH,
        record="g\\xf6ran@ok.example"),
    Case("a cp1252 file's smart quote", csv_file(csv_row(notes="it\udc92s").encode(
        "utf-8", "surrogateescape")), [(3, "notes", "0x92")], BOTH),
    # numbers read strictly
    Case("decimal comma", csv_file(csv_row(employees="1,5")),
         [(3, "employees", "'1,5' is ambiguous")], BOTH),
    Case("comma thousands or decimal", csv_file(csv_row(revenue="1,500")),
         [(3, "annual_revenue", "decimal comma in some locales")], BOTH),
    Case("a word for a number", csv_file(csv_row(employees="lots")),
         [(3, "employees", "'lots' is not a number")], BOTH),
    Case("half a person", csv_file(csv_row(employees="12.5")),
         [(3, "employees", "not a whole number")], BOTH),
    Case("negative revenue", csv_file(csv_row(revenue="-5")),
         [(3, "annual_revenue", "negative")], BOTH),
    Case("number beyond a float", csv_file(csv_row(revenue="1e400")),
         [(3, "annual_revenue", "too large")], BOTH),
    Case("grouped thousands are unambiguous", csv_file(csv_row(revenue="1,000,000")), [], ALL,
         stored={"annual_revenue": "1,000,000"}),
    Case("every number problem at once", csv_file(csv_row(employees="lots", revenue="2,5")),
         [(3, "employees", "not a number"), (3, "annual_revenue", "ambiguous")], BOTH),
    # NUL and controls
    Case("NUL in a value", csv_file(csv_row(company="Ac\x00me")),
         [(3, "company", "NUL character ('Ac\\x00me')")], BOTH),
    Case("NUL in the email", csv_file(csv_row(email="a\x00b@ok.example")),
         [(3, "email", "NUL")], BOTH, record="a\\x00b@ok.example"),
    Case("bidi override stripped from a name",
         csv_file(csv_row(first="\u202eAna\u202c", last="Li\u2066ma\u2069")), [], ALL,
         stored={"first_name": "Ana", "last_name": "Lima"}),
    Case("controls stripped; tab and break become a space in profile fields",
         csv_file(csv_row(company="Ac\x07me\tInc.\nLtd\x1b", notes="line one\r\nline\ttwo\x0c")),
         [], ALL, stored={"company": "Acme Inc. Ltd", "notes": "line one\nline\ttwo"}),
    Case("an email of controls only is missing",
         csv_file(csv_row(email="\u202e\x01", first="Ana", last="Lima")),
         [(3, "email", "nothing is left once control characters are removed")], BOTH,
         record="Ana Lima"),
    # CSV structure: a record, not the file
    Case("a quote never closed", f"{HEADER}\r\n{csv_row(BEFORE)}\r\n"
         f'{BAD},"Ana,Lima,Acme,1,1,,,\r\n{csv_row(AFTER)}\r\n'.encode(),
         [(3, "(row)", "never closed: lines 3–4 were read as one record")], {BEFORE},
         record="row 3"),
    Case("text after a closing quote", csv_file(f'{BAD},"Ana"x,Lima,Acme,1,1,,,'),
         [(3, "(row)", "malformed quoting")], BOTH, record="row 3"),
    Case("an unquoted comma shifts the columns", csv_file(f"{BAD},Ana,Lima,Acme, Inc.,1,1,,,"),
         [(3, "(row)", "10 values for 9 columns")], BOTH),
    Case("a multi-line record is named by its first line",
         csv_file(csv_row(created="soon", notes="one\ntwo\nthree")),
         [(3, "created_at", "not an ISO 8601 time")], BOTH),
]

JSONL_CASES = [
    Case("object for text", jsonl_file(lead(company={"name": "Acme"})),
         [(2, "company", "an object where text is expected")], BOTH),
    Case("list for a name", jsonl_file(lead(first_name=["Ana"])),
         [(2, "first_name", "a list where text is expected")], BOTH),
    Case("object in a custom field", jsonl_file(lead(utm={"source": "x"})),
         [(2, "utm", "an object where a single value is expected")], BOTH),
    Case("boolean for a number", jsonl_file(lead(employees=True)),
         [(2, "employees", "a boolean (true) where a number is expected")], BOTH),
    Case("number for a time", jsonl_file(lead(created_at=1764000000)),
         [(2, "created_at", "a number where an ISO 8601 time is expected")], BOTH),
    Case("a number where text is expected is fine", jsonl_file(lead(title=42, tier=True)), [],
         ALL, stored={"title": 42, "tier": True}),
    Case("decimal comma in a string", jsonl_file(lead(employees="1,5")),
         [(2, "employees", "ambiguous")], BOTH),
    Case("NaN", jsonl_file(f'{{"email": "{BAD}", "employees": NaN}}'),
         [(2, "employees", "nan is not a number")], BOTH),
    Case("infinity", jsonl_file(f'{{"email": "{BAD}", "annual_revenue": 1e400}}'),
         [(2, "annual_revenue", "inf is not a number")], BOTH),
    Case("not JSON", jsonl_file('{"email": "bad@ok.example", '),
         [(2, "(row)", "not valid JSON")], BOTH, record="row 2"),
    Case("top-level list", jsonl_file("[1, 2]"),
         [(2, "(row)", "a list, not an object")], BOTH, record="row 2"),
    Case("top-level string", jsonl_file('"bad@ok.example"'),
         [(2, "(row)", "text, not an object")], BOTH, record="row 2"),
    Case("a key twice", jsonl_file(f'{{"email": "{BAD}", "email": "other@ok.example"}}'),
         [(2, "email", "'email' appears twice")], BOTH),
    Case("lone surrogate", jsonl_file(f'{{"email": "{BAD}", "last_name": "Li\\ud800ma"}}'),
         [(2, "last_name", "lone surrogate (\\ud800)")], BOTH),
    Case("escaped NUL", jsonl_file(f'{{"email": "{BAD}", "company": "Ac\\u0000me"}}'),
         [(2, "company", "NUL")], BOTH),
    Case("Latin-1 byte in a string", jsonl_file(b'{"email": "bad@ok.example", "company": '
                                                b'"Caf\xe9"}'),
         [(2, "company", "not UTF-8 (0xE9 in 'Caf\\xe9')")], BOTH),
    Case("Latin-1 byte outside a string", jsonl_file(b'{"email": "x@ok.example"}\xe9'),
         [(2, "(row)", "byte 0xE9 at byte 26 is not UTF-8")], BOTH, record="row 2"),
    Case("digits beyond Python's int limit", jsonl_file(
        f'{{"email": "{BAD}", "employees": 1{"0" * 5000}}}'),
        [(2, "(row)", "not valid JSON")], BOTH, record="row 2"),
    Case("nested too deeply", jsonl_file("[" * 100_000 + "]" * 100_000),
         [(2, "(row)", "not valid JSON")], BOTH, record="row 2"),
    Case("bidi override in a key and a value", jsonl_file(
        json.dumps({"email\u202e": BAD, "last_name": "\u202eamiL"})), [], ALL,
        stored={"last_name": "amiL"}),
    Case("activities not a list: the lead stays, without them",
         jsonl_file(lead(activities={"kind": "page_visit"})),
         [(2, "activities", "an object where a list of activities is expected")], ALL),
    Case("one activity of the wrong shape", jsonl_file(lead(activities=[
        {"kind": "page_visit", "occurred_at": "2026-11-02T10:00:00Z", "detail": {"p": 1}},
        {"kind": "form_fill", "occurred_at": "2026-11-02T10:00:00Z", "detail": "Demo"}])),
        [(2, "activities[0].detail", "an object where text is expected")], ALL),
    Case("activity time overflows", jsonl_file(lead(activities=[
        {"kind": "page_visit", "occurred_at": "9999-12-31T23:59:59-05:00", "detail": "/"}])),
        [(2, "activities[0].occurred_at", "outside 1900–2099")], ALL),
]
for case in JSONL_CASES:
    case.suffix = ".jsonl"


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    store = EmbeddedMarketingStore(f"sqlite:///{tmp_path}/marketing.db")
    yield store
    store.close()


@pytest.mark.parametrize("case", CSV_CASES + JSONL_CASES, ids=lambda c: c.id)
def test_a_hostile_record_costs_itself_only(case: Case, store: EmbeddedMarketingStore,
                                            tmp_path: Path) -> None:
    path = tmp_path / f"in{case.suffix}"
    path.write_bytes(case.content)
    report = store.import_file(path, clock=T0)

    got = [(r.line, r.field, r.reason) for r in report.rejected]
    assert [(line, fld) for line, fld, _ in got] == [(line, fld) for line, fld, _ in case.refused]
    for (_, _, reason), (_, _, fragment) in zip(got, case.refused, strict=True):
        assert fragment in reason
        assert "\n" not in reason and not re.search("[\x00\u202a-\u202e\u2066-\u2069]", reason)
    if case.refused and case.record is not None:
        assert {r.record for r in report.rejected} == {case.record}
    kept = store.rejects()
    assert sorted((r.line, r.field, r.reason) for r in kept) == sorted(got)

    leads = {lead.fields["email"]: lead for lead in store.read_changes(None)}
    assert set(leads) == case.imported
    for name, value in case.stored.items():
        assert leads[BAD].fields[name] == value


def test_activity_problems_drop_only_the_activity(store: EmbeddedMarketingStore,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(csv_file(csv_row(activities=f"{VISIT};form_fill|9999-12-31T23:59:59-05:00"
                                                 "|Demo;email_click|2026-11-03T00:00:00Z|N\x00")))
    report = store.import_file(path, clock=T0)
    assert [(r.field, r.record) for r in report.rejected] == [
        ("activities[1].occurred_at", BAD), ("activities[2].detail", BAD)]
    [bad] = [lead for lead in store.read_changes(None) if lead.fields["email"] == BAD]
    assert [a.detail for a in bad.activities] == ["/pricing"]


WHOLE_FILE = [
    ("email named twice", f"email,first_name,email\r\n{BEFORE},Ana,{AFTER}\r\n".encode(),
     "email", "column 'email' twice (columns 1 and 3); the whole file is refused"),
    ("a custom column named twice", f"email,notes,company,notes\r\n{BEFORE},a,b,c\r\n".encode(),
     "notes", "column 'notes' twice (columns 2 and 4)"),
    ("named twice once bidi controls are gone",
     f"email,company,comp\u202eany\r\n{BEFORE},a,b\r\n".encode(), "company", "twice"),
    ("no email column", f"mail,company\r\n{BEFORE},a\r\n".encode(), "email", "no 'email'"),
    ("a header name that is not UTF-8", b"email,caf\xe9\r\nx@ok.example,a\r\n", "#2",
     "not UTF-8 (0xE9"),
    ("empty file", b"", "email", "the file is empty"),
]


@pytest.mark.parametrize(("content", "column", "fragment"), [c[1:] for c in WHOLE_FILE],
                         ids=[c[0] for c in WHOLE_FILE])
def test_a_bad_header_refuses_the_file_and_says_so(content: bytes, column: str, fragment: str,
                                                   store: EmbeddedMarketingStore,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as caught:
        store.import_file(path, clock=T0)
    message = str(caught.value)
    assert fragment in message and f"column {column}:" in message and "\n" not in message
    assert store.is_empty()
    [kept] = store.rejects()
    assert (kept.line, kept.record, kept.field) == (1, "(whole file)", column)
    assert fragment in kept.reason


def test_utf8_bom_is_not_part_of_the_first_name(store: EmbeddedMarketingStore,
                                                tmp_path: Path) -> None:
    csv_path, jsonl_path = tmp_path / "bom.csv", tmp_path / "bom.jsonl"
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_file(csv_row()))
    jsonl_path.write_bytes(b"\xef\xbb\xbf" + jsonl_file(lead()))
    assert store.import_file(csv_path, clock=T0).rejected == []
    assert store.import_file(jsonl_path, clock=T0).rejected == []
    assert {lead.fields["email"] for lead in store.read_changes(None)} == ALL


def test_every_refusal_is_storable(db_url: str, tmp_path: Path) -> None:
    """NUL, surrogates and undecodable bytes in the kept raw row: PostgreSQL takes no NUL."""
    path = tmp_path / "worst.csv"
    rows = [csv_row(f"r{i}@ok.example", company=company) for i, company in enumerate(
        ["Ac\x00me", "Caf\udce9", "x" * 200_000, "\u202eAcme"])]
    path.write_bytes(csv_file("\r\n".join(rows).encode("utf-8", "surrogateescape")))
    store = EmbeddedMarketingStore(db_url)
    try:
        report = store.import_file(path, clock=T0)
        assert [(r.line, r.field) for r in report.rejected] == [(3, "company"), (4, "company"),
                                                                 (5, "company")]
        raws = [json.loads(r.raw) for r in store.rejects()]
        assert {raw["company"][:10] for raw in raws} == {"Ac\\x00me", "Caf\\xe9", "x" * 10}
        assert {lead.fields["email"] for lead in store.read_changes(None)} == {
            BEFORE, AFTER, "r3@ok.example"}
    finally:
        store.close()


def test_cli_refuses_a_duplicated_header_in_one_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.cli import app

    config = tmp_path / "config.toml"
    config.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/state.db",
                                  marketing_url=f"sqlite:///{tmp_path}/marketing.db",
                                  route_to="127.0.0.1:9"), encoding="utf-8")
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    path = tmp_path / "dup.csv"
    path.write_text(f"email,company,email\n{BEFORE},Acme,{AFTER}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", str(path), "--config", str(config)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.output.strip().splitlines()
    assert "column 'email' twice" in line and "Traceback" not in result.output

    good = tmp_path / "good.csv"
    good.write_bytes(csv_file(csv_row(company="Caf\udce9").encode("utf-8", "surrogateescape")))
    result = CliRunner().invoke(app, ["import", str(good), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 new leads" in result.output
    assert f"refused line 3 ({BAD}), field company: holds bytes that are not UTF-8" in \
        result.output


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_runaway_line_is_refused_unread(suffix: str, store: EmbeddedMarketingStore,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setattr("connector.adapters.marketing_store.READ_LIMIT", 2_000)
    path = tmp_path / f"runaway{suffix}"
    if suffix == ".csv":
        path.write_bytes(csv_file(csv_row(notes="n" * 5_000)))
    else:
        path.write_bytes(jsonl_file(lead(notes="n" * 5_000)))
    report = store.import_file(path, clock=T0)
    line = 3 if suffix == ".csv" else 2
    assert [(r.line, r.field) for r in report.rejected] == [(line, "(row)")]
    assert "2,000" in report.rejected[0].reason
    assert {lead.fields["email"] for lead in store.read_changes(None)} == BOTH

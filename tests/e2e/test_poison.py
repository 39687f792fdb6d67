"""One bad record never stops the pipeline: whatever a record's own data breaks, in
any step, that record becomes a dead letter naming the step, the field and the
cause, and the rest of the batch and the run go on (issue 17)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tenacity import wait_none

from connector import config as configuration
from connector.adapters.salesforce import SalesforceAdapter
from connector.config import Config
from connector.errors import BatchInterrupted, FatalError
from connector.pipeline import Pipeline
from connector.records import Lead, Write, WriteResult
from connector.state import StateStore
from tests.e2e.test_dedupe import Leads, lead, qualify_all

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def run(config: Config, leads: list[Lead], wrap: Any = None) -> tuple[Any, list[Any]]:
    assert config.crm.salesforce is not None
    crm = SalesforceAdapter(config.crm.salesforce, password="sandbox", security_token="",
                            wait=wait_none())
    state = StateStore(config.resolve_url(config.state.url))
    try:
        summary = Pipeline(config, state, Leads(leads), wrap(crm) if wrap else crm).run()
        return summary, state.dead_letters()
    finally:
        crm.close()
        state.close()


def test_poison_values_cost_only_their_own_record(make_config: Any,
                                                  salesforce_sandbox: Any) -> None:
    config = qualify_all(make_config())
    leads = [lead(1), lead(2, last_name="X" * 70_000),            # over the URI limit
             lead(3, company={"name": "Acme"}),                    # a JSON object
             lead(4, first_name=["Dana", "D."]),                   # a JSON list
             lead(5, first_name="Da\udc00na"),                     # a lone surrogate
             lead(6)]
    summary, letters = run(config, leads)
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 3
    written = {r["Email"]: r for r in salesforce_sandbox.records("Lead")}
    assert set(written) == {"dana.n1@northwind.example", "dana.n2@northwind.example",
                            "dana.n6@northwind.example"}
    # the look-up left the 70,000 characters out; the mapping truncates to the field
    assert len(written["dana.n2@northwind.example"]["LastName"]) == 80
    reasons = {letter.marketing_id: f"{letter.error_code}: {letter.message} "
               f"{letter.errors()}" for letter in letters}
    assert set(reasons) == {"3", "4", "5"}
    assert "company: a dict where a single value belongs" in reasons["3"]
    assert "first_name: a list" in reasons["4"]
    assert "first_name: not valid Unicode" in reasons["5"]
    again, _ = run(config, leads[:2] + leads[5:])
    assert again.status == "ok" and again.counts["refused"] == 0


class RefusesOneBody:
    """The real adapter, but the CRM refuses a whole call whenever it carries lead 3,
    as Salesforce answers JSON_PARSER_ERROR for a body it cannot read."""

    def __init__(self, real: Any) -> None:
        self.real, self.name, self.calls = real, real.name, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upsert(self, object_name: str, key_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        self.calls += 1
        if any(w.key == "3" for w in records):
            raise BatchInterrupted([], FatalError(
                "Salesforce 400: JSON_PARSER_ERROR: Unexpected character", code=
                "JSON_PARSER_ERROR", status=400, content=True))
        return self.real.upsert(object_name, key_field, records)


def test_a_call_refused_for_one_records_body_is_split_to_find_it(
        make_config: Any, salesforce_sandbox: Any) -> None:
    config = qualify_all(make_config())
    summary, letters = run(config, [lead(n) for n in range(1, 9)], RefusesOneBody)
    assert summary.status == "ok", summary.error
    assert summary.counts["created"] == 7
    [letter] = letters
    assert letter.marketing_id == "3" and letter.error_code == "JSON_PARSER_ERROR"


class RefusesEveryBody(RefusesOneBody):
    def upsert(self, object_name: str, key_field: str,
               records: Sequence[Write]) -> list[WriteResult]:
        raise BatchInterrupted([], FatalError("Salesforce 400: INVALID_FIELD: No such column "
                                              "'Bogus__c'", code="INVALID_FIELD", status=400))


def test_a_cause_that_concerns_the_whole_run_still_fails_it_naming_it(
        make_config: Any, salesforce_sandbox: Any) -> None:
    config = qualify_all(make_config())
    summary, letters = run(config, [lead(1), lead(2)], RefusesEveryBody)
    assert summary.status == "failed" and "INVALID_FIELD" in (summary.error or "")
    assert letters == []


def test_a_run_whose_every_lead_is_refused_fails_saying_why(make_config: Any,
                                                            salesforce_sandbox: Any) -> None:
    config = qualify_all(make_config())
    summary, letters = run(config, [lead(3, company={"name": "Acme"})])
    assert summary.status == "failed"
    assert "every lead this run tried to hand off was refused (1)" in (summary.error or "")
    assert "company: a dict" in (summary.error or "")
    assert [letter.marketing_id for letter in letters] == ["3"]  # kept, not lost


def test_values_that_look_like_markup_are_printed_as_they_are(
        make_config: Any, tmp_path: Any, sf_client: Any) -> None:
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.conftest import import_leads, lead_row

    config = make_config()
    import_leads(config, tmp_path / "l.csv", [lead_row(1, title="MKT [/i] Z"),
                                              lead_row(2, last_name="")])
    runner = CliRunner()
    synced = runner.invoke(app, ["sync", "--once", "-c", str(config.source)])
    assert synced.exit_code == 0, synced.output
    [row] = sf_client.query("SELECT Id FROM Lead")["records"]
    sf_client.Lead.update(row["Id"], {"Title": "REP [/x] newer [bold]"})
    again = runner.invoke(app, ["sync", "--once", "-c", str(config.source)])
    assert again.exit_code == 0, again.output
    shown = runner.invoke(app, ["status", "-c", str(config.source)])
    assert shown.exit_code == 0, shown.output
    explained = runner.invoke(app, ["explain", "1", "-c", str(config.source)])
    assert explained.exit_code == 0, explained.output
    assert "REP [/x] newer [bold]" in explained.output


def test_the_dry_run_predicts_the_refusals_the_crms_metadata_tells(
        make_config: Any, tmp_path: Any) -> None:
    from connector.wiring import run_once
    from tests.conftest import import_leads, lead_row

    config = make_config()
    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2, last_name=""),
                                              lead_row(3, company="C" * 300)])
    dry = run_once(config, dry_run=True)
    real = run_once(config)
    assert (dry.counts["refused"], dry.counts["created"]) == (2, 1)
    assert (real.counts["refused"], real.counts["created"]) == (2, 1)
    predicted = dict(dry.refused)
    assert any("REQUIRED_FIELD_MISSING" in r and "LastName" in r for r in predicted.values())
    assert any("STRING_TOO_LONG" in r and "Company" in r for r in predicted.values())


def test_a_number_no_crm_field_takes_is_a_dead_letter_naming_the_field(
        make_config: Any, salesforce_sandbox: Any) -> None:
    """'lots' of employees from a marketing source that let it through: refused the
    same on every CRM, before any write, naming the field."""
    config = qualify_all(make_config())
    summary, letters = run(config, [lead(1, employees="lots"), lead(2, employees="250")])
    assert summary.status == "ok" and summary.counts["created"] == 1
    [letter] = letters
    assert letter.marketing_id == "1" and "employees: 'lots' is not a number" in \
        letter.message and letter.errors() == ["employees"]


def test_long_values_echoed_by_the_crm_are_cut_in_messages_not_in_the_record(
        make_config: Any, tmp_path: Any, salesforce_sandbox: Any) -> None:
    from connector.wiring import run_once
    from tests.conftest import import_leads, lead_row

    config = make_config()
    text = config.source.read_text(encoding="utf-8")
    config.source.write_text(text.replace('last_name = { crm = "LastName", transform = '
                                          '["trim", "truncate"] }', 'last_name = "LastName"'),
                             encoding="utf-8")
    import_leads(config, tmp_path / "l.csv", [lead_row(1), lead_row(2, last_name="L" * 70_000)])
    summary = run_once(configuration.load(config.source))
    [(_, reason)] = summary.refused
    assert "STRING_TOO_LONG" in reason and len(reason) < 400
    state = StateStore(config.resolve_url(config.state.url))
    try:
        [letter] = state.dead_letters()
    finally:
        state.close()
    assert len(letter.message) < 4_000 and "L" * 70_000 in letter.payload  # kept whole


def test_a_required_field_no_lead_has_is_named_when_nobody_qualifies(
        make_config: Any, tmp_path: Any) -> None:
    from connector.wiring import run_once
    from tests.conftest import import_leads, lead_row

    config = make_config()
    config.source.write_text(config.source.read_text(encoding="utf-8").replace(
        'required_fields = ["email", "company"]', 'required_fields = ["email", "companyy"]'),
        encoding="utf-8")
    config = configuration.load(config.source)
    import_leads(config, tmp_path / "l.csv", [lead_row(1)])
    summary = run_once(config)
    assert summary.counts["qualified"] == 0
    assert "scoring.required_fields names 'companyy'" in summary.warnings[0]

"""`leadsync check` on the shipped config with five seeded mapping mistakes.

The CRM is the Salesforce sandbox, so the metadata checked against is what a
real org's describe returns (restricted Lead.Status, read-only IsConverted,
required Company…).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from tests.conftest import config_text

runner = CliRunner()


def shipped(tmp_path: Path, sandbox, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: ANN001
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    return config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/state.db",
                       marketing_url=f"sqlite:///{tmp_path}/marketing.db",
                       route_to=sandbox.address)


def seed(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, marker: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(marker)]
    return number


def run_check(tmp_path: Path, text: str):  # noqa: ANN201
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return runner.invoke(app, ["check", "--config", str(path)])


def test_five_seeded_mistakes_are_each_reported_at_their_line(
        tmp_path: Path, salesforce_sandbox, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    text = shipped(tmp_path, salesforce_sandbox, monkeypatch)
    # 1. a misspelt CRM field
    text = seed(text, 'email = "Email"', 'email = "Emial"')
    # 2. a constant the restricted Lead.Status picklist does not hold
    text = seed(text, 'Status = "Open - Not Contacted"', 'Status = "New"')
    # 3. a value map whose value the restricted Lead.Status picklist does not hold
    text = seed(text, 'industry = "Industry"',
                'industry = { crm = "Status", sync = "create_only", value_map = { new = "New" } }')
    # 4. a required field left unmapped
    text = seed(text, 'company = "Company"\n', "")
    # 5. two-way on a field Salesforce computes
    text = seed(text, "[mapping.on_create]", '[mapping.fields.converted]\ncrm = "IsConverted"\n'
                'sync = "two_way"  # seeded\ntransform = ["boolean"]\n\n'
                '[mapping.on_create]')

    result = run_check(tmp_path, text)

    email, status, industry, fields, converted = (line_of(text, marker) for marker in (
        'email = "Emial"', 'Status = "New"', "industry = {", "[mapping.fields]",
        'sync = "two_way"  # seeded'))
    expected = [
        (f"mapping.fields.email (line {email}): Lead has no field 'Emial'",
         "did you mean 'Email'?"),
        (f"mapping.on_create.Status (line {status}): 'New' is not an active value of "
         "Lead.Status, a restricted picklist", "'Open - Not Contacted'"),
        (f"mapping.fields.industry.value_map.new (line {industry}): 'New' is not an active "
         "value of Lead.Status, a restricted picklist", "'Open - Not Contacted'"),
        (f"mapping.fields (line {fields}): Lead.Company is required by the CRM (salesforce) "
         "and nothing maps to it", "add it to [mapping.on_create]"),
        (f"mapping.fields.converted.sync (line {converted}): Lead.IsConverted is read-only in "
         "the CRM", 'use sync = "to_marketing"'),
    ]
    for message, fix in expected:
        assert message in result.output, result.output
        assert fix in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("✗")]
    assert len(errors) == 5, result.output
    assert "5 error(s)" in result.output
    assert result.exit_code == 1


def test_warnings_alone_exit_0_with_the_success_line(
        tmp_path: Path, salesforce_sandbox, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    text = shipped(tmp_path, salesforce_sandbox, monkeypatch)
    text = seed(text, 'external_id_field = "Leadsync_Id__c"', 'external_id_field = "Legacy_Id__c"')

    result = run_check(tmp_path, text)

    assert result.exit_code == 0, result.output
    line = line_of(text, "external_id_field")
    assert (f"! mapping.external_id_field (line {line}): Lead.Legacy_Id__c is an External ID "
            "but not Unique") in result.output
    assert not [ln for ln in result.output.splitlines() if ln.startswith("✗")]
    assert "✓" in result.output and "warning(s) above" in result.output


def test_an_entry_status_the_picklist_lacks_is_an_error_at_its_line(
        tmp_path: Path, salesforce_sandbox, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """[[scoring.entry]] statuses reach Status through the computed source
    entry_status: each must be a value the restricted picklist takes (the trial's
    "Demo Booked" passed check and every lead of the next run was refused)."""
    text = shipped(tmp_path, salesforce_sandbox, monkeypatch)
    text = seed(text, 'Status = "Open - Not Contacted"\n', "")
    text = seed(text, "[mapping.fields]\n", '[mapping.fields]\nentry_status = { crm = "Status", '
                'sync = "create_only", default = "Open - Not Contacted" }\n')
    text = seed(text, "[scoring.activity_points]", '[[scoring.entry]]\nactivity = "form_fill"\n'
                'detail = "demo"\nstatus = "Demo Booked"\n\n[scoring.activity_points]')
    result = run_check(tmp_path, text)
    line = line_of(text, 'status = "Demo Booked"')
    assert f"✗ scoring.entry.0.status (line {line}): 'Demo Booked' is not an active " \
           "value of" in result.output, result.output
    assert result.exit_code == 1
    fixed = run_check(tmp_path, text.replace("Demo Booked", "Working - Contacted"))
    assert "scoring.entry" not in fixed.output, fixed.output

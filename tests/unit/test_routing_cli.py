"""`leadsync rep away/back/list`, and routing's findings for `leadsync check`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from connector.routing.check import routing_findings

runner = CliRunner()
SANDBOX_USERS = {
    "0058d0000000001AAA": "Sandbox Admin", "0058d0000000002AAA": "Avery Chen",
    "0058d0000000003AAA": "Jordan Patel", "0058d0000000004AAA": "Morgan Diaz",
    "0058d0000000005AAA": "Riley Okafor", "0058d0000000006AAA": "Casey Brooks",
}


def write_config(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace(
        'url = "sqlite:///state/leadsync.db"', f'url = "sqlite:///{tmp_path}/state.db"')
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rep_away_list_back(tmp_path: Path) -> None:
    path = str(write_config(tmp_path))
    result = runner.invoke(app, ["rep", "away", "Avery Chen", "--until", "2099-01-05",
                                 "--reason", "parental leave", "-c", path])
    assert result.exit_code == 0, result.output
    assert "Avery Chen (avery) away until 2099-01-05" in result.output
    listed = runner.invoke(app, ["rep", "list", "--json", "-c", path])
    reps = {r["key"]: r for r in json.loads(listed.output)}
    assert reps["avery"]["status"] == "Avery Chen away until 2099-01-05 (parental leave)"
    assert reps["avery"]["pools"] == {"americas": 2} and reps["avery"]["daily_cap"] == 25
    assert reps["riley"]["status"] == "available"
    back = runner.invoke(app, ["rep", "back", "0058d0000000002AAA", "-c", path])
    assert back.exit_code == 0 and "1 away period(s) cleared" in back.output
    listed = runner.invoke(app, ["rep", "list", "--json", "-c", path])
    assert {r["key"]: r for r in json.loads(listed.output)}["avery"]["status"] == "available"


def test_rep_away_refusals(tmp_path: Path) -> None:
    path = str(write_config(tmp_path))
    unknown = runner.invoke(app, ["rep", "away", "zed", "--until", "2099-01-01", "-c", path])
    assert unknown.exit_code == 1
    assert "no rep 'zed' in [routing.reps] (reps: avery, jordan, morgan, riley)" in unknown.output
    past = runner.invoke(app, ["rep", "away", "riley", "--until", "2001-01-01", "-c", path])
    assert past.exit_code == 1 and "is in the past" in past.output
    bad = runner.invoke(app, ["rep", "away", "riley", "--until", "12/01/2099", "-c", path])
    assert bad.exit_code == 2 and "expected a date like" in bad.output


def test_check_findings_for_reps_and_fallback(tmp_path: Path) -> None:
    path = write_config(tmp_path, ('id = "0058d0000000003AAA"', 'id = "005TYPO"'))
    cfg = configuration.load(path)
    active = set(SANDBOX_USERS) - {"0058d0000000005AAA", "0058d0000000006AAA"}
    found = routing_findings(cfg, active, SANDBOX_USERS)
    text = path.read_text(encoding="utf-8").splitlines()

    def line(needle: str) -> int:
        return next(i for i, row in enumerate(text, 1) if needle in row)

    assert [(f.severity, f.key, f.line) for f in found] == [
        ("error", "routing.reps.jordan.id", line('id = "005TYPO"')),
        ("warning", "routing.reps.riley.id", line('id = "0058d0000000005AAA"')),
        ("error", "routing.pools.emea", line("[routing.pools.emea]")),
    ]
    assert str(found[0]).endswith("no CRM user or owner has id '005TYPO'; copy the id from "
                                  "the CRM's user list")
    assert "(Riley Okafor) is not an active CRM user" in str(found[1])
    assert "no active rep" in found[2].message
    # everyone active: nothing to say
    assert routing_findings(configuration.load(write_config(tmp_path)), set(SANDBOX_USERS),
                            SANDBOX_USERS) == []


def test_check_findings_for_the_fallback(tmp_path: Path) -> None:
    path = write_config(tmp_path, ('fallback_owner = "0058d0000000001AAA"',
                                   'fallback_owner = "0058d0000000006AAA"'))
    found = routing_findings(configuration.load(path), set(SANDBOX_USERS) - {
        "0058d0000000006AAA"}, SANDBOX_USERS)
    assert [(f.severity, f.key) for f in found] == [("error", "routing.fallback_owner")]
    assert "'0058d0000000006AAA' (Casey Brooks) is not active" in str(found[0])


def test_rep_list_fits_80_columns_with_ids_and_time_zones_whole(tmp_path: Path) -> None:
    path = str(write_config(tmp_path, ('timezone = "America/Los_Angeles"',
                                       'timezone = "America/Los_Angeles"\nhours = "09:00-17:30"')))
    assert runner.invoke(app, ["rep", "away", "avery", "--until", "2099-01-05", "--reason",
                               "parental leave", "-c", path]).exit_code == 0
    for width in (80, 120):
        listed = runner.invoke(app, ["rep", "list", "-c", path], env={"COLUMNS": str(width)})
        assert listed.exit_code == 0, listed.output
        lines = listed.output.splitlines()
        assert [line for line in lines if len(line) > width or "…" in line] == [], listed.output
        for rep_id in SANDBOX_USERS.keys() - {"0058d0000000001AAA", "0058d0000000006AAA"}:
            assert sum(rep_id in line for line in lines) == 1, rep_id  # on a line of its own
        for zone in ("America/Los_Angeles", "America/Chicago", "Europe/London", "09:00-17:30"):
            assert zone in listed.output
        words = listed.output.split()
        assert {"Avery", "Chen", "(avery)", "2099-01-05", "(parental", "leave)", "0/25",
                "available"} <= set(words)
        assert "Avery Chen away" not in listed.output  # the row names the rep already
    assert "Avery Chen (avery)" in listed.output  # with room, the name stays on one line

"""`leadsync whatif CHANGED.toml` after a real cycle on the Salesforce sandbox: a changed
threshold and activity points (leads become and stop being MQL), changed match and
review thresholds (a match becomes a review, a review a new record), a new territory
(owners move) — each shown for the leads it touches, and nothing written anywhere: the
state and marketing databases keep every byte, and no request reaches the sandbox."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from tests.conftest import (
    SIGNALS_SCORING,
    config_text,
    import_leads,
    lead_row,
    with_scoring,
)


def _changed(text: str) -> str:
    """The admin's trial: threshold 45, email opens worth 25, stricter matching, and the
    UK carved out of EMEA for Morgan (a territory tried before EMEA's, which holds GB)."""
    edits = {"threshold = 40\n": "threshold = 45\n", "email_open = 1\n": "email_open = 25\n",
             "match_threshold = 0.9\n": "match_threshold = 0.96\n",
             "review_threshold = 0.75\n": "review_threshold = 0.85\n",
             "[routing.pools.emea]": '[routing.pools.uk]\nreps = ["morgan"]\n\n'
                                     "[routing.pools.emea]",
             '[[routing.territories]]\nname = "EMEA"':
                 '[[routing.territories]]\nname = "UK"\npool = "uk"\ncountry = ["GB"]\n\n'
                 '[[routing.territories]]\nname = "EMEA"'}
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def trial(tmp_path: Path, salesforce_sandbox: Any, sf_client: Any,
          monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db",
                       route_to=salesforce_sandbox.address)
    text = with_scoring(text, SIGNALS_SCORING)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(_changed(text), encoding="utf-8")
    # Earlier records of two of the people, made by reps: Pat1 Lee1 at Acme 1 (no email
    # or phone: a match by name and company) and a colleague of Pat2 Lee2's at Acme 2
    # on the same phone line (a possible duplicate, for a person to decide).
    for n, first, phone in ((1, "Pat1", None), (2, "Sam", "+1 415 555 0102")):
        account = sf_client.Account.create({"Name": f"Acme {n} Inc."})["id"]
        sf_client.Contact.create({"FirstName": first, "LastName": f"Lee{n}",
                                  "AccountId": account,
                                  **({"Phone": phone} if phone else {})})
    return path, changed


def _rows(recent: str) -> dict[int, dict[str, str]]:
    form, webinar = f"form_fill|{recent}|Contact sales", f"webinar_attended|{recent}|RevOps"
    opened = f"email_open|{recent}|Newsletter"
    plan = {1: (f"{form};{webinar}", "VP Sales", "United States"),
            3: (f"{form};{webinar}", "VP Sales", "United States"),
            4: (f"{form};{webinar}", "VP Sales", "United States"),
            5: (f"{form};{webinar}", "VP Sales", "United States"),
            7: (form, "VP Sales", "United States"),                  # 40: under 45
            9: (f"{form};{opened}", "Analyst", "United States"),     # 26, then 50
            10: (f"{form};{webinar}", "VP Sales", "United Kingdom"),
            11: (f"{form};{webinar}", "VP Sales", "United Kingdom"),
            2: (f"{form};{webinar}", "VP Sales", "United States"),   # not synced yet
            12: (f"{form};{webinar}", "VP Sales", "United States")}  # not synced yet
    return {n: lead_row(n, activities=done, title=title, country=country,
                        **({"state": ""} if country != "United States" else {}),
                        **({"company": f"Birch {n} Ltd"} if n > 2 else {}))
            for n, (done, title, country) in plan.items()}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("[sm].db*"))
            if not p.name.endswith(".lock")}


def _dump(file: Path) -> list[str]:
    with sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True) as db:
        return list(db.iterdump())


def test_whatif_shows_the_changes_and_writes_nothing(
        trial: tuple[Path, Path], tmp_path: Path, salesforce_sandbox: Any) -> None:
    path, changed = trial
    loaded = configuration.load(path)
    rows = _rows(f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")
    synced = [n for n in rows if n not in (2, 12)]
    import_leads(loaded, tmp_path / "first.csv", [rows[n] for n in synced])
    runner = CliRunner()
    ran = runner.invoke(app, ["sync", "--once", "--config", str(path)])
    assert ran.exit_code == 0, ran.output
    assert "7 qualified" in ran.output  # lead 9 scores 26
    import_leads(loaded, tmp_path / "later.csv", [rows[2], rows[12]])
    ids = {row["email"]: n for n, row in rows.items()}

    before, dumps = _files(tmp_path), [_dump(tmp_path / f) for f in ("s.db", "m.db")]
    requests = salesforce_sandbox.request_count
    result = runner.invoke(app, ["whatif", str(changed), "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert salesforce_sandbox.request_count == requests  # no call reached the CRM
    assert _files(tmp_path) == before  # every byte of both stores as it was
    assert [_dump(tmp_path / f) for f in ("s.db", "m.db")] == dumps

    found = json.loads(result.output)
    assert found["leads"] == 10 and found["skipped"] == 0
    changes = {ids[c["email"]]: c for c in found["changes"]}
    # scoring: 7 scores 40 (under 45 now), 9 scores 50 with opens worth 25
    assert changes[7]["kinds"] == ["stopped_mql"]
    assert changes[7]["now"]["mql"] and not changes[7]["changed"]["mql"]
    assert "score 40 < 45" in changes[7]["changed"]["qualify"]
    assert changes[9]["kinds"] == ["became_mql"]
    assert (changes[9]["now"]["score"], changes[9]["changed"]["score"]) == (26, 50)
    assert changes[9]["changed"]["owner"] in ("Avery Chen", "Jordan Patel", "Morgan Diaz")
    # matching: Pat1 Lee1's contact by name and company (0.95) is a match at 0.9 and a
    # review at 0.96; the colleague on Pat2's line (0.8) a review at 0.75, nothing at 0.85
    one = changes[1]
    assert one["now"]["match"] == "match" and one["now"]["record"].startswith("contact ")
    assert one["changed"]["match"] == "review"
    assert one["changed"]["record"] == one["now"]["record"]
    assert "match" in one["kinds"] and "owner" in one["kinds"]  # held: nobody's yet
    assert one["now"]["rule"] == "account" and one["changed"]["owner_id"] is None
    two = changes[2]
    assert (two["now"]["match"], two["changed"]["match"]) == ("review", "new")
    assert two["now"]["owner_id"] is None  # held: nobody's yet
    assert two["changed"]["rule"] == "account"  # Acme 2's account: its owner's
    # routing: the UK's leads go to Morgan's new territory instead of Riley's EMEA
    for n in (10, 11):
        assert changes[n]["kinds"] == ["owner"]
        assert (changes[n]["now"]["owner"], changes[n]["now"]["territory"]) == (
            "Riley Okafor", "EMEA")
        assert (changes[n]["changed"]["owner"], changes[n]["changed"]["territory"]) == (
            "Morgan Diaz", "UK")
        assert changes[n]["moved"] == "EMEA → UK"
    # read before lead 9, leads 3-5 keep their turns in the pool
    assert not {3, 4, 5} & set(changes)
    counts = found["counts"]
    assert (counts["mql_now"], counts["mql_changed"]) == (9, 9)
    assert (counts["became_mql"], counts["stopped_mql"]) == (1, 1)
    assert (counts["reviews_now"], counts["reviews_changed"]) == (1, 1)
    territories = {row["territory"]: row for row in found["territories"]}
    assert territories["EMEA"] == {"territory": "EMEA", "now": 2, "changed": 0, "gained": 0,
                                   "lost": 2}
    assert territories["UK"] == {"territory": "UK", "now": 0, "changed": 2, "gained": 2,
                                 "lost": 0}
    reps = {row["rep"]: row for row in found["reps"]}
    assert (reps["Riley Okafor"]["now"], reps["Riley Okafor"]["changed"]) == (2, 0)

    shown = runner.invoke(app, ["whatif", str(changed), "--config", str(path)],
                          env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "MQL: 9 → 9 (1 would become MQL, 1 would stop being MQL)" in shown.output
    assert "held for review: 1 → 1" in shown.output
    assert "owner: EMEA → UK" in shown.output and "MQLs per territory" in shown.output
    assert _files(tmp_path) == before

    none_since = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    later = runner.invoke(app, ["whatif", str(changed), "--since", none_since, "--json",
                                "--config", str(path)])
    assert later.exit_code == 0, later.output
    assert json.loads(later.output)["leads"] == 0


def test_the_same_config_changes_nothing(trial: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = trial
    rows = _rows(f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")
    import_leads(configuration.load(path), tmp_path / "leads.csv", list(rows.values()))
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "--once", "--config", str(path)]).exit_code == 0
    result = runner.invoke(app, ["whatif", str(path), "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["changes"] == [] and found["counts"]["mql_now"] == 9
    assert all(row["gained"] == row["lost"] == 0 for row in found["reps"])


@pytest.mark.parametrize(("edit", "said"), [
    (("threshold = 45", 'threshold = "45"'), "scoring.threshold (line {line}): Input should "
                                             "be a valid number"),
    (('required_fields = ["email", "company"]', 'required_fields = ["email", "compnay"]'),
     "scoring.required_fields (line {line}): no lead in the marketing store has a field "
     "'compnay': no lead can qualify; did you mean 'company'?"),
    (('pool = "uk"', 'pool = "ukk"'),
     "routing.territories.1.pool (line {line}): territory 'UK': no pool 'ukk' in "
     "[routing.pools]; did you mean 'uk'?"),
])
def test_a_wrong_changed_file_is_refused_as_check_refuses_it(
        trial: tuple[Path, Path], tmp_path: Path, edit: tuple[str, str], said: str) -> None:
    path, changed = trial
    import_leads(configuration.load(path), tmp_path / "leads.csv", [lead_row(1)])
    text = changed.read_text(encoding="utf-8")
    old, new = edit
    assert old in text
    text = text.replace(old, new, 1)
    changed.write_text(text, encoding="utf-8")
    line = text[:text.index(new)].count("\n") + 1
    result = CliRunner().invoke(app, ["whatif", str(changed), "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert str(changed) in result.output
    assert said.format(line=line) in result.output, result.output
    assert "Traceback" not in result.output


def test_a_changed_file_of_one_section_is_told_to_be_a_whole_config(
        trial: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = trial
    part = tmp_path / "part.toml"
    part.write_text("[scoring]\nthreshold = 30\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["whatif", str(part), "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "required key is missing" in result.output
    assert "the changed file is a whole config.toml" in result.output


def test_whatif_refuses_a_missing_file_and_a_wrong_date(trial: tuple[Path, Path]) -> None:
    path, changed = trial
    runner = CliRunner()
    missing = runner.invoke(app, ["whatif", str(path.with_name("nope.toml")),
                                  "--config", str(path)])
    assert missing.exit_code == 2 and "nope.toml" in missing.output
    assert "does not exist" in missing.output
    wrong = runner.invoke(app, ["whatif", str(changed), "--since", "yesterday",
                                "--config", str(path)])
    assert wrong.exit_code == 2
    assert "--since 'yesterday': expected a date like 2026-12-01" in wrong.output


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {name: sorted(map(tuple, conn.execute(text(f'select * from "{name}"'))),
                                 key=repr)
                    for name in inspect(conn).get_table_names()}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_whatif_on_a_postgresql_state_reads_it_in_a_read_only_session(
        tmp_path: Path, salesforce_sandbox: Any, sf_client: Any, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    text = config_text(tmp_path, state_url=pg_url, marketing_url=f"sqlite:///{tmp_path}/m.db",
                       route_to=salesforce_sandbox.address)
    text = with_scoring(text, SIGNALS_SCORING)
    path, changed = tmp_path / "config.toml", tmp_path / "changed.toml"
    path.write_text(text, encoding="utf-8")
    changed.write_text(_changed(text), encoding="utf-8")
    rows = _rows(f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")
    import_leads(configuration.load(path), tmp_path / "leads.csv", list(rows.values()))
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "--once", "--config", str(path)]).exit_code == 0
    before = _tables(pg_url)
    assert before["routing_assignment"] and before["crm_candidate"]  # a state to read
    result = runner.invoke(app, ["whatif", str(changed), "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert _tables(pg_url) == before
    moved = [c for c in json.loads(result.output)["changes"] if c["moved"] == "EMEA → UK"]
    assert len(moved) == 2


def test_before_any_sync_it_replays_against_no_state_and_makes_no_database(
        tmp_path: Path) -> None:
    text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                       marketing_url=f"sqlite:///{tmp_path}/m.db", route_to="127.0.0.1:9")
    path, changed = tmp_path / "config.toml", tmp_path / "changed.toml"
    path.write_text(text, encoding="utf-8")
    changed.write_text(text.replace("threshold = 40\n", "threshold = 400\n", 1),
                       encoding="utf-8")
    runner = CliRunner()
    empty = runner.invoke(app, ["whatif", str(changed), "--config", str(path)])
    assert empty.exit_code == 1, empty.output
    line = text[:text.index(f'url = "sqlite:///{tmp_path}/m.db"')].count("\n") + 1
    assert f"marketing.url (line {line}): no marketing store at {tmp_path}/m.db: no lead " \
           "to replay" in empty.output
    assert not (tmp_path / "m.db").exists()
    import_leads(configuration.load(path), tmp_path / "leads.csv", [lead_row(1), lead_row(2)])
    result = runner.invoke(app, ["whatif", str(changed), "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["counts"]["stopped_mql"] == 2
    assert any("no state database yet" in note for note in found["notes"])
    assert not (tmp_path / "s.db").exists()

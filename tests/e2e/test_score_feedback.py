"""`leadsync report scoring` on a history the closed loop recorded: sixteen leads handed
to a Salesforce sandbox, worked by reps through the real client (accepted, recycled,
trashed, converted and won), read back by a second cycle. Webinars predict the wins,
email opens do not: the report ranks them so, with the lifts this test works out from
its own plan, never through connector.score_feedback."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
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

WEBINAR = set(range(1, 9))
"""Leads 1-8 attended a webinar before their hand-off."""
OPENED = {n for n in range(1, 17) if n % 2}
"""The odd leads opened an email: half the webinar leads, half the others."""
PLAN = {1: "won", 2: "won", 3: "won", 4: "won", 5: "won", 6: "won", 7: "trashed",
        8: "recycled", 9: "won", 10: "won", 11: "trashed", 12: "trashed", 13: "trashed",
        14: "trashed", 15: "recycled", 16: "accepted"}
"""What the reps make of each lead: six of the eight webinar leads are won, two of the
eight others; the email openers win as often as the rest."""
STATUS = {"accepted": "Working - Contacted", "recycled": "Closed - Not Converted",
          "trashed": "Unqualified"}
PARTNER = "{urn:partner.soap.sforce.com}"


def expected_score(n: int) -> float:
    """form_fill 25 + senior title 15, webinar 20, email open 1 (no decay)."""
    return 40 + 20 * (n in WEBINAR) + (n in OPENED)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Any]]:
    from simple_salesforce import Salesforce

    from connector.sandbox.salesforce import SalesforceSandbox
    from connector.sandbox.salesforce.objects import DEFAULT_LEAD_STATUSES
    from connector.transport import make_session

    monkeypatch.setenv("SF_PASSWORD", "sandbox")
    with SalesforceSandbox(state_path=tmp_path / "org.json",
                           lead_statuses=[*DEFAULT_LEAD_STATUSES, "Unqualified"]) as sandbox:
        text = config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                           marketing_url=f"sqlite:///{tmp_path}/m.db",
                           route_to=sandbox.address)
        text = with_scoring(text, SIGNALS_SCORING)
        text = text.replace('"Closed - Not Converted" = "recycle"',
                            '"Closed - Not Converted" = "recycle"\n"Unqualified" = "trash"')
        path = tmp_path / "config.toml"
        path.write_text(text, encoding="utf-8")
        client = Salesforce(username="admin@leadsync.sandbox", password="sandbox",
                            security_token="", session=make_session(sandbox.address))
        yield path, client


def _work(client: Any, records: dict[int, str]) -> None:
    """The reps: statuses through sObject Collections, wins through convertLead and the
    opportunity closed won."""
    statuses = [{"attributes": {"type": "Lead"}, "id": records[n], "Status": STATUS[plan]}
                for n, plan in PLAN.items() if plan in STATUS]
    answer = client.restful("composite/sobjects", method="PATCH",
                            json={"allOrNone": True, "records": statuses})
    assert all(r["success"] for r in answer), answer
    won = [n for n, plan in PLAN.items() if plan == "won"]
    items = "".join(f"<urn:leadConverts><urn:leadId>{records[n]}</urn:leadId>"
                    "<urn:convertedStatus>Closed - Converted</urn:convertedStatus>"
                    "</urn:leadConverts>" for n in won)
    reply = client.session.post(
        f"https://{client.sf_instance}/services/Soap/u/{client.sf_version}",
        headers={"Content-Type": "text/xml", "SOAPAction": "convertLead"},
        data='<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
             f"<urn:sessionId>{client.session_id}</urn:sessionId></urn:SessionHeader>"
             f"</soapenv:Header><soapenv:Body><urn:convertLead>{items}</urn:convertLead>"
             "</soapenv:Body></soapenv:Envelope>")
    assert reply.status_code == 200, reply.text
    opportunities = [r.findtext(f"{PARTNER}opportunityId")
                     for r in ET.fromstring(reply.text).iter(f"{PARTNER}result")]
    assert len(opportunities) == len(won) and all(opportunities), reply.text
    answer = client.restful("composite/sobjects", method="PATCH", json={
        "allOrNone": True, "records": [
            {"attributes": {"type": "Opportunity"}, "id": opportunity,
             "StageName": "Closed Won", "Amount": 12000} for opportunity in opportunities]})
    assert all(r["success"] for r in answer), answer


def _rate(leads: list[int]) -> float:
    return sum(PLAN[n] == "won" for n in leads) / len(leads)


def test_the_report_ranks_the_signal_that_predicts_wins_first(
        world: tuple[Path, Any], tmp_path: Path) -> None:
    path, client = world
    recent = f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
    rows = []
    for n in range(1, 17):
        done = [f"form_fill|{recent}|Contact sales"]
        if n in WEBINAR:
            done.append(f"webinar_attended|{recent}|RevOps 101")
        if n in OPENED:
            done.append(f"email_open|{recent}|Newsletter")
        rows.append(lead_row(n, email=f"fb{n}@buyer{n}.example", activities=";".join(done)))
    assert import_leads(configuration.load(path), tmp_path / "leads.csv", rows).rejected == []
    runner = CliRunner()
    first = runner.invoke(app, ["sync", "--once", "--config", str(path)])
    assert first.exit_code == 0, first.output
    assert "16 qualified, 16 created" in first.output
    by_email = {r["Email"]: r["Id"] for r in client.query_all(
        "SELECT Id, Email FROM Lead")["records"]}
    _work(client, {n: by_email[f"fb{n}@buyer{n}.example"] for n in PLAN})
    second = runner.invoke(app, ["sync", "--once", "--config", str(path)])
    assert second.exit_code == 0, second.output

    shown = runner.invoke(app, ["report", "scoring", "--json", "--keep-wins", "75",
                                "--config", str(path)])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)

    # what became of the leads, as the closed loop recorded it
    total = found["total"]
    wins = [n for n, plan in PLAN.items() if plan == "won"]
    trashed = [n for n, plan in PLAN.items() if plan == "trashed"]
    assert (total["leads"], total["won"], total["trashed"], total["recycled"]) == (
        16, len(wins), len(trashed), 2)
    assert total["converted"] == len(wins)  # every win went through an opportunity
    assert total["accepted"] == len(wins) + 1  # the wins and lead 16

    # the signals: the lifts worked out here from the plan
    rows_ = {(r["kind"], r["signal"]): r for r in found["signals"]}
    everyone = list(PLAN)
    for kind, leads in (("webinar_attended", WEBINAR), ("email_open", OPENED)):
        having = sorted(leads)
        lacking = [n for n in everyone if n not in leads]
        row = rows_[("activity", kind)]
        assert (row["leads"], row["without"]) == (len(having), len(lacking))
        assert row["won"] == sum(PLAN[n] == "won" for n in having)
        assert row["win_rate"] == pytest.approx(_rate(having))
        assert row["without_win_rate"] == pytest.approx(_rate(lacking))
        assert row["lift"] == pytest.approx(_rate(having) / _rate(lacking))
    assert rows_[("activity", "webinar_attended")]["lift"] == pytest.approx(3.0)
    assert rows_[("activity", "email_open")]["lift"] == pytest.approx(1.0)
    assert rows_[("activity", "webinar_attended")]["points"] == 20
    order = [(r["kind"], r["signal"]) for r in found["signals"]]
    assert order[0] == ("activity", "webinar_attended")
    assert order.index(("activity", "webinar_attended")) < order.index(
        ("activity", "email_open"))
    # every lead filled a form and has a senior title: nothing to compare them with
    for shared in (("activity", "form_fill"), ("fit", "senior title")):
        assert rows_[shared]["without"] == 0 and rows_[shared]["lift"] is None
        assert order.index(shared) > order.index(("activity", "email_open"))

    # the score bands: 40 or 41 without a webinar, 60 or 61 with one (width 5)
    bands = {b["band"]: b for b in found["bands"]}
    assert set(bands) == {"40–45", "60–65"}
    for band, leads in (("40–45", set(PLAN) - WEBINAR), ("60–65", WEBINAR)):
        assert bands[band]["leads"] == len(leads)
        assert bands[band]["won"] == sum(PLAN[n] == "won" for n in leads)
        assert bands[band]["trashed"] == sum(PLAN[n] == "trashed" for n in leads)

    # the threshold that keeps 75% of the wins: the sixth-best win's score
    scores = sorted((expected_score(n) for n in wins), reverse=True)
    at = scores[math.ceil(0.75 * len(wins)) - 1]
    threshold = found["threshold"]
    assert threshold["suggested"] == at == 60
    assert threshold["wins_kept"] == sum(s >= at for s in scores) == 6
    assert threshold["trash_cut"] == sum(expected_score(n) < at for n in trashed) == 4
    others = [n for n, plan in PLAN.items() if plan not in ("won", "trashed")]
    assert threshold["others_cut"] == sum(expected_score(n) < at for n in others) == 2
    assert "a threshold of 60 (now 40) would have kept 6 of 8 won leads (75%) and cut 4 " \
           "of 5 trashed leads (80%)" in threshold["text"]
    assert configuration.load(path).scoring.threshold == 40  # it suggests, never changes

    text = runner.invoke(app, ["report", "scoring", "--keep-wins", "75",
                               "--config", str(path)], env={"COLUMNS": "120"})
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    webinar = next(i for i, line in enumerate(lines) if "webinar_attended" in line)
    opened = next(i for i, line in enumerate(lines) if "email_open" in line)
    assert webinar < opened and lines[webinar].split()[-1] == "3.00"
    assert "threshold: a threshold of 60 (now 40)" in text.output

    page = tmp_path / "report.html"
    html = runner.invoke(app, ["report", "--out", str(page), "--config", str(path)])
    assert html.exit_code == 0, html.output
    section = page.read_text(encoding="utf-8").split('id="scoring"', 1)[1]
    assert section.index("webinar_attended") < section.index("email_open")
    assert "3.00" in section


def test_report_scoring_refuses_the_funnel_options(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "config.toml"
    config.write_text(configuration.TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    for args, said in ((["--by", "rep"], "--by: the funnel report's"),
                       (["--format", "csv"], "--format csv: the funnel report's"),
                       (["--since", "2027-13-01"], "--since '2027-13-01'"),
                       (["--since", "2027-02-01", "--until", "2027-01-01"],
                        "--since must be before --until")):
        result = runner.invoke(app, ["report", "scoring", *args, "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert said in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["report", "scorign", "--config", str(config)])
    assert result.exit_code == 2 and "`leadsync report scoring`" in result.output


@pytest.mark.parametrize("command", [["gaps"], ["report", "scoring"]])
def test_commands_that_only_read_make_no_marketing_store(tmp_path: Path,
                                                         command: list[str]) -> None:
    """In a folder where nothing was synced: a clear refusal naming marketing.url,
    and no database file or lock left behind (the docs-only trial's finding)."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                marketing_url=f"sqlite:///{tmp_path}/m.db",
                                route_to="127.0.0.1:9"), encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    ran = CliRunner().invoke(app, [*command, "--config", str(path)])
    assert ran.exit_code == 1, ran.output
    assert "marketing.url" in ran.output and "no marketing store at" in ran.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before

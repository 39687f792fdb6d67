"""`leadsync serve`, as a reviewer and an attacker meet it: the real command in its own
process, a real browser (Debian's chromium through playwright) clicking the review
buttons, the next sync acting on the answer in the CRM sandbox; and the guards — a
token beyond loopback, CSRF tokens on every change, loopback host names only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from connector import config as configuration
from connector.console import create_app, token_for
from connector.errors import ConfigError
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore
from connector.wiring import run_once
from tests.conftest import console_port, crm_world, import_leads, lead_row
from tests.e2e.test_review_answers import CHRIS, DANA

TOKEN = "console-token-for-the-test-0123456789"


@contextmanager
def serving(config_path: Path, *args: str, env: dict[str, str] | None = None
            ) -> Iterator[str]:
    """`leadsync serve --port 0` in its own process; yields the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "serve", "--port", "0", "--config",
         str(config_path), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"console at (http://\S+/)", line)
        assert found, line + proc.stdout.read()
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pending(config: configuration.Config) -> list[Any]:
    state = StateStore(config.resolve_url(config.state.url))
    try:
        return state.reviews.listing()
    finally:
        state.close()


@pytest.fixture(params=["salesforce", "hubspot"])
def held(request: pytest.FixtureRequest, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> tuple[Path, configuration.Config, Any]:
    """A synced world with one possible duplicate held for review, and a lead the
    CRM refused (a company name longer than the CRM's field) as a dead letter."""
    path, sandbox, _ = crm_world(request, request.param, tmp_path, monkeypatch)
    config = configuration.load(path)
    import_leads(config, tmp_path / "leads.csv", [
        lead_row(1, **DANA), lead_row(2, **CHRIS), lead_row(3, company="Ltd " * 70)])
    first = run_once(config)
    assert first.status == "ok", first.error
    # Dana and lead 3 written (lead 3 refused by Salesforce, whose Company is too short
    # for it); Chris held: a colleague on a shared line, or Dana under another name
    assert first.counts["held"] == 1
    assert first.counts["created"] + first.counts["refused"] == 2
    return path, config, sandbox


def people(sandbox: Any) -> list[str]:
    """The person records' emails in either sandbox."""
    if isinstance(sandbox, SalesforceSandbox):
        return sorted(r["Email"] for r in sandbox.records("Lead"))
    return sorted(r["properties"]["email"] for r in sandbox.records("contacts"))


def test_a_review_answered_with_the_button_is_acted_on_by_the_next_sync(
        held: tuple[Path, configuration.Config, Any], chromium: str, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import sync_playwright

    path, config, sandbox = held
    [review] = pending(config)
    before = people(sandbox)
    with serving(path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            url) else route.abort())  # the console needs nothing from anywhere else
        page.goto(url)
        assert "1 possible duplicate waiting for review" in page.inner_text("body")
        page.click("text=1 possible duplicate waiting for review")
        card = page.locator(f"[data-review='{review.id}']")
        shown = card.inner_text()
        # side by side: both people, the score and the reason
        assert "Dana" in shown and "Chris" in shown and f"{review.score:.2f}" in shown
        assert review.reason in shown
        page.screenshot(path=str(tmp_path / f"reviews-{request.node.callspec.id}.png"),
                        full_page=True)
        card.get_by_role("button", name=re.compile("^Same person")).click()
        page.wait_for_selector(".flash")
        assert f"Review {review.id}: same" in page.inner_text(".flash")
        assert page.locator("[data-review]").count() == 0
        assert "same" in page.inner_text("table[data-table=answered]")

        page.goto(url + "report")
        for chart in ("flow", "funnel"):
            page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=15_000)
        cohort = page.inner_text("table[data-table=cohort]")
        page.goto(url + "dead-letters")
        letters = page.inner_text("table[data-table=letters]")
        browser.close()
    assert errors == []
    # the live report: the leads the CRM took were handed off, none accepted yet
    handed = len(before)
    assert cohort.splitlines()[1].startswith(f"all\t{handed}\t0\t") and \
        f"0% (0/{handed})" in cohort
    if isinstance(sandbox, SalesforceSandbox):  # Salesforce's Company holds 255 characters
        assert "\t".join(["3", "salesforce Lead", "STRING_TOO_LONG"]) in letters
        assert "(max length=255)\tCompany\t1" in letters
    else:  # HubSpot takes 65,536
        assert "No dead letter" in letters
    summary = run_once(config)
    assert summary.status == "ok", summary.error
    # "same": Chris's lead updated Dana's record; no second person was created
    assert (summary.counts["created"], summary.counts["updated"]) == (0, 1)
    assert people(sandbox) == before and CHRIS["email"] not in before
    assert pending(config) == []


def test_beyond_loopback_every_request_needs_the_token(
        held: tuple[Path, configuration.Config, Any], chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    path, config, _ = held
    refused = subprocess.run(
        [sys.executable, "-m", "connector.cli", "serve", "--host", "0.0.0.0", "--port", "0",
         "--config", str(path)], capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "LEADSYNC_CONSOLE_TOKEN"})
    assert refused.returncode == 2
    assert "LEADSYNC_CONSOLE_TOKEN" in refused.stderr and "token" in refused.stderr
    [review] = pending(config)
    with serving(path, "--host", "0.0.0.0", env={"LEADSYNC_CONSOLE_TOKEN": TOKEN}) as url:
        local = url.replace("0.0.0.0", "127.0.0.1")
        for method, where in (("get", "reviews"), ("get", "report.json"),
                              ("get", "dead-letters"), ("post", f"reviews/{review.id}")):
            answer = requests.request(method, local + where, data={"choice": "same"},
                                      headers={"Accept": "application/json"},
                                      allow_redirects=False, timeout=30)
            assert answer.status_code == 401, (where, answer.status_code)
            wrong = requests.request(method, local + where, data={"choice": "same"},
                                     headers={"Authorization": "Bearer nope-nope-nope-nope"},
                                     allow_redirects=False, timeout=30)
            assert wrong.status_code == 401, (where, wrong.status_code)
        assert [r.status for r in pending(config)] == ["pending"]
        assert TOKEN not in requests.get(local + "login", timeout=30).text
        ok = requests.get(local + "report.json", timeout=60,
                          headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "cohort" in ok.json()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(local + "reviews")
            assert page.url.startswith(local + "login")  # sent to sign in first
            page.fill("input[name=token]", "not the token at all")
            page.click("button[type=submit]")
            assert "That is not the token" in page.inner_text("body")
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector(f"[data-review='{review.id}']")
            page.get_by_role("button", name=re.compile("^Different people")).click()
            page.wait_for_selector(".flash")
            browser.close()
    assert [r.status for r in pending(config)] == []


@pytest.fixture
def app_of(held: tuple[Path, configuration.Config, Any]) -> Any:
    _, config, _ = held

    def make(host: str = "127.0.0.1", token: str | None = None) -> Any:
        app = create_app(config, host=host, token=token)
        return app.test_client()

    return make


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_a_change_without_the_csrf_token_is_refused(
        app_of: Any, held: tuple[Path, configuration.Config, Any]) -> None:
    _, config, _ = held
    [review] = pending(config)
    client = app_of()
    assert client.get("/reviews").status_code == 200
    forged = client.post(f"/reviews/{review.id}", data={"choice": "same"})
    assert forged.status_code == 400 and b"CSRF" in forged.data
    page = client.get("/reviews").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    app = client.application  # another browser of the same console: its token is no use
    other = app.test_client().post(f"/reviews/{review.id}",
                                   data={"choice": "same", "csrf_token": csrf.group(1)})
    assert other.status_code == 400 and b"CSRF" in other.data
    assert [r.status for r in pending(config)] == ["pending"]
    done = client.post(f"/reviews/{review.id}",
                       data={"choice": "maybe", "csrf_token": csrf.group(1)})
    assert done.status_code == 400 and b"same or different" in done.data
    done = client.post(f"/reviews/{review.id}",
                       data={"choice": "different", "csrf_token": csrf.group(1)})
    assert done.status_code == 302 and pending(config) == []
    again = client.post(f"/reviews/{review.id}",  # a stale page: asked once only
                        data={"choice": "same", "csrf_token": csrf.group(1)})
    assert again.status_code == 409 and b"answered already (different)" in again.data
    assert client.post("/reviews/999", data={"choice": "same", "csrf_token": csrf.group(1)}
                       ).status_code == 404


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_on_loopback_only_loopback_names_are_answered(app_of: Any) -> None:
    client = app_of()
    assert client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    # a page of evil.example re-pointed at 127.0.0.1 (DNS rebinding) gets nothing
    assert client.get("/report.json", headers={"Host": "evil.example:8765"}
                      ).status_code == 400
    page = client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_the_live_report_takes_the_commands_options(app_of: Any) -> None:
    client = app_of()
    bad = client.get("/report?since=yesterday")
    assert bad.status_code == 400 and b"since &#39;yesterday&#39;: not a date" in bad.data
    wrong = client.get("/report.json?by=colour")
    assert wrong.status_code == 400 and wrong.get_json()["error"].startswith("by 'colour'")
    shown = client.get("/report.json?by=source&period=week")
    assert shown.status_code == 200
    figures = shown.get_json()
    assert (figures["by"], figures["per"]) == ("source", "week")
    assert sum(row["mql"] for row in figures["cohort"]) == 1  # Dana handed off; Chris held
    table = client.get("/report.csv").get_data(as_text=True)
    assert table.splitlines()[0].startswith("view,group,mql,sales_accepted,opportunity,")


def test_the_token_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         salesforce_sandbox: Any) -> None:
    from tests.conftest import config_text

    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                marketing_url=f"sqlite:///{tmp_path}/m.db",
                                route_to=salesforce_sandbox.address)
                    + '\n[console]\ntoken_env = "MY_CONSOLE_TOKEN"\n', encoding="utf-8")
    config = configuration.load(path)
    monkeypatch.delenv("MY_CONSOLE_TOKEN", raising=False)
    assert token_for(config, "127.0.0.1") is None
    assert token_for(config, "::1") is None
    for host in ("0.0.0.0", "192.168.1.20", "console.example"):
        with pytest.raises(ConfigError, match="MY_CONSOLE_TOKEN"):
            token_for(config, host)
    monkeypatch.setenv("MY_CONSOLE_TOKEN", "short")
    with pytest.raises(ConfigError, match="too easy to guess"):
        token_for(config, "0.0.0.0")
    monkeypatch.setenv("MY_CONSOLE_TOKEN", TOKEN)
    assert token_for(config, "0.0.0.0") == TOKEN
    assert token_for(config, "127.0.0.1") == TOKEN  # set: asked on loopback too


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_the_daemon_serves_the_console_on_its_configured_port(
        held: tuple[Path, configuration.Config, Any]) -> None:
    import signal
    import time

    path, _, _ = held
    port = console_port(path)
    daemon = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "--config",
                               str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                shown = requests.get(f"http://127.0.0.1:{port}/reviews", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and daemon.poll() is None
                time.sleep(0.2)
        assert shown.status_code == 200 and "Review " in shown.text
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, output
    assert "console listening" in output


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_programs_get_401_and_json_browsers_get_the_sign_in(app_of: Any) -> None:
    client = app_of("0.0.0.0", TOKEN)
    for headers in ({}, {"Accept": "*/*"}, {"Authorization": "Bearer wrong-token-wrong"},
                    {"Accept": "text/html", "Authorization": "Bearer wrong-token-wrong"}):
        refused = client.get("/report.json", headers=headers)
        assert refused.status_code == 401, headers
    browser = client.get("/reviews", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 302 and "/login" in browser.headers["Location"]
    shown = client.get("/report.json?by=colour", headers={"Authorization": f"bearer {TOKEN}"})
    assert shown.status_code == 400
    assert shown.get_json() == {"error": "by 'colour': one of source, campaign, territory, "
                                         "rep, tier"}
    assert client.get("/healthz").status_code == 200  # a load balancer's probe: no token


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_ipv6_loopback_answers_its_own_name(app_of: Any) -> None:
    client = app_of("::1")
    assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_weak_tokens_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 salesforce_sandbox: Any) -> None:
    from tests.conftest import config_text

    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                marketing_url=f"sqlite:///{tmp_path}/m.db",
                                route_to=salesforce_sandbox.address), encoding="utf-8")
    config = configuration.load(path)
    for weak in (" " * 15 + "x", "abababababababababab", "correct horse battery staple"):
        monkeypatch.setenv("LEADSYNC_CONSOLE_TOKEN", weak)
        with pytest.raises(ConfigError, match="too easy to guess"):
            token_for(config, "0.0.0.0")


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_a_program_with_the_token_answers_a_review_and_scrapes_metrics(
        app_of: Any, held: tuple[Path, configuration.Config, Any]) -> None:
    _, config, _ = held
    [review] = pending(config)
    client = app_of("0.0.0.0", TOKEN)
    assert client.get("/metrics").status_code == 401
    sign = {"Authorization": f"Bearer {TOKEN}"}
    scraped = client.get("/metrics", headers=sign)
    assert scraped.status_code == 200 and b'leadsync_dead_letters{pipeline="default"}' in \
        scraped.data
    # a Bearer request needs no CSRF token (browsers never add that header themselves)
    answered = client.post(f"/reviews/{review.id}", data={"choice": "same"}, headers=sign)
    assert answered.status_code == 200
    assert answered.get_json() == {"review": review.id, "choice": "same",
                                   "lead": review.marketing_id}
    # /healthz without the token: the states, not the errors (they may name hosts)
    probe = client.get("/healthz").get_json()
    assert set(probe["pipelines"]["default"]) == {"status", "last_success_at"}
    assert "why" in client.get("/healthz", headers=sign).get_json()["pipelines"]["default"]


@pytest.mark.parametrize("held", ["salesforce"], indirect=True)
def test_sign_in_sends_back_to_this_site_only(app_of: Any) -> None:
    client = app_of("0.0.0.0", TOKEN)
    for target, lands in (("/reviews", "/reviews"), ("//evil.example/x", "/"),
                          ("/\\evil.example", "/"), ("/\t/evil.example", "/"),
                          ("https://evil.example/", "/")):
        page = client.get("/login").get_data(as_text=True)  # signing in starts anew
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        signed = client.post(f"/login?next={quote(target)}",
                             data={"token": TOKEN, "csrf_token": csrf.group(1)})
        assert signed.status_code == 302
        assert signed.headers["Location"] == lands, target

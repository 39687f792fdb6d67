"""Shared fixtures: databases (SQLite and PostgreSQL), the Salesforce sandbox, configs."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connector import config as configuration

PG_URL = os.environ.get("LEADSYNC_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_problem: list[str | None] = []


def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); asked once per session."""
    if not _pg_problem:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_problem.append(None)
        except Exception as exc:  # any driver error means "not here"
            _pg_problem.append(f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    return _pg_problem[0]


def require_postgres() -> None:
    problem = pg_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    from bench.kill import drop_schema, pg_schema_url

    require_postgres()
    schema, url = pg_schema_url()
    yield url
    drop_schema(schema)


def console_port(config_file: Path) -> int:
    """A free port, given to config.toml as [console] port: the daemon serves there."""
    from bench.configs import free_port

    port = free_port()
    with config_file.open("a", encoding="utf-8") as more:
        more.write(f"\n[console]\nport = {port}\n")
    return port


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every state test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def salesforce_sandbox(tmp_path: Path) -> Iterator:
    from connector.sandbox.salesforce import SalesforceSandbox

    with SalesforceSandbox(state_path=tmp_path / "sf-org.json") as sandbox:
        yield sandbox


@pytest.fixture
def sf_client(salesforce_sandbox):  # noqa: ANN001, ANN201
    """The real simple-salesforce client, logged in to the sandbox over HTTP."""
    from simple_salesforce import Salesforce

    from connector.transport import make_session

    return Salesforce(username="admin@leadsync.sandbox", password="sandbox", security_token="",
                      session=make_session(salesforce_sandbox.address))


LEAD_COLUMNS = ["email", "first_name", "last_name", "company", "title", "phone", "country",
                "state", "city", "postal_code", "industry", "employees", "annual_revenue",
                "website", "lead_source", "created_at", "updated_at", "activities"]

ENGAGED = ("form_fill|2026-11-02T10:00:00Z|Contact sales;"
           "page_visit|2026-11-02T09:55:00Z|/pricing;"
           "email_click|2026-11-03T08:00:00Z|Webinar invite")


def lead_row(n: int, **overrides: str) -> dict[str, str]:
    """One CSV row for lead number ``n``: engaged (qualifies) unless told otherwise."""
    row = {"email": f"person{n}@acme{n % 7}.example", "first_name": f"Pat{n}",
           "last_name": f"Lee{n}", "company": f"Acme {n % 7} Inc.", "title": "VP Sales",
           "phone": f"+1 415 555 01{n % 100:02d}", "country": "United States", "state": "CA",
           "city": "San Francisco", "postal_code": "94105", "industry": "Technology",
           "employees": "250", "annual_revenue": "1000000", "website": "https://acme.example",
           "lead_source": "Web", "created_at": "2026-11-01T09:00:00Z",
           "updated_at": "2026-11-03T09:00:00Z", "activities": ENGAGED}
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LEAD_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def import_leads(config: configuration.Config, path: Path, rows: list[dict[str, str]]) -> Any:
    """Write ``rows`` as a CSV at ``path`` and import it into the config's marketing store."""
    from connector.adapters.marketing_store import EmbeddedMarketingStore

    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        return store.import_file(write_csv(path, rows))
    finally:
        store.close()


def config_text(tmp_path: Path, *, state_url: str, marketing_url: str, route_to: str,
                embedded: bool = False, seed: str | None = None) -> str:
    """The shipped template, pointed at this test's databases and sandbox."""
    text_ = configuration.TEMPLATE.read_text(encoding="utf-8")
    replacements = {
        'url = "sqlite:///state/leadsync.db"': f'url = "{state_url}"',
        'url = "sqlite:///state/marketing.db"': f'url = "{marketing_url}"',
        'seed = "examples/leads.csv"': f'seed = "{seed}"' if seed else "",
        'route_to = "127.0.0.1:8451"': f'route_to = "{route_to}"',
        "embedded = true": f"embedded = {'true' if embedded else 'false'}",
        'state = "state/sandbox-salesforce.json"': f'state = "{tmp_path}/embedded-org.json"',
    }
    for old, new in replacements.items():
        assert old in text_, old
        text_ = text_.replace(old, new)
    return text_


@pytest.fixture
def make_config(tmp_path: Path, salesforce_sandbox, monkeypatch):  # noqa: ANN001, ANN201
    """Build a Config for this test: its own state and marketing databases, the sandbox.

    The sandbox runs outside the connector here, so its password comes from the
    environment exactly as a live org's would.
    """
    monkeypatch.setenv("SF_PASSWORD", "sandbox")

    def build(state_url: str | None = None, marketing_url: str | None = None,
              **kwargs: object) -> configuration.Config:
        path = tmp_path / "config.toml"
        path.write_text(config_text(
            tmp_path, state_url=state_url or f"sqlite:///{tmp_path}/state.db",
            marketing_url=marketing_url or f"sqlite:///{tmp_path}/marketing.db",
            route_to=salesforce_sandbox.address, **kwargs), encoding="utf-8")
        return configuration.load(path)

    return build


@pytest.fixture
def hubspot_sandbox(tmp_path: Path) -> Iterator:
    from connector.sandbox.hubspot import HubSpotSandbox

    # Searches are unthrottled here (HubSpot allows 5 a second): the adapter's pacing
    # and 429 handling have their own tests on an injected clock.
    with HubSpotSandbox(state_path=tmp_path / "hs-portal.json",
                        search_per_second=10_000) as sandbox:
        yield sandbox


@pytest.fixture
def hs_client(hubspot_sandbox):  # noqa: ANN001, ANN201
    """The real hubspot-api-client, pointed at the sandbox."""
    from hubspot import HubSpot

    return HubSpot(access_token="sandbox-token", host=f"http://{hubspot_sandbox.address}")


HUBSPOT_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config-hubspot.toml"


def hubspot_example_config(tmp_path: Path, address: str, extra: str = "") -> Path:
    """examples/config-hubspot.toml pointed at a test's own state and sandbox."""
    text = HUBSPOT_EXAMPLE.read_text(encoding="utf-8")
    for old, new in {
        'url = "sqlite:///../state/hubspot-leadsync.db"': f'url = "sqlite:///{tmp_path}/s.db"',
        'url = "sqlite:///../state/hubspot-marketing.db"': f'url = "sqlite:///{tmp_path}/m.db"',
        'route_to = "127.0.0.1:8452"': f'route_to = "{address}"',
        "embedded = true": "embedded = false",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "config.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def routed(config: configuration.Config, address: str) -> configuration.Config:
    """The config with its CRM reached through ``address`` (a counting proxy)."""
    name = "salesforce" if config.crm.salesforce is not None else "hubspot"
    settings = getattr(config.crm, name).model_copy(update={"route_to": address})
    return config.model_copy(update={"crm": config.crm.model_copy(update={name: settings})})


def crm_world(request: pytest.FixtureRequest, crm: str, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any, Any]:
    """(config.toml path, sandbox, real client) for a test run on either CRM: the
    shipped Salesforce template or examples/config-hubspot.toml, pointed at this
    test's own databases and sandbox, the secret in the environment as live."""
    if crm == "salesforce":
        sandbox = request.getfixturevalue("salesforce_sandbox")
        client = request.getfixturevalue("sf_client")
        monkeypatch.setenv("SF_PASSWORD", "sandbox")
        path = tmp_path / "config.toml"
        path.write_text(config_text(tmp_path, state_url=f"sqlite:///{tmp_path}/s.db",
                                    marketing_url=f"sqlite:///{tmp_path}/m.db",
                                    route_to=sandbox.address), encoding="utf-8")
        return path, sandbox, client
    sandbox = request.getfixturevalue("hubspot_sandbox")
    client = request.getfixturevalue("hs_client")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    return hubspot_example_config(tmp_path, sandbox.address), sandbox, client


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, for the browser checks (playwright's own download cannot work
    here). A clean CI machine gets it from apt on first use; without apt it is a skip
    that says why."""
    import shutil
    import subprocess

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and hasattr(os, "geteuid") \
            and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                        "chromium"], check=False, capture_output=True, timeout=600)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("no chromium, and apt-get could not install Debian's package")
    return found


def sla_clocks(config: configuration.Config) -> list[Any]:
    """Every SLA clock of the config's CRM in its state database, closed ones too."""
    from connector.sla.store import SlaStore
    from connector.state import StateStore

    state = StateStore(config.resolve_url(config.state.url))
    try:
        return SlaStore(state.engine).listing(config.crm.adapter, include_closed=True)
    finally:
        state.close()


SIGNALS_SCORING = '''
[scoring]
threshold = 40
required_fields = ["email", "company"]

[scoring.activity_points]
form_fill = 25
webinar_attended = 20
email_open = 1

[[scoring.fit]]
field = "title"
pattern = "\\\\b(vp|chief|head of|director)\\\\b"
points = 15
reason = "senior title"
'''
"""A scoring model with a senior-title fit rule and three activity kinds (the what-if
and score-feedback tests)."""


def with_scoring(text: str, scoring: str) -> str:
    """config.toml's text with its [scoring] sections (up to [mapping]) replaced."""
    return text[:text.index("[scoring]")] + scoring.lstrip() + "\n" + \
        text[text.index("[mapping]"):]

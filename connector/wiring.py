"""Wiring: what a run needs, opened for one config, and nothing else knows it.

The layer above the engine (DESIGN.md "Layers"). It resolves credentials,
starts an embedded sandbox when the config asks for one (the demo), opens the
adapters through their registry and hands them to the pipeline. Only this
module and the CLI import ``connector.sandbox``; an adapter receives a URL
(``route_to``) and credentials, and cannot tell a sandbox from a real org.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any

import structlog
from sqlalchemy import MetaData
from sqlalchemy.exc import SQLAlchemyError

from connector.adapters import registry
from connector.adapters.base import CrmAdapter, MarketingAdapter
from connector.config import (
    Config,
    HubSpotConfig,
    SalesforceConfig,
    SandboxConfig,
    SettingError,
    database_error,
    secret,
)
from connector.db import sqlite_file
from connector.errors import ConfigError, FatalError, LeadsyncError
from connector.metrics import record_usage
from connector.migrations import (
    MARKETING,
    STATE,
    Migrated,
    Schema,
    SchemaOutOfDate,
    new_revision,
    upgrade,
)
from connector.pipeline import Pipeline, Rerouted, RunSummary
from connector.progress import SILENT, Progress
from connector.records import utcnow
from connector.routing.router import Clock
from connector.state import StateModel, StateStore
from connector.stopping import NEVER, Stop

log = structlog.get_logger("leadsync.wiring")

Credentials = Mapping[str, str]
"""What an adapter's opener takes besides the config: e.g. ``password``, ``token``."""


DATABASE_ERRORS = (SQLAlchemyError, OSError)
"""What opening a database raises when its URL names a server that is down, a database
that does not exist, or a SQLite file in a folder that cannot be written."""


def open_state(config: Config) -> StateStore:
    """The state store; one that cannot be opened is an error naming ``state.url``."""
    try:
        return StateStore(config.resolve_url(config.state.url))
    except DATABASE_ERRORS as exc:
        raise database_error(config, "state.url", exc) from None
    except SchemaOutOfDate as exc:
        raise schema_error(config, exc) from None


def require_marketing_store(config: Config, nothing: str) -> None:
    """Refuses (naming ``marketing.url``) an embedded marketing store not made yet, for
    commands that only read it: opening it would make it (a database file and its lock
    in a folder where nothing was synced). ``nothing``: what there is not to do."""
    file = sqlite_file(config.resolve_url(config.marketing.url))
    if file is not None and not file.exists():
        raise SettingError(f"{config.where('marketing', 'url')}: no marketing store at "
                           f"{file}: {nothing} (`leadsync "
                           "import` or a first `leadsync sync --once` makes it)",
                           str(config.source) if config.source else None,
                           key="marketing.url")


@contextmanager
def open_marketing(config: Config, *, seed: bool = False) -> Iterator[MarketingAdapter]:
    """The marketing adapter; opening it (not using it) failing is an error naming
    ``marketing.url``: a database lost mid-run is the run's failure, not a setting's."""
    with ExitStack() as stack:
        try:
            marketing = stack.enter_context(registry.open_marketing(config, seed=seed))
        except DATABASE_ERRORS as exc:
            raise database_error(config, "marketing.url", exc) from None
        except SchemaOutOfDate as exc:
            raise schema_error(config, exc) from None
        yield marketing


def schema_error(config: Config, exc: SchemaOutOfDate) -> SettingError:
    """A database behind (or ahead of) this leadsync, named as a setting: ``state.url
    (line 15): the state database … run `leadsync migrate```."""
    section, _, name = exc.schema.setting.partition(".")
    return SettingError(f"{config.where(section, name)}: {exc.detail}",
                        str(config.source) if config.source else None,
                        key=exc.schema.setting, detail=exc.detail)


def migrate(config: Config, *, sql: bool = False, only: str | None = None,
            done: set[str] | None = None) -> Iterator[Migrated]:
    """`leadsync migrate`: the state database, then the embedded marketing store (when
    the config uses it), each taken to its head revision; one result each, as it is done.
    ``sql``: nothing changes; each result carries the statements instead. ``only``:
    "state" or "marketing". ``done``: stores already taken (pipelines sharing the
    marketing store), by store and URL: skipped, and those done here are added."""
    stores = [(STATE, config.state.url)]
    if config.marketing.adapter == "embedded":
        stores.append((MARKETING, config.marketing.url))
    done = set() if done is None else done
    for schema, url in stores:
        key = f"{schema.name} {config.resolve_url(url)}"  # two stores may share a database
        if only not in (None, schema.name) or key in done:
            continue
        done.add(key)
        try:
            yield upgrade(config.resolve_url(url), schema, sql=sql)
        except DATABASE_ERRORS as exc:
            raise database_error(config, schema.setting, exc) from None
        except SchemaOutOfDate as exc:
            raise schema_error(config, exc) from None


def models(schema: Schema) -> MetaData:
    """The tables the code defines for a store (its ``MetaData``), every module that
    defines one imported: what the store's revisions must add up to."""
    from connector.adapters.marketing_store import MarketingModel

    return {STATE.name: StateModel.metadata, MARKETING.name: MarketingModel.metadata}[schema.name]


def write_revision(store: str, message: str) -> str:
    """For whoever changes a model: the next revision of ``store`` ("state" or
    "marketing"), autogenerated; returns its path. Read it before committing it."""
    schema = {STATE.name: STATE, MARKETING.name: MARKETING}[store]
    return str(new_revision(schema, message, models(schema)))


@contextmanager
def open_crm(config: Config) -> Iterator[CrmAdapter]:
    """The configured CRM adapter, behind its embedded sandbox when the config has one."""
    name = config.crm.adapter
    settings = getattr(config.crm, name, None)
    embedded = (name in EMBEDDED and settings is not None
                and settings.sandbox is not None and settings.sandbox.embedded)
    with ExitStack() as stack:
        credentials = stack.enter_context(EMBEDDED[name](config)) if embedded else None
        yield stack.enter_context(registry.open_crm(config, credentials=credentials))


def run_once(config: Config, *, dry_run: bool = False, retry_dead_letters: bool = False,
             stop: Stop = NEVER, crm: CrmAdapter | None = None,
             clock: Clock = utcnow, progress: Progress = SILENT) -> RunSummary:
    """Open the configured adapters and the state store, run one cycle, close all.
    ``stop``: asked between batches (the CLI sets it on SIGTERM and Ctrl-C).
    ``progress``: told of each step and batch (`sync --once` on a terminal: a bar).
    ``crm``: an adapter the caller keeps open across runs (the daemon: its login
    and the CRM's metadata are reused, not asked again every cycle).
    ``clock``: the time routing and SLA clocks read (tests move it on)."""
    with structlog.contextvars.bound_contextvars(pipeline=config.pipeline):
        state = open_state(config)
        try:
            with state.run_lock() as lock, open_marketing(config, seed=True) as marketing, \
                    (nullcontext(crm) if crm is not None else open_crm(config)) as crm:
                pipeline = Pipeline(config, state, marketing, crm, retry_dead_letters=
                                    retry_dead_letters, stop=stop, lock=lock, clock=clock,
                                    progress=progress)
                try:
                    return pipeline.run(dry_run=dry_run)
                finally:
                    record_usage(config.pipeline, crm)
        finally:
            state.close()


def reroute_once(config: Config, lead: str, *, why: str = "not followed up in time",
                 clock: Clock = utcnow) -> tuple[RunSummary, list[Rerouted]]:
    """`leadsync reroute`: one lead (id or email) to the next rep, as a run of its own."""
    state = open_state(config)
    try:
        with state.run_lock(), open_marketing(config) as marketing, open_crm(config) as crm:
            ids = marketing.find(lead) if "@" in lead else [lead]
            pipeline = Pipeline(config, state, marketing, crm, clock=clock)
            summary = RunSummary(state.start_run(), dry_run=False)
            done: list[Rerouted] = []
            try:
                done = pipeline.reroute(ids or [lead], summary, why=why)
            except LeadsyncError as exc:
                summary.status, summary.error = "failed", str(exc)
            finally:
                state.finish_run(summary.run_id, summary.counts, status=summary.status,
                                 error=summary.error)
            return summary, done
    finally:
        state.close()


# --- the embedded sandboxes (the demo config) -----------------------------------------------

def _address(settings: SalesforceConfig | HubSpotConfig, crm: str) -> tuple[str, int]:
    if not settings.route_to:
        raise ConfigError(f"crm.{crm}.route_to: the embedded sandbox needs host:port")
    host, _, port = settings.route_to.rpartition(":")
    return host, int(port)


@contextmanager
def _serving(sandbox: object, crm: str, host: str, port: int) -> Iterator[None]:
    try:
        sandbox.start(host, port)  # type: ignore[attr-defined]
    except OSError as exc:
        raise FatalError(f"cannot start the embedded {crm} sandbox on {host}:{port}: "
                         f"{exc.strerror}; is `leadsync sandbox` already running there? "
                         f"Then set crm.{crm.lower()}.sandbox.embedded = false.",
                         system=crm.lower()) from exc
    log.info("sandbox started", crm=crm.lower(), address=sandbox.address)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        sandbox.stop()  # type: ignore[attr-defined]


@contextmanager
def _salesforce_sandbox(config: Config) -> Iterator[Credentials]:
    """Serve the demo org; the adapter logs in with the sandbox's documented
    credentials unless the environment names others."""
    from connector.sandbox.salesforce import SalesforceSandbox, oauth
    from connector.sandbox.salesforce.sandbox import DEFAULT_PASSWORD

    settings = config.crm.salesforce
    assert settings is not None and settings.sandbox is not None
    credentials = {
        "password": secret(settings.password_env,
                           fallback=DEFAULT_PASSWORD).get_secret_value(),
        "security_token": secret(settings.security_token_env, fallback="").get_secret_value(),
    }
    if settings.auth != "soap":
        credentials["consumer_key"] = secret(
            settings.consumer_key_env, fallback=oauth.DEFAULT_CONSUMER_KEY).get_secret_value()
        credentials["consumer_secret"] = secret(
            settings.consumer_secret_env,
            fallback=oauth.DEFAULT_CONSUMER_SECRET).get_secret_value()
    host, port = _address(settings, "salesforce")
    sandbox = SalesforceSandbox(
        username=settings.username, state_path=config.resolve_path(settings.sandbox.state),
        seed=config.resolve_path(settings.sandbox.seed) if settings.sandbox.seed else None,
        api_version=settings.api_version, lead_statuses=sandbox_statuses(settings.sandbox),
        **credentials)
    with _serving(sandbox, "Salesforce", host, port):
        yield credentials


def sandbox_statuses(settings: SandboxConfig | None) -> list[Any] | None:
    """The sandbox org's Lead Status picklist: a new org's, and the values config adds."""
    from connector.sandbox.salesforce.objects import DEFAULT_LEAD_STATUSES

    if settings is None or not settings.lead_statuses:
        return None
    return [*DEFAULT_LEAD_STATUSES, *settings.lead_statuses]


@contextmanager
def _hubspot_sandbox(config: Config) -> Iterator[Credentials]:
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.hubspot.sandbox import DEFAULT_TOKEN

    settings = config.crm.hubspot
    assert settings is not None and settings.sandbox is not None
    credentials = {"token": secret(settings.access_token_env,
                                   fallback=DEFAULT_TOKEN).get_secret_value()}
    host, port = _address(settings, "hubspot")
    sandbox = HubSpotSandbox(
        token=credentials["token"], state_path=config.resolve_path(settings.sandbox.state),
        seed=config.resolve_path(settings.sandbox.seed) if settings.sandbox.seed else None)
    with _serving(sandbox, "HubSpot", host, port):
        yield credentials


EMBEDDED: dict[str, Callable[[Config], AbstractContextManager[Credentials]]] = {
    "salesforce": _salesforce_sandbox,
    "hubspot": _hubspot_sandbox,
}
"""CRM adapter name → a starter for its embedded sandbox, yielding the credentials to use."""

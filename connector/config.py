"""config.toml + environment secrets → typed models.

This is the only module that reads TOML. Every problem is reported with the
key path and the line of config.toml it sits on, all at once, and unknown
keys are errors: a misspelt key silently ignored is a mapping silently wrong.
Secrets are never values in the file, only names of environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.errors import ConfigError
from connector.matching.config import MatchingConfig
from connector.routing.config import RoutingConfig

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "LEADSYNC_CONFIG"
TEMPLATE = Path(__file__).with_name("config_template.toml")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _database_url(value: str) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL (``postgres://``, as some hosts write it, too)."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("not a database URL; e.g. sqlite:///state/leadsync.db or "
                         "postgresql://user@host:5432/db") from None
    backend = url.get_backend_name()
    if backend == "postgres":
        return value.replace("postgres://", "postgresql://", 1)
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{backend!r} is not supported; use sqlite:/// or postgresql://")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


class StateConfig(Model):
    url: DatabaseUrl = "sqlite:///state/leadsync.db"


class SyncConfig(Model):
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Leads qualified, mapped and written together; the cursor is stored after each batch."""
    lookback_seconds: Annotated[float, Field(ge=0)] = 300
    """CRM changes are re-read this far behind the cursor: CRMs stamp a change before it
    commits, so a slow transaction can appear behind a stored cursor."""
    handoff_task: bool = True
    """Create a task on each lead leadsync creates in the CRM, for its owner, holding the
    lead's score and activity history, so the rep starts with the context."""
    task_due_hours: Annotated[float, Field(ge=0)] = 24
    on_crm_delete: Literal["keep_deleted", "recreate_on_new_activity"] = "keep_deleted"
    """A record a rep deleted in the CRM stays deleted: later marketing changes to the
    lead are not written (keep_deleted), or it is created again, in full, only when the
    lead qualifies again with an activity newer than the deletion."""

    @property
    def lookback(self) -> timedelta:
        return timedelta(seconds=self.lookback_seconds)

    @property
    def task_due(self) -> timedelta:
        return timedelta(hours=self.task_due_hours)


class ScheduleConfig(Model):
    every_minutes: Annotated[float, Field(gt=0)] = 15


class MarketingConfig(Model):
    adapter: Literal["embedded"] = "embedded"
    url: DatabaseUrl = "sqlite:///state/marketing.db"
    seed: str | None = None
    """CSV/JSONL imported on the first run, while the store is still empty."""
    default_region: Annotated[str, Field(min_length=2, max_length=2)] = "US"
    """Region assumed for phone numbers written without a country code."""


def _host_port(value: str) -> str:
    """``route_to`` sends credentials over plain HTTP, so only to this machine."""
    if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", value):
        raise ValueError("must be host:port, e.g. 127.0.0.1:8451")
    host = value.rpartition(":")[0].strip("[]")
    if not (host == "localhost" or host == "::1" or re.fullmatch(r"127(\.\d{1,3}){3}", host)):
        raise ValueError("must be on this machine (127.0.0.1, ::1 or localhost): calls to a "
                         "sandbox go over plain HTTP with the credentials")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]


class SandboxConfig(Model):
    embedded: bool = True
    """Start the sandbox in-process on ``route_to`` for the length of a run."""
    state: str = "state/sandbox-salesforce.json"
    seed: str | None = None


class SalesforceConfig(Model):
    username: str
    auth: Literal["soap", "oauth_password", "client_credentials"] = "soap"
    """soap: username + password + security token (SOAP login()). oauth_password and
    client_credentials: OAuth 2.0 through a connected app's consumer key and secret;
    client_credentials needs `domain` set to the org's My Domain (e.g. "acme.my")."""
    password_env: str = "SF_PASSWORD"
    security_token_env: str = "SF_SECURITY_TOKEN"
    consumer_key_env: str = "SF_CONSUMER_KEY"
    consumer_secret_env: str = "SF_CONSUMER_SECRET"
    domain: str = "login"
    api_version: Annotated[str, Field(pattern=r"^\d+\.\d$")] = "59.0"
    route_to: HostPort | None = None
    """host:port that every HTTPS call is sent to (the sandbox). Remove to go live."""
    timeout_s: Annotated[float, Field(gt=0)] = 30
    collection_size: Annotated[int, Field(ge=1, le=200)] = 200
    """Records per sObject Collections call (Salesforce allows 200)."""
    bulk_threshold: Annotated[int, Field(ge=1)] = 2000
    """A write batch larger than this goes through one Bulk API 2.0 job instead of
    collections: Salesforce's own advice is Bulk above about 2,000 records."""
    bulk_poll_s: Annotated[float, Field(gt=0)] = 2.0
    """First wait between Bulk job status polls; doubles up to 30 s."""
    bulk_timeout_s: Annotated[float, Field(gt=0)] = 1800
    api_reserve: Annotated[int, Field(ge=0)] = 1000
    """API calls of the org's daily allocation left for everyone else: when fewer
    remain, the run stops cleanly before its next call and resumes on a later run."""
    sandbox: SandboxConfig | None = None


class HubSpotConfig(Model):
    access_token_env: str = "HUBSPOT_ACCESS_TOKEN"
    """Environment variable holding the private app's access token."""
    route_to: HostPort | None = None
    """host:port of a HubSpot sandbox to call instead of api.hubapi.com. Remove to go live."""
    timeout_s: Annotated[float, Field(gt=0)] = 30
    batch_size: Annotated[int, Field(ge=1, le=100)] = 100
    """Inputs per batch call (HubSpot allows 100)."""
    searches_per_second: Annotated[float, Field(gt=0, le=5)] = 4
    """Search calls are limited per account (5 a second); stay under it."""
    api_reserve: Annotated[int, Field(ge=0)] = 1000
    """Calls of the daily limit left for other integrations: when fewer remain, the run
    stops cleanly before its next call and resumes on a later run."""
    sandbox: SandboxConfig | None = None


class CrmConfig(Model):
    adapter: Literal["salesforce", "hubspot"] = "salesforce"
    salesforce: SalesforceConfig | None = None
    hubspot: HubSpotConfig | None = None


class ScoringConfig(Model):
    threshold: Annotated[float, Field(ge=0)] = 40
    required_fields: list[str] = ["email", "company"]
    activity_points: dict[str, float] = {"form_fill": 25, "email_click": 5, "page_visit": 2}
    page_points: dict[str, float] = {}
    """Extra points when an activity's detail contains the key (e.g. "/pricing")."""
    profile_points: dict[str, float] = {}
    """Points for a filled profile field (e.g. title = 5)."""


ApiName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
"""A CRM object or field API name. These are spliced into queries (SOQL has no
parameters for names), so anything else is refused when the file loads."""


class StatusMapping(Model):
    crm_field: ApiName = "Status"
    to_marketing: dict[str, str] = {}
    won: str | None = "won"
    """Marketing stage once the opportunity the lead became is closed and won."""
    lost: str | None = "lost"
    """Marketing stage once that opportunity is closed and lost ("" to not feed it back)."""
    deleted: str | None = "crm_deleted"
    """Marketing stage once a rep deleted the record in the CRM ("" to not feed it back)."""


SyncRule = Literal["to_crm", "to_marketing", "two_way", "prefer_crm_unless_blank",
                   "prefer_marketing_unless_blank", "create_only", "none"]
"""Who wins for one field, in the words of the HubSpot–Salesforce integration:

- to_crm: marketing wins; the CRM value is overwritten when marketing changes.
- to_marketing: the CRM wins; its value is written back to marketing.
- two_way: the newest change wins, by each side's modification time.
- prefer_crm_unless_blank: the CRM value wins; marketing fills it while it is blank.
- prefer_marketing_unless_blank: marketing wins; the CRM fills it while marketing is blank.
- create_only: set once, when leadsync creates the CRM record.
- none: documented, never synced.
"""

TransformSpec = str | dict[str, Any]


class FieldMapping(Model):
    """One CRM field and where its value comes from (the long form of a mapping)."""

    crm: ApiName
    source: str | list[str] | None = Field(default=None, alias="from")
    """The marketing field(s) read, when not the entry's own name (concat/split)."""
    sync: SyncRule = "to_crm"
    transform: list[TransformSpec] = []
    """Applied in order, marketing → CRM; two-way fields are read back through the
    inverse (value maps inverted)."""
    value_map: str | dict[str, str | int | float | bool] | None = None
    """A table (or the name of one in [mapping.value_maps]) applied after transforms."""
    default: str | int | float | bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("transform")
    @classmethod
    def _transforms_parse(cls, value: list[TransformSpec]) -> list[TransformSpec]:
        from connector.mapping.transforms import TransformError, parse

        try:
            parse(value)
        except TransformError as exc:
            raise ValueError(str(exc)) from None
        return value

    def sources(self, name: str) -> list[str]:
        if self.source is None:
            return [name]
        return [self.source] if isinstance(self.source, str) else list(self.source)


class MappingConfig(Model):
    object: ApiName = "Lead"
    external_id_field: ApiName = "Leadsync_Id__c"
    fields: dict[str, ApiName | FieldMapping]
    """marketing field (or ``score``) = CRM field, or a table with crm, sync, transform…"""
    on_create: dict[str, str | int | float | bool] = {}
    """Constant CRM values set only when leadsync creates the record."""
    value_maps: dict[str, dict[str, str | int | float | bool]] = {}
    """Named value tables (picklists), referenced by fields' ``value_map``."""
    status: StatusMapping = StatusMapping()

    @field_validator("fields")
    @classmethod
    def _no_double_target(cls, value: dict[str, Any]) -> dict[str, Any]:
        seen: dict[str, str] = {}
        for source, entry in value.items():
            target = entry if isinstance(entry, str) else entry.crm
            if target in seen:
                raise ValueError(f"{seen[target]!r} and {source!r} both write {target!r}")
            seen[target] = source
        return value

    def entries(self) -> dict[str, FieldMapping]:
        """Every mapping in the long form (a short ``email = "Email"`` is to_crm)."""
        return {name: FieldMapping(crm=entry) if isinstance(entry, str) else entry
                for name, entry in self.fields.items()}


class Config(Model):
    state: StateConfig = StateConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    sync: SyncConfig = SyncConfig()
    marketing: MarketingConfig = MarketingConfig()
    crm: CrmConfig
    scoring: ScoringConfig = ScoringConfig()
    mapping: MappingConfig
    matching: MatchingConfig = MatchingConfig()
    routing: RoutingConfig = RoutingConfig()
    _base_dir: Path = PrivateAttr(default=Path("."))
    _source: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The folder of config.toml: relative paths in it are relative to here."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        return self._source

    def resolve_path(self, value: str) -> Path:
        """A path from the file, taken relative to the file's own folder."""
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    def resolve_url(self, url: str) -> str:
        """A database URL; relative SQLite paths are relative to config.toml's folder."""
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            rest = url[len(prefix):]
            if rest and rest != ":memory:":
                return prefix + str(self.resolve_path(rest))
        return url

    @property
    def crm_settings(self) -> BaseModel:
        """The settings block of the configured CRM adapter."""
        return getattr(self.crm, self.crm.adapter)


def secret(env_name: str, *, fallback: str | None = None, what: str = "secret") -> SecretStr:
    """Read a secret from the environment; say where we looked when it is missing."""
    value = os.environ.get(env_name)
    if value is None:
        if fallback is not None:
            return SecretStr(fallback)
        raise ConfigError(f"{what}: environment variable {env_name} is not set "
                          f"(config.toml names it; secrets are never read from the file)")
    return SecretStr(value)


def config_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: str | Path | None = None) -> Config:
    """Load and validate config.toml; raise ConfigError listing every problem."""
    path = config_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found (looked at --config, then ${CONFIG_ENV}, then ./{DEFAULT_CONFIG});"
            " run `leadsync init` to write a commented one") from None
    return parse(text, path)


def parse(text: str, path: Path | str = DEFAULT_CONFIG) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(path)) from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        lines = key_lines(text)
        raise ConfigError([_describe(err, lines) for err in exc.errors()], str(path)) from None
    base = path.resolve().parent
    problems = _cross_checks(config)
    if problems:
        lines = key_lines(text)
        raise ConfigError([f"{key} (line {lines.get(tuple(key.split('.')), '?')}): {msg}"
                           for key, msg in problems], str(path))
    config._base_dir, config._source = base, path
    return config


def _cross_checks(config: Config) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if config.crm_settings is None:
        problems.append((f"crm.{config.crm.adapter}",
                         f"crm.adapter is {config.crm.adapter!r} but [crm.{config.crm.adapter}] "
                         "is missing"))
    for kind in config.scoring.activity_points:
        if kind not in {"page_visit", "form_fill", "email_click"}:
            problems.append((f"scoring.activity_points.{kind}",
                             "unknown activity kind; use page_visit, form_fill or email_click"))
    return problems


def _describe(err: Any, lines: dict[tuple[str, ...], int]) -> str:
    loc = tuple(str(p) for p in err["loc"])
    key = ".".join(loc) or "(top level)"
    line = _line_for(loc, lines)
    where = f" (line {line})" if line else ""
    if err["type"] == "extra_forbidden":
        return f"{key}{where}: unknown key; check the spelling against `leadsync init`'s template"
    if err["type"] == "missing":
        return f"{key}{where}: required key is missing"
    value = err.get("input")
    shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
    return f"{key}{where}: {err['msg']}{shown}"


def _line_for(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """The line of the key, or of the closest enclosing table that exists."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', dotted)
    return tuple(a or b or c for a, b, c in parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map every key path of a TOML document to the line it is defined on.

    tomllib keeps no positions, so this walks the lines: table headers set the
    prefix, ``key =`` lines add a key. Multi-line strings and arrays are rare
    in config.toml and only cost precision, never a wrong line for a key.
    """
    found: dict[tuple[str, ...], int] = {}
    prefix: tuple[str, ...] = ()
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = False
            continue
        table = _TABLE.match(line)
        if table:
            prefix = _split_key(table.group(1))
            for end in range(1, len(prefix) + 1):
                found.setdefault(prefix[:end], number)
            continue
        key = _KEY.match(line)
        if key:
            path = prefix + _split_key(key.group(1))
            found.setdefault(path, number)
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = True
    return found

"""config.toml + environment secrets → typed models.

This is the only module that reads TOML. Every problem is reported with the
key path and the line of config.toml it sits on, all at once, and unknown
keys are errors: a misspelt key silently ignored is a mapping silently wrong.
Types are strict (``batch_size = "200"`` is refused, not read as 200: a value
quoted by mistake is as likely a value meant for another key) and numbers have
bounds a run can live with, so a setting that would fail hours later in the
scheduler fails here, naming its key. Cross-references (a field's value map)
are resolved here too. Nothing here touches the network or a database.
Secrets are never values in the file, only names of environment variables.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta
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
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.businesstime import CalendarConfig, parse_hours
from connector.db import redacted
from connector.errors import ConfigError
from connector.logs import scrub
from connector.matching.config import MatchingConfig
from connector.process import Duration, ProcessConfig, ReportConfig, SlaConfig
from connector.records import ACTIVITY_KIND
from connector.routing.config import RoutingConfig

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "LEADSYNC_CONFIG"
DEFAULT_PIPELINE = "default"
"""The name of the one pipeline of a file without [pipelines.NAME] tables."""
PIPELINE_ENV = "LEADSYNC_PIPELINE"
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
TEMPLATE = Path(__file__).with_name("config_template.toml")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _within(low: float, high: float, words: str) -> AfterValidator:
    """A bound on a number, said in the setting's own units: "at most 31 days" is
    what the admin needs, not "less than or equal to 44640"."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be {words}")
        return value

    return AfterValidator(check)


MINUTES_31_DAYS = 31 * 24 * 60


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
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    """Leads qualified, mapped and written together; the cursor is stored after each batch.
    A thousand: Salesforce takes them in one composite request of five collections."""
    lookback_seconds: Annotated[float, _within(
        0, 7 * 24 * 3600, "from 0 to 604800 seconds (7 days)")] = 300
    """CRM changes are re-read this far behind the cursor: CRMs stamp a change before it
    commits, so a slow transaction can appear behind a stored cursor."""
    handoff_task: bool = True
    """Create a task on each lead leadsync creates in the CRM, for its owner, holding the
    lead's score and activity history, so the rep starts with the context."""
    task_due_hours: Annotated[float, _within(0, 366 * 24, "from 0 to 8784 hours (a year)")] = 24
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


def _crontab(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"not a crontab line of five fields (minute hour day month "
                         f"weekday), e.g. \"*/15 8-18 * * mon-fri\": {exc}") from None
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    if first is None or trigger.get_next_fire_time(first, first + timedelta(seconds=1)) is None:
        raise ValueError("this crontab line never runs (a day that no month has?)")
    return value


class ScheduleConfig(Model):
    every_minutes: Annotated[float, _within(
        1, MINUTES_31_DAYS, f"at least 1 minute and at most 31 days ({MINUTES_31_DAYS} "
        "minutes)")] = 15
    """APScheduler's interval: below a minute runs overlap their own start-up; beyond a
    month the scheduler's date arithmetic is as likely to overflow as to be meant."""
    cron: Annotated[str, AfterValidator(_crontab)] | None = None
    """Instead of every_minutes: a crontab line in UTC ("*/15 8-18 * * mon-fri"). Its
    finest step is a minute, so runs never come closer than that either."""

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleConfig:
        if self.cron is not None and "every_minutes" in self.model_fields_set:
            raise ValueError("give every_minutes or cron, not both")
        return self

    def trigger(self) -> Any:
        """The APScheduler trigger: the crontab line, else the interval."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        return IntervalTrigger(minutes=self.every_minutes, timezone=UTC)

    def interval(self, at: datetime) -> timedelta:
        """How far apart runs are around ``at``: the interval, or the gap between the
        crontab's next two times."""
        if self.cron is None:
            return timedelta(minutes=self.every_minutes)
        trigger = self.trigger()
        first = trigger.get_next_fire_time(None, at)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
        return second - first

    def due_between(self, start: datetime, end: datetime, most: int = 5) -> int:
        """How many runs the schedule called for after ``start`` up to ``end`` (at most
        ``most``): health counts the runs missed since the last that went through, so
        a crontab's night or weekend is no gap."""
        if self.cron is None:
            return min(most, max(0, int((end - start) / timedelta(minutes=self.every_minutes))))
        trigger, seen, at = self.trigger(), 0, start
        while seen < most:
            fire = trigger.get_next_fire_time(None, at + timedelta(seconds=1))
            if fire is None or fire > end:
                break
            seen, at = seen + 1, fire
        return seen

    def describe(self) -> str:
        return f"cron {self.cron!r} (UTC)" if self.cron else f"every {self.every_minutes:g} min"


class ConsoleConfig(Model):
    """[console]: `leadsync serve`, and the daemon when ``port`` is set (docs/console.md)."""

    host: str = "127.0.0.1"
    """Where to listen. Any address beyond this machine's loopback needs a token."""
    port: Annotated[int, Field(ge=0, le=65535)] | None = None
    """The daemon (`leadsync sync`) serves the console here too; unset: it does not.
    `leadsync serve` listens here, else on 8765."""
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = (
        "LEADSYNC_CONSOLE_TOKEN")
    """The environment variable holding the console's token (never the token itself):
    required when bound beyond loopback, and then asked of every request."""


BROKER_SCHEMES = {"amqp": "RabbitMQ", "amqps": "RabbitMQ", "redis": "Redis", "rediss": "Redis"}


def _broker_url(value: str) -> str:
    """A RabbitMQ or Redis URL (the brokers Dramatiq speaks), with a host; the message
    never repeats the URL, which may hold a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError:
        raise ValueError("not a URL; e.g. amqp://leadsync@mq.example:5672/ or "
                         "redis://127.0.0.1:6379/0") from None
    if parts.scheme not in BROKER_SCHEMES:
        raise ValueError(f"{parts.scheme or 'no scheme'!r} is not a broker leadsync speaks; "
                         "use amqp:// or amqps:// (RabbitMQ), redis:// or rediss:// (Redis)")
    if not parts.hostname:
        raise ValueError("names no host; e.g. amqp://leadsync@mq.example:5672/")
    return value


QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def _queue_name(value: str) -> str:
    if not QUEUE_NAME.fullmatch(value):
        raise ValueError("a queue name is 1 to 80 letters, digits, _, . and -, starting "
                         "with a letter or digit")
    if value.endswith((".DQ", ".XQ")):
        raise ValueError(".DQ and .XQ end the names of Dramatiq's own delay and dead-letter "
                         "queues")
    return value


class WorkersConfig(Model):
    """[workers]: each pipeline's cycle as a task on a queue, run by `leadsync worker`
    processes on any machine; `leadsync sync` only sends them (docs/operations.md)."""

    broker: Annotated[str, AfterValidator(_broker_url)] | None = None
    """amqp://user@host:5672/vhost (RabbitMQ) or redis://host:6379/0 (Redis); unset: the
    daemon runs the cycles itself."""
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    """The environment variable holding the broker's password (never the password
    itself), put into the URL when connecting."""
    queue: Annotated[str, AfterValidator(_queue_name)] = "leadsync"
    """The queue's name: one per deployment (a config.toml and its workers)."""
    time_limit_minutes: Annotated[float, _within(
        1, 24 * 60, "from 1 to 1440 minutes (a day)")] = 20
    """A run still going this long is asked to stop after its batch and its pipeline is
    sent again, so another worker goes on from there: a message is acknowledged
    within RabbitMQ's consumer_timeout (30 minutes unless set otherwise)."""

    @model_validator(mode="after")
    def _password_once(self) -> WorkersConfig:
        from urllib.parse import urlsplit

        if self.broker is None:
            if self.password_env is not None:
                raise ValueError("password_env without broker: set broker too")
            return self
        parts = urlsplit(self.broker)
        if self.password_env is not None and parts.password is not None:
            raise ValueError("give the broker's password in password_env or in the URL, not "
                             "both")
        if self.password_env is not None and not parts.username \
                and parts.scheme.startswith("amqp"):
            raise ValueError("password_env needs the user in the URL: "
                             "amqp://USER@host:5672/")
        return self

    @property
    def kind(self) -> str:
        """RabbitMQ or Redis, by the URL's scheme."""
        assert self.broker is not None
        return BROKER_SCHEMES[self.broker.partition(":")[0]]


def _region(value: str) -> str:
    """phonenumbers knows regions in capitals only: "us" would fail every phone, silently."""
    import phonenumbers

    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("not a region code (ISO 3166-1 alpha-2, e.g. \"US\", "
                         "\"GB\")")
    return region


class MarketingConfig(Model):
    adapter: Literal["embedded"] = "embedded"
    url: DatabaseUrl = "sqlite:///state/marketing.db"
    seed: str | None = None
    """CSV/JSONL imported on the first run, while the store is still empty."""
    default_region: Annotated[str, AfterValidator(_region)] = "US"
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
Seconds = Annotated[float, _within(1, 3600, "from 1 to 3600 seconds (an hour)")]
"""A call's timeout: under a second every call times out; beyond an hour the socket
layer may refuse it, and a hung call holds the run."""


class SandboxConfig(Model):
    embedded: bool = True
    """Start the sandbox in-process on ``route_to`` for the length of a run."""
    state: str = "state/sandbox-salesforce.json"
    seed: str | None = None
    lead_statuses: list[Annotated[str, Field(min_length=1, max_length=255)]] = []
    """Lead Status values the sandbox org has beside a new org's four (Salesforce
    only), as an admin adds them in Setup: e.g. ["Could Not Reach"]."""


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
    timeout_s: Seconds = 30
    collection_size: Annotated[int, Field(ge=1, le=200)] = 200
    """Records per sObject Collections call (Salesforce allows 200)."""
    bulk_threshold: Annotated[int, Field(ge=1)] = 2000
    """A write batch larger than this goes through one Bulk API 2.0 job instead of
    collections: Salesforce's own advice is Bulk above about 2,000 records."""
    bulk_poll_s: Annotated[float, _within(0.1, 30, "from 0.1 to 30 seconds")] = 2.0
    """First wait between Bulk job status polls; doubles up to 30 s."""
    bulk_timeout_s: Annotated[float, _within(1, 24 * 3600, "from 1 to 86400 seconds (a day)")
                              ] = 1800
    api_reserve: Annotated[int, Field(ge=0)] = 1000
    """API calls of the org's daily allocation left for everyone else: when fewer
    remain, the run stops cleanly before its next call and resumes on a later run."""
    sandbox: SandboxConfig | None = None


class HubSpotConfig(Model):
    access_token_env: str = "HUBSPOT_ACCESS_TOKEN"
    """Environment variable holding the private app's access token."""
    route_to: HostPort | None = None
    """host:port of a HubSpot sandbox to call instead of api.hubapi.com. Remove to go live."""
    timeout_s: Seconds = 30
    batch_size: Annotated[int, Field(ge=1, le=100)] = 100
    """Inputs per batch call (HubSpot allows 100)."""
    searches_per_second: Annotated[float, _within(0.1, 5, "from 0.1 to 5 (HubSpot allows 5 "
                                                  "a second)")] = 4
    """Search calls are limited per account (5 a second); stay under it."""
    api_reserve: Annotated[int, Field(ge=0)] = 1000
    """Calls of the daily limit left for other integrations: when fewer remain, the run
    stops cleanly before its next call and resumes on a later run."""
    deleted_check_minutes: Annotated[float, _within(0, 24 * 60, "from 0 to 1440 minutes "
                                                    "(a day)")] = 60
    """How often a run that reads no changed lead lists the contacts and companies reps
    deleted (a run that reads changed leads always does). HubSpot's search never shows
    archived records, and its archived listing has no "since": it pages through every
    deleted record there is, at each look. So an idle run costs a search per object
    type, and marketing hears of a deletion within this long. 0: every run."""
    sandbox: SandboxConfig | None = None


class CrmConfig(Model):
    adapter: Literal["salesforce", "hubspot"] = "salesforce"
    salesforce: SalesforceConfig | None = None
    hubspot: HubSpotConfig | None = None


Points = Annotated[float, _within(-1_000_000, 1_000_000, "from -1000000 to 1000000")]
"""Points are summed into a score the CRM stores in a number field: a bound keeps the
sum a number the field (and JSON) can hold."""


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
    return value


def value_matches(value: object, *, values: list[str] | None = None,
                  pattern: str | None = None, at_least: float | None = None,
                  below: float | None = None) -> bool:
    """A lead's value against one test of a fit rule or a [select]: one of ``values``
    (case and outer spaces aside), ``pattern`` found in it, or a number in the band."""
    if value in (None, ""):
        return False
    if values is not None:
        return str(value).strip().casefold() in {v.strip().casefold() for v in values}
    if pattern is not None:
        return re.search(pattern, str(value), re.IGNORECASE) is not None
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        return False
    return (at_least is None or number >= at_least) and (below is None or number < below)


class FitRule(Model):
    """Points for one attribute of the lead when its value matches: one of ``values``
    (any of these, case and outer spaces aside), ``pattern`` (a regular expression
    found in it, case-insensitive), or a number ``at_least`` and/or ``below`` (a band:
    200 ≤ employees < 5000). ``exclude``: a lead that matches never qualifies."""

    field: Annotated[str, Field(min_length=1)]
    values: Annotated[list[str], Field(min_length=1)] | None = None
    pattern: str | None = None
    at_least: float | None = None
    below: float | None = None
    points: Points = 0
    exclude: bool = False
    reason: str | None = None
    """How a person reads the match ("senior title"); else the rule itself."""

    _compiles = field_validator("pattern")(_regex)

    @model_validator(mode="after")
    def _one_test(self) -> FitRule:
        band = self.at_least is not None or self.below is not None
        given = [k for k in ("values", "pattern") if getattr(self, k) is not None]
        if len(given) + band != 1:
            raise ValueError("give one of values, pattern, or a band (at_least, below)")
        if self.at_least is not None and self.below is not None \
                and self.at_least >= self.below:
            raise ValueError("at_least must be below below: a band from one to the other")
        if not self.points and not self.exclude:
            raise ValueError("give points (negative for a poor fit) or exclude = true")
        return self

    def matches(self, value: object) -> bool:
        return value_matches(value, values=self.values, pattern=self.pattern,
                             at_least=self.at_least, below=self.below)

    def describe(self) -> str:
        if self.reason:
            return self.reason
        if self.values is not None:
            return f"{self.field} in {', '.join(self.values)}"
        if self.pattern is not None:
            return f"{self.field} ~ {self.pattern}"
        low, high = ("" if end is None else f"{end:g}" for end in (self.at_least, self.below))
        return f"{self.field} {low}–{high}"


class Selection(Model):
    """[select]: the leads a pipeline takes from the marketing store; a lead that does
    not match is not its (another pipeline's, say another region's). One of ``values``
    or ``pattern``, as a fit rule tests them; ``other = true`` takes the rest."""

    field: Annotated[str, Field(min_length=1)]
    values: Annotated[list[str], Field(min_length=1)] | None = None
    pattern: str | None = None
    other: bool = False

    _compiles = field_validator("pattern")(_regex)

    @model_validator(mode="after")
    def _one_test(self) -> Selection:
        if (self.values is None) == (self.pattern is None):
            raise ValueError("give one of values or pattern")
        return self

    def takes(self, value: object) -> bool:
        return value_matches(value, values=self.values, pattern=self.pattern) != self.other


class EntryRule(Model):
    """Where the buyer is: a lead whose activities hold this signal is handed off at
    ``status`` (the computed mapping source ``entry_status``). The first rule a lead
    matches wins: list the strongest signal first."""

    activity: Annotated[str, Field(min_length=1)]
    detail: str | None = None
    """Text the activity's detail must contain (e.g. "demo"), case-insensitive."""
    status: Annotated[str, Field(min_length=1)]


class ScoringConfig(Model):
    threshold: Annotated[float, Field(ge=0)] = 40
    """The score (fit + behaviour) a lead needs to qualify."""
    fit_threshold: Points | None = None
    """And, when set, the fit part alone must reach this ..."""
    behaviour_threshold: Points | None = None
    """... and the behaviour part this."""
    required_fields: list[str] = ["email", "company"]
    activity_points: dict[str, Points] = {"form_fill": 25, "email_click": 5, "page_visit": 2}
    """Points per activity of each kind; any kind the marketing store holds (negative
    for a bad sign: unsubscribe, bounce)."""
    activity_caps: dict[str, Annotated[float, Field(ge=0)]] = {}
    """At most this many points from one kind (its page points included)."""
    decay_half_life_days: Annotated[float, Field(gt=0, le=3650)] | None = None
    """An activity's points halve every this many days since it happened; unset: no
    decay (an activity of last year counts as one of today)."""
    page_points: dict[str, Points] = {}
    """Extra points when an activity's detail contains the key (e.g. "/pricing")."""
    profile_points: dict[str, Points] = {}
    """Points for a filled profile field (e.g. title = 5), whatever its value."""
    fit: list[FitRule] = []
    """Points per attribute value ([[scoring.fit]]): seniority, industry, size ..."""
    grades: dict[Annotated[str, Field(min_length=1, max_length=2)], Points] = {}
    """A grade per fit: the best grade whose points the fit reaches (A = 40, B = 25)."""
    entry: list[EntryRule] = []
    """[[scoring.entry]]: the CRM status a lead is handed off at, by its strongest signal."""

    def grade(self, fit: float) -> str | None:
        """The best grade the fit reaches, or None (no grades, or below them all)."""
        reached = [(points, name) for name, points in self.grades.items() if fit >= points]
        return max(reached)[1] if reached else None


ApiName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")]
"""A CRM object or field API name. These are spliced into queries (SOQL has no
parameters for names), so anything else is refused when the file loads."""


class StatusMapping(Model):
    crm_field: ApiName = "Status"
    reason_field: ApiName | None = None
    """A CRM field where reps give the reason for a status (a recycle or disqualify
    reason): kept with the step in marketing's stage history."""
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

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True,
                              allow_inf_nan=False)

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
    process: ProcessConfig = ProcessConfig()
    sla: SlaConfig = SlaConfig()
    calendars: dict[str, CalendarConfig] = {}
    """Business calendars by name (docs/sla.md), for [sla] calendar."""
    report: ReportConfig = ReportConfig()
    """Targets and warnings of `leadsync report` (docs/report.md)."""
    console: ConsoleConfig = ConsoleConfig()
    workers: WorkersConfig = WorkersConfig()
    """Cycles on a queue for `leadsync worker` processes ([workers] broker); else in the daemon."""
    select: Selection | None = None
    """The leads this pipeline takes (docs/operations.md); unset: every lead."""
    _base_dir: Path = PrivateAttr(default=Path("."))
    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)
    _pipeline: str = PrivateAttr(default=DEFAULT_PIPELINE)

    @property
    def pipeline(self) -> str:
        """This pipeline's name ([pipelines.NAME]; "default" in a file without them)."""
        return self._pipeline

    @property
    def base_dir(self) -> Path:
        """The folder of config.toml: relative paths in it are relative to here."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        return self._source

    def line(self, *path: str) -> int | None:
        """The line of config.toml a key is on, or that of its closest enclosing key/table."""
        return _line_for(path, self._lines)

    def where(self, *path: str) -> str:
        """``state.url (line 15)``: how a message names a setting."""
        line = self.line(*path)
        return ".".join(path) + (f" (line {line})" if line else "")

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
    def status_mapping(self) -> StatusMapping:
        """[mapping.status] with the statuses [process.stages] give each stage."""
        status = self.mapping.status
        extra = self.process.status_stages()
        if not extra:
            return status
        return status.model_copy(update={"to_marketing": {**status.to_marketing, **extra}})

    @property
    def crm_settings(self) -> BaseModel:
        """The settings block of the configured CRM adapter."""
        return getattr(self.crm, self.crm.adapter)


def _warnings_inside(config: Config) -> list[Problem]:
    """A warn_before in business hours against a within in business days (or the other
    way round), compared on the [sla] calendar's working day: a warning must come
    before the deadline. (Same units are compared when the clock loads.)"""
    calendar = config.calendars.get(config.sla.calendar or "")
    day = 8 * 60 if calendar is None else (
        24 * 60 if calendar.hours is None else
        (lambda start, end: (end - start) % (24 * 60) or 24 * 60)(*parse_hours(calendar.hours)))

    def minutes(duration: Duration) -> float:
        per = {"minute": 1, "hour": 60, "day": day, "week": 5 * day}[duration.unit]
        return duration.amount * per

    found: list[Problem] = []
    for name, clock in config.sla.clocks().items():
        before = clock.warn_before
        if before is not None and before.business and clock.within.business \
                and minutes(before) >= minutes(clock.within):
            found.append((("sla", name, "warn_before"),
                          f"{str(before)!r} is not shorter than within {str(clock.within)!r} "
                          f"on the [sla] calendar's working day of {day / 60:g} hours: the "
                          "warning would come at the start"))
    return found


def secret(env_name: str, *, fallback: str | None = None, what: str = "secret") -> SecretStr:
    """Read a secret from the environment; say where we looked when it is missing."""
    value = os.environ.get(env_name)
    if value is None:
        if fallback is not None:
            return SecretStr(fallback)
        raise ConfigError(f"{what}: environment variable {env_name} is not set "
                          f"(config.toml names it; secrets are never read from the file)")
    return SecretStr(value)


class SettingError(ConfigError):
    """The file, or one setting in it, cannot be used as given: one line naming it.

    For what parsing cannot see (the file itself; a database URL that parses but
    names a server that is down, a database that does not exist, a folder that
    cannot be written), so the admin reads the key and the cause, not a traceback.
    """

    def __init__(self, problems: list[str] | str, path: str | None = None, *,
                 key: str | None = None, detail: str | None = None) -> None:
        super().__init__(problems, path)
        self.key = key
        """The setting at fault (``state.url``), when it is one setting."""
        self.detail = detail
        """What is wrong with it, without the key: for a report that names the key itself."""

    def __str__(self) -> str:
        return "; ".join(self.problems)


def config_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: str | Path | None = None, pipeline: str | None = None) -> Config:
    """Load and validate config.toml; raise ConfigError listing every problem. A file
    of several pipelines needs ``pipeline`` (else $LEADSYNC_PIPELINE)."""
    path = config_path(path)
    return choose(load_all(path), pipeline or os.environ.get(PIPELINE_ENV) or None, path)


def load_all(path: str | Path | None = None) -> dict[str, Config]:
    """Every pipeline of config.toml by name (one, "default", without [pipelines])."""
    path = config_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SettingError(
            f"{path} not found (looked at --config, then ${CONFIG_ENV}, then ./{DEFAULT_CONFIG});"
            " run `leadsync init` to write a commented one", str(path)) from None
    except IsADirectoryError:
        raise SettingError(f"cannot read {path}: it is a directory; --config and "
                           f"${CONFIG_ENV} name the file itself", str(path)) from None
    except PermissionError:
        raise SettingError(f"cannot read {path}: permission denied", str(path)) from None
    except OSError as exc:
        raise SettingError(f"cannot read {path}: {exc.strerror or exc}", str(path)) from None
    try:
        text = data.decode("utf-8-sig")  # Notepad's byte-order mark is UTF-8 too
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SettingError(f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                           f"{line}); save it as UTF-8", str(path)) from None
    return parse_all(text, path)


def parse(text: str, path: Path | str = DEFAULT_CONFIG, pipeline: str | None = None
          ) -> Config:
    """One pipeline's config: the one the file holds, or ``pipeline`` of its
    [pipelines.NAME] tables (a file holding several needs the name)."""
    return choose(parse_all(text, path), pipeline, path)


def by_name(pipelines: Config | dict[str, Config]) -> dict[str, Config]:
    """One pipeline's config as the dict of several that the daemon and console take."""
    return {pipelines.pipeline: pipelines} if isinstance(pipelines, Config) else pipelines


def choose(pipelines: dict[str, Config], name: str | None, path: Path | str) -> Config:
    if name is None and len(pipelines) == 1:
        return next(iter(pipelines.values()))
    if name is None:
        raise ConfigError(f"it holds the pipelines {', '.join(map(repr, pipelines))}: say "
                          f"which with --pipeline NAME (or ${PIPELINE_ENV})", str(path))
    if name not in pipelines:
        raise ConfigError(f"no pipeline {name!r} (there are "
                          f"{', '.join(map(repr, pipelines))}){did_you_mean(name, pipelines)}",
                          str(path))
    return pipelines[name]


def parse_all(text: str, path: Path | str = DEFAULT_CONFIG) -> dict[str, Config]:
    """Every pipeline of the file by name: the file's top-level settings with the
    sections its [pipelines.NAME] table gives (each replacing that section whole); a
    file without them is one pipeline, "default"."""
    path = Path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(path)) from None
    lines = key_lines(text)
    tables = raw.pop("pipelines", None)
    if tables is None:
        return {DEFAULT_PIPELINE: _build(raw, lines, path, DEFAULT_PIPELINE)}
    where = _where(("pipelines",), lines)
    if not isinstance(tables, dict) or not tables or not all(
            isinstance(table, dict) for table in tables.values()):
        raise ConfigError(f"{where}: one [pipelines.NAME] table per pipeline, each holding "
                          "what differs from the settings above it (docs/operations.md)",
                          str(path))
    built: dict[str, Config] = {}
    problems: list[str] = []
    for name, own in tables.items():
        if not PIPELINE_NAME.fullmatch(name):
            problems.append(f"{_where(('pipelines', name), lines)}: a pipeline's name is "
                            "lower-case letters, digits, - and _ (it names its logs, metrics "
                            "and state)")
            continue
        # a section the pipeline gives replaces the shared one whole: its [mapping] is
        # its mapping, not a blend of two CRMs' field names
        merged = {**copy.deepcopy(raw), **own}
        if "console" in own:
            problems.append(f"{_where(('pipelines', name, 'console'), lines)}: the console "
                            "serves every pipeline: give [console] at the top level")
        if "workers" in own:
            problems.append(f"{_where(('pipelines', name, 'workers'), lines)}: one queue "
                            "carries every pipeline's cycles: give [workers] at the top level")
        if len(tables) > 1 and "url" not in own.get("state", {}):
            shared = (merged.setdefault("state", {}) or {}).get("url", StateConfig().url)
            if not isinstance(shared, str) or not shared.startswith("sqlite:///"):
                problems.append(f"{_where(('pipelines', name), lines)}: set "
                                f"[pipelines.{name}.state] url: each pipeline keeps its own "
                                "state, and leadsync does not split a server database (give "
                                "each pipeline a database of its own)")
                continue
            stem, dot, suffix = shared.rpartition(".")
            merged["state"]["url"] = (f"{stem}-{name}.{suffix}" if dot and "/" not in suffix
                                      else f"{shared}-{name}")  # state/leadsync-emea.db
            claimed = any(isinstance(t.get("state"), dict) and t["state"].get("url") == shared
                          for t in tables.values())
            if not claimed and _holds_runs(_sqlite_file(shared, path)):
                problems.append(f"{_where(('pipelines', name), lines)}: {shared} holds the "
                                "state of this file's one pipeline until now: give it to one "
                                f"pipeline ([pipelines.{name}.state] url = \"{shared}\"), or "
                                "its cursors, links, reviews and clocks would be left behind")
                continue
        inside = {**lines, **{key[2:]: line for key, line in lines.items()
                              if key[:2] == ("pipelines", name) and len(key) > 2}}
        try:
            built[name] = _build(merged, inside, path, name)
        except ConfigError as exc:
            problems.extend(f"pipeline {name!r}: {problem}" for problem in exc.problems)
    seen: dict[str, str] = {}
    for name, config in built.items():
        url = config.resolve_url(config.state.url)
        if url in seen:
            problems.append(f"{_where(('pipelines', name, 'state', 'url'), lines)}: pipeline "
                            f"{name!r} has the state database of {seen[url]!r}; each pipeline "
                            "keeps its own (its cursors, links, reviews and lock)")
        seen.setdefault(url, name)
    if problems:
        raise ConfigError(problems, str(path))
    return built


def _holds_runs(file: Path) -> bool:
    """Whether a SQLite state file has seen a run (an empty one, made by `leadsync
    check`, holds nothing to leave behind). Read-only: loading a config writes nothing."""
    import sqlite3

    if not file.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return bool(db.execute("select count(*) from sync_run").fetchone()[0])
    except sqlite3.Error:  # no run table, or not a database: nothing of a pipeline's
        return False


def _sqlite_file(url: str, config_file: Path) -> Path:
    """The file of a sqlite:/// URL, a relative one beside config.toml."""
    file = Path(url.removeprefix("sqlite:///"))
    return file if file.is_absolute() else config_file.resolve().parent / file


def _build(raw: dict[str, Any], lines: dict[tuple[str, ...], int], path: Path,
           name: str) -> Config:
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([p for err in exc.errors() for p in _describe(err, lines)],
                          str(path)) from None
    base = path.resolve().parent
    problems = _cross_checks(config)
    if problems:
        raise ConfigError([f"{_where(key, lines)}: {msg}" for key, msg in problems], str(path))
    config._base_dir, config._source, config._lines = base, path, lines
    config._pipeline = name
    return config


def closest(word: str, names: Iterable[str]) -> str | None:
    """The name ``word`` most likely misspells (case-insensitively), if one is close."""
    candidates = {name.lower(): name for name in names}
    match = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return candidates[match[0]] if match else None


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a name is close, else nothing."""
    close = closest(word, names)
    return f"; did you mean {close!r}?" if close else ""


Problem = tuple[tuple[str, ...], str]
"""A problem found after the models validated: the key path and what is wrong."""


def _cross_checks(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    scoring = config.scoring
    for table, kinds in (("activity_points", scoring.activity_points),
                         ("activity_caps", scoring.activity_caps)):
        problems.extend((("scoring", table, kind), f"activity kind {kind!r}: lower-case "
                         "letters, digits and _ (form_fill, email_open, webinar_attended ...)")
                        for kind in kinds if not ACTIVITY_KIND.fullmatch(kind))
    if config.crm_settings is None:
        problems.append((("crm", config.crm.adapter),
                         f"crm.adapter is {config.crm.adapter!r} but [crm.{config.crm.adapter}] "
                         "is missing"))
    problems += _process_checks(config)
    named = config.mapping.value_maps
    for name, entry in config.mapping.fields.items():
        if isinstance(entry, FieldMapping) and isinstance(entry.value_map, str) \
                and entry.value_map not in named:
            there = (f" (there are {', '.join(repr(n) for n in named)})" if named
                     else " (there are none)")
            hint = did_you_mean(entry.value_map, named) or (
                f"; add a [mapping.value_maps.{entry.value_map}] table")
            problems.append((("mapping", "fields", name, "value_map"),
                             f"no value map {entry.value_map!r} in [mapping.value_maps]"
                             f"{there}{hint}"))
    return problems


def _process_checks(config: Config) -> list[Problem]:
    """[process], [sla] and [calendars] against each other and [mapping.status]."""
    problems: list[Problem] = [(("process", *path), message)
                               for path, message in config.process.problems()]
    stages = config.process.stages
    given = config.process.status_stages()
    custom = "stages" in config.process.model_fields_set  # else any stage name goes
    for status, stage in config.mapping.status.to_marketing.items():
        if custom and stage not in stages:
            problems.append((("mapping", "status", "to_marketing", status),
                             f"stage {stage!r} is not in [process.stages] "
                             f"({', '.join(stages)}){did_you_mean(stage, stages)}"))
        elif given.get(status, stage) != stage:
            problems.append((("mapping", "status", "to_marketing", status),
                             f"means {stage!r} here but {given[status]!r} in "
                             f"[process.stages.{given[status]}]"))
    for key in ("won", "lost", "deleted"):
        stage = getattr(config.mapping.status, key)
        if custom and stage and stage not in stages:
            problems.append((("mapping", "status", key),
                             f"stage {stage!r} is not in [process.stages]"
                             f"{did_you_mean(stage, stages)}"))
    sla = config.sla
    if sla.calendar is not None and sla.calendar not in config.calendars:
        problems.append((("sla", "calendar"), f"no calendar {sla.calendar!r} in [calendars]"
                         f"{did_you_mean(sla.calendar, config.calendars)}"))
    for key, rep in config.routing.reps.items():
        if rep.calendar is not None and rep.calendar not in config.calendars:
            problems.append((("routing", "reps", key, "calendar"),
                             f"no calendar {rep.calendar!r} in [calendars]"
                             f"{did_you_mean(rep.calendar, config.calendars)}"))
    problems.extend(_warnings_inside(config))
    actions = [(("sla", name, "on_breach"), clock.on_breach)
               for name, clock in sla.clocks().items()]
    actions += [(("process", "stages", name, "on_breach"), stage.on_breach)
                for name, stage in stages.items()]
    for path, chosen in actions:
        if "webhook" in chosen and not sla.webhook_env:
            problems.append((path, "webhook needs [sla] webhook_env, the environment "
                             "variable holding the URL"))
    for tier in sla.priority:
        if tier not in config.routing.score_tiers:
            hint = did_you_mean(tier, config.routing.score_tiers)
            problems.append((("sla", "priority", tier),
                             f"no score tier {tier!r} in [routing.score_tiers]{hint}"))
    if config.routing.reroute_on_sla and sla.first_touch is None:
        problems.append((("routing", "reroute_on_sla"), "needs an [sla.first_touch] clock "
                         "(e.g. within = \"4 business hours\"): nothing would start it"))
    return problems


def _where(path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> str:
    line = _line_for(path, lines)
    return ".".join(path) + (f" (line {line})" if line else "")


QUOTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
          "date_type": "a date (2026-12-31)"}
"""Strict type errors on a quoted value: what to write instead."""


def _describe(err: Any, lines: dict[tuple[str, ...], int]) -> list[str]:
    loc = tuple(str(p) for p in err["loc"])
    keyed = getattr(err.get("ctx", {}).get("error"), "keyed", None)
    if keyed:  # a section's own cross-references, each at its key's line
        return [f"{_where(loc + tuple(str(p) for p in path), lines)}: {message}"
                for path, message in keyed]
    key = ".".join(loc) or "(top level)"
    line = _line_for(loc, lines)
    where = f" (line {line})" if line else ""
    if err["type"] == "extra_forbidden":
        return [f"{key}{where}: unknown key; check the spelling against `leadsync init`'s "
                "template"]
    if err["type"] == "missing":
        return [f"{key}{where}: required key is missing"]
    value = err.get("input")
    shown = f" (got {_unsecret(loc, value)})" if not isinstance(value, dict | list) else ""
    message = err["msg"].removeprefix("Value error, ")
    hint = ""
    if err["type"] in QUOTED and isinstance(value, str):
        hint = f"; write {QUOTED[err['type']]} without quotes"
    elif err["type"] == "bool_type":
        hint = "; write true or false"
    return [f"{key}{where}: {message}{shown}{hint}"]


def _unsecret(loc: tuple[str, ...], value: object) -> str:
    """A value as an error repeats it, without a password: a URL's user and password
    (a database's, a broker's), whatever stands before its host's @, are blanked."""
    if loc and loc[-1] in ("url", "broker") and isinstance(value, str) and "@" in value:
        head, _, host = value.rpartition("@")
        scheme, sep, _ = head.partition("://")
        value = f"{scheme}{sep}***@{host}" if sep else f"***@{host}"
    return scrub(repr(value))


def _line_for(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """The line of the key, or of the closest enclosing table that exists."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ARRAY = re.compile(r"^\s*\[\[")
_PART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', dotted)
    return tuple(a or b or c for a, b, c in parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map every key path of a TOML document to the line it is defined on.

    tomllib keeps no positions, so this walks the lines: table headers set the
    prefix, ``key =`` lines add a key. An array of tables (``[[routing.territories]]``)
    is keyed both with the element's index, as validation errors name it
    (``routing.territories.1.pool``), and without (its first line). Multi-line
    strings and arrays are rare in config.toml and only cost precision, never a
    wrong line for a key.
    """
    found: dict[tuple[str, ...], int] = {}
    prefixes: list[tuple[str, ...]] = [()]
    arrays: dict[tuple[str, ...], int] = {}
    in_multiline = False

    def indexed(path: tuple[str, ...], *, new_element: bool) -> tuple[str, ...]:
        """``path`` with the current index inserted after each array of tables in it."""
        out: tuple[str, ...] = ()
        for end in range(1, len(path) + 1):
            out += (path[end - 1],)
            if path[:end] in arrays and not (new_element and end == len(path)):
                out += (str(arrays[path[:end]] - 1),)
        return out

    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = False
            continue
        table = _TABLE.match(line)
        if table:
            path = _split_key(table.group(1))
            if _ARRAY.match(line):
                element = indexed(path, new_element=True) + (str(arrays.get(path, 0)),)
                arrays[path] = arrays.get(path, 0) + 1
                prefixes = [element, path]
            else:
                prefixes = [indexed(path, new_element=False), path]
            for prefix in prefixes:
                for end in range(1, len(prefix) + 1):
                    found.setdefault(prefix[:end], number)
            continue
        key = _KEY.match(line)
        if key:
            for prefix in prefixes:
                found.setdefault(prefix + _split_key(key.group(1)), number)
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = True
    return found


def database_error(config: Config, key: str, exc: BaseException) -> SettingError:
    """A database setting (``state.url``, ``marketing.url``) that cannot be opened, as one
    line: the key and its line, the URL with its password hidden, and the driver's cause.

    Formatting only: the caller opened the database and caught ``exc``.
    """
    if isinstance(exc, SettingError) and exc.key == key:
        return exc  # already said
    section, _, name = key.partition(".")
    detail = database_problem(config, key, exc)
    return SettingError(f"{config.where(section, name)}: {detail}",
                        str(config.source) if config.source else None, key=key, detail=detail)


def database_problem(config: Config, key: str, exc: BaseException) -> str:
    """``cannot open <url, password hidden>: <the driver's first line>``."""
    if isinstance(exc, SettingError) and exc.detail:
        return exc.detail  # raised as database_error() already (wiring): said once
    section, _, name = key.partition(".")
    url = getattr(getattr(config, section), name)
    return f"cannot open {redacted(config.resolve_url(url))}: {_cause(exc, url)}"


def _cause(exc: BaseException, url: str) -> str:
    """The first line of what the driver said (not SQLAlchemy's wrapper), password removed."""
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, FileExistsError | NotADirectoryError) and original.filename:
        text = f"{original.filename} is a file, not a folder"
    elif isinstance(original, PermissionError):
        text = f"permission denied: {original.filename or original}; the folder must be writable"
    elif isinstance(original, OSError) and original.strerror:
        text = original.strerror + (f": {original.filename}" if original.filename else "")
    else:
        lines = [ln.strip() for ln in str(original).splitlines() if ln.strip()]
        text = lines[0] if lines else original.__class__.__name__
        if text == "unable to open database file":  # SQLite says no more than this
            text += " (does its folder exist, and may leadsync write there?)"
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text

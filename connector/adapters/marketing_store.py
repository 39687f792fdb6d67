"""The embedded marketing-automation store.

A small stand-in for Marketo/Pardot-style systems: leads keyed by email,
their activities (page visits, form fills, email clicks), and the stage that
the closed loop writes back. Its change feed follows profile and activity
changes only; a stage written back by leadsync is not a marketing change and
would otherwise come straight back as one.

Import keeps every row it cannot take in ``import_reject`` with the line,
the field and the reason: refused, never dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import JSON, Column, Index, UniqueConstraint, or_
from sqlalchemy import Text as SAText
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, select

from connector.adapters.base import FieldUpdate, StageUpdate
from connector.adapters.registry import register_marketing
from connector.db import UTCDateTime, create_tables, make_engine
from connector.records import Activity, ActivityKind, Lead, utcnow

if TYPE_CHECKING:
    from connector.config import Config

log = structlog.get_logger("leadsync.marketing")


class MarketingModel(SQLModel, registry=registry()):
    """Base of the marketing store's tables: a system of its own, its own metadata."""


class MkLead(MarketingModel, table=True):
    __tablename__ = "mk_lead"
    __table_args__ = (UniqueConstraint("email"), Index("ix_mk_lead_feed", "updated_at", "id"))
    id: int | None = Field(default=None, primary_key=True)
    email: str
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stage: str | None = None
    stage_updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    field_times: dict[str, str] | None = Field(default=None, sa_column=Column(JSON,
                                                                            nullable=True))
    """Field → when its value last changed (ISO time), as a marketing tool keeps per
    property: a two-way conflict is decided by the field's own change, not by the
    lead's last change of any field."""


def _stamp_changes(lead: MkLead, before: dict[str, Any], after: dict[str, Any],
                   now: datetime) -> None:
    times = dict(lead.field_times or {})
    for name, value in after.items():
        if before.get(name) != value or name not in times:
            times[name] = now.isoformat()
    lead.field_times = times


class MkActivity(MarketingModel, table=True):
    __tablename__ = "mk_activity"
    __table_args__ = (UniqueConstraint("lead_id", "kind", "occurred_at", "detail"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="mk_lead.id", index=True)
    kind: str
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = ""


class MkStageChange(MarketingModel, table=True):
    """Marketing's own history of what sales said, lead by lead."""

    __tablename__ = "mk_stage_change"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="mk_lead.id", index=True)
    stage: str
    crm_status: str
    amount: float | None = None
    """The opportunity's amount, once the lead became one: marketing's revenue attribution."""
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ImportReject(MarketingModel, table=True):
    __tablename__ = "import_reject"
    id: int | None = Field(default=None, primary_key=True)
    source: str
    line: int
    record: str
    field: str
    reason: str = Field(sa_column=Column(SAText, nullable=False))
    raw: str = Field(sa_column=Column(SAText, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


LEAD_COLUMNS = ("email", "first_name", "last_name", "company", "title", "phone", "country",
                "state", "city", "postal_code", "industry", "employees", "annual_revenue",
                "website", "lead_source")
"""Standard profile fields. Any other column is kept as a custom field."""

_RESERVED = {"activities", "created_at", "updated_at", "id", "stage"}


@dataclass(frozen=True)
class Rejection:
    line: int
    record: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.record}), field {self.field}: {self.reason}"


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    activities: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    email: str
    fields: dict[str, Any]
    created_at: datetime | None
    activities: list[Activity]


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _label(row: dict[str, Any], line: int) -> str:
    email = str(row.get("email") or "").strip()
    name = " ".join(str(row.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return email or name or f"row {line}"


def _raw_activities(value: Any) -> list[dict[str, Any]]:
    """CSV holds ``kind|timestamp|detail;...``; JSONL holds a list of objects."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [a if isinstance(a, dict) else {"kind": a} for a in value]
    items = []
    for chunk in str(value).split(";"):
        if chunk.strip():
            kind, _, rest = chunk.partition("|")
            occurred, _, detail = rest.partition("|")
            items.append({"kind": kind.strip(), "occurred_at": occurred.strip(),
                          "detail": detail.strip()})
    return items


def parse_row(raw: dict[str, Any], line: int) -> tuple[_Row | None, list[Rejection]]:
    """Validate one input row. A bad activity costs only that activity."""
    label = _label(raw, line)
    problems: list[Rejection] = []
    email_value = str(raw.get("email") or "").strip()
    if not email_value:
        return None, [Rejection(line, label, "email", "missing; the store keys leads by email")]
    try:
        email = validate_email(email_value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        return None, [Rejection(line, label, "email", f"{email_value!r} is not an email: {exc}")]
    created_at = None
    if str(raw.get("created_at") or "").strip():
        try:
            created_at = parse_time(str(raw["created_at"]))
        except ValueError:
            return None, [Rejection(line, label, "created_at",
                                    f"{raw['created_at']!r} is not an ISO 8601 time")]
    activities: list[Activity] = []
    for index, item in enumerate(_raw_activities(raw.get("activities"))):
        where = f"activities[{index}]"
        try:
            kind = ActivityKind(str(item.get("kind", "")).strip())
        except ValueError:
            problems.append(Rejection(line, label, f"{where}.kind",
                                      f"unknown activity kind {item.get('kind')!r}; expected "
                                      + ", ".join(k.value for k in ActivityKind)))
            continue
        try:
            occurred = parse_time(str(item.get("occurred_at", "")))
        except ValueError:
            problems.append(Rejection(line, label, f"{where}.occurred_at",
                                      f"{item.get('occurred_at')!r} is not an ISO 8601 time"))
            continue
        activities.append(Activity(kind, occurred, str(item.get("detail") or "")))
    fields = {}
    for key, value in raw.items():
        if key in _RESERVED or key == "email" or key is None:
            continue
        text = value.strip() if isinstance(value, str) else value
        if text not in (None, ""):
            fields[key] = text
    fields["email"] = email
    return _Row(line, email, fields, created_at, activities), problems


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from a CSV or JSON Lines file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "email" not in reader.fieldnames:
                raise ValueError(f"{path}: the header has no 'email' column")
            for row in reader:
                yield reader.line_num, row
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, {"__error__": f"not valid JSON: {exc.msg}"}
                    continue
                yield number, row if isinstance(row, dict) else {"__error__": "not an object"}
    else:
        raise ValueError(f"{path}: expected a .csv or .jsonl file")


class EmbeddedMarketingStore:
    name: ClassVar[str] = "embedded"

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_tables(MarketingModel.metadata, self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def drop_all(self) -> None:
        MarketingModel.metadata.drop_all(self.engine)

    def is_empty(self) -> bool:
        with Session(self.engine) as session:
            return session.exec(select(MkLead.id).limit(1)).first() is None

    # import ----------------------------------------------------------------
    def import_file(self, path: Path | str, *, clock: datetime | None = None) -> ImportReport:
        path = Path(path)
        report = ImportReport(source=str(path))
        now = clock or utcnow()
        with Session(self.engine) as session:
            for line, raw in read_rows(path):
                report.rows += 1
                if "__error__" in raw:
                    self._reject(session, report, path, raw,
                                 [Rejection(line, f"line {line}", "(row)", raw["__error__"])], now)
                    continue
                row, problems = parse_row(raw, line)
                if problems:
                    self._reject(session, report, path, raw, problems, now)
                if row is not None:
                    # Each row is its own change, one after the other: distinct stamps keep
                    # a change-feed cursor's boundary set small after a large import.
                    self._upsert(session, row, report, now + timedelta(microseconds=report.rows))
            session.commit()
        return report

    def _reject(self, session: Session, report: ImportReport, path: Path, raw: dict[str, Any],
                problems: list[Rejection], now: datetime) -> None:
        report.rejected.extend(problems)
        blob = json.dumps(raw, default=str, ensure_ascii=False)
        for problem in problems:
            session.add(ImportReject(source=path.name, line=problem.line, record=problem.record,
                                     field=problem.field, reason=problem.reason, raw=blob, at=now))

    def _upsert(self, session: Session, row: _Row, report: ImportReport, now: datetime) -> None:
        lead = session.exec(select(MkLead).where(MkLead.email == row.email)).first()
        created = lead is None
        changed = False
        if lead is None:
            lead = MkLead(email=row.email, fields=row.fields, created_at=row.created_at or now,
                          updated_at=now)
            _stamp_changes(lead, {}, row.fields, now)
            session.add(lead)
            session.flush()
            report.created += 1
        else:
            merged = {**lead.fields, **row.fields}  # a later row's filled values win
            if merged != lead.fields:
                _stamp_changes(lead, lead.fields, merged, now)
                lead.fields = merged
                changed = True
        assert lead.id is not None
        known = {(a.kind, a.occurred_at, a.detail) for a in session.exec(
            select(MkActivity).where(MkActivity.lead_id == lead.id))}
        for activity in row.activities:
            key = (activity.kind.value, activity.occurred_at, activity.detail)
            if key not in known:
                known.add(key)
                session.add(MkActivity(lead_id=lead.id, kind=activity.kind.value,
                                       occurred_at=activity.occurred_at, detail=activity.detail))
                report.activities += 1
                changed = True
        if not created:
            if changed:
                lead.updated_at = now  # only a real change moves the lead into the feed
                session.add(lead)
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()

    def rejects(self, limit: int = 100) -> list[ImportReject]:
        with Session(self.engine) as session:
            query = select(ImportReject).order_by(col(ImportReject.id).desc()).limit(limit)
            return list(session.exec(query))

    # change feed ------------------------------------------------------------
    def read_changes(self, since: datetime | None, *, page_size: int = 500) -> Iterator[Lead]:
        """Keyset-paged by (updated_at, id): no offset scans, no record skipped."""
        last: tuple[datetime, int] | None = None
        while True:
            with Session(self.engine) as session:
                query = select(MkLead)
                if since is not None:
                    query = query.where(col(MkLead.updated_at) >= since)
                if last is not None:
                    query = query.where(or_(col(MkLead.updated_at) > last[0],
                                            (col(MkLead.updated_at) == last[0])
                                            & (col(MkLead.id) > last[1])))
                rows = list(session.exec(query.order_by(col(MkLead.updated_at), col(MkLead.id))
                                         .limit(page_size)))
                if not rows:
                    return
                leads = self._with_activities(session, rows)
            yield from leads
            last = (rows[-1].updated_at, rows[-1].id)  # type: ignore[assignment]
            if len(rows) < page_size:
                return

    def _with_activities(self, session: Session, rows: list[MkLead]) -> list[Lead]:
        """Leads with their activities, one query for the whole page."""
        by_lead: dict[int, list[Activity]] = {}
        query = select(MkActivity).where(col(MkActivity.lead_id).in_([r.id for r in rows]))
        for act in session.exec(query.order_by(col(MkActivity.occurred_at))):
            by_lead.setdefault(act.lead_id, []).append(
                Activity(ActivityKind(act.kind), act.occurred_at, act.detail))
        return [Lead(id=str(r.id), fields=dict(r.fields), updated_at=r.updated_at, stage=r.stage,
                     activities=by_lead.get(r.id or 0, []),
                     field_times={k: datetime.fromisoformat(v)
                                  for k, v in (r.field_times or {}).items()})
                for r in rows]

    def get(self, marketing_id: str) -> Lead | None:
        return next(iter(self.leads([marketing_id])), None)

    def find(self, email: str) -> list[str]:
        """Emails are stored normalised and lower-cased: one lead at most."""
        wanted = email.strip().lower()
        with Session(self.engine) as session:
            return [str(i) for i in session.exec(select(MkLead.id)
                                                 .where(MkLead.email == wanted))]

    def leads(self, marketing_ids: Sequence[str]) -> list[Lead]:
        ids = [int(i) for i in marketing_ids if str(i).isdigit()]
        found: list[Lead] = []
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                query = select(MkLead).where(col(MkLead.id).in_(ids[start:start + 500]))
                found.extend(self._with_activities(session, list(session.exec(query))))
        return found

    # closed loop --------------------------------------------------------------
    def write_stages(self, updates: Sequence[StageUpdate]) -> set[str]:
        written: set[str] = set()
        with Session(self.engine) as session:
            for update in updates:
                lead = session.get(MkLead, int(update.marketing_id))
                if lead is None:
                    continue
                lead.stage = update.stage
                lead.stage_updated_at = update.at
                session.add(lead)
                session.add(MkStageChange(lead_id=lead.id, stage=update.stage,
                                          crm_status=update.crm_status, amount=update.amount,
                                          at=update.at))
                written.add(update.marketing_id)
            session.commit()
        return written

    def write_fields(self, updates: Sequence[FieldUpdate]) -> set[str]:
        """CRM values into lead fields; the lead's change time moves, as in any
        marketing tool (the next hand-off finds the CRM already holds them)."""
        written: set[str] = set()
        now = utcnow()
        with Session(self.engine) as session:
            for update in updates:
                lead = session.get(MkLead, int(update.marketing_id))
                if lead is None:
                    continue
                fields = dict(lead.fields)
                fields.update(update.fields)
                _stamp_changes(lead, lead.fields, fields, now)
                if "email" in update.fields and update.fields["email"]:
                    lead.email = str(update.fields["email"]).strip().lower()
                lead.fields = fields
                lead.updated_at = now
                session.add(lead)
                written.add(update.marketing_id)
            session.commit()
        return written

    def stage_history(self, marketing_id: str) -> list[MkStageChange]:
        with Session(self.engine) as session:
            query = select(MkStageChange).where(MkStageChange.lead_id == int(marketing_id))
            return list(session.exec(query.order_by(col(MkStageChange.id))))


def seed_store(store: EmbeddedMarketingStore, path: Path) -> ImportReport:
    """First run of the demo: fill the empty store from the seed file, saying what it refused."""
    report = store.import_file(path)
    log.info("marketing store seeded", source=str(path), leads=report.created,
             activities=report.activities, refused=len(report.rejected))
    for rejection in report.rejected:
        log.warning("seed row refused", source=path.name, line=rejection.line,
                    record=rejection.record, field=rejection.field, reason=rejection.reason)
    return report


@contextmanager
def open_embedded(config: Config, *, seed: bool = False) -> Iterator[EmbeddedMarketingStore]:
    store = EmbeddedMarketingStore(config.resolve_url(config.marketing.url))
    try:
        if seed and config.marketing.seed and store.is_empty():
            seed_store(store, config.resolve_path(config.marketing.seed))
        yield store
    finally:
        store.close()


register_marketing("embedded", open_embedded)

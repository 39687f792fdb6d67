"""Step 6 of a cycle, and its mirror in step 9: the admin's field mappings.

Marketing → CRM: each mapped field is read from the lead, passed through its
transforms and value map, and kept if its sync rule lets marketing write it.
CRM → marketing: a CRM value read back is passed through the inverse
transforms and written to marketing if its rule lets the CRM win.

Both directions are pure (data in, data and the deciding rule out). Loop
safety lives in the caller with the per-field hashes of what the CRM holds
(``state.Link.field_hashes``): a value equal to what the CRM already holds is
neither written nor taken back, so two two-way cycles converge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.config import FieldMapping, MappingConfig, SyncRule
from connector.errors import RecordError
from connector.mapping.transforms import Context, Step, apply, inverse, parse
from connector.records import FieldSchema, Lead, ObjectSchema, Write, payload_hash
from connector.state import value_hash

COMPUTED = {"score": "number", "score_tier": "text", "rank": "number",
            "routing_reason": "text", "expansion": "boolean", "entry_status": "text"}
"""Sources that are not marketing fields but computed by the cycle: the lead's score,
its tier ([routing.score_tiers]) and rank (1 for the top tier, 2 for the next …, a
list view sorted by rank then score is the rep's work queue), the reason routing
gave for its owner and whether its company is a customer ([routing.expansion]; true or
false), both known only after the route step, and the status its strongest signal is
handed off at ([[scoring.entry]]; none when no rule matches: give a default). Each with
the kind of value it is, which the CRM field it is mapped to must hold."""

TO_CRM: frozenset[SyncRule] = frozenset({"to_crm", "two_way", "prefer_crm_unless_blank",
                                         "prefer_marketing_unless_blank"})
"""Rules under which marketing's value may be written to the CRM after creation."""
FROM_CRM: frozenset[SyncRule] = frozenset({"to_marketing", "two_way", "prefer_crm_unless_blank",
                                           "prefer_marketing_unless_blank"})
"""Rules under which the CRM's value may be written back to marketing."""


@dataclass(frozen=True)
class Compiled:
    """One mapping entry, parsed once per run."""

    name: str
    entry: FieldMapping
    steps: tuple[Step, ...]
    back: tuple[Step, ...]
    sources: tuple[str, ...]

    @property
    def crm(self) -> str:
        return self.entry.crm

    @property
    def sync(self) -> SyncRule:
        return self.entry.sync

    def describe(self) -> str:
        names = [s.name for s in self.steps]
        how = f", {' → '.join(names)}" if names else ""
        return f"mapping.fields.{self.name} ({self.sync}{how})"


@dataclass
class Payload:
    """What to write for one lead, and which config entry decided each field."""

    values: dict[str, Any]
    on_create: dict[str, Any]
    rules: dict[str, str]
    sync: dict[str, SyncRule] = field(default_factory=dict)
    """CRM field → its rule (for the write filter against what the CRM holds)."""
    issues: list[RecordError] = field(default_factory=list)
    """Values that could not be mapped: the record is refused, naming the field."""
    warnings: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        """Hash of the values that are rewritten on every change (not the create-only ones)."""
        return payload_hash(self.values)

    def for_write(self, *, creating: bool) -> dict[str, Any]:
        return {**self.on_create, **self.values} if creating else dict(self.values)

    def write(self, key: str, *, known: bool, only: set[str] | None = None) -> Write:
        values = self.values if only is None else {k: v for k, v in self.values.items()
                                                   if k in only}
        return Write(key, dict(values), dict(self.on_create), known=known)

    def worth_writing(self, crm_holds: dict[str, str]) -> set[str]:
        """The fields whose value the CRM does not hold yet, as far as we know.

        ``crm_holds`` is CRM field → hash of its value there (blank: ""). A
        prefer_crm_unless_blank field is written only while the CRM's is blank.
        """
        wanted = set()
        for name, value in self.values.items():
            held = crm_holds.get(name)
            if self.sync.get(name) == "prefer_crm_unless_blank" and held not in (None, ""):
                continue
            if held != value_hash(value):
                wanted.add(name)
        return wanted


@dataclass(frozen=True)
class Conflict:
    """A two-way field both sides changed since the last sync: who won, what lost."""

    field: str
    crm_field: str
    marketing: Any
    crm: Any
    marketing_at: datetime | None
    crm_at: datetime
    winner: str  # "marketing" | "crm"

    def describe(self) -> str:
        won, lost = ((self.marketing, self.crm) if self.winner == "marketing"
                     else (self.crm, self.marketing))
        loser = "crm" if self.winner == "marketing" else "marketing"
        when = {"marketing": self.marketing_at, "crm": self.crm_at}
        return (f"{self.field} ({self.crm_field}) changed on both sides: {self.winner}'s "
                f"{won!r} ({_stamp(when[self.winner])}) is newer than {loser}'s {lost!r} "
                f"({_stamp(when[loser])}), which is kept here")


def _stamp(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "time unknown"


@dataclass
class TakenBack:
    updates: dict[str, Any] = field(default_factory=dict)
    """Marketing field → the CRM's value to write."""
    reasons: dict[str, str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


class Mapper:
    """The mapping of one run: entries parsed once, CRM field lengths from describe."""

    def __init__(self, mapping: MappingConfig, *, default_region: str = "US",
                 schema: ObjectSchema | None = None) -> None:
        self.mapping = mapping
        self.default_region = default_region
        self.schema = schema
        self.entries = [self._compile(name, entry)
                        for name, entry in mapping.entries().items()]

    def _compile(self, name: str, entry: FieldMapping) -> Compiled:
        spec: list[Any] = list(entry.transform)
        if entry.value_map is not None:
            table = (self.mapping.value_maps[entry.value_map]
                     if isinstance(entry.value_map, str) else entry.value_map)
            spec.append({"value_map": {"map": dict(table)}})
        steps = parse(spec)
        return Compiled(name, entry, steps, inverse(steps), tuple(entry.sources(name)))

    def _target(self, crm_field: str) -> FieldSchema | None:
        return self.schema.field(crm_field) if self.schema else None

    @property
    def crm_fields(self) -> set[str]:
        """Every CRM field a mapping entry names."""
        return {c.crm for c in self.entries}

    @property
    def crm_fields_read_back(self) -> list[str]:
        """CRM fields whose changes may flow back to marketing."""
        return [c.crm for c in self.entries if c.sync in FROM_CRM]

    def writes_from(self, source: str) -> list[str]:
        """CRM fields whose value is read from ``source`` (a computed one, typically)."""
        return [c.crm for c in self.entries if source in c.sources
                and c.sync not in ("none", "to_marketing")]

    # marketing → CRM ------------------------------------------------------------
    def to_crm(self, lead: Lead, *, computed: dict[str, Any]) -> Payload:
        record = {**lead.fields, "id": lead.id, "stage": lead.stage, **computed}
        payload = Payload({}, {}, {})
        for item in self.entries:
            if item.sync in ("none", "to_marketing"):
                continue
            raw = record.get(item.sources[0])
            target = self._target(item.crm)
            ctx = Context(record=record, target_length=target.length if target else None,
                          default_region=self.default_region)
            outcome = apply(item.steps, raw, ctx)
            payload.warnings.extend(f"{item.name} → {item.crm}: {w}" for w in ctx.warnings)
            if outcome.issue is not None:
                payload.issues.append(RecordError(
                    outcome.issue.code, f"{item.name} → {item.crm}: {outcome.issue.message}",
                    [item.crm]))
                continue
            value = outcome.value
            if (value is None or value == "") and item.entry.default is not None:
                value = item.entry.default
            if value is None or value == "":
                continue
            if item.sync == "create_only":
                payload.on_create[item.crm] = value
            else:
                payload.values[item.crm] = value
                payload.sync[item.crm] = item.sync
            payload.rules[item.crm] = item.describe()
        for name, value in self.mapping.on_create.items():
            if name not in payload.values and name not in payload.on_create:
                payload.on_create[name] = value
                payload.rules[name] = f"mapping.on_create.{name} (create only)"
        return payload

    # CRM → marketing ------------------------------------------------------------
    def to_marketing(self, crm_values: dict[str, Any], crm_holds: dict[str, str],
                     lead: Lead | None, crm_changed_at: datetime,
                     marketing_changed_at: datetime | None = None,
                     field_changed_at: dict[str, datetime] | None = None) -> TakenBack:
        """Marketing field → value to write, the rule that decided, and conflicts.

        Only values the CRM did not already hold (by hash) count: our own writes
        read back, and values taken before, are echoes. On a two_way field both
        sides may have changed since the last sync: the newer change wins (the
        CRM's stamp against marketing's) and the loser is reported, never dropped
        silently. When only the CRM changed it, the CRM's value is taken whatever
        else changed on the marketing lead meanwhile. ``field_changed_at`` (CRM field →
        when it last changed, from the CRM's field history) is used over the record's
        stamp where known: a rep's later edit of another field must not make an older
        edit of this one look newer.
        """
        out = TakenBack()
        updates, reasons = out.updates, out.reasons
        mine_at = marketing_changed_at or (lead.updated_at if lead else None)
        for item in self.entries:
            if item.sync not in FROM_CRM or item.crm not in crm_values or len(item.sources) != 1:
                continue
            value = crm_values[item.crm]
            if crm_holds.get(item.crm) == value_hash(value):
                continue  # an echo, or a value marketing already took
            blank = value is None or value == ""
            mine = lead.get(item.sources[0]) if lead else None
            if item.sync == "prefer_crm_unless_blank" and blank:
                continue
            if item.sync == "two_way" and blank and item.crm not in crm_holds \
                    and mine not in (None, ""):
                continue  # a blank never known to hold anything: no rep cleared it
            if item.sync == "prefer_marketing_unless_blank" and mine not in (None, ""):
                continue
            ctx = Context(record=dict(crm_values), default_region=self.default_region)
            outcome = apply(item.back, value, ctx)
            if outcome.issue is not None or outcome.value == mine:
                continue
            if item.sync == "two_way" and lead is not None and self._changed_since_sync(
                    item, lead, crm_holds.get(item.crm)):
                crm_at = (field_changed_at or {}).get(item.crm, crm_changed_at)
                field_at = lead.field_times.get(item.sources[0]) or mine_at
                marketing_wins = field_at is not None and field_at > crm_at
                out.conflicts.append(Conflict(
                    item.sources[0], item.crm, marketing=mine, crm=outcome.value,
                    marketing_at=field_at, crm_at=crm_at,
                    winner="marketing" if marketing_wins else "crm"))
                if marketing_wins:
                    continue  # its value goes out in this run's hand-off
            updates[item.sources[0]] = outcome.value
            reasons[item.sources[0]] = f"{item.crm} → {item.describe()}"
        return out

    def _changed_since_sync(self, item: Compiled, lead: Lead, held: str | None) -> bool:
        """Marketing's value, mapped, differs from what the CRM held at the last sync:
        marketing changed it too. Never synced: a value marketing has counts."""
        record = {**lead.fields, "id": lead.id, "stage": lead.stage}
        ctx = Context(record=record, default_region=self.default_region)
        outcome = apply(item.steps, record.get(item.sources[0]), ctx)
        if outcome.issue is not None:
            return False
        mapped = value_hash(outcome.value)
        return mapped != held if held is not None else mapped != ""


def predicted_refusals(payload: dict[str, Any], schema: ObjectSchema | None, *,
                       creating: bool) -> list[RecordError]:
    """What the CRM's own metadata already says it will refuse in this payload: a
    required field missing on create, text longer than the field, a value outside a
    restricted picklist. The dry run reports these as the real run would meet them."""
    if schema is None:
        return []
    found: list[RecordError] = []
    if creating:
        missing = [f.name for f in schema.fields.values()
                   if f.required and f.createable and payload.get(f.name) in (None, "")
                   and not f.external_id]
        if missing:
            found.append(RecordError("REQUIRED_FIELD_MISSING",
                                     f"Required fields are missing: [{', '.join(missing)}]",
                                     missing))
    for name, value in payload.items():
        target = schema.field(name)
        if target is None or value is None:
            continue
        if (isinstance(value, str) and target.length and target.type in TEXT_TYPES
                and len(value) > target.length):
            found.append(RecordError("STRING_TOO_LONG", f"{name}: data value too large "
                                     f"(max length={target.length})", [name]))
        if target.restricted and target.picklist and str(value) not in target.picklist:
            found.append(RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                     f"{name}: bad value for restricted picklist field: "
                                     f"{value}", [name]))
    return found


TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist"})

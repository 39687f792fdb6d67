"""The admin's mapping held against the CRM's own metadata, before any lead is sent.

A mapping that names a field the CRM lacks, writes a read-only one, or sends a
value a restricted picklist refuses would fail on every record, one dead letter
at a time. Here each mistake becomes one finding at load time, naming the
config key and its line, and saying how to fix it. Errors are mappings that
cannot work; warnings are mappings that work for some values and not others.

Pure: the config and an ``ObjectSchema`` in, findings out. The CLI's ``check``
fetches the schema and prints them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from connector.config import Config, FieldMapping, SyncRule, key_lines
from connector.mapping import COMPUTED, TO_CRM
from connector.mapping.transforms import Step, parse
from connector.records import FieldSchema, ObjectSchema

Severity = Literal["error", "warning"]

WRITES: frozenset[SyncRule] = TO_CRM | {"create_only"}
"""Rules under which a value reaches the CRM at all."""

NUMERIC = {"int": "integer", "double": "number", "currency": "number", "percent": "number",
           "number": "number"}
"""CRM field type → the transform that turns marketing's text into it."""
NUMBERS = {s for s, kind in COMPUTED.items() if kind == "number"} | {"employees",
                                                                     "annual_revenue"}
"""Sources that are numbers before mapping: computed, or made numbers by ``normalize``."""
BOOLEAN = {"boolean", "bool"}
TEXT = {"string", "textarea"}
SHORT_TEXT = 100
"""Text fields shorter than this overflow on real data often enough to want ``truncate``."""


@dataclass(frozen=True)
class Finding:
    """One problem of the mapping, where it sits in config.toml, and how to fix it."""

    severity: Severity
    key: str
    line: int | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        fix = f"; {self.fix}" if self.fix else ""
        return f"{self.key}{where}: {self.message}{fix}"


def _close(word: str, candidates: dict[str, str]) -> str | None:
    """The candidate closest to ``word``, case-insensitively (keys lowered → value)."""
    lowered = word.lower()
    match = difflib.get_close_matches(lowered, list(candidates), n=1, cutoff=0.6)
    if match:
        return candidates[match[0]]
    # "Working" for "Working - Contacted": too short for difflib, unambiguous as a prefix
    starts = [name for key, name in candidates.items() if lowered and key.startswith(lowered)]
    return starts[0] if len(set(starts)) == 1 else None


def _quoted(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


class _Checker:
    def __init__(self, config: Config, schema: ObjectSchema) -> None:
        self.config = config
        self.mapping = config.mapping
        self.schema = schema
        source = config.source
        text = source.read_text(encoding="utf-8") if source and source.exists() else ""
        self.lines = key_lines(text)
        self.crm = f"the CRM ({config.crm.adapter})"
        self.found: list[Finding] = []
        self.names = {n.lower(): n for n in schema.fields}
        self.names.update({f.label.lower(): f.name for f in schema.fields.values()
                           if f.label and f.label.lower() not in self.names})

    # where and what -------------------------------------------------------------
    def line(self, path: tuple[str, ...]) -> int | None:
        """The key's line, or that of the closest enclosing key or table."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def add(self, severity: Severity, path: tuple[str, ...], message: str,
            fix: str | None = None, *, section: str = "mapping") -> None:
        key = ".".join((section, *path))
        self.found.append(Finding(severity, key, self.line((section, *path)), message, fix))

    def field(self, name: str, path: tuple[str, ...]) -> FieldSchema | None:
        """The CRM field, or an error naming the closest one when it has none by that name."""
        info = self.schema.field(name)
        if info is None:
            close = _close(name, self.names)
            self.add("error", path, f"{self.schema.name} has no field {name!r}",
                     f"did you mean {close!r}?" if close else None)
        return info

    def label(self, info: FieldSchema) -> str:
        return f"{self.schema.name}.{info.name}"

    # the rules ------------------------------------------------------------------
    def run(self) -> list[Finding]:
        self.external_id()
        for name, entry in self.mapping.entries().items():
            self.entry(name, entry)
        for name, value in self.mapping.on_create.items():
            self.on_create(name, value)
        self.required()
        self.status()
        return sorted(self.found, key=lambda f: (f.line is None, f.line or 0))

    def external_id(self) -> None:
        name = self.mapping.external_id_field
        info = self.field(name, ("external_id_field",))
        if info is None:
            return
        if not info.external_id:
            self.add("error", ("external_id_field",),
                     f"{self.label(info)} is not marked External ID in the CRM; upserts need one",
                     "mark it External ID (and Unique) in the CRM's field setup")
        elif not info.unique:
            self.add("warning", ("external_id_field",),
                     f"{self.label(info)} is an External ID but not Unique: the CRM would accept "
                     "two records with one id, so every create is an upsert (one more call per "
                     "create batch)", "mark it Unique in the CRM's field setup")

    def entry(self, name: str, entry: FieldMapping) -> None:
        short = isinstance(self.mapping.fields[name], str)
        base = ("fields", name)

        def at(key: str) -> tuple[str, ...]:
            return base if short else (*base, key)

        info = self.field(entry.crm, at("crm"))
        table = self.value_map(entry, at("value_map"))
        computed = sorted(set(entry.sources(name)) & COMPUTED.keys())
        if computed and entry.sync not in ("to_crm", "create_only"):
            self.add("error", at("sync"), f"{computed[0]} is computed by leadsync each run: it "
                     f"goes to the CRM only, and sync = {entry.sync!r} would take the CRM's "
                     "value back", 'use sync = "to_crm" (the default)')
        if info is None:
            return
        self.writable(info, entry.sync, at("sync"))
        if entry.sync not in WRITES:
            return  # nothing of ours reaches the CRM: its types and lengths are not our concern
        steps = parse(entry.transform)  # refused at load when it cannot parse
        for path, value in self.constants(entry, steps, table, at):
            self.fits(info, path, value)
        if "entry_status" in entry.sources(name) and table is None and not steps:
            for index, rule in enumerate(self.config.scoring.entry):  # its values, as written
                self.fits(info, ("entry", str(index), "status"), rule.status,
                          section="scoring")
        self.types(name, info, entry, steps, table is not None, short, at("transform"))

    def value_map(self, entry: FieldMapping, path: tuple[str, ...]
                  ) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """The entry's value table and the key path of its rows, if it resolves."""
        if entry.value_map is None:
            return None
        if isinstance(entry.value_map, dict):
            return path, entry.value_map
        named = self.mapping.value_maps
        if entry.value_map in named:
            return ("value_maps", entry.value_map), named[entry.value_map]
        close = _close(entry.value_map, {n.lower(): n for n in named})
        self.add("error", path, f"no value map {entry.value_map!r} in [mapping.value_maps]"
                 + (f" (there are {_quoted(named)})" if named else ""),
                 f"did you mean {close!r}?" if close
                 else f"add a [mapping.value_maps.{entry.value_map}] table")
        return None

    def constants(self, entry: FieldMapping, steps: tuple[Step, ...],
                  table: tuple[tuple[str, ...], dict[str, Any]] | None, at: Any
                  ) -> Iterator[tuple[tuple[str, ...], Any]]:
        """Every fixed value this entry can write, with the key it is written at."""
        if entry.default is not None:
            yield at("default"), entry.default
        if table is not None:
            path, rows = table
            for source, target in rows.items():
                yield (*path, source), target
        for step in steps:
            if step.name in ("constant", "default"):
                yield at("transform"), step.args["value"]
            elif step.name == "value_map":
                for target in step.args["map"].values():
                    yield at("transform"), target
                if step.args.get("default") is not None:
                    yield at("transform"), step.args["default"]

    def writable(self, info: FieldSchema, sync: SyncRule, path: tuple[str, ...]) -> None:
        if sync in TO_CRM and not info.updateable:
            if info.createable:
                self.add("error", path, f"{self.label(info)} can be set on create but not "
                         f"updated in the CRM, and sync = {sync!r} updates it",
                         'use sync = "create_only"')
            else:
                self.add("error", path, f"{self.label(info)} is read-only in the CRM, and "
                         f"sync = {sync!r} writes it", 'use sync = "to_marketing"')
        elif sync == "create_only" and not info.createable:
            self.add("error", path, f"{self.label(info)} cannot be set on create in the CRM",
                     'use sync = "to_marketing"' if not info.updateable
                     else 'use sync = "to_crm"')

    def fits(self, info: FieldSchema, path: tuple[str, ...], value: Any,
             section: str = "mapping") -> None:
        """A fixed value must be one a restricted picklist takes, and not too long."""
        if info.restricted and info.picklist and str(value) not in info.picklist:
            close = _close(str(value), {v.lower(): v for v in info.picklist})
            self.add("error", path, f"{value!r} is not an active value of {self.label(info)}, "
                     f"a restricted picklist (allowed: {_quoted(info.picklist)})",
                     f"did you mean {close!r}?" if close else None, section=section)
        elif isinstance(value, str) and info.length and len(value) > info.length:
            self.add("error", path, f"{value!r} is {len(value)} characters; "
                     f"{self.label(info)} holds at most {info.length}",
                     f"shorten it to {info.length} characters", section=section)

    def types(self, name: str, info: FieldSchema, entry: FieldMapping, steps: tuple[Step, ...],
              mapped: bool, short: bool, path: tuple[str, ...]) -> None:
        """Marketing holds text: a typed CRM field wants the transform that converts it."""
        names = {s.name for s in steps}
        if mapped or names & {"constant", "value_map"}:
            return  # fixed values: checked one by one above
        sources = set(entry.sources(name))
        kind = info.type.lower()
        if len(sources) == 1 and (source := next(iter(sources))) in COMPUTED \
                and not names - {"truncate", "trim"}:
            self.computed_type(source, info, path)
            if source != "routing_reason":
                return
        want: str | None = None
        if kind in NUMERIC and not names & {"number", "integer"} and not sources <= NUMBERS:
            want = NUMERIC[kind]
        elif kind in BOOLEAN and "boolean" not in names:
            want = "boolean"
        elif kind == "date" and "date" not in names:
            want = "date"
        elif kind == "datetime" and "datetime" not in names:
            want = "datetime"
        if want:
            self.add("warning", path, f"{self.label(info)} is {kind} in the CRM but values are "
                     "text in marketing", self.add_step(name, entry, short, f'"{want}"'))
        elif kind in TEXT and info.length and info.length < SHORT_TEXT and "truncate" not in names:
            self.add("warning", path, f"{self.label(info)} holds at most {info.length} "
                     "characters; a longer value is refused with the whole record",
                     self.add_step(name, entry, short, "{ truncate = {} }")
                     + " (cuts to the field's length)")

    def computed_type(self, source: str, info: FieldSchema, path: tuple[str, ...]) -> None:
        """A value the cycle computes has a type of its own: the CRM field must hold it."""
        kind, made = info.type.lower(), COMPUTED[source]
        fits = {"number": NUMERIC.keys() | TEXT, "text": TEXT | {"picklist"},
                "boolean": BOOLEAN | TEXT}[made]
        if kind not in fits:
            self.add("error", path, f"{source} is a {made}, and {self.label(info)} is {kind} "
                     "in the CRM", f"map {source} to a {made} field"
                     + (" (or a text field)" if made != "text" else ""))
        elif source == "score_tier":  # the tiers' names are known here
            tiers = list(self.config.routing.score_tiers)
            longest = max(tiers, key=len, default="")
            if info.length and len(longest) > info.length:
                self.add("error", path, f"score tier {longest!r} is {len(longest)} characters; "
                         f"{self.label(info)} holds at most {info.length}",
                         "shorten the tier's name in [routing.score_tiers]")
            elif info.restricted and info.picklist:
                for tier in (t for t in tiers if t not in info.picklist):
                    self.add("error", path, f"score tier {tier!r} is not a value of "
                             f"{self.label(info)}, a restricted picklist (allowed: "
                             f"{_quoted(info.picklist)})")

    @staticmethod
    def add_step(name: str, entry: FieldMapping, short: bool, step: str) -> str:
        """The fix as TOML the admin can paste: a short entry has to become a table."""
        if short:
            return f'write it as {name} = {{ crm = "{entry.crm}", transform = [{step}] }}'
        return f"add transform {step}"

    def on_create(self, name: str, value: Any) -> None:
        info = self.field(name, ("on_create", name))
        if info is None:
            return
        if not info.createable:
            self.add("error", ("on_create", name), f"{self.label(info)} is read-only in the CRM",
                     "remove it from [mapping.on_create]")
        self.fits(info, ("on_create", name), value)

    def required(self) -> None:
        """Every field the CRM requires on create must get a value from somewhere."""
        given = {self.mapping.external_id_field.lower()}
        given.update(n.lower() for n in self.mapping.on_create)
        given.update(e.crm.lower() for e in self.mapping.entries().values() if e.sync in WRITES)
        for info in self.schema.fields.values():
            if info.required and info.createable and info.name.lower() not in given:
                self.add("error", ("fields",), f"{self.label(info)} is required by {self.crm} "
                         "and nothing maps to it",
                         "map a marketing field or add it to [mapping.on_create]")

    def status(self) -> None:
        status = self.mapping.status
        if status.reason_field:
            why = self.field(status.reason_field, ("status", "reason_field"))
            if why is not None and why.name.lower() == status.crm_field.lower():
                self.add("error", ("status", "reason_field"), "the reason field is the status "
                         "field itself", "name the field where reps say why")
            elif why is not None and why.type.lower() not in TEXT | {"picklist"}:
                self.add("error", ("status", "reason_field"), f"{self.label(why)} is "
                         f"{why.type.lower()}: a reason is text", "name a text or picklist field")
        info = self.field(status.crm_field, ("status", "crm_field"))
        if info is None or not info.picklist:
            return
        where = [(("status", "to_marketing", value), "mapping", value)
                 for value in status.to_marketing]
        where += [(("stages", name, "crm_statuses"), "process", value)
                  for name, stage in self.config.process.stages.items()
                  for value in stage.crm_statuses]
        for path, section, value in where:
            if value not in info.picklist:
                close = _close(value, {v.lower(): v for v in info.picklist})
                self.add("error", path, f"{value!r} is not a value of {self.label(info)} "
                         f"(allowed: {_quoted(info.picklist)})",
                         f"did you mean {close!r}?" if close else None, section=section)


def mapping_findings(config: Config, schema: ObjectSchema) -> list[Finding]:
    """Every mapping of ``config`` against the CRM object's metadata, in file order."""
    return _Checker(config, schema).run()

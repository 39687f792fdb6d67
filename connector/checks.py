"""`leadsync check`: reach every system and hold the mapping against CRM metadata."""

from __future__ import annotations

import difflib

from connector.adapters import open_crm, open_marketing
from connector.adapters.base import ObjectSchema
from connector.config import Config, key_lines
from connector.db import redacted
from connector.errors import LeadsyncError
from connector.state import StateStore

Problem = tuple[str, str]


def run_checks(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    try:
        StateStore(config.resolve_url(config.state.url)).close()
    except Exception as exc:  # any driver error is a finding here, not a crash
        problems.append(("state", f"{redacted(config.state.url)}: {exc.__class__.__name__}: "
                                  f"{str(exc).splitlines()[0]}"))
    try:
        with open_marketing(config):
            pass
    except Exception as exc:
        problems.append(("marketing", f"{exc.__class__.__name__}: {exc}"))
    try:
        with open_crm(config) as crm:
            reached = crm.check()
            problems.extend((crm.name, p) for p in reached)
            if not reached:
                problems.extend((crm.name, p) for p in mapping_problems(
                    config, crm.describe(config.mapping.object)))
    except LeadsyncError as exc:
        problems.append((config.crm.adapter, str(exc)))
    return problems


def mapping_problems(config: Config, schema: ObjectSchema) -> list[str]:
    """Every mapped CRM field must exist and be writable; each finding names key and line."""
    lines = key_lines(config.source.read_text(encoding="utf-8")) if config.source else {}
    mapping = config.mapping
    found: list[str] = []

    def where(*path: str) -> str:
        line = lines.get(("mapping", *path))
        return f"mapping.{'.'.join(path)}" + (f" (line {line})" if line else "")

    def unknown(name: str) -> str:
        close = difflib.get_close_matches(name, list(schema.fields), n=1, cutoff=0.6)
        return f"{schema.name} has no field {name!r}" + (f"; did you mean {close[0]!r}?"
                                                          if close else "")

    key = schema.field(mapping.external_id_field)
    if key is None:
        found.append(f"{where('external_id_field')}: {unknown(mapping.external_id_field)}")
    elif not key.external_id:
        found.append(f"{where('external_id_field')}: {schema.name}.{key.name} is not marked "
                     "External ID in the CRM; upserts need one")
    for source, target in [*mapping.fields.items(), *((k, k) for k in mapping.on_create)]:
        section = "fields" if source in mapping.fields and mapping.fields[source] == target \
            else "on_create"
        info = schema.field(target)
        if info is None:
            found.append(f"{where(section, source)}: {unknown(target)}")
        elif not (info.createable or info.updateable):
            found.append(f"{where(section, source)}: {schema.name}.{info.name} is read-only")
    status = schema.field(mapping.status.crm_field)
    if status is None:
        found.append(f"{where('status', 'crm_field')}: {unknown(mapping.status.crm_field)}")
    elif status.picklist:
        for value in mapping.status.to_marketing:
            if value not in status.picklist:
                found.append(f"{where('status', 'to_marketing', value)}: {value!r} is not a "
                             f"value of {schema.name}.{status.name} "
                             f"({', '.join(status.picklist)})")
    return found

"""Step 6 of a cycle: config.toml field mappings → the CRM payload.

For now a direct mapping (marketing field → CRM field) plus constants set
only on create; transforms and per-field sync rules grow here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.config import MappingConfig
from connector.records import Lead, Write, payload_hash

COMPUTED = {"score"}
"""Sources that are not marketing fields but computed by the cycle."""


@dataclass(frozen=True)
class Payload:
    """What to write for one lead, and which config entry decided each field."""

    values: dict[str, Any]
    on_create: dict[str, Any]
    rules: dict[str, str]

    @property
    def hash(self) -> str:
        """Hash of the values that are rewritten on every change (not the create-only ones)."""
        return payload_hash(self.values)

    def for_write(self, *, creating: bool) -> dict[str, Any]:
        return {**self.on_create, **self.values} if creating else dict(self.values)

    def write(self, key: str, *, known: bool) -> Write:
        return Write(key, dict(self.values), dict(self.on_create), known=known)


def map_lead(lead: Lead, mapping: MappingConfig, *, computed: dict[str, Any]) -> Payload:
    values: dict[str, Any] = {}
    rules: dict[str, str] = {}
    for source, target in mapping.fields.items():
        value = computed[source] if source in COMPUTED else lead.get(source)
        if value is None or value == "":
            continue
        values[target] = value
        rules[target] = f"mapping.fields.{source}"
    on_create = {k: v for k, v in mapping.on_create.items() if k not in values}
    rules.update({k: f"mapping.on_create.{k} (create only)" for k in on_create})
    return Payload(values, on_create, rules)

"""The exception tree.

``LeadsyncError`` > ``ConfigError`` | ``AdapterError`` > ``TransientError`` |
``FatalError``; ``RecordRejected`` for one record. Whether a failure is
retried is decided by its class, never by string matching at the call site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LeadsyncError(Exception):
    """Base of every error leadsync raises on purpose."""


class ConfigError(LeadsyncError, ValueError):
    """config.toml (or the environment it points to) is wrong.

    ``problems`` holds one line per problem, each naming the key path and
    the line of config.toml, so that one run reports everything at once.
    """

    def __init__(self, problems: list[str] | str, path: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(self.problems))

    def __str__(self) -> str:
        head = f"invalid configuration in {self.path}" if self.path else "invalid configuration"
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


class AdapterError(LeadsyncError):
    """A system on the other side of an adapter failed as a whole."""

    def __init__(self, message: str, *, system: str = "", status: int | None = None,
                 code: str | None = None) -> None:
        self.system = system
        self.status = status
        self.code = code
        super().__init__(message)


class TransientError(AdapterError):
    """Worth retrying: timeouts, dropped connections, 5xx, rate limits."""


class FatalError(AdapterError):
    """Not worth retrying: bad credentials, missing permissions, bad request shape."""


@dataclass
class RecordError:
    """Why one record was refused, in the words of the system that refused it."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": list(self.fields)}

    def __str__(self) -> str:
        where = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{self.code}: {self.message}{where}"


class RecordRejected(LeadsyncError):
    """One record is refused; the rest of its batch goes on.

    ``record`` names it (marketing id, CSV line, ...) and ``errors`` carry
    the field names so the admin can find and fix the value.
    """

    def __init__(self, record: str, errors: list[RecordError]) -> None:
        self.record = record
        self.errors = errors
        super().__init__(f"{record}: " + "; ".join(str(e) for e in errors))

"""The exception tree.

``LeadsyncError`` > ``ConfigError`` | ``AdapterError`` > ``TransientError`` |
``FatalError``; ``RecordRejected`` for one record. Whether a failure is
retried is decided by its class, never by string matching at the call site.
"""

from __future__ import annotations

import re
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
    """Worth retrying: timeouts, dropped connections, 5xx, rate limits.

    ``retry_after`` carries the wait the server asked for, when it said one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class FatalError(AdapterError):
    """Not worth retrying: bad credentials, missing permissions, a mapping the CRM rejects.

    ``content`` marks a request the CRM refused for what it carried (a body it
    could not parse, a URI too long): one record's data may be the cause, so the
    engine splits the batch to find it instead of failing the run.
    """

    def __init__(self, message: str, *, content: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.content = content


class QuotaReserved(FatalError):
    """The CRM's API allocation has fallen to the reserve the admin keeps for others.

    Raised before a call is sent (or when the CRM refuses one for this reason):
    the run stops cleanly with its cursors where the last finished write left
    them, and a later run (after the allocation resets) resumes from there.
    """


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
        return f"{self.code}: {elide(self.message)}{where}"


_LONG_RUN = re.compile(r"\S{81,}")


def elide(text: str, *, limit: int = 1_000) -> str:
    """A message fit to print: a value a CRM echoes back (a 70,000-character name in
    STRING_TOO_LONG) is cut to its ends, and the whole to ``limit`` characters. The
    record itself is kept whole (the dead letter's payload)."""
    text = _LONG_RUN.sub(lambda m: f"{m.group()[:40]}…{m.group()[-12:]}", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class RecordRejected(LeadsyncError):
    """One record is refused; the rest of its batch goes on.

    ``errors`` carry the CRM's code, message and field names unchanged, so
    the admin can find and fix the value.
    """

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class BatchInterrupted(AdapterError):
    """A batch write stopped part-way; ``results`` says what the CRM did before it stopped.

    The engine records those (links, dead letters) before failing the run, so
    a record written before the failure is never taken for a new one later.
    """

    def __init__(self, results: list[Any], cause: AdapterError) -> None:
        super().__init__(str(cause), system=cause.system, status=cause.status, code=cause.code)
        self.results = results
        self.cause = cause

"""structlog set-up: readable on a terminal, JSON with --log-json, secrets never shown.

The libraries' records (stdlib ``logging``: APScheduler, waitress, urllib3, alembic…)
go through the same processors as leadsync's own: under --log-json every line on
stderr is one JSON object, and a library's message is redacted like ours.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEYS = re.compile(r"pass(word)?|secret|token|session_?id|authorization|api_?key", re.I)
SECRET_VALUES = re.compile(r"(Bearer\s+)[A-Za-z0-9!._\-]+|(<sessionId>)[^<]+")
_NAMED = r"[\w.-]*(?:pass(?:word)?|secret|token|session_?id|authorization|api_?key)[\w.-]*"
SECRET_PAIRS = re.compile(
    rf"(?P<key>\b{_NAMED})(?P<sep>=)(?P<value>[^\s&;,\"'<>]+)"  # a query string, a form body
    rf"|(?P<qkey>[\"']{_NAMED}[\"']\s*:\s*[\"'])(?P<qvalue>[^\"']+)",  # a JSON or dict's repr
    re.I)
"""Secrets inside a library's text: ``?access_token=…``, ``{'password': '…'}``."""
URL_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^:/@\s]*:)[^@/\s]+(@)", re.I)
"""``postgresql://user:password@host``: a database URL in a driver's message; and
``redis://:password@host``, a password without a user."""


def _pair(match: re.Match[str]) -> str:
    key = match.group("key") or match.group("qkey")
    if key.strip("\"' :").lower().endswith("_env"):  # the *name* of a variable is fine
        return match.group(0)
    return f"{key}{match.group('sep') or ''}***"


def scrub(text: str) -> str:
    """A message with the secrets it carries blanked (bearer, session and key=value)."""
    text = SECRET_VALUES.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    text = URL_PASSWORD.sub(r"\1***\2", text)
    return SECRET_PAIRS.sub(_pair, text)


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Blank every value whose key names a secret, and bearer/session tokens in text."""
    for key, value in list(event.items()):
        if SECRET_KEYS.search(key) and not key.endswith("_env"):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


def configure(*, json: bool = False, level: str = "info", stream: Any = None) -> None:
    """leadsync's logs and the libraries' on ``stream`` (stderr): JSON lines or text.

    The libraries speak at warning and above (their info lines, an APScheduler
    "Running job" every tick, are noise), and at every level under ``level="debug"``.
    Tracebacks are plain text run through the redaction too, in both modes: a
    pretty traceback would print local variables, a password among them."""
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty()))
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        # sys.stderr is looked up per logger, not captured now: it may be swapped later
        # (test runners, daemons re-opening their streams).
        logger_factory=lambda *_: structlog.PrintLogger(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _LibraryHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars,
                           structlog.processors.add_log_level,
                           structlog.stdlib.add_logger_name, stamp, _trimmed],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact, renderer]))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryHandler)]:
        root.removeHandler(old)  # configured again (a test, a second command): one handler
    root.addHandler(handler)
    root.setLevel(threshold if threshold <= logging.DEBUG else max(threshold, logging.WARNING))
    logging.captureWarnings(True)  # Python's warnings too: a line on stderr like any other
    # pika (RabbitMQ) logs each failed connection attempt at error with tracebacks, a
    # score of lines per try; leadsync's own line and Dramatiq's say what went wrong
    logging.getLogger("pika").setLevel(max(threshold, logging.CRITICAL))


def _trimmed(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """A library's message without the line end some add (Python's warnings do)."""
    event["event"] = str(event.get("event", "")).rstrip()
    return event


class _LibraryHandler(logging.Handler):
    """Writes the libraries' records, rendered by structlog, where leadsync's own go:
    ``stream``, or whatever sys.stderr is at the time (as the PrintLogger above)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # as logging's own handlers: a broken stream never raises
            self.handleError(record)

"""structlog set-up: readable on a terminal, JSON with --log-json, secrets never shown."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEYS = re.compile(r"pass(word)?|secret|token|session_?id|authorization|api_?key", re.I)
SECRET_VALUES = re.compile(r"(Bearer\s+)[A-Za-z0-9!._\-]+|(<sessionId>)[^<]+")


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Blank every value whose key names a secret, and bearer/session tokens in text."""
    for key, value in list(event.items()):
        if SECRET_KEYS.search(key) and not key.endswith("_env"):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = SECRET_VALUES.sub(lambda m: (m.group(1) or m.group(2)) + "***", value)
    return event


def configure(*, json: bool = False, level: str = "info", stream: Any = None) -> None:
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        # sys.stderr is looked up per logger, not captured now: it may be swapped later
        # (test runners, daemons re-opening their streams).
        logger_factory=lambda *_: structlog.PrintLogger(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )

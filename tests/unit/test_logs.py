"""Logs never carry secrets; --log-json gives one JSON object per line."""

from __future__ import annotations

import io
import json

import structlog

from connector.logs import configure


def test_secret_keys_and_tokens_are_redacted() -> None:
    stream = io.StringIO()
    configure(json=True, stream=stream)
    log = structlog.get_logger("t")
    log.info("login", password="hunter2", security_token="abc", session_id="00Dxx!AQ",
             password_env="SF_PASSWORD", detail="Authorization: Bearer 00Dxx!AQcAQH.secret")
    log.info("soap", body="<sessionId>00Dxx!AQ</sessionId>")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["password"] == first["security_token"] == first["session_id"] == "***"
    assert first["password_env"] == "SF_PASSWORD"  # the *name* of the variable is fine
    assert first["detail"] == "Authorization: Bearer ***"
    assert second["body"] == "<sessionId>***</sessionId>"
    assert "hunter2" not in stream.getvalue() and "00Dxx" not in stream.getvalue()


def test_level_filters_debug() -> None:
    stream = io.StringIO()
    configure(json=True, level="info", stream=stream)
    structlog.get_logger("t").debug("noise")
    assert stream.getvalue() == ""
    configure(json=True, level="debug", stream=stream)
    structlog.get_logger("t").debug("noise")
    assert json.loads(stream.getvalue())["event"] == "noise"

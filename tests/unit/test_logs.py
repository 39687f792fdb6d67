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


def test_library_records_are_json_lines_and_redacted() -> None:
    """APScheduler's, urllib3's, a driver's lines go through the same chain: one JSON
    object a line under --log-json, the secret in their text blanked."""
    import logging

    stream = io.StringIO()
    configure(json=True, stream=stream)
    logging.getLogger("apscheduler.scheduler").warning(
        "Run time of job %r was missed by %s", "sync:default", "0:01:02")
    logging.getLogger("urllib3.connectionpool").warning(
        "Retrying after connection broken: POST /services/oauth2/token?password=hunter2"
        "&client_secret=s3cr3t&username=admin")
    logging.getLogger("sqlalchemy.pool").error(
        "cannot reach postgresql+psycopg://leadsync:pgsecret@db.example:5432/leadsync")
    try:
        raise RuntimeError("login refused for {'password': 'hunter2'}")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception(
            "Job %r raised an exception; Authorization: Bearer 00Dxx!AQ.secret", "sync")
    structlog.get_logger("leadsync.pipeline").error("run failed", error="x")
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line, not only some
    assert [r["logger"] for r in records[:4]] == [
        "apscheduler.scheduler", "urllib3.connectionpool", "sqlalchemy.pool",
        "apscheduler.executors.default"]
    assert [r["level"] for r in records] == ["warning", "warning", "error", "error", "error"]
    assert records[0]["event"] == "Run time of job 'sync:default' was missed by 0:01:02"
    assert "password=***&client_secret=***&username=admin" in records[1]["event"]
    assert "leadsync:***@db.example" in records[2]["event"]
    assert records[3]["event"].endswith("Authorization: Bearer ***")
    assert "RuntimeError" in records[3]["exception"]  # the traceback: in the line, as text
    assert all("timestamp" in r for r in records)
    text = stream.getvalue()
    for secret in ("hunter2", "s3cr3t", "pgsecret", "00Dxx"):
        assert secret not in text, secret


def test_library_lines_are_text_on_a_terminal_and_quiet_below_warning() -> None:
    import logging

    stream = io.StringIO()
    configure(stream=stream)
    configure(stream=stream)  # configured twice (a test, a second command): printed once
    logging.getLogger("apscheduler.scheduler").info("Running job (every tick: noise)")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    [line] = stream.getvalue().splitlines()
    assert "[warning" in line and "Run time of job was missed" in line
    assert "apscheduler.scheduler" in line and not line.startswith("{")
    configure(json=True, level="debug", stream=stream)  # --verbose: the libraries' details
    # (not urllib3's: creating a HubSpot client sets that logger to WARNING for the process)
    logging.getLogger("apscheduler.executors.default").debug("Running job (1)")
    assert json.loads(stream.getvalue().splitlines()[-1])["level"] == "debug"
    configure()

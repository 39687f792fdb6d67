"""Several pipelines in one config.toml: each [pipelines.NAME] table gives the
sections that differ, each replacing the shared section whole; every pipeline keeps
its own state; a schedule is an interval or a crontab line, never both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector import config as configuration
from connector.errors import ConfigError

TEMPLATE = configuration.TEMPLATE.read_text(encoding="utf-8")
AFTER = TEMPLATE.count("\n") + 1
"""The line after the template's last: where a test's own lines begin (after a blank)."""
WHERE = "/srv/leadsync/config.toml"
"""A config.toml beside no state database (the demo's may be in the working folder)."""
TWO = TEMPLATE + '''
[pipelines.emea]
schedule = { cron = "*/20 7-18 * * mon-fri" }

[pipelines.us.sync]
batch_size = 200
'''


def test_each_pipeline_is_the_shared_settings_with_its_own_sections() -> None:
    found = configuration.parse_all(TWO, "/srv/leadsync/config.toml")
    assert list(found) == ["emea", "us"]
    emea, us = found["emea"], found["us"]
    assert (emea.pipeline, us.pipeline) == ("emea", "us")
    assert emea.schedule.cron == "*/20 7-18 * * mon-fri"
    assert us.schedule.cron is None and us.schedule.every_minutes == 15
    # [pipelines.us.sync] replaces [sync] whole: what it does not say is the default
    assert us.sync.batch_size == 200 and emea.sync.batch_size == 1000
    assert us.sync.lookback_seconds == configuration.SyncConfig().lookback_seconds
    # each its own state database beside the shared setting's, the marketing store shared
    assert emea.state.url == "sqlite:///state/leadsync-emea.db"
    assert us.state.url == "sqlite:///state/leadsync-us.db"
    assert emea.marketing.url == us.marketing.url
    # a file without [pipelines] is one pipeline, "default"
    assert list(configuration.parse_all(TEMPLATE, WHERE)) == ["default"]
    assert configuration.parse(TEMPLATE, WHERE).pipeline == "default"


def test_a_file_of_several_pipelines_needs_the_name(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'emea', 'us': say which with --pipeline"):
        configuration.parse(TWO, WHERE)
    assert configuration.parse(TWO, WHERE, pipeline="us").pipeline == "us"
    with pytest.raises(ConfigError, match="no pipeline 'emae' .*; did you mean 'emea'"):
        configuration.parse(TWO, WHERE, pipeline="emae")
    path = tmp_path / "config.toml"
    path.write_text(TWO, encoding="utf-8")
    monkeypatch.setenv(configuration.PIPELINE_ENV, "emea")
    assert configuration.load(path).pipeline == "emea"


def test_pipelines_on_a_server_database_name_their_own() -> None:
    text = TWO.replace('url = "sqlite:///state/leadsync.db"',
                       'url = "postgresql://leadsync@db.internal/leadsync"')
    with pytest.raises(ConfigError) as caught:
        configuration.parse_all(text, WHERE)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        f"pipelines.emea (line {AFTER + 1})", f"pipelines.us (line {AFTER + 4})"]
    assert "set [pipelines.emea.state] url" in caught.value.problems[0]
    fixed = text + '''
[pipelines.emea.state]
url = "postgresql://leadsync@db.internal/leadsync_emea"
'''
    fixed = fixed.replace('[pipelines.us.sync]', '[pipelines.us.state]\n'
                          'url = "postgresql://leadsync@db.internal/leadsync_us"\n\n'
                          '[pipelines.us.sync]')
    found = configuration.parse_all(fixed, WHERE)
    assert found["emea"].state.url.endswith("leadsync_emea")
    shared = fixed.replace("leadsync_us", "leadsync_emea")
    with pytest.raises(ConfigError, match="pipeline 'us' has the state database of 'emea'"):
        configuration.parse_all(shared, WHERE)


def test_problems_name_the_pipeline_and_the_line() -> None:
    text = TEMPLATE + '''
[pipelines.Big]
[pipelines.x]
schedule = { cron = "61 * * * *" }
[pipelines.y]
schedule = { cron = "0 * * * *", every_minutes = 5 }
[pipelines.z.crm]
adapter = "hubspot"
'''
    with pytest.raises(ConfigError) as caught:
        configuration.parse_all(text, WHERE)
    problems = caught.value.problems
    assert problems[0].startswith(f"pipelines.Big (line {AFTER + 1}): a pipeline's name is "
                                  "lower-case")
    assert problems[1].startswith(f"pipeline 'x': schedule.cron (line {AFTER + 3}): not a "
                                  "crontab line")
    assert problems[2].startswith(f"pipeline 'y': schedule (line {AFTER + 5}): give "
                                  "every_minutes or cron, not both")
    assert problems[3].startswith("pipeline 'z': crm.hubspot") and "is missing" in problems[3]
    with pytest.raises(ConfigError, match=rf"pipelines \(line {AFTER + 1}\): one "
                                          r"\[pipelines.NAME\]"):
        configuration.parse_all(TEMPLATE + "\n[pipelines]\nemea = 3\n", WHERE)


def test_a_crontab_schedule_and_the_interval_health_judges_by() -> None:
    found = configuration.parse_all(TWO, WHERE)
    emea = found["emea"].schedule
    monday_noon = datetime(2027, 3, 1, 12, 5, tzinfo=UTC)
    assert emea.interval(monday_noon) == timedelta(minutes=20)
    assert emea.trigger().get_next_fire_time(None, monday_noon) == datetime(
        2027, 3, 1, 12, 20, tzinfo=UTC)
    friday_evening = datetime(2027, 3, 5, 18, 50, tzinfo=UTC)  # next: Monday 07:00, 07:20
    assert emea.interval(friday_evening) == timedelta(minutes=20)
    assert found["us"].schedule.interval(monday_noon) == timedelta(minutes=15)
    assert emea.describe() == "cron '*/20 7-18 * * mon-fri' (UTC)"


def test_a_second_pipeline_does_not_leave_the_first_ones_state_behind(tmp_path: Path) -> None:
    """Until now the file held one pipeline, its state in state/leadsync.db: adding
    [pipelines] tables would give each a new file and leave that one's cursors, links,
    reviews and clocks behind. Refused, saying which pipeline to give it to."""
    import sqlite3

    (tmp_path / "state").mkdir()
    shared = tmp_path / "state" / "leadsync.db"
    with sqlite3.connect(shared) as db:  # an empty one (`leadsync check` made it): fine
        db.execute("create table sync_run (id integer primary key)")
    assert set(configuration.parse_all(TWO, tmp_path / "config.toml")) == {"emea", "us"}
    with sqlite3.connect(shared) as db:  # one that saw a run: refused
        db.execute("insert into sync_run (id) values (1)")
    with pytest.raises(ConfigError, match=r"holds the state of this file's one pipeline"):
        configuration.parse_all(TWO, tmp_path / "config.toml")
    kept = TWO.replace("[pipelines.emea]\n", '[pipelines.emea]\nstate = { url = '
                       '"sqlite:///state/leadsync.db" }\n')
    found = configuration.parse_all(kept, tmp_path / "config.toml")
    assert found["emea"].state.url == "sqlite:///state/leadsync.db"
    assert found["us"].state.url == "sqlite:///state/leadsync-us.db"
    with pytest.raises(ConfigError, match="the console serves every pipeline"):
        configuration.parse_all(TWO + "\n[pipelines.us.console]\nport = 9000\n", WHERE)

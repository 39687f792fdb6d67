"""Hostile config.toml files: each is refused at load with the key path and its line (or,
for the file itself, one line naming the file), exit code 2, never a traceback.

Every row goes through the command a user runs (`leadsync check`, `leadsync sync --once`):
a config refused at load reaches no system, so these need no sandbox and no database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from connector import config as configuration
from connector.cli import app
from connector.errors import ConfigError

TEMPLATE = configuration.TEMPLATE.read_text(encoding="utf-8")
runner = CliRunner()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def invoke(path: Path, command: str = "check"):  # noqa: ANN201
    return runner.invoke(app, [*command.split(), "--config", str(path)])


HOSTILE = [
    # (old, new, key, words): `new` replaces `old` once; the error names `key` at new's line
    # bounds a run can live with, said in the setting's units
    ("every_minutes = 15", "every_minutes = 1e12", "schedule.every_minutes",
     "at most 31 days (44640 minutes) (got 1000000000000.0)"),
    ("every_minutes = 15", "every_minutes = 0.001", "schedule.every_minutes",
     "at least 1 minute"),
    ("every_minutes = 15", "every_minutes = nan", "schedule.every_minutes", "finite number"),
    ("lookback_seconds = 300", "lookback_seconds = 1e30", "sync.lookback_seconds",
     "from 0 to 604800 seconds (7 days)"),
    ("lookback_seconds = 300", "lookback_seconds = -1", "sync.lookback_seconds",
     "from 0 to 604800 seconds"),
    ("task_due_hours = 24", "task_due_hours = 1e9", "sync.task_due_hours", "(a year)"),
    ("task_due_hours = 24", "task_due_hours = inf", "sync.task_due_hours", "finite number"),
    ("batch_size = 1000", "batch_size = 1000000", "sync.batch_size",
     "less than or equal to 10000"),
    ("api_reserve = 1000", "api_reserve = -1", "crm.salesforce.api_reserve",
     "greater than or equal to 0"),
    ("timeout_s = 30", "timeout_s = 0.001", "crm.salesforce.timeout_s",
     "from 1 to 3600 seconds"),
    ("collection_size = 200", "collection_size = 201", "crm.salesforce.collection_size",
     "less than or equal to 200"),
    ('"/pricing" = 10', '"/pricing" = 1e300', "scoring.page_points./pricing",
     "from -1000000 to 1000000"),
    ("threshold = 40", "threshold = inf", "scoring.threshold", "finite number"),
    # strict types: a quoted number or a word for a boolean is refused, saying the type
    ("batch_size = 1000", 'batch_size = "200"', "sync.batch_size",
     "valid integer (got '200'); write an integer without quotes"),
    ("batch_size = 1000", "batch_size = 200.0", "sync.batch_size", "valid integer"),
    ("handoff_task = true", 'handoff_task = "yes"', "sync.handoff_task",
     "valid boolean (got 'yes'); write true or false without quotes"),
    ("handoff_task = true", "handoff_task = 1", "sync.handoff_task",
     "valid boolean (got 1); write true or false"),
    ("api_reserve = 1000", "api_reserve = 1e12", "crm.salesforce.api_reserve",
     "valid integer"),
    ("embedded = true", 'embedded = "false"', "crm.salesforce.sandbox.embedded",
     "valid boolean"),
    ("enabled = true", 'enabled = "yes"', "matching.enabled", "valid boolean"),
    ("daily_cap = 25", 'daily_cap = "25"', "routing.reps.avery.daily_cap",
     "write an integer without quotes"),
    ("daily_cap = 25", "daily_cap = 25\naway = [{ until = 20261231 }]",
     "routing.reps.avery.away.0.until", "valid date"),
    ('default_region = "US"', 'default_region = "ZZ"', "marketing.default_region",
     "not a region code"),
    # cross-references, each at its own key, with the name meant
    ('value_map = "rating"', 'value_map = "ratings"', "mapping.fields.rating.value_map",
     "no value map 'ratings' in [mapping.value_maps] (there are 'rating'); "
     "did you mean 'rating'?"),
    ('value_map = "rating"', 'value_map = "nope"', "mapping.fields.rating.value_map",
     "add a [mapping.value_maps.nope] table"),
    ('industry = "Industry"', 'industry = { crm = "Industry", value_map = "sectors" }',
     "mapping.fields.industry.value_map", "no value map 'sectors'"),
    ('pool = "emea"', 'pool = "emae"', "routing.territories.1.pool",
     "territory 'EMEA': no pool 'emae' in [routing.pools]; did you mean 'emea'?"),
    ('reps = ["riley"]', 'reps = ["rilye"]', "routing.pools.emea.reps",
     "no rep 'rilye' in [routing.reps]; did you mean 'riley'?"),
    ('fields = ["last_name", "company"]', 'fields = ["last_name", "compny"]',
     "matching.rules.6.fields", "names field 'compny'"),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), HOSTILE,
                         ids=[row[1].splitlines()[-1] for row in HOSTILE])
def test_hostile_value_is_refused_at_its_key_and_line(tmp_path: Path, old: str, new: str,
                                                      key: str, words: str) -> None:
    assert TEMPLATE.count(old) >= 1, old
    text = TEMPLATE.replace(old, new, 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")

    result = invoke(path)

    assert result.exit_code == 2, result.output
    assert f"{key} (line {line_of(text, new.splitlines()[-1])}): " in result.output, \
        result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.startswith("  - ")]) == 1


def test_sync_refuses_the_same_config_before_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TEMPLATE.replace("every_minutes = 15", "every_minutes = 1e12"),
                    encoding="utf-8")
    for command in ("sync", "sync --once"):
        result = invoke(path, command)
        assert result.exit_code == 2, result.output
        assert "schedule.every_minutes (line 18): must be at least 1 minute" in result.output


def test_lax_values_are_all_named_at_once() -> None:
    text = TEMPLATE.replace("batch_size = 1000", 'batch_size = "200"').replace(
        "handoff_task = true", 'handoff_task = "yes"')
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text, "config.toml")
    assert [p.split(" (")[0] for p in caught.value.problems] == ["sync.batch_size",
                                                                 "sync.handoff_task"]


def test_quoted_dates_in_python_still_parse() -> None:
    """Strict types refuse a number for a date; an ISO date string (as tests and JSON
    hand it) still means that date."""
    text = TEMPLATE.replace("daily_cap = 25", 'daily_cap = 25\naway = [{ until = "2026-12-31" }]')
    cfg = configuration.parse(text)
    assert str(cfg.routing.reps["avery"].away[0].until) == "2026-12-31"


def test_region_is_taken_in_any_case() -> None:
    cfg = configuration.parse(TEMPLATE.replace('default_region = "US"', 'default_region = "gb"'))
    assert cfg.marketing.default_region == "GB"


# --- the file itself ------------------------------------------------------------------------

def _directory(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").mkdir()
    return tmp_path / "config.toml"


def _latin1(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    ascii_only = TEMPLATE.encode("ascii", "replace").decode("ascii")
    path.write_bytes(ascii_only.replace("Avery Chen", "Zoë Chen").encode("latin-1"))
    return path


def _unreadable(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    path.chmod(0)
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nowhere.toml"


@pytest.mark.parametrize(("make", "words"), [
    (_directory, "cannot read {path}: it is a directory"),
    (_latin1, "{path} is not UTF-8 text (byte 0xeb on line {zoe}); save it as UTF-8"),
    (_unreadable, "cannot read {path}: permission denied"),
    (_missing, "{path} not found (looked at --config"),
], ids=["directory", "not UTF-8", "unreadable", "missing"])
def test_a_file_that_cannot_be_read_is_one_line_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, words: str) -> None:  # noqa: ANN001
    path = make(tmp_path)
    if make is _unreadable:  # root reads anything: make the refusal the OS's, as for a user
        real = Path.read_bytes

        def refuse(self: Path) -> bytes:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", refuse)

    result = invoke(path)

    assert result.exit_code == 2, result.output
    zoe = line_of(TEMPLATE, "Avery Chen")
    assert result.output.strip() == result.output.strip().splitlines()[0]  # one line
    assert words.format(path=path, zoe=zoe) in result.output
    assert "Traceback" not in result.output


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + TEMPLATE.encode("utf-8"))
    assert configuration.load(path).schedule.every_minutes == 15


# --- a database the config names but that cannot be opened (formatting only) --------------

PG = 'url = "postgresql://leadsync:hunter2@db.example:5432/nosuchdb"'


class _Driver(Exception):
    """Stands in for psycopg/sqlite3's error, which SQLAlchemy wraps as ``orig``."""


@pytest.mark.parametrize(("url", "exc", "words"), [
    (PG, OperationalError("connect", {}, _Driver(
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        'database "nosuchdb" does not exist\n\tmore detail')),
     'cannot open postgresql://leadsync:***@db.example:5432/nosuchdb: connection failed: '
     'connection to server at "10.0.0.5", port 5432 failed: FATAL:  database "nosuchdb" '
     "does not exist"),
    (PG, OperationalError("connect", {}, _Driver("password hunter2 refused")),
     "password *** refused"),
    ('url = "sqlite:///state/leadsync.db"',
     OperationalError("connect", {}, _Driver("unable to open database file")),
     "unable to open database file (does its folder exist, and may leadsync write there?)"),
    ('url = "sqlite:///state/leadsync.db"', FileExistsError(17, "File exists", "/srv/state"),
     "/srv/state is a file, not a folder"),
    ('url = "sqlite:///state/leadsync.db"',
     PermissionError(13, "Permission denied", "/srv/state"),
     "permission denied: /srv/state; the folder must be writable"),
], ids=["no such database", "password in the message", "sqlite", "file as folder",
        "not writable"])
def test_database_errors_name_the_setting_without_the_password(
        url: str, exc: Exception, words: str) -> None:
    text = TEMPLATE.replace('url = "sqlite:///state/leadsync.db"', url)
    cfg = configuration.parse(text, "config.toml")

    error = configuration.database_error(cfg, "state.url", exc)

    message = str(error)
    assert message.startswith(f"state.url (line {line_of(text, url)}): cannot open ")
    assert words in message
    assert "hunter2" not in message and "\n" not in message
    assert isinstance(error, ConfigError)
    assert configuration.database_error(cfg, "state.url", error) is error  # said once


@pytest.mark.parametrize("command", [["status"], ["review"], ["explain", "1"]])
def test_every_command_names_a_state_database_it_cannot_open(tmp_path: Path,
                                                            command: list[str]) -> None:
    text = configuration.TEMPLATE.read_text(encoding="utf-8").replace('url = "sqlite:///state/leadsync.db"',
                                 f'url = "sqlite:///{tmp_path}/afile/state.db"')
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, [*command, "-c", str(path)])
    assert result.exit_code == 1
    assert "state.url (line" in result.output and "Traceback" not in result.output


PHONE = 'phone         = { kind = "phone", min = 0.95, disagree = 0.9, m = 0.8, u = 0.001 }'


@pytest.mark.parametrize(("field", "expected"), [
    ('{ kind = "phone", m = 0.01, u = 0.9 }', "not above u"),
    ('{ kind = "phone", weight = -5 }', "must be above 0"),
    ('{ kind = "phone", agree = 0.85, min = 0.8 }', "two things"),
])
def test_matching_weights_that_would_count_against_a_match_are_refused(
        tmp_path: Path, field: str, expected: str) -> None:
    assert PHONE in TEMPLATE
    path = tmp_path / "config.toml"
    path.write_text(TEMPLATE.replace(PHONE, f"phone = {field}"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configuration.load(path)
    assert expected in str(caught.value) and "matching.fields.phone" in str(caught.value)


def test_two_matching_rules_of_one_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TEMPLATE + '\n[[matching.rules]]\nname = "email"\nfields = ["phone"]\n'
                    'score = 0.5\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configuration.load(path)
    assert "two rules are named 'email'" in str(caught.value)

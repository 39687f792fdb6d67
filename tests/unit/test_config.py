"""config.toml → typed models; every error names the key path and the line."""

from __future__ import annotations

import pytest

from connector import config as configuration
from connector.errors import ConfigError

TEMPLATE = configuration.TEMPLATE.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_config_is_the_template_and_valid() -> None:
    shipped = (configuration.TEMPLATE.parents[1] / "config.toml").read_text(encoding="utf-8")
    assert shipped == TEMPLATE
    cfg = configuration.parse(TEMPLATE, "config.toml")
    assert cfg.crm.salesforce is not None and cfg.crm.salesforce.route_to == "127.0.0.1:8451"
    assert cfg.mapping.entries()["last_name"].crm == "LastName"


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ('password_env = "SF_PASSWORD"', 'pasword_env = "SF_PASSWORD"',
     "crm.salesforce.pasword_env", "unknown key"),
    ("threshold = 40", 'threshold = "high"', "scoring.threshold", "valid number"),
    ("threshold = 40", "threshold = -1", "scoring.threshold", "greater than or equal"),
    ('route_to = "127.0.0.1:8451"', 'route_to = "localhost"', "crm.salesforce.route_to",
     "host:port"),
    ('route_to = "127.0.0.1:8451"', 'route_to = "sandbox.example.com:8451"',
     "crm.salesforce.route_to", "plain HTTP with the credentials"),
    ('adapter = "embedded"', 'adapter = "marketo"', "marketing.adapter", "embedded"),
    ('form_fill = 25', '"Webinar Attended" = 25', "scoring.activity_points",
     "activity kind 'Webinar Attended': lower-case letters"),
    ('lead_source = "LeadSource"', 'lead_source = "Company"', "mapping.fields",
     "both write 'Company'"),
    ('url = "sqlite:///state/leadsync.db"', 'url = "mysql://db/leads"', "state.url",
     "'mysql' is not supported"),
    ('url = "sqlite:///state/marketing.db"', 'url = "leads.db"', "marketing.url",
     "not a database URL"),
    ("batch_size = 1000", "batch_size = 0", "sync.batch_size", "greater than or equal to 1"),
    # API names are spliced into SOQL: only names pass, never a fragment of a query
    ('lead_source = "LeadSource"', 'lead_source = "Email FROM User WHERE Id != null"',
     "mapping.fields.lead_source", "should match pattern"),
    ('external_id_field = "Leadsync_Id__c"', "external_id_field = \"Id' OR Name != '\"",
     "mapping.external_id_field", "should match pattern"),
])
def test_bad_value_names_key_and_line(old: str, new: str, key: str, words: str) -> None:
    text = TEMPLATE.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text, "config.toml")
    message = str(caught.value)
    assert key in message
    assert words in message
    line = line_of(text, new)
    if key != "mapping.fields":
        assert f"line {line}" in message


def test_every_problem_is_reported_at_once() -> None:
    text = TEMPLATE.replace("threshold = 40", "threshold = true_ish = 1", 1)
    with pytest.raises(ConfigError, match="not valid TOML.*line"):
        configuration.parse(text)
    text = TEMPLATE.replace("every_minutes = 15", "every_minute = 15").replace(
        'domain = "login"', "domain = 3")
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text)
    assert len(caught.value.problems) == 2


def test_missing_required_section_is_named() -> None:
    start = TEMPLATE.index("[mapping]")
    with pytest.raises(ConfigError, match=r"mapping.*required key is missing"):
        configuration.parse(TEMPLATE[:start])


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSYNC_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"LEADSYNC_CONFIG.*leadsync init"):
        configuration.load()


def test_env_variable_picks_the_file(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = tmp_path / "other.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    monkeypatch.setenv("LEADSYNC_CONFIG", str(path))
    cfg = configuration.load()
    assert cfg.source == path
    assert cfg.resolve_url(cfg.state.url) == f"sqlite:///{tmp_path}/state/leadsync.db"


def test_secret_comes_from_environment_only(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="SF_PASSWORD is not set"):
        configuration.secret("SF_PASSWORD", what="crm.salesforce.password_env")
    monkeypatch.setenv("SF_PASSWORD", "hunter2")
    value = configuration.secret("SF_PASSWORD")
    assert value.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(value)


def test_password_in_the_file_is_refused() -> None:
    text = TEMPLATE.replace('password_env = "SF_PASSWORD"', 'password = "hunter2"')
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text)
    assert "crm.salesforce.password" in str(caught.value)
    assert "unknown key" in str(caught.value)


def test_postgres_scheme_is_accepted() -> None:
    text = TEMPLATE.replace('url = "sqlite:///state/leadsync.db"',
                            'url = "postgres://app@db.example:5432/leadsync"')
    assert configuration.parse(text).state.url.startswith("postgresql://")


def test_internal_attributes_are_not_keys() -> None:
    with pytest.raises(ConfigError, match="base_dir.*unknown key"):
        configuration.parse('base_dir = "/etc"\n' + TEMPLATE)

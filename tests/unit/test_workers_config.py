"""[workers]: the broker `leadsync sync` sends each tick to and `leadsync worker` takes it
from. A bad URL is a config error naming the key, never repeating the password; the
password comes from the environment; and a message no worker took before the next tick
is dropped, one for a pipeline the worker does not hold dead-lettered, both without a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from connector import config as configuration
from connector import workers
from connector.errors import ConfigError
from connector.stopping import Stop

TEMPLATE = configuration.TEMPLATE.read_text(encoding="utf-8")
WHERE = "/srv/leadsync/config.toml"
SHOWN = TEMPLATE[TEMPLATE.index("# [workers]"):].split("\n\n", 1)[0]
"""The template's commented [workers] table."""


def with_workers(*lines: str) -> str:
    return TEMPLATE + "\n[workers]\n" + "".join(f"{line}\n" for line in lines)


def test_the_templates_workers_table_uncommented_is_valid() -> None:
    shown = "\n".join(line.removeprefix("# ") for line in SHOWN.splitlines()
                      if not line.startswith("#   "))
    cfg = configuration.parse(TEMPLATE.replace(SHOWN, shown), WHERE)
    assert cfg.workers.broker == "amqp://leadsync@mq.example:5672/"
    assert (cfg.workers.kind, cfg.workers.queue, cfg.workers.time_limit_minutes) == (
        "RabbitMQ", "leadsync", 20)
    assert configuration.parse(TEMPLATE, WHERE).workers.broker is None  # the daemon runs them


@pytest.mark.parametrize(("line", "words"), [
    ('broker = "http://guest:hunter2@mq.example:5672/"', "'http' is not a broker"),
    ('broker = "guest:hunter2@mq.example"', "is not a broker leadsync speaks"),
    ('broker = "amqp://guest:hunter2@:5672/"', "names no host"),
    ('broker = "redis://:hunter2@cache:port/0"', "not a URL"),
    ('broker = 5672', "valid string"),
    ('queue = "leadsync.XQ"', "dead-letter"),
    ('queue = "lead sync"', "a queue name is 1 to 80 letters, digits"),
    ("time_limit_minutes = 0", "from 1 to 1440 minutes"),
])
def test_a_bad_setting_names_the_key_and_line_and_never_the_password(
        line: str, words: str) -> None:
    text = with_workers(line) if line.startswith("broker") else with_workers(
        'broker = "amqp://leadsync@mq.example:5672/"', line)
    with pytest.raises(ConfigError) as caught:
        configuration.parse(text, WHERE)
    message = str(caught.value)
    key = line.split(" =")[0]
    number = next(i for i, got in enumerate(text.splitlines(), 1) if got == line)
    assert f"workers.{key} (line {number})" in message and words in message
    assert "hunter2" not in message


def test_the_password_is_given_once_and_by_name() -> None:
    with pytest.raises(ConfigError, match="in password_env or in the URL, not both"):
        configuration.parse(with_workers('broker = "amqp://lead:pw@mq.example/"',
                                         'password_env = "MQ_PASSWORD"'), WHERE)
    with pytest.raises(ConfigError, match=r"password_env needs the user in the URL"):
        configuration.parse(with_workers('broker = "amqp://mq.example/"',
                                         'password_env = "MQ_PASSWORD"'), WHERE)
    with pytest.raises(ConfigError, match="password_env without broker"):
        configuration.parse(with_workers('password_env = "MQ_PASSWORD"'), WHERE)


def test_workers_are_the_files_not_a_pipelines() -> None:
    text = TEMPLATE + '\n[pipelines.us.workers]\nbroker = "redis://cache:6379/0"\n'
    with pytest.raises(ConfigError, match="one queue carries every pipeline's cycles"):
        configuration.parse_all(text, WHERE)


def test_the_password_of_password_env_goes_into_the_url_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configuration.parse(with_workers(
        'broker = "amqp://leadsync@mq.example:5672/prod"', 'password_env = "MQ_PASSWORD"'),
        WHERE).workers
    monkeypatch.delenv("MQ_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="workers.password_env: environment variable "
                                          "MQ_PASSWORD is not set"):
        workers.broker_url(settings)
    monkeypatch.setenv("MQ_PASSWORD", "p@ss/word")
    assert workers.broker_url(settings) == "amqp://leadsync:p%40ss%2Fword@mq.example:5672/prod"
    redis = configuration.parse(with_workers(
        'broker = "rediss://cache.example:6380/2"', 'password_env = "MQ_PASSWORD"'),
        WHERE).workers
    assert workers.broker_url(redis) == "rediss://:p%40ss%2Fword@cache.example:6380/2"
    assert redis.kind == "Redis"


def test_a_ticks_message_is_due_until_the_next_tick() -> None:
    now = datetime(2026, 12, 4, 19, 45, 0, 50_000, tzinfo=UTC)  # a Friday
    every = configuration.parse(TEMPLATE, WHERE)
    assert workers.due_until(every, now) == now + timedelta(minutes=15)
    cron = configuration.parse(TEMPLATE.replace(
        "every_minutes = 15", 'cron = "*/15 7-19 * * mon-fri"'), WHERE)
    assert workers.due_until(cron, now) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday
    sent = workers.message(cron, due=now, sums="abc")
    assert sent.actor_name == workers.ACTOR and sent.queue_name == "leadsync"
    assert sent.kwargs == {"pipeline": "default", "config": WHERE, "digest": "abc",
                           "due": now.timestamp()}


def stub_cycles(text: str) -> workers.Cycles:
    from dramatiq.brokers.stub import StubBroker

    pipelines = configuration.parse_all(text, WHERE)
    return workers.Cycles(pipelines, Stop(), StubBroker(), crms={})


def test_a_message_taken_after_the_next_tick_is_dropped_without_a_run() -> None:
    cycles = stub_cycles(with_workers('broker = "redis://cache:6379/0"'))
    with capture_logs() as said:
        cycles.run("default", WHERE, "", due=datetime.now(UTC).timestamp() - 1)
    assert [line["event"].split(":")[0] for line in said] == ["dropped"]


def test_a_pipeline_this_worker_does_not_hold_is_dead_lettered_not_run() -> None:
    from dramatiq import Worker
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.middleware import CurrentMessage

    cycles = stub_cycles(with_workers('broker = "redis://cache:6379/0"'))
    broker = StubBroker()
    broker.add_middleware(CurrentMessage())
    actor = workers.dramatiq_actor(cycles, broker)
    broker.enqueue(actor.message_with_options(kwargs={"pipeline": "emea", "config": WHERE}))
    worker = Worker(broker, worker_threads=1)
    with capture_logs() as said:
        worker.start()
        broker.join(actor.queue_name, fail_fast=False)
        worker.join()
    worker.stop()
    assert len(broker.dead_letters) == 1
    assert [line["pipeline"] for line in said if line["log_level"] == "error"] == ["emea"]

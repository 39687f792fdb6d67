"""Cycles as Dramatiq tasks on the real RabbitMQ: one `leadsync sync` process sends each
pipeline's tick to a queue, three `leadsync worker` processes run them. One worker is
killed with SIGKILL mid-run: RabbitMQ hands its unacknowledged message to another
worker, which marks the dead run abandoned and finishes the pipeline. Another is told to
stop (SIGTERM) mid-run: its run ends after its batch, its pipeline is sent again, and it
exits 0. Nothing lost, nothing doubled, each lead's task made once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.kill import ROOT, drop_schema, import_rows, pg_schema_url, rows, write_config
from connector import config as configuration
from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from tests.conftest import require_postgres
from tests.e2e.test_workers import (
    LEADS,
    calm,
    each_lead_and_task_once,
    runs_of,
    two_orgs_config,
    wait_for,
)

BROKER = os.environ.get("LEADSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS = os.environ.get("LEADSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_rabbitmq() -> None:
    host, port = "127.0.0.1", 5672
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ at {host}:{port} is unreachable under CI: {exc}")
        pytest.skip(f"RabbitMQ unreachable at {host}:{port}: {exc}")


def dead_letters_then_delete(queue: str) -> int:
    """Messages left in the queue's dead-letter queue; then the queue and its delay and
    dead-letter queues are deleted (each run of the test has its own)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    try:
        channel = connection.channel()
        try:
            left = channel.queue_declare(f"{queue}.XQ", passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:  # never declared: nothing failed
            left, channel = 0, connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)
        return left
    finally:
        connection.close()


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.postgres
def test_pipelines_over_three_dramatiq_workers_survive_a_killed_and_a_stopped_worker(
        tmp_path: Path) -> None:
    require_postgres()
    require_rabbitmq()
    queue = f"leadsync-test-{uuid.uuid4().hex[:10]}"
    schemas = {name: pg_schema_url() for name in ("a", "b")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    began = time.monotonic()
    try:
        with SalesforceSandbox(state_path=tmp_path / "a.json",
                               faults=Faults(latency=0.02)) as org_a, \
                SalesforceSandbox(state_path=tmp_path / "b.json",
                                  faults=Faults(latency=0.02)) as org_b:
            path = two_orgs_config(tmp_path, org_a, org_b, schemas, "every_minutes = 1", f'''
[workers]
broker = "{BROKER}"
queue = "{queue}"
''')
            pipelines = configuration.load_all(path)
            import_rows(pipelines["a"], tmp_path / "leads.csv", rows(0, LEADS))
            env = {**os.environ, "SF_PASSWORD": "sandbox"}

            def start(name: str, *args: str) -> None:
                log = (tmp_path / f"{name}.log").open("wb")
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "connector.cli", *args, "--log-json", "--config",
                     str(path)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)

            for n in range(3):  # one cycle at a time each: the pipelines spread over them
                start(f"worker{n}", "worker", "--threads", "1")
            wait_for("the workers to listen", lambda: all(
                any(line.get("event") == "worker started"
                    for line in log_lines(tmp_path / f"worker{n}.log"))
                for n in range(3)), 60)
            start("scheduler", "sync")  # sends every pipeline's first tick at once
            workers = {processes[f"worker{n}"].pid: f"worker{n}" for n in range(3)}

            def running(name: str) -> Any:
                return next((run for run in runs_of(pipelines[name])
                             if run.status == "running"), None)  # type: ignore[attr-defined]

            run_a = wait_for("pipeline a's first run", lambda: running("a"), 60)
            run_b = wait_for("pipeline b's first run", lambda: running("b"), 60)
            victim, stopped = run_a.pid, run_b.pid
            assert {victim, stopped} <= set(workers) and victim != stopped
            os.kill(victim, signal.SIGKILL)  # mid-run: its batches are not all written
            killed_at = time.monotonic()
            processes[workers[stopped]].send_signal(signal.SIGTERM)  # ends after its batch
            assert processes[workers[stopped]].wait(timeout=60) == 0

            def finished(name: str, org: SalesforceSandbox, not_by: int) -> Any:
                done = [r for r in runs_of(pipelines[name])
                        if r.status == "ok" and r.pid != not_by]  # type: ignore[attr-defined]
                return done[-1] if done and len(org.records("Lead")) >= LEADS else None

            wait_for("pipeline a picked up", lambda: [
                r for r in runs_of(pipelines["a"]) if r.pid not in (victim, None)], 100)
            picked_up_s = time.monotonic() - killed_at
            taken_a = wait_for("pipeline a finished", lambda: finished("a", org_a, victim), 100)
            finished_s = time.monotonic() - killed_at
            wait_for("pipeline b handed back and finished",
                     lambda: finished("b", org_b, stopped), 100)
            each_lead_and_task_once(org_a, org_b)
            history_a, history_b = runs_of(pipelines["a"]), runs_of(pipelines["b"])
            assert [r.status for r in history_a if r.pid == victim] == ["abandoned"]
            assert taken_a.pid in workers and taken_a.pid != victim  # type: ignore[attr-defined]
            by_stopped = [r for r in history_b if r.pid == stopped]
            assert [r.status for r in by_stopped] == ["stopped"]
            assert (by_stopped[0].error or "").startswith("stopped by SIGTERM after a whole batch")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=60) for name, process in processes.items()}
        for schema, _ in schemas.values():
            drop_schema(schema)
        left = dead_letters_then_delete(queue)
    assert left == 0  # no message's cycle raised
    survivor = next(name for pid, name in workers.items() if pid not in (victim, stopped))
    assert codes[survivor] == codes["scheduler"] == 0  # SIGTERM: a clean stop
    logs = {name: log_lines(tmp_path / f"{name}.log") for name in processes}
    for name, lines in logs.items():
        assert BROKER.split("@")[0] not in json.dumps(lines), name  # the password never shown
        if name != workers[victim]:
            calm(lines, name)
    sent = Counter(line["pipeline"] for line in logs["scheduler"]
                   if line["event"] == "cycle sent to the workers")
    assert sent["a"] >= 1 and sent["b"] >= 1
    handed = [line for line in logs[workers[stopped]] if line["event"].startswith("handed back")]
    assert [line["pipeline"] for line in handed] == ["b"]
    redelivered = [line for lines in logs.values() for line in lines
                   if line["event"].startswith("redelivered") and line["pipeline"] == "a"]
    print(f"\npipeline a picked up {picked_up_s:.1f} s after the kill "
          f"({'redelivered' if redelivered else 'on a later tick'}), finished after "
          f"{finished_s:.1f} s; test {time.monotonic() - began:.0f} s")


def test_a_cycle_sent_through_redis_runs_on_a_worker_and_both_stop_cleanly(
        tmp_path: Path) -> None:
    """The same on Redis, shorter: a tick sent, run by the worker, both stopped by SIGTERM.
    (A killed worker's message comes back there only after Dramatiq's heartbeat timeout,
    a minute: docs/operations.md.)"""
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS} is unreachable under CI: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS}: {exc}")
    queue = f"leadsync-test-{uuid.uuid4().hex[:10]}"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with SalesforceSandbox(state_path=tmp_path / "org.json") as org:
            path = write_config(tmp_path, org.address, f"sqlite:///{tmp_path}/state.db",
                                batch_size=20)
            path.write_text(path.read_text(encoding="utf-8").replace(
                "every_minutes = 15", "every_minutes = 1")
                + f'\n[workers]\nbroker = "{REDIS}"\nqueue = "{queue}"\n', encoding="utf-8")
            config = configuration.load(path)
            import_rows(config, tmp_path / "leads.csv", rows(0, 60))
            env = {**os.environ, "SF_PASSWORD": "sandbox"}
            for name, args in (("worker", ["worker"]), ("scheduler", ["sync"])):
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "connector.cli", *args, "--log-json", "--config",
                     str(path)], cwd=ROOT, stdout=(tmp_path / f"{name}.log").open("wb"),
                    stderr=subprocess.STDOUT, env=env)
            wait_for("the cycle run by the worker", lambda: [
                run for run in runs_of(config) if run.status == "ok"  # type: ignore[attr-defined]
                and run.pid == processes["worker"].pid] and len(org.records("Lead")) == 60, 60)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=60) for name, process in processes.items()}
        for key in client.scan_iter(f"dramatiq:*{queue}*"):
            client.delete(key)
    assert codes == {"worker": 0, "scheduler": 0}
    for name in processes:
        lines = log_lines(tmp_path / f"{name}.log")
        assert not [line for line in lines if line["level"] in ("error", "critical")], name


def test_the_worker_and_the_daemon_say_what_is_wrong_before_they_start(
        tmp_path: Path) -> None:
    """No [workers] broker, --pipeline, a broker out of reach: a line naming the key,
    the password hidden, and the exit code docs/operations.md gives."""
    from typer.testing import CliRunner

    from connector.cli import app

    runner = CliRunner()
    path = tmp_path / "config.toml"
    template = configuration.TEMPLATE.read_text(encoding="utf-8")
    path.write_text(template, encoding="utf-8")
    result = runner.invoke(app, ["worker", "--config", str(path)])
    assert result.exit_code == 2 and "[workers] broker is not set" in result.output
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path.write_text(template + f'\n[workers]\nbroker = "amqp://guest:hunter2@127.0.0.1:{port}/"\n',
                    encoding="utf-8")
    line = template.count("\n") + 3
    for args in (["worker"], ["sync"]):
        result = runner.invoke(app, [*args, "--config", str(path)])
        assert result.exit_code == 1, (args, result.output)
        assert f"workers.broker (line {line}): cannot reach RabbitMQ at amqp://guest:***@" \
               in result.output and "hunter2" not in result.output
        assert "Traceback" not in result.output  # pika's own retries stay quiet
    result = runner.invoke(app, ["--pipeline", "default", "worker", "--config", str(path)])
    assert result.exit_code == 2
    assert "--pipeline (or $LEADSYNC_PIPELINE) does not apply" in result.output


def test_check_reaches_the_broker_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_rabbitmq()
    from typer.testing import CliRunner

    from bench.configs import free_port
    from connector.cli import app
    from tests.conftest import config_text

    text = config_text(tmp_path, state_url="sqlite:///state/leadsync.db",
                       marketing_url="sqlite:///state/marketing.db",
                       route_to=f"127.0.0.1:{free_port()}", embedded=True)
    path = tmp_path / "config.toml"
    queue = f"leadsync-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    try:
        for broker, code, said in (
                (BROKER, 0, f"✓ [workers] broker reachable (RabbitMQ), queue '{queue}'"),
                ("amqp://guest:hunter2@127.0.0.1:1/", 1,
                 "✗ workers.broker (line {line}): cannot reach RabbitMQ at "
                 "amqp://guest:***@127.0.0.1:1/")):
            path.write_text(text + f'\n[workers]\nbroker = "{broker}"\nqueue = "{queue}"\n',
                            encoding="utf-8")
            result = CliRunner().invoke(app, ["check", "--config", str(path)])
            assert result.exit_code == code, result.output
            assert said.format(line=text.count("\n") + 3) in result.output
            assert "hunter2" not in result.output
    finally:
        dead_letters_then_delete(queue)

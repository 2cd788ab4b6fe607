"""`unpod-etl webhook` as a command: usage errors, the config file, and a real process that
serves, writes and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import requests
from click.testing import CliRunner
from sqlalchemy import select

from tests.helpers import cli_env
from tests.intake.serving import SECRET, unused_port
from unpod_etl.cli.main import main
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.fakeapi.webhook import webhook_body
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import sync_runs, tasks


def invoke(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_no_secret_is_one_line_and_exit_2(sqlite_url):
    for value in (None, "", "  "):
        run = invoke(["webhook", "--database-url", sqlite_url], {"UNPOD_ETL_WEBHOOK_SECRET": value})
        assert run.exit_code == 2
        assert run.output.strip().splitlines() == [
            "error: set UNPOD_ETL_WEBHOOK_SECRET to the secret the Unpod agent sends"
        ]


def test_a_bad_database_url_from_the_config_file_is_exit_2(tmp_path):
    config = tmp_path / "etl.toml"
    config.write_text('[webhook]\ndatabase_url = "mysql://etl@db/warehouse"\nport = 9999\n')
    run = invoke(["--config", str(config), "webhook"], {"UNPOD_ETL_WEBHOOK_SECRET": SECRET})
    assert run.exit_code == 2
    assert (
        run.output.strip() == "error: unsupported database 'mysql': use postgresql:// or sqlite:///"
    )
    config.write_text("[webhook]\nsecret = 'no'\n")  # the secret is never a file key
    run = invoke(["--config", str(config), "webhook"], {"UNPOD_ETL_WEBHOOK_SECRET": SECRET})
    assert (run.exit_code, run.output.strip()) == (2, "error: unknown key [webhook] 'secret'")


def test_the_command_serves_writes_and_stops_on_sigterm(tmp_path, fake):
    url = f"sqlite:///{tmp_path / 'hook.db'}"
    port = unused_port()
    doc = next(
        d for h in fake.published_handles() for d in fake.tasks(h) if d["status"] == "completed"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "unpod_etl", "--log-format", "json", "webhook",
         "--database-url", url, "--port", str(port)],
        env=cli_env({"UNPOD_ETL_WEBHOOK_SECRET": SECRET}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the webhook did not start"
            time.sleep(0.1)
        answer = requests.post(f"{base}/unpod/tasks/{SECRET}", data=webhook_body(doc), timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert answer.status_code == 200, answer.text
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    deliveries = [x["message"] for x in lines if x["message"].startswith("webhook delivery")]
    assert deliveries == [
        f"webhook delivery: task {doc['task_id']!r} agent {doc['assignee']!r}: inserted"
    ]
    assert SECRET not in out + err  # not even the path form reached a log line
    engine = make_engine(url)
    with engine.connect() as conn:
        run = conn.execute(select(sync_runs)).one()
        stored = conn.execute(select(tasks.c.task_id)).scalars().all()
    engine.dispose()
    assert (run.api_url, run.outcome, run.tasks_inserted) == ("webhook", RunOutcome.OK, 1)
    assert stored == [doc["task_id"]]


def test_a_port_in_use_is_one_line_and_exit_2(sqlite_url):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ["webhook", "--database-url", sqlite_url, "--port", str(port)]
        run = invoke(args, {"UNPOD_ETL_WEBHOOK_SECRET": SECRET})
    assert run.exit_code == 2
    assert run.output.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"

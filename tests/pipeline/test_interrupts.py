"""SIGINT/SIGTERM stop a real `unpod-etl sync` cleanly and soon; SIGKILL keeps the counts.

The fake answers the first pages at once, then every later page only after 30 s: the sync
is caught waiting on a slow API, as a user pressing Ctrl-C during a long read would catch
it. What the run row says is read back from the warehouse and compared with what landed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import cli_env, sync_command
from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.interrupts import StopToken
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import sync_agent_results, sync_runs, tasks

FAST_PAGES = 4  # pages answered at once before the API turns slow
SLOW_SECONDS = 30.0  # far beyond the 5 s an interrupted sync may take to stop
PAGE_SIZE = "5"


def start_stuck_sync(fake: FakeUnpod, server: FakeServer, db_url: str, *args: str):  # type: ignore[no-untyped-def]
    """A real sync, returned once every worker waits on a slow page (no write under way)."""
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    slow = fake.faults.inject("slow", after=FAST_PAGES, delay=SLOW_SECONDS)
    command = [*sync_command(server.url, fake, db_url, "--page-size", PAGE_SIZE), *args]
    proc = subprocess.Popen(
        command,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while slow.fired < workers:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sync never reached the slow pages"
        time.sleep(0.01)
    time.sleep(0.3)  # the worker is now inside its read, not just sending the request
    return proc


def run_row(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(sync_runs)).mappings().one())


def landed(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(tasks)) or 0)


def agent_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(sync_agent_results)).mappings()]


@pytest.mark.parametrize(
    ("sig", "workers", "database"),
    [(signal.SIGINT, "1", "sqlite"), (signal.SIGTERM, "2", "postgresql")],
)
def test_a_signal_stops_a_sync_stuck_on_a_slow_api_and_records_it_interrupted(
    sig, workers, database, fake, fake_server, request
):  # type: ignore[no-untyped-def]
    db_url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    proc = start_stuck_sync(fake, fake_server, db_url, "--workers", workers)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent

    assert proc.returncode == 128 + sig, err  # 130 for SIGINT, 143 for SIGTERM
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"
    assert "Traceback" not in err and "Aborted!" not in err, err
    assert "interrupted" in err
    engine = make_engine(db_url)
    row, stored = run_row(engine), landed(engine)
    assert row["outcome"] == RunOutcome.INTERRUPTED and row["finished_at"] is not None
    assert stored == FAST_PAGES * int(PAGE_SIZE)  # every fast page landed, no slow one
    assert row["tasks_inserted"] == stored and row["tasks_seen"] == stored
    agents = agent_rows(engine)
    assert agents and sum(a["tasks_inserted"] for a in agents) == stored
    assert {a["outcome"] for a in agents} <= {AgentOutcome.OK, AgentOutcome.INTERRUPTED}
    assert AgentOutcome.INTERRUPTED in {a["outcome"] for a in agents}
    assert all(a["finished_at"] is not None for a in agents)
    engine.dispose()


def test_sigkill_leaves_a_died_run_with_the_counts_of_what_landed(fake, fake_server, pg_url):
    proc = start_stuck_sync(fake, fake_server, pg_url, "--workers", "1")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    status = subprocess.run(
        [*sync_command(fake_server.url, fake, pg_url)[:3], "status", "--json"],
        env=cli_env({"UNPOD_ETL_DATABASE_URL": pg_url}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    engine = make_engine(pg_url)
    stored = landed(engine)
    engine.dispose()
    snapshot = json.loads(status.stdout)
    (run,) = snapshot["runs"]
    assert run["outcome"] == RunOutcome.DIED
    assert stored == FAST_PAGES * int(PAGE_SIZE)
    assert run["tasks_inserted"] == stored and run["tasks_seen"] == stored
    # the agent's row followed its pages too
    (agent,) = snapshot["agents"]
    assert agent["outcome"] == AgentOutcome.DIED
    assert agent["tasks_inserted"] == stored and agent["pages"] == FAST_PAGES


def test_schedule_finishes_on_the_first_signal_and_is_interrupted_by_the_second(
    fake, fake_server, sqlite_url
):  # type: ignore[no-untyped-def]
    slow = fake.faults.inject("slow", after=FAST_PAGES, delay=SLOW_SECONDS)
    command = sync_command(fake_server.url, fake, sqlite_url, "--page-size", PAGE_SIZE)
    command[3:4] = ["schedule", "--run-now", "--workers", "1"]
    proc = subprocess.Popen(
        command,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while slow.fired < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # the first signal lets the run go on
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    engine = make_engine(sqlite_url)
    row = run_row(engine)
    assert row["outcome"] == RunOutcome.INTERRUPTED
    assert row["tasks_inserted"] == landed(engine) == FAST_PAGES * int(PAGE_SIZE)
    engine.dispose()


def test_a_stop_between_pages_commits_the_page_and_records_what_landed(sqlite_url):
    """In process: the token is set from the page hook, i.e. right after a page committed."""
    fake = FakeUnpod(agents=3, tasks_per_agent=20, seed=3)
    engine = make_engine(sqlite_url)
    with FakeServer(fake) as server:
        config = SyncConfig(server.url, fake.token, fake.org, sqlite_url, page_size=4)
        runner = SyncRunner(config, engine=engine)
        runner.stop = StopToken()
        pages: list[int] = []

        def on_page(res, page):  # type: ignore[no-untyped-def]
            pages.append(page.number)
            if len(pages) == 3:
                runner.stop.request(signal.SIGTERM)

        runner.on_page = on_page
        result = runner.run()
    assert result.outcome is RunOutcome.INTERRUPTED and result.exit_code == 143
    assert len(pages) == 3  # no page started after the stop
    row, stored = run_row(engine), landed(engine)
    assert stored == 12 and row["tasks_inserted"] == stored == result.total("inserted")
    assert [a.outcome for a in result.agents] == [AgentOutcome.INTERRUPTED]
    assert agent_rows(engine)[0]["tasks_inserted"] == stored
    engine.dispose()

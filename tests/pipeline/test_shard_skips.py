"""Agents a run leaves alone are said so: a named agent outside the run's shard (a warning and
a `skipped` row), an agent another worker holds (a `skipped` row); a run that synced no agent
at all exits 1."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from sqlalchemy import Engine, select

from tests.helpers import cli_env, run_sync_cli
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import shard_of
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.schema import sync_agent_results, tasks


def status_json(url: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "unpod_etl", "status", "--json", "--database-url", url],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def agent_rows(engine: Engine) -> dict[str, tuple[str, str | None]]:
    query = select(
        sync_agent_results.c.agent_handle, sync_agent_results.c.outcome, sync_agent_results.c.error
    )
    with engine.connect() as conn:
        return {row[0]: (row[1], row[2]) for row in conn.execute(query)}


def stored_agents(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(tasks.c.agent_handle).distinct()).scalars())


def split(handles: list[str], shards: int) -> tuple[str, str]:
    """A handle of shard 0 and one of another shard."""
    inside = next(h for h in handles if shard_of(h, shards) == 0)
    outside = next(h for h in handles if shard_of(h, shards) != 0)
    return inside, outside


def test_a_named_agent_outside_the_shard_is_reported_and_the_run_exits_1(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    _, outside = split(fake.all_handles(), 2)
    proc = run_sync_cli(fake_server.url, fake, pg_url, "--agent", outside, "--shard", "0/2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    warning = [line for line in proc.stderr.splitlines() if outside in line]
    assert warning and "WARNING" in warning[0]
    assert f"shard {shard_of(outside, 2)}/2" in warning[0] and "skipped" in warning[0]
    assert "skipped" in proc.stdout and outside in proc.stdout  # the summary
    assert agent_rows(pg_engine) == {
        outside: ("skipped", f"in shard {shard_of(outside, 2)}/2, not this run's shard 0/2")
    }
    assert not any(r.path.endswith("/tasks/") for r in fake.access.requests)
    doc = status_json(pg_url)
    assert doc["runs"][0]["outcome"] == "partial"
    assert [(a["agent_handle"], a["outcome"]) for a in doc["agents"]] == [(outside, "skipped")]


def test_named_agents_in_the_shard_sync_and_the_others_are_skipped(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    inside, outside = split(fake.all_handles(), 2)
    proc = run_sync_cli(
        fake_server.url, fake, pg_url, "--agent", inside, "--agent", outside, "--shard", "0/2"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(outside in line and "skipped" in line for line in proc.stderr.splitlines())
    rows = agent_rows(pg_engine)
    assert rows[inside] == ("ok", None) and rows[outside][0] == "skipped"
    assert stored_agents(pg_engine) == {inside}


def test_an_agent_another_worker_holds_gets_a_skipped_row(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    held, *others = fake.published_handles()
    lock = NamedLock(pg_engine, f"agent:{held}")  # what a worker of another sync holds
    assert lock.try_acquire()
    try:
        proc = run_sync_cli(fake_server.url, fake, pg_url)
    finally:
        lock.release()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = next(line for line in proc.stdout.splitlines() if line.startswith(held))
    assert "skipped" in summary
    rows = agent_rows(pg_engine)
    assert rows[held] == ("skipped", "another worker holds it")
    assert all(rows[h] == ("ok", None) for h in others)
    by_agent = {a["agent_handle"]: a for a in status_json(pg_url)["agents"]}
    assert by_agent[held]["outcome"] == "skipped" and by_agent[held]["tasks_seen"] == 0
    assert stored_agents(pg_engine) == set(others)


def test_a_run_whose_every_agent_is_held_exits_1(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    locks = [NamedLock(pg_engine, f"agent:{h}") for h in fake.published_handles()]
    assert all(lock.try_acquire() for lock in locks)
    try:
        proc = run_sync_cli(fake_server.url, fake, pg_url)
    finally:
        for lock in locks:
            lock.release()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].endswith(": partial")
    assert {outcome for outcome, _ in agent_rows(pg_engine).values()} == {"skipped"}
    assert stored_agents(pg_engine) == set()

"""Two syncs at once against one database: the second one does not write."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from tests.helpers import run_sync_cli
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.schema import sync_runs, tasks


def sync_while_held(lock: NamedLock, *args: Any):  # type: ignore[no-untyped-def]
    """Run a real sync while this test holds `lock`, as another sync would."""
    assert lock.try_acquire()
    try:
        return run_sync_cli(*args)
    finally:
        lock.release()


def count(engine, table):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_second_sync_exits_while_first_holds_the_lock_postgres(
    fake, fake_server, pg_url, pg_engine
):
    proc = sync_while_held(NamedLock(pg_engine, "sync"), fake_server.url, fake, pg_url)
    assert proc.returncode == 3
    assert "already running" in proc.stderr and "Traceback" not in proc.stderr
    assert count(pg_engine, tasks) == 0 and count(pg_engine, sync_runs) == 0
    after = run_sync_cli(fake_server.url, fake, pg_url)  # once released, syncs run again
    assert after.returncode == 0, after.stderr
    assert count(pg_engine, tasks) > 0


def test_second_sync_exits_while_first_holds_the_lock_sqlite(fake, fake_server, sqlite_url):
    first = run_sync_cli(fake_server.url, fake, sqlite_url)  # creates the database file
    assert first.returncode == 0, first.stderr
    engine = make_engine(sqlite_url)
    runs_before = count(engine, sync_runs)
    proc = sync_while_held(NamedLock(engine, "sync"), fake_server.url, fake, sqlite_url)
    assert proc.returncode == 3 and "already running" in proc.stderr
    assert count(engine, sync_runs) == runs_before


def test_agent_held_by_another_worker_is_skipped(fake, fake_server, pg_url, pg_engine):
    handles = fake.published_handles()
    agent_lock = NamedLock(pg_engine, f"agent:{handles[0]}")
    proc = sync_while_held(agent_lock, fake_server.url, fake, pg_url, "--shard", "0/1")
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stdout
    with pg_engine.connect() as conn:
        synced = set(conn.execute(select(tasks.c.agent_handle).distinct()).scalars())
    assert synced == set(handles[1:])


def test_lock_excludes_others_until_released(pg_engine):
    lock = NamedLock(pg_engine, "sync")
    assert lock.try_acquire()
    other = NamedLock(pg_engine, "sync")
    assert not other.try_acquire()
    lock.release()
    assert other.try_acquire()
    other.release()
    assert NamedLock(pg_engine, "sync").is_free()


def test_two_real_syncs_started_together_only_one_writes(fake, fake_server, pg_url, pg_engine):
    import subprocess

    from tests.helpers import cli_env, sync_command

    # Every request is slow and pages hold one task, so the first sync needs ~30 s: far more
    # than the second process needs to start, however loaded the machine. Once the second
    # has been refused, the slowness goes and the first finishes at once.
    fake.faults.inject("slow", delay=0.3)
    first = subprocess.Popen(
        sync_command(fake_server.url, fake, pg_url, "--workers", "1", "--page-size", "1"),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    while not any(r.path.endswith("/tasks/") for r in fake.access.requests):  # first is syncing
        assert first.poll() is None, first.communicate()
        time.sleep(0.01)
    second = run_sync_cli(fake_server.url, fake, pg_url)
    fake.faults.clear()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 3 and "already running" in second.stderr
    with pg_engine.connect() as conn:
        runs = conn.execute(select(sync_runs.c.outcome)).scalars().all()
    assert runs == ["ok"]

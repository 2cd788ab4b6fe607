"""Migrations hold a lock: `sync` and `db upgrade` started together on a fresh database both
succeed, one after the other, and a migration waits for the lock only as long as allowed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.helpers import cli_env, sync_command
from unpod_etl.core.errors import AbortError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.warehouse.db import SCHEMA_HEAD, current_revision, make_engine, upgrade
from unpod_etl.warehouse.liveness import SQLITE_SYNC_LOCK
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.migration_lock import MIGRATION_LOCK_KEY


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def upgrade_command(url: str) -> list[str]:
    return [sys.executable, "-m", "unpod_etl", "db", "upgrade", "--database-url", url]


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def run_together(fake: FakeUnpod, server: FakeServer, url: str) -> None:
    sync = start(sync_command(server.url, fake, url, "--workers", "2"))
    up = start(upgrade_command(url))
    (sync_rc, sync_out, sync_err), (up_rc, up_out, up_err) = finish(sync), finish(up)
    assert (sync_rc, up_rc) == (0, 0), sync_err + up_err
    assert "Traceback" not in sync_err + up_err
    assert f"schema at revision {SCHEMA_HEAD}" in up_out
    assert ": ok" in sync_out.splitlines()[0]
    engine = make_engine(url)
    try:
        assert current_revision(engine) == SCHEMA_HEAD
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM tasks")).scalar_one()
        assert stored == sum(fake.count(h) for h in fake.published_handles())
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_sync_and_db_upgrade_together_on_a_fresh_postgres(
    fake: FakeUnpod, fake_server: FakeServer, empty_pg_url: str, attempt: int
) -> None:
    run_together(fake, fake_server, empty_pg_url)


@pytest.mark.parametrize("attempt", range(3))
def test_sync_and_db_upgrade_together_on_a_fresh_sqlite(
    fake: FakeUnpod, fake_server: FakeServer, sqlite_url: str, attempt: int
) -> None:
    run_together(fake, fake_server, sqlite_url)


def test_db_upgrade_waits_for_the_holder_of_the_lock(empty_pg_url: str) -> None:
    holder = create_engine(empty_pg_url)
    with holder.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        up = start(upgrade_command(empty_pg_url))
        time.sleep(3)  # far longer than a fresh migration takes once the lock is free
        assert up.poll() is None, up.communicate()
        assert not inspect(holder).has_table("alembic_version")
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        rc, out, err = finish(up)
    holder.dispose()
    assert rc == 0, err
    assert f"schema at revision {SCHEMA_HEAD}" in out


def test_the_wait_for_the_lock_is_bounded_on_postgres(empty_pg_url: str) -> None:
    holder = create_engine(empty_pg_url)
    engine = make_engine(empty_pg_url)
    with holder.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        began = time.monotonic()
        with pytest.raises(AbortError, match="migration lock"):
            upgrade(engine, lock_wait=0.5)
        assert time.monotonic() - began < 30
        assert current_revision(engine) is None  # nothing half-done
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
    upgrade(engine, lock_wait=30)  # the lock is free again
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()
    holder.dispose()


def test_on_sqlite_a_migration_waits_for_the_sync_lock(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    sync_lock = NamedLock(engine, SQLITE_SYNC_LOCK)
    assert sync_lock.try_acquire()
    try:
        with pytest.raises(AbortError, match="migration lock"):
            upgrade(engine, lock_wait=0.3)
        assert current_revision(engine) is None
    finally:
        sync_lock.release()
    upgrade(engine, lock_wait=0.3)
    assert current_revision(engine) == SCHEMA_HEAD
    assert sync_lock.is_free()  # the migration gave the lock back
    engine.dispose()

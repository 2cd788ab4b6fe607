"""Database faults seen from the warehouse layer: lost lock sessions, errors named in one line,
connection settings, SQLite's own faults. Real PostgreSQL and real SQLite files throughout."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select, text

from tests.helpers import (
    actual_rows,
    assert_consistent,
    cli_env,
    expected_rows,
    run_sync_cli,
    sync_in_process,
)
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.warehouse import db_errors
from unpod_etl.warehouse.db import ConnectionSettings, make_engine, upgrade
from unpod_etl.warehouse.locks import LockLost, NamedLock, assert_held
from unpod_etl.warehouse.schema import sync_runs, tasks


def terminate(admin_url: str, pid: int) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        # pg_terminate_backend only signals; wait until the session is really gone
        for _ in range(200):
            gone = not conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar()
            if gone:
                break
            time.sleep(0.01)
    admin.dispose()


def test_a_lost_lock_session_stops_writes_and_frees_the_lock_only_after_them(
    pg_engine, pg_admin_url
):
    lock = NamedLock(pg_engine, "sync")
    assert lock.try_acquire() and lock.pid is not None
    with pg_engine.begin() as conn:
        assert_held(conn, [lock])  # while the session lives, writes may go on
    other = NamedLock(pg_engine, "sync")
    assert not other.try_acquire()  # held (in shared form): nobody else takes it

    writer = pg_engine.connect()
    tx = writer.begin()
    assert_held(writer, [lock])  # a write in flight, past its check
    terminate(pg_admin_url, lock.pid)
    # The lock session is gone, but the write in flight still holds the lock: no other run
    # may take over (nor judge this one dead) until it ends.
    assert not other.try_acquire()
    assert not NamedLock(pg_engine, "sync").is_free()
    tx.commit()
    writer.close()
    assert other.try_acquire()  # now another sync can start...
    with pg_engine.begin() as conn, pytest.raises(LockLost, match="'sync'.*ended"):
        assert_held(conn, [lock])  # ...and the first one can no longer write
    other.release()
    lock.release()  # the session is gone: releasing says nothing and raises nothing
    assert NamedLock(pg_engine, "sync").is_free()


def test_release_after_the_server_killed_the_session_does_not_raise(pg_engine, pg_admin_url):
    lock = NamedLock(pg_engine, "agent:x")
    assert lock.try_acquire()
    terminate(pg_admin_url, lock.pid or 0)
    lock.release()
    assert not lock.held
    with pg_engine.connect() as conn:  # the pool hands out live connections only
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_connections_carry_application_name_and_lock_timeout(pg_url):
    engine = make_engine(pg_url, settings=ConnectionSettings(lock_timeout=2.5))
    with engine.connect() as conn:
        assert conn.execute(text("SHOW lock_timeout")).scalar() == "2500ms"
        assert conn.execute(text("SHOW application_name")).scalar() == "unpod-etl"
    from unpod_etl.warehouse.db import name_connections

    name_connections(engine, "run 7")
    with engine.connect() as conn:  # the same pooled connection, renamed on checkout
        assert conn.execute(text("SHOW application_name")).scalar() == "unpod-etl run 7"
    engine.dispose()


def test_a_terminated_session_is_named_in_one_line(pg_engine, pg_admin_url):
    conn = pg_engine.connect()
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    conn.commit()
    terminate(pg_admin_url, pid)
    with pytest.raises(Exception) as caught:
        conn.execute(text("SELECT 1"))
    conn.close()
    fault = db_errors.classify(caught.value)
    assert fault.kind is db_errors.Fault.LOST, fault
    assert "\n" not in fault.message() and fault.message().startswith("lost the database")


def test_lock_timeout_and_statement_timeout_are_told_apart(pg_url):
    engine = make_engine(pg_url, settings=ConnectionSettings(lock_timeout=0.3))
    holder = create_engine(pg_url, connect_args={"application_name": "analyst"})
    with holder.connect() as h:
        h.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
        with engine.connect() as conn, pytest.raises(Exception) as by_lock:
            conn.execute(select(func.count()).select_from(tasks))
        with engine.connect() as conn, pytest.raises(Exception) as by_statement:
            conn.execute(text("SET statement_timeout = '200ms'; SET lock_timeout = '10s'"))
            conn.execute(select(func.count()).select_from(tasks))
        from unpod_etl.warehouse import waits

        found = waits.blockers(engine, ["tasks"])
        h.rollback()
    assert db_errors.classify(by_lock.value).kind is db_errors.Fault.LOCK_TIMEOUT
    assert db_errors.classify(by_statement.value).kind is db_errors.Fault.STATEMENT_TIMEOUT
    assert [(b.table, b.application, b.mode) for b in found] == [
        ("tasks", "analyst", "AccessExclusiveLock")
    ]
    engine.dispose()
    holder.dispose()


def test_status_gives_up_on_a_server_that_never_answers():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept_and_stay_silent() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            accepted.append(sock)

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    url = f"postgresql://etl:s3cret-pw@127.0.0.1:{port}/x"
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "unpod_etl", "status", "--database-url", url]
            + ["--connect-timeout", "1"],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        listener.close()
        for sock in accepted:
            sock.close()
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    assert elapsed < 15, elapsed  # libpq's minimum is 2 s; start-up adds a little
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aborted: database unreachable"), lines
    assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr


# -- SQLite ------------------------------------------------------------------------------


def test_sqlite_file_locked_by_another_program(fake, fake_server, sqlite_url, tmp_path):
    first = run_sync_cli(fake_server.url, fake, sqlite_url)
    assert first.returncode == 0, first.stderr
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        runs_before = conn.execute(select(func.count()).select_from(sync_runs)).scalar()
    other = sqlite3.connect(tmp_path / "warehouse.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing, and taking its time
    try:
        started = time.monotonic()
        proc = run_sync_cli(fake_server.url, fake, sqlite_url, "--lock-timeout", "1s")
        elapsed = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[-1]] and "locked by another program" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr and elapsed < 30
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_runs)).scalar() == runs_before


def test_sqlite_read_only_database(fake, fake_server, sqlite_url, tmp_path):
    assert run_sync_cli(fake_server.url, fake, sqlite_url).returncode == 0
    read_only = f"sqlite:///file:{tmp_path / 'warehouse.db'}?mode=ro&uri=true"
    proc = run_sync_cli(fake_server.url, fake, read_only)
    assert proc.returncode == 3, proc.stderr
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_sqlite_disk_full_keeps_nothing_half_written(fake, fake_server, sqlite_url):
    upgrade(make_engine(sqlite_url))
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # A disk with room for a few pages more: the first task page cannot fit.
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    engine.dispose()
    result = sync_in_process(fake_server, fake, sqlite_url, page_size=30, engine=engine)
    assert result.outcome is RunOutcome.ABORTED and result.exit_code == 3
    assert "disk space" in (result.error or ""), result.error
    assert_consistent(engine)
    engine.dispose()
    healed = sync_in_process(fake_server, fake, sqlite_url)  # room again: a re-run heals
    assert healed.outcome is RunOutcome.OK
    fresh = make_engine(sqlite_url)
    assert actual_rows(fresh) == expected_rows(fake, fake.published_handles())

"""One migration at a time: `sync` and `db upgrade` started together on a fresh database must
not both run Alembic (the second fails on `relation already exists` or a duplicate key).

PostgreSQL: a transaction-level advisory lock with a fixed key, taken on the connection that
migrates, so it is released by that transaction's commit or rollback (or the session's death)
and the next holder sees the committed schema. Waiting is bounded by `lock_timeout`.
SQLite: the sync's lock file (liveness.SQLITE_SYNC_LOCK), polled until a deadline: a single
writer, so a migration also waits for a running sync to finish, and the other way round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from unpod_etl.core.errors import AbortError
from unpod_etl.warehouse.liveness import SQLITE_SYNC_LOCK
from unpod_etl.warehouse.locks import NamedLock, advisory_key

MIGRATION_LOCK_KEY = advisory_key("migrations")
# Long enough for any migration of this schema on a big warehouse; past it, give up clearly.
WAIT_SECONDS = 600.0
POLL_SECONDS = 0.1
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for lock_timeout


def _busy(waited: float) -> AbortError:
    return AbortError(
        f"another process kept the database's migration lock for {waited:g} s "
        "(a migration or, on SQLite, a sync): try again once it is done"
    )


@contextmanager
def migrating_transaction(
    engine: Engine, wait: float = WAIT_SECONDS, done: Callable[[], bool] | None = None
) -> Iterator[Connection]:
    """A transaction (committed on exit) that holds the migration lock until it has ended, so
    the next holder sees its schema; AbortError after waiting `wait` seconds for the lock.

    `done` (SQLite): asked while waiting; True (another process migrated) ends the wait
    without taking the lock, which is the sync lock that process's sync takes next.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            _lock_postgres(conn, wait)
            yield conn  # the lock goes with the transaction's commit or rollback
        return
    with _sqlite_sync_lock(engine, wait, done), engine.begin() as conn:
        yield conn  # committed before the lock is released


def _lock_postgres(conn: Connection, wait: float) -> None:
    # SET LOCAL: the bound applies to this wait only; it is restored right after, so the
    # migration's own statements wait for table locks as long as they need.
    conn.execute(text(f"SET LOCAL lock_timeout = '{max(1, int(wait * 1000))}ms'"))
    try:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _busy(wait) from None
        raise
    conn.execute(text("SET LOCAL lock_timeout = DEFAULT"))


@contextmanager
def _sqlite_sync_lock(
    engine: Engine, wait: float, done: Callable[[], bool] | None
) -> Iterator[None]:
    lock = NamedLock(engine, SQLITE_SYNC_LOCK)  # flock has no timeout: poll it
    deadline = time.monotonic() + wait
    while not lock.try_acquire():
        if done is not None and done():
            yield  # migrated meanwhile: what runs now finds nothing to do
            return
        if time.monotonic() >= deadline:
            raise _busy(wait)
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        lock.release()

"""Locks that keep two syncs from writing the same data at once.

PostgreSQL: session-level advisory locks, held on a connection of their own for as long as
the lock is needed; they vanish with the session, so a killed sync never leaves one behind.
SQLite: an exclusive `flock` on a file beside the database (also released by the kernel when
the process dies). Each lock has a name; its advisory key is derived from that name.

A lock session can also end while its process lives on (pg_terminate_backend, a server
restart). So that a run never writes once another could take over, the lock is held in a
form its own writers can share:

- taking a lock = `pg_try_advisory_lock` (exclusive: only one taker wins), then the same
  session takes the *shared* lock and drops the exclusive one;
- "is it held" (liveness.is_alive, a second sync) = can an exclusive lock be taken: no, while
  any session holds it shared;
- every write transaction first takes the lock shared for itself
  (`pg_try_advisory_xact_lock_shared`) and checks that the lock session still holds it
  (pg_locks, by that session's pid); if not, nothing is written (`assert_held`).

A write that passed the check holds the lock itself until it commits, so nobody can take the
lock (nor judge the run dead) while a write of the run can still land; once the lock session
is gone, the next write fails its check. "Alive" and "may write" are one and the same test.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError
from unpod_etl.warehouse.scope import schema_of

log = logging.getLogger(__name__)


class LockLost(AbortError):
    """A session holding one of the run's locks ended: the run must stop writing."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_*_advisory_lock."""
    digest = hashlib.sha256(f"unpod-etl:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class NamedLock:
    """A non-blocking, process-wide lock named `name` in the database behind `engine`."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        # Advisory locks are per database: two warehouses in two schemas of one database
        # (--schema) must not block each other's syncs nor see each other's runs alive.
        schema = schema_of(engine)
        self.name = name if schema is None else f"{schema}/{name}"
        self.key = advisory_key(self.name)
        self.pid: int | None = None  # PostgreSQL: the backend of the session holding it
        self._conn: Connection | None = None
        self._file: IO[Any] | None = None

    def try_acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._try_advisory()
        path = _lock_file(self.engine, self.name)
        if path is None:  # an in-memory SQLite database belongs to this process alone
            return True
        try:
            handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as exc:
            raise AbortError(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def _try_advisory(self) -> bool:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            if got:  # exclusive -> shared, so the run's own writers can share it (see above)
                conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": self.key})
                self.pid = conn.execute(
                    text("SELECT pg_backend_pid() FROM (SELECT pg_advisory_unlock(:k)) AS x"),
                    {"k": self.key},
                ).scalar_one()
            conn.commit()  # end the implicit transaction; the session lock stays
        except BaseException:
            _discard(conn)
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def release(self) -> None:
        """Never raises: a lock whose session is already gone is released all the same, and
        an error here must not hide the one that ended the run."""
        conn, self._conn, self.pid = self._conn, None, None
        if conn is not None:
            try:
                conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": self.key})
                conn.commit()
                conn.close()
            except SQLAlchemyError as exc:
                log.debug("lock %s: session already gone (%s)", self.name, type(exc).__name__)
                _discard(conn)
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
            self._file = None

    def is_free(self) -> bool:
        """True when nobody holds the lock (checked by taking and dropping it)."""
        if self.engine.dialect.name != "postgresql":
            if self.try_acquire():
                self.release()
                return True
            return False
        with self.engine.connect() as conn:
            free = bool(
                conn.execute(
                    text(
                        "SELECT CASE WHEN pg_try_advisory_lock(:k) "
                        "THEN pg_advisory_unlock(:k) ELSE false END"
                    ),
                    {"k": self.key},
                ).scalar()
            )
            conn.commit()
        return free


def assert_held(conn: Connection, locks: Sequence[NamedLock]) -> None:
    """In a write transaction: share every lock and check its session still holds it.

    Raises LockLost naming the first lock whose session is gone. No-op off PostgreSQL (the
    kernel's flock cannot be lost while the process lives).
    """
    held = [lk for lk in locks if lk.engine.dialect.name == "postgresql"]
    if not held:
        return
    if any(lk.pid is None for lk in held):
        raise LockLost(f"the lock {_first_unheld(held)!r} is no longer held by this run")
    rows = ", ".join(
        f"(CAST(:k{i} AS bigint), CAST(:p{i} AS integer), {i})" for i in range(len(held))
    )
    params: dict[str, Any] = {}
    for i, lk in enumerate(held):
        params[f"k{i}"], params[f"p{i}"] = lk.key, lk.pid
    # Advisory bigint keys appear in pg_locks as classid (high 32 bits) and objid (low 32
    # bits), objsubid 1.
    missing = (
        conn.execute(
            text(
                f"SELECT g.i FROM (VALUES {rows}) AS g(k, p, i) "
                "WHERE NOT (pg_try_advisory_xact_lock_shared(g.k) AND EXISTS ("
                "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.pid = g.p AND l.objsubid = 1 "
                "AND l.classid::bigint = (g.k >> 32) & 4294967295 "
                "AND l.objid::bigint = g.k & 4294967295)) ORDER BY g.i"
            ),
            params,
        )
        .scalars()
        .all()
    )
    if missing:
        lost = held[missing[0]]
        raise LockLost(
            f"the database session holding this run's lock {lost.name!r} (pid {lost.pid}) "
            "ended (terminated, or the server restarted); stopped writing so that another "
            "sync can take over safely"
        )


def _first_unheld(locks: Sequence[NamedLock]) -> str:
    return next(lk.name for lk in locks if lk.pid is None)


def _discard(conn: Connection) -> None:
    """Drop a connection without returning it to the pool (it may still hold a lock)."""
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()


def _lock_file(engine: Engine, name: str) -> Path | None:
    database = engine.url.database
    if database and database.startswith("file:"):  # a URI filename (?mode=ro&uri=true)
        database = database[len("file:") :].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Path(os.path.abspath(database + f".{safe}.lock"))

"""Locks that keep two syncs from writing the same data at once.

PostgreSQL: session-level advisory locks, held on a connection of their own for as long as
the lock is needed; they vanish with the session, so a killed sync never leaves one behind.
SQLite: an exclusive `flock` on a file beside the database (also released by the kernel when
the process dies). Each lock has a name; its advisory key is derived from that name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, text

from unpod_etl.warehouse.scope import schema_of


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
        self._conn: Connection | None = None
        self._file: IO[Any] | None = None

    def try_acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(self.name)}
            ).scalar()
            conn.commit()  # end the implicit transaction; the session lock stays
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        path = _lock_file(self.engine, self.name)
        if path is None:  # an in-memory SQLite database belongs to this process alone
            return True
        handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.name)}
                )
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def is_free(self) -> bool:
        """True when nobody holds the lock (checked by taking and dropping it)."""
        if self.try_acquire():
            self.release()
            return True
        return False


def _lock_file(engine: Engine, name: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Path(os.path.abspath(database + f".{safe}.lock"))

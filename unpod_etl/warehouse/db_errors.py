"""What went wrong with the database, in one line an operator can act on.

Drivers report faults as exceptions whose text spans lines (SQL, parameters, a libpq
preamble); a run turns every one of them into a single sentence naming the cause. The
classification reads SQLSTATEs (psycopg) and SQLite's error names, never the driver's
classes, so this module imports neither driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from unpod_etl.core.urls import mask_url


class Fault(StrEnum):
    LOST = "lost"  # the session ended under us: terminated, server stopped or restarting
    UNREACHABLE = "unreachable"  # no connection could be made (refused, timed out)
    TOO_MANY = "too_many"  # max_connections reached
    READ_ONLY = "read_only"  # a standby, or default_transaction_read_only
    LOCK_TIMEOUT = "lock_timeout"  # waited --lock-timeout for another session's lock
    STATEMENT_TIMEOUT = "statement_timeout"  # the role's or database's statement_timeout
    FILE_LOCKED = "file_locked"  # SQLite: another program holds the database file
    DISK_FULL = "disk_full"
    OTHER = "other"


@dataclass(frozen=True)
class DbFault:
    kind: Fault
    detail: str  # the driver's first line, secrets masked

    def message(self) -> str:
        return f"{_PREFIX[self.kind]}: {self.detail}" if self.detail else _PREFIX[self.kind]


_PREFIX = {
    Fault.LOST: "lost the database connection",
    Fault.UNREACHABLE: "database unreachable",
    Fault.TOO_MANY: "the database refuses new connections (max_connections reached)",
    Fault.READ_ONLY: "the database is read-only (a standby after a failover?)",
    Fault.LOCK_TIMEOUT: "gave up waiting for a table lock (--lock-timeout)",
    Fault.STATEMENT_TIMEOUT: (
        "a statement was cancelled by the statement_timeout set on the database role or "
        "database (ask the DBA to raise it for this role, or RESET it)"
    ),
    Fault.FILE_LOCKED: (
        "the SQLite database file is locked by another program (close it or raise --lock-timeout)"
    ),
    Fault.DISK_FULL: "the database is out of disk space; nothing of the failed write was kept",
    Fault.OTHER: "database error",
}

# SQLSTATE -> fault. Class 08 is "connection exception"; 57P01-57P03 are admin and crash
# shutdowns and "cannot connect now" (starting up or shutting down).
_SQLSTATES = {
    "57P01": Fault.LOST,
    "57P02": Fault.LOST,
    "57P03": Fault.UNREACHABLE,
    "53300": Fault.TOO_MANY,
    "25006": Fault.READ_ONLY,
    "55P03": Fault.LOCK_TIMEOUT,
    "53100": Fault.DISK_FULL,
}
_SQLITE_NAMES = {
    "SQLITE_BUSY": Fault.FILE_LOCKED,
    "SQLITE_LOCKED": Fault.FILE_LOCKED,
    "SQLITE_READONLY": Fault.READ_ONLY,
    "SQLITE_FULL": Fault.DISK_FULL,
    "SQLITE_CANTOPEN": Fault.UNREACHABLE,
}
# Texts of faults that come without a SQLSTATE (libpq reports them on the client side).
_TEXTS = (
    ("too many clients", Fault.TOO_MANY),
    ("remaining connection slots are reserved", Fault.TOO_MANY),
    ("the database system is shutting down", Fault.UNREACHABLE),
    ("the database system is starting up", Fault.UNREACHABLE),
    ("connection timeout expired", Fault.UNREACHABLE),
    ("timeout expired", Fault.UNREACHABLE),
    ("connection refused", Fault.UNREACHABLE),
    ("could not translate host name", Fault.UNREACHABLE),
    ("no such file or directory", Fault.UNREACHABLE),
    ("server closed the connection", Fault.LOST),
    ("terminating connection", Fault.LOST),
    ("the connection is closed", Fault.LOST),
    ("connection is lost", Fault.LOST),
    ("consuming input failed", Fault.LOST),
    ("sending query failed", Fault.LOST),
    ("ssl syscall error", Fault.LOST),
    ("database is locked", Fault.FILE_LOCKED),
    ("readonly database", Fault.READ_ONLY),
    ("read-only transaction", Fault.READ_ONLY),
    ("database or disk is full", Fault.DISK_FULL),
    ("no space left on device", Fault.DISK_FULL),
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def classify(exc: BaseException) -> DbFault:
    orig = getattr(exc, "orig", None) or exc
    text = _first_line(str(orig))
    lowered = str(orig).lower()
    sqlstate = getattr(orig, "sqlstate", None)
    kind = _SQLSTATES.get(sqlstate or "")
    if kind is None and sqlstate == "57014":  # query_canceled: which timeout fired?
        kind = Fault.STATEMENT_TIMEOUT if "statement timeout" in lowered else Fault.LOCK_TIMEOUT
    if kind is None and sqlstate and sqlstate.startswith("08"):
        kind = Fault.LOST
    if kind is None:
        kind = _SQLITE_NAMES.get(getattr(orig, "sqlite_errorname", "") or "")
    if kind is None:
        kind = next((k for needle, k in _TEXTS if needle in lowered), None)
    if kind is None and isinstance(exc, DBAPIError) and exc.connection_invalidated:
        kind = Fault.LOST
    return DbFault(kind or Fault.OTHER, text)


def describe(exc: SQLAlchemyError | BaseException) -> str:
    return classify(exc).message()


def _first_line(text: str) -> str:
    """The driver's message without libpq's preamble, SQL or parameters; secrets masked."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    # libpq: 'connection failed: connection to server at "h" (ip), port p failed: FATAL: x'
    line = lines[0] if lines else ""
    line = re.sub(r"^connection failed: ", "", line)
    line = re.sub(r"(FATAL|ERROR):\s+", "", line)
    line = _URL.sub(lambda m: mask_url(m.group(0)), line)
    return _PASSWORD.sub(r"\1***", line)[:300]

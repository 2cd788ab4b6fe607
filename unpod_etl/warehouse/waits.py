"""Who made a statement wait: the sessions holding locks on the warehouse's tables, and the
statement_timeout in force, for a message an operator can act on.

Asked after the wait was given up (lock_timeout, statement_timeout), on a connection of its
own: the blocker usually still holds its lock then, and our own statement no longer waits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

# The modes that make an INSERT/UPDATE (ROW EXCLUSIVE) or a SELECT (ACCESS SHARE) wait.
_BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


@dataclass(frozen=True)
class Blocker:
    pid: int
    application: str
    state: str
    table: str
    mode: str

    def describe(self) -> str:
        app = self.application or "no application_name"
        return f"table {self.table} is locked ({self.mode}) by pid {self.pid} ({app}, {self.state})"


def blockers(engine: Engine, tables: Iterable[str]) -> list[Blocker]:
    """Other sessions holding a lock that blocks writes on one of `tables`."""
    if engine.dialect.name != "postgresql":
        return []
    query = text(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), c.relname, "
        "l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND c.relname = ANY(:tables) AND l.mode = ANY(:modes) ORDER BY c.relname, a.pid"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                query, {"tables": sorted(set(tables)), "modes": list(_BLOCKING_MODES)}
            ).all()
    except SQLAlchemyError:
        return []  # the explanation is a courtesy; the fault itself is reported regardless
    return [Blocker(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def open_transactions(engine: Engine, ours: str) -> list[Blocker]:
    """Other sessions of this database holding a transaction id (they wrote or row-locked
    something), minus those of this run (application_name `ours`) and those themselves
    waiting: who may hold the row lock we waited for (row locks name no table in pg_locks).
    Read through pg_locks, which every role may read, unlike other roles' xact_start."""
    if engine.dialect.name != "postgresql":
        return []
    query = text(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, '') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'transactionid' AND l.granted AND l.mode = 'ExclusiveLock' "
        "AND a.datname = current_database() AND a.pid <> pg_backend_pid() "
        "AND coalesce(a.wait_event_type, '') <> 'Lock' "
        "AND coalesce(a.application_name, '') <> :ours ORDER BY a.backend_start, a.pid"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query, {"ours": ours}).all()
    except SQLAlchemyError:
        return []
    return [Blocker(int(r[0]), str(r[1]), str(r[2]), "?", "a row lock?") for r in rows]


def lock_wait_message(found: list[Blocker], waited: float) -> str:
    head = f"waited {waited:g}s (--lock-timeout) for a lock held by another session"
    if not found:
        return (
            f"{head}; find it with SELECT pid, application_name, state, query FROM "
            "pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0, end its "
            "transaction, and run the sync again"
        )
    first = found[0]
    if first.table == "?":  # no table lock found: name the long transactions instead
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return (
            f"{head}, probably a transaction holding row locks: pid {first.pid} "
            f"({first.application or 'no application_name'}, {first.state or 'state hidden'})"
            f"{more}; end it "
            f"(or SELECT pg_terminate_backend({first.pid})) and run the sync again"
        )
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        f"{head}: {first.describe()}{more}; end that transaction (or SELECT "
        f"pg_terminate_backend({first.pid})) and run the sync again, or raise --lock-timeout"
    )


def statement_timeout(engine: Engine) -> str | None:
    """The statement_timeout a new session gets (the role's or database's setting)."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW statement_timeout")).scalar())
    except SQLAlchemyError:
        return None

"""Telling a sync run that died (killed, machine lost) from one still going.

A run holds a lock for its whole life (see locks.py): on PostgreSQL an advisory lock named
after the run, on SQLite the database's single sync lock. A run recorded as `running` whose
lock is free has died; `status` shows it so, and the next sync records it as `died`.

The same lock decides whether the run may still write: every write transaction of a run
shares the lock and checks that the run's lock session still holds it (locks.assert_held).
So a run whose lock session was terminated while its process lives on stops writing at its
next transaction, and no other run can judge it dead (or take over) while one of its writes
is still in flight: "alive" and "may write" are one test and cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.schema import sync_agent_results, sync_runs

SQLITE_SYNC_LOCK = "sync"


def run_lock_name(engine: Engine, run_id: int) -> str:
    # SQLite has a single writer: one sync at a time, so the sync lock says it all.
    return SQLITE_SYNC_LOCK if engine.dialect.name == "sqlite" else f"run:{run_id}"


def is_alive(engine: Engine, run_id: int) -> bool:
    return not NamedLock(engine, run_lock_name(engine, run_id)).is_free()


def dead_run_ids(engine: Engine, runs: Sequence[dict[str, Any]]) -> set[int]:
    return {
        r["run_id"]
        for r in runs
        if r["outcome"] == RunOutcome.RUNNING and not is_alive(engine, r["run_id"])
    }


def running_run_ids(conn: Connection) -> list[int]:
    query = select(sync_runs.c.run_id).where(sync_runs.c.outcome == RunOutcome.RUNNING)
    return list(conn.execute(query).scalars())


def mark_died(conn: Connection, run_ids: Sequence[int]) -> None:
    if not run_ids:
        return
    conn.execute(
        update(sync_runs)
        .where(sync_runs.c.run_id.in_(run_ids), sync_runs.c.outcome == RunOutcome.RUNNING)
        .values(outcome=RunOutcome.DIED, error="the process ended before the run finished")
    )
    conn.execute(
        update(sync_agent_results)
        .where(sync_agent_results.c.run_id.in_(run_ids))
        .where(sync_agent_results.c.outcome == AgentOutcome.RUNNING)
        .values(outcome=AgentOutcome.DIED)
    )


def record_abort(conn: Connection, run_id: int, values: dict[str, Any]) -> bool:
    """Record the end of a run that lost its lock or its database, without its lock.

    Only a row still `running` is touched: a run another sync already recorded as `died`
    keeps that verdict. Agents still `running` in it are recorded as failed. Returns whether
    the row was updated.
    """
    done = conn.execute(
        update(sync_runs)
        .where(sync_runs.c.run_id == run_id, sync_runs.c.outcome == RunOutcome.RUNNING)
        .values(**values)
    ).rowcount
    conn.execute(
        update(sync_agent_results)
        .where(sync_agent_results.c.run_id == run_id)
        .where(sync_agent_results.c.outcome == AgentOutcome.RUNNING)
        .values(outcome=AgentOutcome.FAILED, error="run aborted")
    )
    return bool(done)

"""Telling a sync run that died (killed, machine lost) from one still going.

A run holds a lock for its whole life (see locks.py): on PostgreSQL an advisory lock named
after the run, on SQLite the database's single sync lock. A run recorded as `running` whose
lock is free has died; `status` shows it so, and the next sync records it as `died`.
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

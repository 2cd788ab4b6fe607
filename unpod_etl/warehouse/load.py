"""Writes normalized rows into the warehouse. Every function takes a Connection and
leaves the transaction to its caller: the orchestrator decides what commits together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.normalize import NormalizedTask
from unpod_etl.warehouse.load_copy import KEEP_ON_UPDATE, stamped, write_tasks_copy
from unpod_etl.warehouse.schema import (
    agents,
    calls,
    sync_agent_results,
    sync_runs,
    tasks,
    transcript_lines,
)
from unpod_etl.warehouse.upsert import upsert

# Big transcripts make big statements; executemany batches keep memory bounded.
LINE_BATCH = 5000


# -- agents ----------------------------------------------------------------------------------


def upsert_agents(
    conn: Connection, rows: Iterable[Mapping[str, Any]], now: datetime, published: bool
) -> None:
    """Listed agents get their attributes refreshed; first_seen_at stays the first."""
    full = [{**r, "published": published, "first_seen_at": now, "last_seen_at": now} for r in rows]
    upsert(conn, agents, full, keep={"first_seen_at"})


def touch_agents(conn: Connection, handles: Iterable[str], now: datetime) -> None:
    """Handles named by the user (maybe unpublished): create a bare row if unknown."""
    rows = [
        {"handle": h, "published": False, "first_seen_at": now, "last_seen_at": now}
        for h in handles
    ]
    # A known agent keeps its attributes (a bare row must not unpublish a listed agent).
    upsert(conn, agents, rows, keep={"published", "first_seen_at"})


# -- tasks -----------------------------------------------------------------------------------


class StoredMarker(NamedTuple):
    last_status_change: datetime | None
    fingerprint: str
    raw_fingerprint: str | None
    # Where the task sits in the newest-first list: how deep an adaptive walk must read.
    created: datetime | None = None


def stored_markers(
    conn: Connection, agent_handle: str, with_created: bool = False
) -> dict[str, StoredMarker]:
    """task_id -> what change detection compares, for one agent: one query per agent.
    `with_created` adds where each task sits (an adaptive walk's depth); a full walk does
    without: it is a time value per stored task to read and convert."""
    columns = [tasks.c.task_id, tasks.c.last_status_change, tasks.c.fingerprint]
    columns += [tasks.c.raw_fingerprint, *([tasks.c.created_at] if with_created else [])]
    rows = conn.execute(select(*columns).where(tasks.c.agent_handle == agent_handle)).all()
    return {row[0]: StoredMarker(*row[1:]) for row in rows}  # one fetchall, not one per row


def stored_agents(conn: Connection, task_ids: Sequence[str]) -> dict[str, str]:
    """task_id -> the agent it is stored under, for those of `task_ids` the warehouse holds."""
    if not task_ids:
        return {}
    query = select(tasks.c.task_id, tasks.c.agent_handle).where(tasks.c.task_id.in_(task_ids))
    return {row[0]: row[1] for row in conn.execute(query)}


def set_raw_fingerprints(conn: Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """Record a new raw fingerprint for tasks whose stored form did not change."""
    if pairs:
        stmt = (
            update(tasks)
            .where(tasks.c.task_id == bindparam("tid"))
            .values(raw_fingerprint=bindparam("raw"))
        )
        conn.execute(stmt, [{"tid": t, "raw": r} for t, r in pairs])


def write_tasks(
    conn: Connection, items: Sequence[NormalizedTask], sync_run_id: int, now: datetime
) -> None:
    """Upsert tasks and replace their calls and transcript lines (same transaction).

    PostgreSQL: COPY into session-temporary staging tables, then INSERT .. SELECT .. ON
    CONFLICT, and COPY straight into transcript_lines once the old lines are deleted (about
    2x faster than executemany; see docs/benchmark.md). Other databases: executemany.
    """
    if not items:
        return
    if conn.dialect.name == "postgresql":
        write_tasks_copy(conn, items, sync_run_id, now)
    else:
        _write_tasks_executemany(conn, items, sync_run_id, now)


def _write_tasks_executemany(
    conn: Connection, items: Sequence[NormalizedTask], sync_run_id: int, now: datetime
) -> None:
    task_rows = [stamped(item, sync_run_id, now) for item in items]
    upsert(conn, tasks, task_rows, keep=KEEP_ON_UPDATE)

    task_ids = [item.task["task_id"] for item in items]
    call_rows = [item.call for item in items if item.call is not None]
    call_ids = [row["call_id"] for row in call_rows]
    # Old lines go first: a transcript that shrank must leave no orphans, and a call that
    # moved to another task (same call_id) must not collide with its previous lines.
    conn.execute(delete(transcript_lines).where(transcript_lines.c.task_id.in_(task_ids)))
    if call_ids:
        conn.execute(delete(transcript_lines).where(transcript_lines.c.call_id.in_(call_ids)))
    conn.execute(delete(calls).where(calls.c.task_id.in_(task_ids)))
    upsert(conn, calls, call_rows)

    batch: list[dict[str, Any]] = []
    for item in items:
        batch.extend(item.lines)
        if len(batch) >= LINE_BATCH:
            conn.execute(insert(transcript_lines), batch)
            batch = []
    if batch:
        conn.execute(insert(transcript_lines), batch)


# -- run bookkeeping -------------------------------------------------------------------------


def start_run(conn: Connection, api_url: str, now: datetime, owner: Mapping[str, Any]) -> int:
    """A `running` row for a new run; owner = hostname and pid of the process running it."""
    result = conn.execute(
        insert(sync_runs)
        .values(started_at=now, outcome=RunOutcome.RUNNING, api_url=api_url, **owner)
        .returning(sync_runs.c.run_id)
    )
    return int(result.scalar_one())


def finish_run(conn: Connection, run_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(sync_runs).where(sync_runs.c.run_id == run_id).values(**values))


def start_agent(conn: Connection, run_id: int, handle: str, now: datetime) -> None:
    conn.execute(
        insert(sync_agent_results).values(
            run_id=run_id, agent_handle=handle, started_at=now, outcome=AgentOutcome.RUNNING
        )
    )


def update_agent(conn: Connection, run_id: int, handle: str, values: Mapping[str, Any]) -> None:
    conn.execute(
        update(sync_agent_results)
        .where(sync_agent_results.c.run_id == run_id)
        .where(sync_agent_results.c.agent_handle == handle)
        .values(**values)
    )

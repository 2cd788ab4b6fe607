"""Read-only queries behind `status` and `demo` (they work on PostgreSQL and SQLite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Numeric, case, cast, desc, func, inspect, select

from unpod_etl.warehouse.schema import calls, sync_agent_results, sync_runs, tasks


def recent_runs(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    query = select(sync_runs).order_by(desc(sync_runs.c.run_id)).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def agent_results(conn: Connection, run_ids: list[int]) -> list[dict[str, Any]]:
    query = (
        select(sync_agent_results)
        .where(sync_agent_results.c.run_id.in_(run_ids))
        .order_by(desc(sync_agent_results.c.run_id), sync_agent_results.c.agent_handle)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def last_full_walks(conn: Connection) -> dict[str, Any]:
    """agent -> when its last complete walk started (None: never). Only a full walk can be
    complete: everything a shallow walk stopped above has been read no later than this."""
    sar = sync_agent_results.c
    started = func.max(case((sar.walk_complete.is_(True), sar.started_at))).label("started")
    query = select(sar.agent_handle, started).group_by(sar.agent_handle)
    return {row[0]: row[1] for row in conn.execute(query)}


def tasks_by_status(conn: Connection) -> list[dict[str, Any]]:
    query = (
        select(tasks.c.agent_handle, tasks.c.status, func.count().label("tasks"))
        .group_by(tasks.c.agent_handle, tasks.c.status)
        .order_by(tasks.c.agent_handle, desc("tasks"))
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def call_outcomes(conn: Connection) -> list[dict[str, Any]]:
    outcome = func.coalesce(calls.c.summary_status, "(none)").label("outcome")
    query = (
        select(
            calls.c.agent_handle,
            outcome,
            func.count().label("calls"),
            func.round(cast(func.avg(calls.c.duration_seconds), Numeric), 1).label(
                "avg_duration_s"
            ),
        )
        .group_by(calls.c.agent_handle, outcome)
        .order_by(calls.c.agent_handle, desc("calls"))
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def runs_with_agents(
    conn: Connection, limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    runs = recent_runs(conn, limit)
    return runs, agent_results(conn, [r["run_id"] for r in runs])


def synced_api_urls(conn: Connection) -> set[str]:
    """The API URLs earlier runs synced from (as stored: masked); none on an empty database."""
    if not inspect(conn).has_table(sync_runs.name):
        return set()
    query = select(sync_runs.c.api_url).where(sync_runs.c.api_url.is_not(None)).distinct()
    return set(conn.scalars(query))

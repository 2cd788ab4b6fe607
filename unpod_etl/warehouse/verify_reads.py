"""What `verify` reads from the warehouse: the stored state of an agent's tasks (read only)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from unpod_etl.normalize.comparison import StoredTask
from unpod_etl.warehouse.schema import tasks


def stored_tasks(conn: Connection, agent_handle: str) -> dict[str, StoredTask]:
    """task_id -> stored state, for every task (deleted ones too) stored under the agent."""
    query = select(
        tasks.c.task_id,
        tasks.c.agent_handle,
        tasks.c.fingerprint,
        tasks.c.raw_fingerprint,
        tasks.c.deleted_at,
    ).where(tasks.c.agent_handle == agent_handle)
    return {
        row.task_id: StoredTask(
            row.agent_handle, row.fingerprint, row.raw_fingerprint, row.deleted_at is not None
        )
        for row in conn.execute(query)
    }


def agents_with_live_tasks(conn: Connection) -> list[str]:
    """Handles that hold at least one task not marked deleted."""
    query = select(tasks.c.agent_handle).where(tasks.c.deleted_at.is_(None)).distinct()
    return sorted(conn.execute(query).scalars())

"""Writes `task_changes`: one row per change the sync writes (see normalize/history.py).

Called inside the page's transaction, before the tasks are written (the prior state is read
from the rows about to be replaced), so a change and its history commit together or not at
all. Takes a Connection, never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from unpod_etl.normalize.history import ChangeKind, Prior, settled_change
from unpod_etl.warehouse.deletions import set_marks
from unpod_etl.warehouse.id_batches import batches
from unpod_etl.warehouse.schema import task_changes, tasks


def prior_states(conn: Connection, task_ids: Sequence[str]) -> dict[str, Prior]:
    """What the warehouse holds now of these tasks, under any agent."""
    query = select(
        tasks.c.task_id,
        tasks.c.agent_handle,
        tasks.c.status,
        tasks.c.last_status_change,
        tasks.c.document,
        tasks.c.referenced_task_id,
        tasks.c.followup_count,
    ).where(tasks.c.task_id.in_(bindparam("ids", expanding=True)))
    found: dict[str, Prior] = {}
    for chunk in batches(task_ids):
        for row in conn.execute(query, {"ids": chunk}):
            found[row.task_id] = Prior(*row[1:])
    return found


def record(
    conn: Connection, changes: Iterable[Mapping[str, Any]], run_id: int, now: datetime
) -> None:
    rows = [{**c, "run_id": run_id, "observed_at": now} for c in changes]
    if rows:
        conn.execute(insert(task_changes), rows)


def record_settled(
    conn: Connection,
    kind: ChangeKind,
    agent_handle: str,
    task_ids: Sequence[str],
    run_id: int,
    now: datetime,
) -> None:
    """Rows for tasks the deletion rule just marked deleted or restored."""
    query = select(tasks.c.task_id, tasks.c.status, tasks.c.last_status_change).where(
        tasks.c.task_id.in_(bindparam("ids", expanding=True))
    )
    changes = []
    for chunk in batches(task_ids):
        for row in conn.execute(query, {"ids": chunk}):
            changes.append(
                settled_change(kind, row.task_id, agent_handle, row.status, row.last_status_change)
            )
    record(conn, changes, run_id, now)


def clear_absence(conn: Connection, task_ids: Sequence[str]) -> None:
    """A task that moved to another agent is not missing: its old agent's marks go."""
    set_marks(conn, task_ids, missing_since=None, deleted_at=None)

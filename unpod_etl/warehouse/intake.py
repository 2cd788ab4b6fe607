"""What the webhook intake reads and writes besides the sync's own page writes.

One delivery is one task: it reads that task's stored markers and open rejection only (a
sync reads a whole agent's at once), and keeps its process's `sync_runs` row up to date.
Functions take a Connection and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from unpod_etl.warehouse.load import StoredMarker
from unpod_etl.warehouse.schema import rejected_records, sync_runs, tasks

WEBHOOK_SOURCE = "webhook"  # sync_runs.api_url of a webhook process's row

# A webhook process's row is not a pull: `check` and the notifications judge pulls only.
IS_PULL = sync_runs.c.api_url.is_distinct_from(WEBHOOK_SOURCE)


def stored_marker(conn: Connection, task_id: str, agent_handle: str) -> StoredMarker | None:
    """What change detection compares for one task of one agent (as load.stored_markers)."""
    row = conn.execute(
        select(tasks.c.last_status_change, tasks.c.fingerprint, tasks.c.raw_fingerprint).where(
            tasks.c.task_id == task_id, tasks.c.agent_handle == agent_handle
        )
    ).first()
    return None if row is None else StoredMarker(row[0], row[1], row[2])


def has_open_rejection(conn: Connection, agent_handle: str, record_key: str) -> bool:
    query = select(rejected_records.c.rejection_id).where(
        rejected_records.c.agent_handle == agent_handle,
        rejected_records.c.record_key == record_key,
        rejected_records.c.resolved_at.is_(None),
    )
    return conn.execute(query).first() is not None


def set_run_totals(conn: Connection, run_id: int, totals: Mapping[str, Any]) -> None:
    """The webhook process's running totals (tasks_seen, tasks_inserted, ...)."""
    conn.execute(update(sync_runs).where(sync_runs.c.run_id == run_id).values(**totals))

"""What the warehouse already knows about an agent's list, read before an adaptive walk
starts (pipeline/walk_depth.py decides with it): its last complete full walk, the tasks that
are still watched and where they sit, and how many live tasks it holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, not_, or_, select

from unpod_etl.warehouse.schema import sync_agent_results, tasks

# A task in one of these states may still change on its own (a call being placed, post-call
# data on its way); any other status, and a missing one, is unsettled too. `completed` with
# the interim output (API notes: "Interim completed output") waits for the full output.
SETTLED_STATUSES = ("completed", "partially_completed", "failed")
INTERIM_OUTPUT = "interim"


@dataclass(frozen=True)
class LastFullWalk:
    """The agent's last complete full walk: only a full walk can be complete."""

    started_at: datetime
    api_count: int | None  # the largest count the server announced then
    stored_tasks: int | None  # live tasks stored once it ended


def last_full_walk(conn: Connection, agent_handle: str) -> LastFullWalk | None:
    """The newest complete walk of the agent; rows from before migration 0013 count too
    (every walk was full then), without the counts."""
    sar = sync_agent_results.c
    row = conn.execute(
        select(sar.started_at, sar.api_count, sar.stored_tasks)
        .where(sar.agent_handle == agent_handle, sar.walk_complete.is_(True))
        .order_by(sar.started_at.desc())
        .limit(1)
    ).first()
    return None if row is None else LastFullWalk(row[0], row[1], row[2])


def unsettled() -> ColumnElement[bool]:
    """The SQL condition of an unsettled task (SETTLED_STATUSES)."""
    return or_(
        tasks.c.status.is_(None),
        not_(tasks.c.status.in_(SETTLED_STATUSES)),
        and_(tasks.c.status == "completed", tasks.c.output_kind == INTERIM_OUTPUT),
    )


def watched_tasks(conn: Connection, agent_handle: str, since: datetime) -> dict[str, datetime]:
    """task_id -> created of the agent's live unsettled tasks created at or after `since`:
    the tasks a shallow walk must read past before it may stop."""
    query = select(tasks.c.task_id, tasks.c.created_at).where(
        tasks.c.agent_handle == agent_handle,
        tasks.c.deleted_at.is_(None),
        tasks.c.created_at >= since,
        unsettled(),
    )
    return {row[0]: row[1] for row in conn.execute(query)}


def live_tasks(conn: Connection, agent_handle: str) -> int:
    """The agent's stored tasks that are not deleted."""
    query = select(func.count()).where(
        tasks.c.agent_handle == agent_handle, tasks.c.deleted_at.is_(None)
    )
    return int(conn.execute(query).scalar_one())

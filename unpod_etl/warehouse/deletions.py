"""Soft deletes: tasks that left the source, decided after a complete walk of their agent.

A stored task absent from a complete walk gets `missing_since`; absent again from the next
complete walk, it gets `deleted_at` (so a one-off glitch never deletes). A task seen again
gets both cleared (`restored` when it had been deleted). Rows are kept; the views leave
deleted tasks out. The guard: when a run would newly delete more than `max_fraction` of the
agent's live stored tasks, it deletes none of them (an API answering `count: 0, data: []`
must not empty the warehouse). Only a complete walk counts (source/walk.py: it reached the
end of the list, its tasks agree with `count`, no shift left unresolved): `settle_agent`
does nothing for any other. This module takes a connection and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from unpod_etl.warehouse.id_batches import batches
from unpod_etl.warehouse.schema import tasks


@dataclass(frozen=True)
class DeletionOutcome:
    deleted: int = 0  # newly marked deleted_at
    restored: int = 0  # had deleted_at, seen again
    missing: int = 0  # newly marked missing_since (first absence)
    held_back: int = 0  # would have been deleted, kept by the guard
    deleted_ids: tuple[str, ...] = ()
    restored_ids: tuple[str, ...] = ()


def settle_agent(
    conn: Connection,
    agent_handle: str,
    seen: set[str],
    now: datetime,
    max_fraction: float,
    walk_complete: bool,
) -> DeletionOutcome:
    """Apply one complete walk's absences and returns to the agent's stored tasks.

    An incomplete walk (a shift left unresolved, a count that disagrees, a walk cut short)
    may have missed tasks that are still there: it neither marks nor clears anything.
    """
    if not walk_complete:
        return DeletionOutcome()
    rows = conn.execute(
        select(tasks.c.task_id, tasks.c.missing_since, tasks.c.deleted_at).where(
            tasks.c.agent_handle == agent_handle
        )
    ).all()
    live = [r for r in rows if r.deleted_at is None]
    returned = [r for r in rows if r.task_id in seen and (r.missing_since or r.deleted_at)]
    absent = [r for r in live if r.task_id not in seen]
    first_absence = [r.task_id for r in absent if r.missing_since is None]
    second_absence = [r.task_id for r in absent if r.missing_since is not None]
    held_back = 0
    if len(second_absence) > max_fraction * len(live):
        held_back, second_absence = len(second_absence), []

    set_marks(conn, [r.task_id for r in returned], missing_since=None, deleted_at=None)
    set_marks(conn, first_absence, missing_since=now)
    set_marks(conn, second_absence, deleted_at=now)
    restored = tuple(r.task_id for r in returned if r.deleted_at is not None)
    return DeletionOutcome(
        deleted=len(second_absence),
        restored=len(restored),
        missing=len(first_absence),
        held_back=held_back,
        deleted_ids=tuple(second_absence),
        restored_ids=restored,
    )


def set_marks(conn: Connection, task_ids: Sequence[str], **values: datetime | None) -> None:
    stmt = update(tasks).where(tasks.c.task_id.in_(bindparam("ids", expanding=True)))
    for chunk in batches(task_ids):
        conn.execute(stmt.values(**values), {"ids": chunk})

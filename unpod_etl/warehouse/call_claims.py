"""A call_id belongs to one task. A page task whose call_id another task already holds (in
the warehouse, or earlier on the same page) must not take that call and its transcript over:
the sync keeps it aside in rejected_records instead, with a reason naming both tasks.
Takes a Connection, never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, select

from unpod_etl.normalize import NormalizedTask
from unpod_etl.warehouse.id_batches import batches
from unpod_etl.warehouse.schema import calls


def conflict_reason(call_id: str, holder: str, claimant: str) -> str:
    return f"call_id {call_id!r} is the call of task {holder}; task {claimant} claims it too"


def claimed_elsewhere(conn: Connection, items: Sequence[NormalizedTask]) -> dict[str, str]:
    """task_id -> reason, for the page's tasks whose call another task holds."""
    claims: dict[str, str] = {}  # call_id -> the first task on the page that claims it
    page_calls: dict[str, str | None] = {}  # task_id -> the call_id it will have
    conflicts: dict[str, str] = {}
    for item in items:
        task_id = item.task["task_id"]
        call_id = item.call["call_id"] if item.call is not None else None
        page_calls[task_id] = call_id
        if call_id is None:
            continue
        holder = claims.setdefault(call_id, task_id)
        if holder != task_id:
            conflicts[task_id] = conflict_reason(call_id, holder, task_id)
    query = select(calls.c.call_id, calls.c.task_id).where(
        calls.c.call_id.in_(bindparam("ids", expanding=True))
    )
    for batch in batches(list(claims)):
        for call_id, holder in conn.execute(query, {"ids": batch}):
            claimant = claims[call_id]
            if holder == claimant or claimant in conflicts:
                continue
            if holder in page_calls and page_calls[holder] != call_id:
                continue  # the holder is rewritten on this page without that call: it is free
            conflicts[claimant] = conflict_reason(call_id, holder, claimant)
    return conflicts

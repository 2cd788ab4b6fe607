"""Bookkeeping of task documents that could not be normalized (the `rejected_records` table).

A rejected document is kept, minus secrets, with the reason and the run, so nothing the API
sent is lost; when a later run loads the same task normally, its rejection is marked resolved.
Functions take a Connection and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from unpod_etl.normalize import fingerprint
from unpod_etl.normalize.secrets import stored_document
from unpod_etl.warehouse.schema import rejected_records
from unpod_etl.warehouse.upsert import upsert


def record_key(doc: Any) -> tuple[str, str | None]:
    """(record_key, task_id): the task_id when usable, else a digest of the document."""
    task_id = doc.get("task_id") if isinstance(doc, Mapping) else None
    if (
        isinstance(task_id, str)
        and task_id.strip()
        and "\x00" not in task_id
        and len(task_id) <= 200
    ):
        return task_id, task_id
    body = doc if isinstance(doc, Mapping) else {"value": doc}
    return f"sha256:{fingerprint(body)}", None


def open_rejections(conn: Connection, agent_handle: str) -> set[str]:
    """Record keys of an agent's unresolved rejections (one query per agent)."""
    query = select(rejected_records.c.record_key).where(
        rejected_records.c.agent_handle == agent_handle,
        rejected_records.c.resolved_at.is_(None),
    )
    return set(conn.execute(query).scalars())


def save_rejection(
    conn: Connection,
    agent_handle: str,
    doc: Any,
    reason: str,
    page: int,
    run_id: int,
    now: datetime,
) -> str:
    key, task_id = record_key(doc)
    row = {
        "agent_handle": agent_handle,
        "record_key": key,
        "task_id": task_id,
        "reason": reason,
        "document": stored_document(doc),
        "page": page,
        "first_run_id": run_id,
        "last_run_id": run_id,
        "first_seen_at": now,
        "last_seen_at": now,
        "resolved_at": None,
    }
    upsert(
        conn,
        rejected_records,
        [row],
        keep={"first_run_id", "first_seen_at"},
        key=["agent_handle", "record_key"],
    )
    return key


def resolve_rejections(
    conn: Connection, agent_handle: str, keys: Iterable[str], now: datetime
) -> None:
    keys = list(keys)
    if keys:
        conn.execute(
            update(rejected_records)
            .where(rejected_records.c.agent_handle == agent_handle)
            .where(rejected_records.c.record_key.in_(keys))
            .values(resolved_at=now)
        )

"""The warehouse side of the PII controls: the recorded mode, erasures, and the row access the
rewrite and `forget` need. Every function takes a Connection and leaves the commit to its
caller."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from unpod_etl.warehouse.schema import (
    calls,
    erasures,
    pii_settings,
    rejected_records,
    tasks,
    transcript_lines,
)
from unpod_etl.warehouse.upsert import upsert

SETTINGS_ID = 1


class PiiSettings(NamedTuple):
    mode: str
    region: str
    key_check: str | None


def read_settings(conn: Connection) -> PiiSettings | None:
    row = conn.execute(
        select(pii_settings.c.mode, pii_settings.c.region, pii_settings.c.key_check).where(
            pii_settings.c.id == SETTINGS_ID
        )
    ).first()
    return PiiSettings(row[0], row[1], row[2]) if row is not None else None


def write_settings(conn: Connection, settings: PiiSettings, now: datetime) -> None:
    row = {"id": SETTINGS_ID, **settings._asdict(), "changed_at": now}
    upsert(conn, pii_settings, [row])


def holds_data(conn: Connection) -> bool:
    """Whether any row a mode applies to is stored (tasks or rejected documents)."""
    # LIMIT 1, not COUNT(*): this runs at the start of every sync, on tables of millions.
    first_key = (tasks.c.task_id, rejected_records.c.rejection_id)
    return any(conn.execute(select(key).limit(1)).first() is not None for key in first_key)


# -- the rewrite -----------------------------------------------------------------------------


class StoredTask(NamedTuple):
    task_id: str
    agent_handle: str
    raw_fingerprint: str | None
    document: Any
    last_synced_at: datetime | None
    last_sync_run_id: int | None
    referenced_task_id: str | None
    followup_count: int | None


def task_batch(conn: Connection, after: str, limit: int) -> list[StoredTask]:
    """Stored tasks in task_id order after `after` (keyset pages: no OFFSET rescans)."""
    query = (
        select(
            tasks.c.task_id,
            tasks.c.agent_handle,
            tasks.c.raw_fingerprint,
            tasks.c.document,
            tasks.c.last_synced_at,
            tasks.c.last_sync_run_id,
            tasks.c.referenced_task_id,
            tasks.c.followup_count,
        )
        .where(tasks.c.task_id > after)
        .order_by(tasks.c.task_id)
        .limit(limit)
    )
    return [StoredTask(*row) for row in conn.execute(query)]


def restore_stamps(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Put back what a rewrite must not move: when and by which run a task was last synced."""
    if rows:
        stmt = (
            update(tasks)
            .where(tasks.c.task_id == bindparam("tid"))
            .values(
                last_synced_at=bindparam("synced"),
                last_sync_run_id=bindparam("run"),
                referenced_task_id=bindparam("ref"),
                followup_count=bindparam("count"),
            )
        )
        conn.execute(stmt, list(rows))


def rejected_documents(conn: Connection) -> list[tuple[int, Any]]:
    query = select(rejected_records.c.rejection_id, rejected_records.c.document)
    return [(row[0], row[1]) for row in conn.execute(query) if row[1] is not None]


def set_rejected_documents(conn: Connection, pairs: Sequence[tuple[int, Any]]) -> None:
    if pairs:
        stmt = (
            update(rejected_records)
            .where(rejected_records.c.rejection_id == bindparam("rid"))
            .values(document=bindparam("doc"))
        )
        conn.execute(stmt, [{"rid": r, "doc": d} for r, d in pairs])


# -- erasures --------------------------------------------------------------------------------


def erasure_hashes(conn: Connection) -> frozenset[str]:
    return frozenset(conn.execute(select(erasures.c.contact_hash)).scalars())


def iter_documents(conn: Connection, batch: int = 500) -> Iterator[tuple[str, Any]]:
    """(task_id, document) of every stored task, a keyset page at a time."""
    after = ""
    while True:
        query = (
            select(tasks.c.task_id, tasks.c.document)
            .where(tasks.c.task_id > after)
            .order_by(tasks.c.task_id)
            .limit(batch)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        yield from ((row[0], row[1]) for row in rows)
        after = rows[-1][0]


def delete_tasks(conn: Connection, task_ids: Iterable[str]) -> tuple[int, int, int]:
    """Delete tasks with their calls and transcript lines: (tasks, calls, lines) deleted."""
    ids = sorted(set(task_ids))
    done = [0, 0, 0]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for i, table in enumerate((transcript_lines, calls, tasks)):
            result = conn.execute(delete(table).where(table.c.task_id.in_(chunk)))
            done[2 - i] += result.rowcount or 0
    return done[0], done[1], done[2]


def record_erasure(
    conn: Connection,
    contact_hash: str,
    scheme: str,
    kind: str,
    counts: tuple[int, int, int],
    now: datetime,
) -> None:
    tasks_n, calls_n, lines_n = counts
    conn.execute(
        insert(erasures).values(
            contact_hash=contact_hash,
            scheme=scheme,
            kind=kind,
            erased_at=now,
            tasks_deleted=tasks_n,
            calls_deleted=calls_n,
            lines_deleted=lines_n,
        )
    )

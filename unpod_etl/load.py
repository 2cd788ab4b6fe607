"""Writes normalized rows into the warehouse. Every function takes a Connection and
leaves the transaction to its caller: the orchestrator decides what commits together."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from .normalize import NormalizedTask
from .schema import agents, calls, sync_agent_results, sync_runs, tasks, transcript_lines

# Sync bookkeeping: kept from the first write of a task, refreshed on every later write.
_KEEP_ON_UPDATE = {"task_id", "first_synced_at"}
# Big transcripts make big statements; executemany batches keep memory bounded.
LINE_BATCH = 5000


def _insert_for(conn: Connection, table: Table) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(conn.dialect.name)


def _upsert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keep: set[str]
) -> None:
    if not rows:
        return
    stmt: Any = _insert_for(conn, table)
    key = [c.name for c in table.primary_key.columns]
    changing = {c: getattr(stmt.excluded, c) for c in rows[0] if c not in keep and c not in key}
    stmt = stmt.on_conflict_do_update(index_elements=key, set_=changing)
    conn.execute(stmt, list(rows))


# -- agents ----------------------------------------------------------------------------------


def upsert_agents(
    conn: Connection, rows: Iterable[Mapping[str, Any]], now: datetime, published: bool
) -> None:
    """Listed agents get their attributes refreshed; first_seen_at stays the first."""
    full = [{**r, "published": published, "first_seen_at": now, "last_seen_at": now} for r in rows]
    _upsert(conn, agents, full, keep={"first_seen_at"})


def touch_agents(conn: Connection, handles: Iterable[str], now: datetime) -> None:
    """Handles named by the user (maybe unpublished): create a bare row if unknown."""
    stmt: Any = _insert_for(conn, agents)
    rows = [
        {"handle": h, "published": False, "first_seen_at": now, "last_seen_at": now}
        for h in handles
    ]
    if rows:
        stmt = stmt.on_conflict_do_update(
            index_elements=["handle"], set_={"last_seen_at": stmt.excluded.last_seen_at}
        )
        conn.execute(stmt, rows)


# -- tasks -----------------------------------------------------------------------------------


class StoredMarker(NamedTuple):
    last_status_change: datetime | None
    fingerprint: str
    raw_fingerprint: str | None


def stored_markers(conn: Connection, agent_handle: str) -> dict[str, StoredMarker]:
    """task_id -> what change detection compares, for one agent: one query per agent."""
    query = select(
        tasks.c.task_id, tasks.c.last_status_change, tasks.c.fingerprint, tasks.c.raw_fingerprint
    ).where(tasks.c.agent_handle == agent_handle)
    return {row[0]: StoredMarker(*row[1:]) for row in conn.execute(query)}


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
        _write_tasks_copy(conn, items, sync_run_id, now)
    else:
        _write_tasks_executemany(conn, items, sync_run_id, now)


def _stamped(item: NormalizedTask, sync_run_id: int, now: datetime) -> dict[str, Any]:
    return {
        **item.task,
        "first_synced_at": now,
        "last_synced_at": now,
        "last_sync_run_id": sync_run_id,
    }


def _write_tasks_executemany(
    conn: Connection, items: Sequence[NormalizedTask], sync_run_id: int, now: datetime
) -> None:
    task_rows = [_stamped(item, sync_run_id, now) for item in items]
    _upsert(conn, tasks, task_rows, keep=_KEEP_ON_UPDATE)

    task_ids = [item.task["task_id"] for item in items]
    call_rows = [item.call for item in items if item.call is not None]
    call_ids = [row["call_id"] for row in call_rows]
    # Old lines go first: a transcript that shrank must leave no orphans, and a call that
    # moved to another task (same call_id) must not collide with its previous lines.
    conn.execute(delete(transcript_lines).where(transcript_lines.c.task_id.in_(task_ids)))
    if call_ids:
        conn.execute(delete(transcript_lines).where(transcript_lines.c.call_id.in_(call_ids)))
    conn.execute(delete(calls).where(calls.c.task_id.in_(task_ids)))
    _upsert(conn, calls, call_rows, keep=set())

    batch: list[dict[str, Any]] = []
    for item in items:
        batch.extend(item.lines)
        if len(batch) >= LINE_BATCH:
            conn.execute(insert(transcript_lines), batch)
            batch = []
    if batch:
        conn.execute(insert(transcript_lines), batch)


# -- PostgreSQL bulk path ----------------------------------------------------------------------

_STAGE = {tasks.name: "unpod_etl_stage_tasks", calls.name: "unpod_etl_stage_calls"}


def _columns(table: Table) -> tuple[list[str], list[bool]]:
    """Column names in table order, and which of them hold JSON."""
    return [c.name for c in table.columns], [isinstance(c.type, JSON) for c in table.columns]


def _copy_rows(
    cur: Any, target: str, table: Table, rows: Iterable[Mapping[str, Any]], skip: Iterable[str] = ()
) -> None:
    """COPY rows (dicts keyed by column name) into `target`, laid out like `table`.

    JSON values go as JSON text; None becomes JSON null, as SQLAlchemy's JSON type stores it
    (none_as_null=False). Everything else is adapted by psycopg (aware datetimes included).
    Columns in `skip` are not sent.
    """
    names, is_json = _columns(table)
    pairs = [(n, j) for n, j in zip(names, is_json, strict=True) if n not in skip]
    with cur.copy(f"COPY {target} ({', '.join(n for n, _ in pairs)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_dumps(row[n]) if j else row[n] for n, j in pairs])


def _dumps(value: Any) -> str:
    try:  # orjson: the same compact text, several times faster
        return orjson.dumps(value).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # e.g. integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# tasks.input and tasks.output are the very objects found under those keys of tasks.document
# (normalize/tasks.py): when that holds for a whole batch they are not encoded and sent twice
# but taken from the staged document. A missing key is JSON null, as None would have been.
_FROM_DOCUMENT = {
    "input": "coalesce(document -> 'input', 'null'::jsonb)",
    "output": "coalesce(document -> 'output', 'null'::jsonb)",
}


def _parts_of_document(rows: Sequence[Mapping[str, Any]]) -> bool:
    for row in rows:
        doc = row["document"]
        if not isinstance(doc, dict):
            return False
        for key in _FROM_DOCUMENT:
            if row[key] is not doc.get(key):
                return False
    return True


def _upsert_from_stage(
    cur: Any, table: Table, keep: set[str], derived: Mapping[str, str] | None = None
) -> None:
    names, _ = _columns(table)
    key = [c.name for c in table.primary_key.columns]
    changing = [n for n in names if n not in keep and n not in key]
    cols = ", ".join(names)
    values = ", ".join((derived or {}).get(n, n) for n in names)
    sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in changing)
    cur.execute(
        f"INSERT INTO {table.name} ({cols}) SELECT {values} FROM {_STAGE[table.name]} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def _write_tasks_copy(
    conn: Connection, items: Sequence[NormalizedTask], sync_run_id: int, now: datetime
) -> None:
    # Later duplicates win, as they did with executemany: one row per task_id and call_id.
    by_task = {item.task["task_id"]: item for item in items}
    by_call: dict[str, NormalizedTask] = {}
    for item in by_task.values():
        if item.call is not None:
            by_call[item.call["call_id"]] = item
    task_ids, call_ids = list(by_task), list(by_call)

    raw = conn.connection.driver_connection  # psycopg.Connection, in SQLAlchemy's transaction
    assert raw is not None
    with raw.cursor() as cur:
        # Session-temporary and without constraints, emptied at every commit; TRUNCATE
        # covers several writes inside one transaction.
        cur.execute(
            ";".join(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                f"AS SELECT * FROM {name} WITH NO DATA"
                for name, stage in _STAGE.items()
            )
            + f";TRUNCATE {', '.join(_STAGE.values())}"
        )
        task_rows = [_stamped(item, sync_run_id, now) for item in by_task.values()]
        derived = _FROM_DOCUMENT if _parts_of_document(task_rows) else {}
        _copy_rows(cur, _STAGE["tasks"], tasks, task_rows, skip=derived)
        _upsert_from_stage(cur, tasks, _KEEP_ON_UPDATE, derived)
        # Old lines go first: a transcript that shrank must leave no orphans, and a call that
        # moved to another task (same call_id) must not collide with its previous lines.
        cur.execute("DELETE FROM transcript_lines WHERE task_id = ANY(%s)", (task_ids,))
        if call_ids:
            cur.execute("DELETE FROM transcript_lines WHERE call_id = ANY(%s)", (call_ids,))
        cur.execute("DELETE FROM calls WHERE task_id = ANY(%s)", (task_ids,))
        if call_ids:
            _copy_rows(cur, _STAGE["calls"], calls, (i.call for i in by_call.values() if i.call))
            _upsert_from_stage(cur, calls, set())
            # The lines of the task whose call row was kept (one call, one transcript).
            lines = (line for item in by_call.values() for line in item.lines)
            _copy_rows(cur, "transcript_lines", transcript_lines, lines)


# -- run bookkeeping -------------------------------------------------------------------------


def start_run(conn: Connection, api_url: str, now: datetime) -> int:
    result = conn.execute(
        insert(sync_runs)
        .values(started_at=now, outcome="running", api_url=api_url)
        .returning(sync_runs.c.run_id)
    )
    return int(result.scalar_one())


def finish_run(conn: Connection, run_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(sync_runs).where(sync_runs.c.run_id == run_id).values(**values))


def start_agent(conn: Connection, run_id: int, handle: str, now: datetime) -> None:
    conn.execute(
        insert(sync_agent_results).values(
            run_id=run_id, agent_handle=handle, started_at=now, outcome="running"
        )
    )


def update_agent(conn: Connection, run_id: int, handle: str, values: Mapping[str, Any]) -> None:
    conn.execute(
        update(sync_agent_results)
        .where(sync_agent_results.c.run_id == run_id)
        .where(sync_agent_results.c.agent_handle == handle)
        .values(**values)
    )

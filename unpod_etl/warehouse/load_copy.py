"""The PostgreSQL bulk path of load.write_tasks: COPY into session-temporary staging tables,
then INSERT .. SELECT .. ON CONFLICT, and COPY straight into transcript_lines once the old lines
are deleted (chosen by measurement; see docs/benchmark.md). Takes a Connection, never commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

from unpod_etl.normalize import NormalizedTask
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines
from unpod_etl.warehouse.upsert import conflict_key, updated_columns

# Sync bookkeeping: kept from the first write of a task, refreshed on every later write.
KEEP_ON_UPDATE = {"task_id", "first_synced_at"}
# Written only by warehouse/deletions.py: a task write neither sends nor overwrites them.
SOFT_DELETE = {"missing_since", "deleted_at"}


def stamped(item: NormalizedTask, sync_run_id: int, now: datetime) -> dict[str, Any]:
    return {
        **item.task,
        "first_synced_at": now,
        "last_synced_at": now,
        "last_sync_run_id": sync_run_id,
    }


# -- staging ----------------------------------------------------------------------

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
    key = conflict_key(table)
    changing = updated_columns(names, keep, key)  # the same rule as upsert()
    cols = ", ".join(names)
    values = ", ".join((derived or {}).get(n, n) for n in names)
    sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in changing)
    cur.execute(
        f"INSERT INTO {table.name} ({cols}) SELECT {values} FROM {_STAGE[table.name]} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def write_tasks_copy(
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
        task_rows = [stamped(item, sync_run_id, now) for item in by_task.values()]
        derived = _FROM_DOCUMENT if _parts_of_document(task_rows) else {}
        _copy_rows(cur, _STAGE["tasks"], tasks, task_rows, skip={*derived, *SOFT_DELETE})
        _upsert_from_stage(cur, tasks, KEEP_ON_UPDATE | SOFT_DELETE, derived)
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

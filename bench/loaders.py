"""COPY vs multi-row INSERT vs executemany: the loader alone, on the same normalized pages.

`python -m bench.loaders [--workload large] [--page-size 100]`: normalizes each agent's tasks
(untimed), then for each method writes them page by page (one transaction per page, as the sync
does) into a database of its own: first as new rows, then a rewrite of a tenth of the agents
(every row conflicts). Prints seconds per method.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table

from unpod_etl.normalize import NormalizedTask
from unpod_etl.warehouse import load, load_copy
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines

from .copyfloor import normalized
from .pg import fresh_database, postgres_server
from .suite import WORKLOADS, make_fake

Writer = Callable[[Connection, Sequence[NormalizedTask], int, datetime], None]
MAX_PARAMS = 30_000


def _multirow_insert(cur: Any, table: Table, rows: list[dict[str, Any]], conflict: str) -> None:
    names, is_json = load._columns(table)
    per_row = "(" + ", ".join(["%s"] * len(names)) + ")"
    step = max(1, MAX_PARAMS // len(names))
    for at in range(0, len(rows), step):
        chunk = rows[at : at + step]
        params = [
            load._dumps(row[n]) if j else row[n]
            for row in chunk
            for n, j in zip(names, is_json, strict=True)
        ]
        values = ", ".join([per_row] * len(chunk))
        cur.execute(
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} {conflict}", params
        )


def _sets(table: Table, keep: set[str]) -> str:
    key = [c.name for c in table.primary_key.columns]
    names = [c.name for c in table.columns if c.name not in keep and c.name not in key]
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(
        f"{n} = EXCLUDED.{n}" for n in names
    )


def write_multirow(
    conn: Connection, items: Sequence[NormalizedTask], run_id: int, now: datetime
) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    task_rows = [load_copy.stamped(i, run_id, now) for i in items]
    task_ids = [i.task["task_id"] for i in items]
    call_rows = [i.call for i in items if i.call is not None]
    call_ids = [c["call_id"] for c in call_rows]
    with raw.cursor() as cur:
        _multirow_insert(cur, tasks, task_rows, _sets(tasks, load_copy.KEEP_ON_UPDATE))
        cur.execute("DELETE FROM transcript_lines WHERE task_id = ANY(%s)", (task_ids,))
        cur.execute("DELETE FROM transcript_lines WHERE call_id = ANY(%s)", (call_ids,))
        cur.execute("DELETE FROM calls WHERE task_id = ANY(%s)", (task_ids,))
        _multirow_insert(cur, calls, call_rows, _sets(calls, set()))
        lines = [line for i in items for line in i.lines]
        _multirow_insert(cur, transcript_lines, lines, "")


METHODS: dict[str, Writer] = {
    "copy + staging": load_copy.write_tasks_copy,
    "multi-row INSERT": write_multirow,
    "executemany": load._write_tasks_executemany,
}


def _write_pages(engine: Engine, write: Writer, items: list[NormalizedTask], size: int) -> float:
    now = datetime.now(UTC)
    start = time.perf_counter()
    for at in range(0, len(items), size):
        with engine.begin() as conn:
            write(conn, items[at : at + size], 1, now)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loaders")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="large")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    fake = make_fake(*WORKLOADS[args.workload])
    handles = fake.all_handles()
    rewrite = set(handles[: max(1, len(handles) // 10)])
    insert_s = dict.fromkeys(METHODS, 0.0)
    rewrite_s = dict.fromkeys(METHODS, 0.0)
    with postgres_server() as admin:
        engines = {}
        for n, name in enumerate(METHODS):
            engines[name] = make_engine(fresh_database(admin, f"loader_{n}"))
        n_tasks = n_lines = n_rewritten = 0
        for handle in handles:
            items = normalized(fake, handle)
            n_tasks += len(items)
            n_lines += sum(len(i.lines) for i in items)
            for name, write in METHODS.items():
                insert_s[name] += _write_pages(engines[name], write, items, args.page_size)
                if handle in rewrite:
                    rewrite_s[name] += _write_pages(engines[name], write, items, args.page_size)
            if handle in rewrite:
                n_rewritten += len(items)
        for engine in engines.values():
            engine.dispose()
    print(f"{n_tasks:,} tasks, {n_lines:,} transcript lines, pages of {args.page_size}")
    print(f"{'method':<18} {'insert s':>9} {'tasks/s':>8} {'rewrite s':>9} {'tasks/s':>8}")
    for name in METHODS:
        print(
            f"{name:<18} {insert_s[name]:>9.2f} {n_tasks / insert_s[name]:>8,.0f} "
            f"{rewrite_s[name]:>9.2f} {n_rewritten / rewrite_s[name]:>8,.0f}"
        )


if __name__ == "__main__":
    main()

"""The load floor: COPY the normalized rows of every task into empty tables.

Normalizing and encoding the rows is not timed; only the COPY statements are (one per table
per agent, committed per agent). The database is freshly migrated, so the tables carry the
same indexes the sync maintains.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import JSON, Table
from sqlalchemy.engine import make_url

from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.normalize import NormalizedTask, RejectedRecord, normalize_task
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines


@dataclass
class FloorResult:
    seconds: float
    tasks: int
    calls: int
    lines: int


def psycopg_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


def _encoder(table: Table) -> tuple[list[str], list[bool]]:
    names = [c.name for c in table.columns]
    return names, [isinstance(c.type, JSON) for c in table.columns]


def _tuples(rows: list[dict[str, Any]], table: Table) -> list[tuple[Any, ...]]:
    names, is_json = _encoder(table)
    return [
        # columns the loader does not write (the soft-delete pair) go in as NULL
        tuple(json.dumps(row[n]) if j else row.get(n) for n, j in zip(names, is_json, strict=True))
        for row in rows
    ]


def normalized(fake: FakeUnpod, handle: str) -> list[NormalizedTask]:
    out = []
    for doc in fake.tasks(handle):
        try:
            out.append(normalize_task(doc, handle))
        except RejectedRecord:
            continue
    return out


def copy_floor(database_url: str, fake: FakeUnpod, handles: list[str]) -> FloorResult:
    """Time COPY of every agent's rows into the (empty, migrated) database."""
    total = FloorResult(0.0, 0, 0, 0)
    now = datetime.now(UTC)
    stamp = {"first_synced_at": now, "last_synced_at": now, "last_sync_run_id": 0}
    with psycopg.connect(psycopg_url(database_url)) as conn:
        for handle in handles:
            items = normalized(fake, handle)
            batches = [
                (tasks, _tuples([{**i.task, **stamp} for i in items], tasks)),
                (calls, _tuples([i.call for i in items if i.call is not None], calls)),
                (transcript_lines, _tuples([x for i in items for x in i.lines], transcript_lines)),
            ]
            start = time.perf_counter()
            with conn.cursor() as cur:
                for table, rows in batches:
                    names = ", ".join(c.name for c in table.columns)
                    with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            conn.commit()
            total.seconds += time.perf_counter() - start
            total.tasks += len(batches[0][1])
            total.calls += len(batches[1][1])
            total.lines += len(batches[2][1])
    return total

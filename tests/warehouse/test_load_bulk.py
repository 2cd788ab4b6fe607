"""The PostgreSQL bulk path of load.write_tasks (COPY + staging tables), row by row.

Every test compares what is stored with the normalized rows, or with what the executemany
path (the one SQLite uses) stores for the same input.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.normalize import NormalizedTask, normalize_task
from unpod_etl.warehouse import load
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines

T1 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
TRICKY = 'Zoë — 中文 हाँ 😀 tab\there\nnewline \\N back\\slash "quote" ,comma \\. end'


@pytest.fixture(scope="module")
def source() -> list[tuple[str, dict[str, Any]]]:
    """(agent handle, document) of a few hundred generated tasks, calls and transcripts."""
    fake = FakeUnpod(agents=2, tasks_per_agent=160, seed=11, unpublished_agents=0)
    return [(h, doc) for h in fake.all_handles() for doc in fake.tasks(h)]


def items_of(source: list[tuple[str, dict[str, Any]]]) -> list[NormalizedTask]:
    return [normalize_task(doc, handle) for handle, doc in source]


def write(engine: Engine, items: list[NormalizedTask], run_id: int, now: datetime) -> None:
    for at in range(0, len(items), 100):  # pages, one transaction each, as the sync does
        with engine.begin() as conn:
            load.write_tasks(conn, items[at : at + 100], run_id, now)


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with engine.connect() as conn:
        for table in (tasks, calls, transcript_lines):
            order = list(table.primary_key.columns)
            out[table.name] = [
                dict(r._mapping) for r in conn.execute(select(table).order_by(*order))
            ]
    return out


def expected_rows(items: list[NormalizedTask], run_id: int, first: datetime, last: datetime):  # type: ignore[no-untyped-def]
    task_rows = sorted(
        (
            {
                **i.task,
                "first_synced_at": first,
                "last_synced_at": last,
                "last_sync_run_id": run_id,
                # written only by the deletion rule, never by a task write
                "missing_since": None,
                "deleted_at": None,
            }
            for i in items
        ),
        key=lambda r: r["task_id"],
    )
    call_rows = sorted((i.call for i in items if i.call), key=lambda r: r["call_id"])
    line_rows = sorted((x for i in items for x in i.lines), key=lambda r: (r["call_id"], r["seq"]))
    return {"tasks": task_rows, "calls": call_rows, "transcript_lines": line_rows}


def test_copy_path_stores_exactly_the_normalized_rows(pg_engine, source):
    items = items_of(source)
    assert sum(len(i.lines) for i in items) > 1000
    write(pg_engine, items, 1, T1)
    assert dump(pg_engine) == expected_rows(items, 1, T1, T1)


def test_json_none_is_json_null_as_with_executemany(pg_engine, source):
    items = items_of(source)
    assert any(i.call and i.call["classification_labels"] is None for i in items)
    write(pg_engine, items, 1, T1)
    with pg_engine.connect() as conn:
        nulls = conn.execute(
            text("SELECT count(*) FROM calls WHERE jsonb_typeof(classification_labels) = 'null'")
        ).scalar_one()
        sql_nulls = conn.execute(
            text("SELECT count(*) FROM calls WHERE classification_labels IS NULL")
        ).scalar_one()
    assert nulls == sum(1 for i in items if i.call and i.call["classification_labels"] is None)
    assert sql_nulls == 0


def test_copy_and_executemany_store_the_same(pg_engine, source):
    items = items_of(source)
    write(pg_engine, items, 1, T1)
    by_copy = dump(pg_engine)
    with pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE tasks, calls, transcript_lines"))
    for at in range(0, len(items), 100):
        with pg_engine.begin() as conn:
            load._write_tasks_executemany(conn, items[at : at + 100], 1, T1)
    assert dump(pg_engine) == by_copy


def test_text_escapes_unicode_and_nul_round_trip(pg_engine, source):
    handle, base = next((h, d) for h, d in source if (d.get("output") or {}).get("transcript"))
    doc = copy.deepcopy(base)
    doc["task"] = {**(doc.get("task") or {}), "objective": TRICKY + "\x00"}
    doc["output"]["transcript"][0]["content"] = "\x00" + TRICKY
    doc["input"] = {**(doc.get("input") or {}), "note": TRICKY, "nul": "a\x00b"}
    item = normalize_task(doc, handle)
    write(pg_engine, [item], 1, T1)
    stored = dump(pg_engine)
    task = stored["tasks"][0]
    assert task["objective"] == TRICKY
    assert task["input"]["note"] == TRICKY and task["input"]["nul"] == "ab"
    assert task["document"] == item.task["document"]
    first_line = next(r for r in stored["transcript_lines"] if r["seq"] == 0)
    assert first_line["content"] == TRICKY
    assert stored == expected_rows([item], 1, T1, T1)


def test_rewrite_with_shrunk_transcripts_keeps_first_synced_at(pg_engine, source):
    items = items_of(source)
    write(pg_engine, items, 1, T1)
    shrunk_docs = []
    for handle, doc in source[::3]:
        doc = copy.deepcopy(doc)
        output = doc.get("output")
        if isinstance(output, dict) and isinstance(output.get("transcript"), list):
            output["transcript"] = output["transcript"][:2]
        doc["status"] = "completed"
        shrunk_docs.append((handle, doc))
    rewritten = items_of(shrunk_docs)
    assert any(len(i.lines) == 2 for i in rewritten)
    write(pg_engine, rewritten, 2, T2)

    ids = {i.task["task_id"] for i in rewritten}
    final = [i for i in items if i.task["task_id"] not in ids]
    want = expected_rows(final, 1, T1, T1)
    again = expected_rows(rewritten, 2, T1, T2)  # first_synced_at stays the first
    for name in want:
        key = ("call_id", "seq") if name == "transcript_lines" else None
        rows = want[name] + again[name]
        if key:
            rows.sort(key=lambda r: (r["call_id"], r["seq"]))
        else:
            pk = "task_id" if name == "tasks" else "call_id"
            rows.sort(key=lambda r: r[pk])
        want[name] = rows
    assert dump(pg_engine) == want
    with pg_engine.connect() as conn:  # no orphan lines, counts agree
        per_call = dict(
            conn.execute(
                select(transcript_lines.c.call_id, func.count()).group_by(
                    transcript_lines.c.call_id
                )
            ).all()
        )
        for row in conn.execute(select(calls.c.call_id, calls.c.transcript_line_count)):
            assert per_call.get(row.call_id, 0) == row.transcript_line_count


def test_several_writes_in_one_transaction_and_duplicates(pg_engine, source):
    items = items_of(source)[:60]
    later = normalize_task({**source[0][1], "status": "failed"}, source[0][0])
    with pg_engine.begin() as conn:  # the staging tables are emptied between writes
        load.write_tasks(conn, items[:30], 1, T1)
        load.write_tasks(conn, items[30:], 1, T1)
        load.write_tasks(conn, [items[0], later], 1, T1)  # the later duplicate wins
    stored = dump(pg_engine)
    assert len(stored["tasks"]) == 60
    row = next(r for r in stored["tasks"] if r["task_id"] == later.task["task_id"])
    assert row["status"] == "failed"
    assert stored == expected_rows([later, *items[1:]], 1, T1, T1)


def test_a_call_moving_to_another_task(pg_engine, source):
    with_calls = [i for i in items_of(source) if i.call and i.lines]
    a, b = with_calls[0], with_calls[1]
    write(pg_engine, [a, b], 1, T1)
    # b now reports a's call: the call row and its lines follow b, a's old rows are gone
    handle, doc_b = next((h, d) for h, d in source if d["task_id"] == b.task["task_id"])
    doc_b = copy.deepcopy(doc_b)
    doc_b["output"]["call_id"] = a.call["call_id"]  # type: ignore[index]
    moved = normalize_task(doc_b, handle)
    write(pg_engine, [moved], 2, T2)
    stored = dump(pg_engine)
    call = next(r for r in stored["calls"] if r["call_id"] == a.call["call_id"])  # type: ignore[index]
    assert call["task_id"] == b.task["task_id"]
    assert b.call["call_id"] not in {r["call_id"] for r in stored["calls"]}  # type: ignore[index]
    lines = [r for r in stored["transcript_lines"] if r["call_id"] == a.call["call_id"]]  # type: ignore[index]
    assert {r["task_id"] for r in lines} == {b.task["task_id"]}
    assert len(lines) == len(moved.lines)


def test_input_and_output_not_taken_from_the_document_when_they_differ(pg_engine, source):
    items = items_of(source)[:3]
    odd = NormalizedTask(
        task={**items[0].task, "input": {"not": "the document's"}, "output": None},
        call=items[0].call,
        lines=items[0].lines,
    )
    bare_doc = {k: v for k, v in items[1].task["document"].items() if k not in ("input", "output")}
    bare = NormalizedTask(
        task={**items[1].task, "document": bare_doc, "input": None, "output": None},
        call=items[1].call,
        lines=items[1].lines,
    )
    write(pg_engine, [odd, items[2]], 1, T1)  # one odd row: the batch sends input/output
    write(pg_engine, [bare], 1, T1)  # keys missing from the document: JSON null
    assert dump(pg_engine) == expected_rows([odd, bare, items[2]], 1, T1, T1)
    with pg_engine.connect() as conn:
        kinds = conn.execute(
            text("SELECT jsonb_typeof(input), jsonb_typeof(output) FROM tasks WHERE task_id = :t"),
            {"t": bare.task["task_id"]},
        ).one()
    assert tuple(kinds) == ("null", "null")

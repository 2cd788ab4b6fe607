"""task_changes and task_status_history through real syncs against the fake API, on
PostgreSQL and SQLite: one row per change of each kind, none for an unchanged task."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from tests.helpers import sync_in_process
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.normalize.history import PARTS
from unpod_etl.pipeline.results import RunResult
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import task_changes


@pytest.fixture
def url(any_url: str) -> str:
    return any_url


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    return any_engine


@pytest.fixture
def handle(fake: FakeUnpod) -> str:
    return fake.published_handles()[0]


def sync(server: FakeServer, fake: FakeUnpod, url: str, handle: str) -> RunResult:
    return sync_in_process(server, fake, url, page_size=7, agents=(handle,))


def changes(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    query = select(task_changes).order_by(task_changes.c.change_id)
    for column, value in where.items():
        query = query.where(task_changes.c[column] == value)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def test_first_sync_new_rows_and_a_quiet_resync_writes_none(fake, fake_server, url, engine, handle):
    first = sync(fake_server, fake, url, handle)
    rows = changes(engine)
    assert len(rows) == fake.count(handle) == first.agents[0].inserted
    assert {r["kind"] for r in rows} == {"new"}
    assert all(r["run_id"] == first.run_id and r["status_before"] is None for r in rows)
    by_task = {r["task_id"]: r for r in rows}
    for doc in fake.tasks(handle):
        assert by_task[doc["task_id"]]["status_after"] == doc["status"]
    sync(fake_server, fake, url, handle)
    assert len(changes(engine)) == len(rows)  # nothing changed, nothing written


def test_moved_and_changed_unmoved_name_their_parts(fake, fake_server, url, engine, handle):
    sync(fake_server, fake, url, handle)
    open_tasks = [t for t in fake.tasks(handle) if t["status"] != "completed"]
    pending = [t["task_id"] for t in open_tasks[:2]]
    before = open_tasks[0]["status"]
    fake.move_status(pending[0], "hold")
    fake.complete_without_marker(pending[1])
    run = sync(fake_server, fake, url, handle)
    moved = changes(engine, run_id=run.run_id, kind="moved")
    assert [r["task_id"] for r in moved] == [pending[0]]
    assert (moved[0]["status_before"], moved[0]["status_after"]) == (before, "hold")
    assert moved[0]["marker_after"] != moved[0]["marker_before"]
    assert moved[0]["changed_parts"] == ["status", "other"]  # `modified` moved too
    unmoved = changes(engine, run_id=run.run_id, kind="changed_unmoved")
    assert [r["task_id"] for r in unmoved] == [pending[1]]
    assert unmoved[0]["marker_after"] == unmoved[0]["marker_before"]
    parts = unmoved[0]["changed_parts"]
    assert {"status", "output", "transcript", "post_call_data"} <= set(parts)
    assert "input" not in parts and parts == [p for p in PARTS if p in parts]


def test_deleted_and_restored_rows(fake, fake_server, url, engine, handle):
    sync(fake_server, fake, url, handle)
    victim = fake.tasks(handle)[4]
    fake.remove_task(victim["task_id"])
    sync(fake_server, fake, url, handle)
    deleting = sync(fake_server, fake, url, handle)
    deleted = changes(engine, kind="deleted")
    assert [(r["task_id"], r["run_id"]) for r in deleted] == [(victim["task_id"], deleting.run_id)]
    fake.add_task(handle, **victim)
    back = sync(fake_server, fake, url, handle)
    restored = changes(engine, kind="restored")
    assert [(r["task_id"], r["run_id"]) for r in restored] == [(victim["task_id"], back.run_id)]


def test_status_history_view_and_the_documented_queries(fake, fake_server, url, engine, handle):
    sync(fake_server, fake, url, handle)
    task_id = next(t["task_id"] for t in fake.tasks(handle) if t["status"] == "pending")
    fake.move_status(task_id, "in_progress")
    sync(fake_server, fake, url, handle)
    fake.complete_without_marker(task_id)
    sync(fake_server, fake, url, handle)
    with engine.connect() as conn:
        history = conn.execute(
            text(
                "SELECT status, valid_from, valid_to, marker_moved FROM task_status_history "
                "WHERE task_id = :t ORDER BY valid_from_epoch"
            ),
            {"t": task_id},
        ).all()
        unmoved = conn.execute(
            text(
                "SELECT agent_handle, COUNT(*) AS completed_unmoved FROM task_changes "
                "WHERE kind = 'changed_unmoved' AND status_after = 'completed' "
                "AND status_before <> 'completed' GROUP BY agent_handle"
            )
        ).all()
        durations = conn.execute(
            text(
                "SELECT p.agent_handle, AVG(c.valid_from_epoch - p.valid_from_epoch) AS secs "
                "FROM task_status_history p JOIN task_status_history c "
                "ON c.task_id = p.task_id AND c.status = 'completed' "
                "WHERE p.status = 'pending' GROUP BY p.agent_handle"
            )
        ).all()
    assert [h.status for h in history] == ["pending", "in_progress", "completed"]
    assert history[0].valid_to == history[1].valid_from and history[2].valid_to is None
    assert [bool(h.marker_moved) for h in history] == [True, True, False]
    assert [tuple(r) for r in unmoved] == [(handle, 1)]
    assert len(durations) == 1 and durations[0].secs > 0


def test_a_reassigned_task_moves_with_its_call(fake, fake_server, url, engine):
    first, second = fake.published_handles()[:2]
    sync_in_process(fake_server, fake, url, page_size=7, agents=(first, second))
    mover = next(
        t
        for t in fake.tasks(first)
        if isinstance(t.get("output"), dict)
        and t["output"].get("call_id")
        and t["output"].get("transcript")
    )
    fake.reassign_task(mover["task_id"], second)
    for _ in range(3):  # enough complete walks of the old agent to delete it, were it wrong
        run = sync_in_process(fake_server, fake, url, page_size=7, agents=(first, second))
        results = {a.handle: a for a in run.agents}
        assert results[first].deleted == 0
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT agent_handle, missing_since, deleted_at FROM tasks WHERE task_id = :t"),
            {"t": mover["task_id"]},
        ).one()
        call_agent = conn.execute(
            text("SELECT agent_handle FROM calls WHERE call_id = :c"),
            {"c": mover["output"]["call_id"]},
        ).scalar_one()
        lines = conn.execute(
            text("SELECT COUNT(*) FROM transcript_lines WHERE task_id = :t"),
            {"t": mover["task_id"]},
        ).scalar_one()
    assert tuple(row) == (second, None, None) and call_agent == second and lines > 0
    moves = changes(engine, kind="reassigned")
    assert [(m["task_id"], m["agent_before"], m["agent_handle"]) for m in moves] == [
        (mover["task_id"], first, second)
    ]
    with engine.connect() as conn:
        counted = conn.execute(
            text("SELECT SUM(reassigned) FROM sync_agent_results WHERE agent_handle = :h"),
            {"h": second},
        ).scalar_one()
    assert counted == 1


def test_reassigned_counter_in_the_run(fake, fake_server, sqlite_url):
    first, second = fake.published_handles()[:2]
    sync_in_process(fake_server, fake, sqlite_url, agents=(first, second))
    fake.reassign_task(fake.tasks(first)[0]["task_id"], second)
    run = sync_in_process(fake_server, fake, sqlite_url, agents=(first, second))
    results = {a.handle: a for a in run.agents}
    assert results[second].reassigned == 1 and results[second].inserted == 0
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(task_changes)).scalar_one()
    engine.dispose()
    assert total == fake.count(first) + fake.count(second) + 1  # news of both, one move

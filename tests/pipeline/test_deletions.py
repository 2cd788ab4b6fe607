"""Soft deletes through real syncs against the fake API: two complete absences delete, a
return restores, the guard holds, failed walks never delete, and the views leave deleted
tasks out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from unpod_etl.core.errors import ConfigError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import RunResult, SyncConfig, SyncRunner
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines


def sync(server: FakeServer, fake: FakeUnpod, url: str, handle: str, **kw: Any) -> RunResult:
    kw.setdefault("walk", "full")  # deletions are decided on full walks only
    config = SyncConfig(server.url, fake.token, fake.org, url, agents=(handle,), page_size=7, **kw)
    return SyncRunner(config).run()


def marks(engine: Engine, handle: str) -> dict[str, tuple[Any, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(tasks.c.task_id, tasks.c.missing_since, tasks.c.deleted_at).where(
                tasks.c.agent_handle == handle
            )
        ).all()
    return {r.task_id: (r.missing_since, r.deleted_at) for r in rows}


def with_call(fake: FakeUnpod, handle: str) -> dict[str, Any]:
    """A task of the agent whose call and transcript the warehouse stores."""
    for task in fake.tasks(handle):
        out = task.get("output")
        if isinstance(out, dict) and out.get("call_id") and out.get("transcript"):
            return task
    raise AssertionError("the fake agent has no task with a call")


@pytest.fixture
def handle(fake: FakeUnpod) -> str:
    return fake.published_handles()[0]


def test_one_absence_sets_missing_since_only(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = fake.tasks(handle)[3]["task_id"]
    fake.remove_task(victim)
    result = sync(fake_server, fake, pg_url, handle)
    state = marks(pg_engine, handle)
    missing_since, deleted_at = state[victim]
    assert missing_since is not None and deleted_at is None
    assert all(v == (None, None) for k, v in state.items() if k != victim)
    assert result.agents[0].deleted == 0 and result.agents[0].restored == 0


def test_two_absences_delete_and_rows_are_kept(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = with_call(fake, handle)
    call_id = victim["output"]["call_id"]
    fake.remove_task(victim["task_id"])
    sync(fake_server, fake, pg_url, handle)
    result = sync(fake_server, fake, pg_url, handle)
    assert result.agents[0].deleted == 1 and result.agents[0].deletes_held == 0
    missing_since, deleted_at = marks(pg_engine, handle)[victim["task_id"]]
    assert missing_since is not None and deleted_at is not None
    with pg_engine.connect() as conn:  # soft delete: the call and its lines stay
        assert conn.execute(select(func.count()).where(calls.c.call_id == call_id)).scalar() == 1
        lines = select(func.count()).where(transcript_lines.c.task_id == victim["task_id"])
        assert conn.execute(lines).scalar() > 0
    # a third walk does not count it again
    assert sync(fake_server, fake, pg_url, handle).agents[0].deleted == 0


def test_a_task_that_reappears_is_cleared(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = fake.tasks(handle)[5]
    fake.remove_task(victim["task_id"])
    sync(fake_server, fake, pg_url, handle)
    assert sync(fake_server, fake, pg_url, handle).agents[0].deleted == 1
    fake.add_task(handle, **victim)
    result = sync(fake_server, fake, pg_url, handle)
    assert result.agents[0].restored == 1 and result.agents[0].deleted == 0
    assert marks(pg_engine, handle)[victim["task_id"]] == (None, None)


def test_missing_once_then_back_clears_missing_since(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = fake.tasks(handle)[2]
    fake.remove_task(victim["task_id"])
    sync(fake_server, fake, pg_url, handle)
    fake.add_task(handle, **victim)
    result = sync(fake_server, fake, pg_url, handle)
    assert result.agents[0].restored == 0  # it was never deleted
    assert marks(pg_engine, handle)[victim["task_id"]] == (None, None)
    fake.remove_task(victim["task_id"])  # the count starts again: one absence deletes nothing
    assert sync(fake_server, fake, pg_url, handle).agents[0].deleted == 0


def test_guard_keeps_an_agent_whose_list_came_back_empty(
    fake, fake_server, pg_url, pg_engine, handle, caplog
):
    sync(fake_server, fake, pg_url, handle)
    stored = len(marks(pg_engine, handle))
    for task in fake.tasks(handle):  # the API now answers count: 0, data: []
        fake.remove_task(task["task_id"])
    sync(fake_server, fake, pg_url, handle)
    result = sync(fake_server, fake, pg_url, handle)
    agent = result.agents[0]
    assert agent.outcome == "ok" and agent.deleted == 0 and agent.deletes_held == stored
    assert all(deleted_at is None for _, deleted_at in marks(pg_engine, handle).values())
    assert "deleting none" in caplog.text


def test_guard_can_be_loosened(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    gone = [t["task_id"] for t in fake.tasks(handle)[:10]]  # a third of 30: above 0.2
    for task_id in gone:
        fake.remove_task(task_id)
    sync(fake_server, fake, pg_url, handle)
    assert sync(fake_server, fake, pg_url, handle).agents[0].deletes_held == len(gone)
    result = sync(fake_server, fake, pg_url, handle, max_delete_fraction=0.5)
    assert result.agents[0].deleted == len(gone)
    deleted = {k for k, (_, d) in marks(pg_engine, handle).items() if d is not None}
    assert deleted == set(gone)


def test_failed_walk_touches_nothing(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = fake.tasks(handle)[0]["task_id"]
    fake.remove_task(victim)
    sync(fake_server, fake, pg_url, handle)  # first absence: missing_since
    before = marks(pg_engine, handle)
    fake.faults.inject("wrong_shape", agent=handle, page=2)  # every walk fails on page 2
    result = sync(fake_server, fake, pg_url, handle)
    assert result.agents[0].outcome == "failed" and result.agents[0].deleted == 0
    assert marks(pg_engine, handle) == before


def test_views_leave_deleted_tasks_out(fake, fake_server, pg_url, pg_engine, handle):
    sync(fake_server, fake, pg_url, handle)
    victim = with_call(fake, handle)
    fake.remove_task(victim["task_id"])
    sync(fake_server, fake, pg_url, handle)
    with pg_engine.connect() as conn:  # missing once: still counted
        assert conn.execute(text("SELECT sum(tasks_total) FROM agent_daily")).scalar() == 30
    sync(fake_server, fake, pg_url, handle)
    with pg_engine.connect() as conn:
        facts = conn.execute(text("SELECT task_id FROM call_facts")).scalars().all()
        stuck = conn.execute(text("SELECT task_id FROM stuck_tasks")).scalars().all()
        daily = conn.execute(text("SELECT sum(tasks_total), sum(calls) FROM agent_daily")).one()
        live_calls = conn.execute(
            text(
                "SELECT count(*) FROM calls c JOIN tasks t ON t.task_id = c.task_id "
                "WHERE t.deleted_at IS NULL"
            )
        ).scalar()
    assert facts and victim["task_id"] not in facts
    assert victim["task_id"] not in stuck
    assert daily[0] == 29 and daily[1] == live_calls


def test_deletion_on_sqlite(fake, fake_server, sqlite_url, handle):
    sync(fake_server, fake, sqlite_url, handle)
    victim = fake.tasks(handle)[4]["task_id"]
    fake.remove_task(victim)
    sync(fake_server, fake, sqlite_url, handle)
    assert sync(fake_server, fake, sqlite_url, handle).agents[0].deleted == 1
    engine = make_engine(sqlite_url)
    try:
        assert marks(engine, handle)[victim][1] is not None
        with engine.connect() as conn:
            total = conn.execute(text("SELECT sum(tasks_total) FROM agent_daily")).scalar()
            facts = conn.execute(text("SELECT task_id FROM call_facts")).scalars().all()
        assert total == 29 and victim not in facts
    finally:
        engine.dispose()


def test_max_delete_fraction_must_be_a_fraction():
    with pytest.raises(ConfigError, match="max_delete_fraction"):
        SyncConfig("http://x", "t", "o", "sqlite://", max_delete_fraction=1.5)

"""The adaptive walk (issue 14) under the conditions of a real night: head inserts during a
walk, deletions and the count, a run killed half-way, workers and shards. Clock frozen,
ages set relative to it (walk_fixtures.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.helpers import actual_rows, assert_consistent, expected_rows
from tests.pipeline.walk_fixtures import (
    OLD,
    OLD_TASKS,
    add_at,
    agent_rows,
    at,
    config,
    is_current,
    run,
    run_all,
    task_marks,
)
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.pipeline.sync import SyncRunner

# -- 4. head inserts during a shallow walk ---------------------------------------------


def test_head_inserts_during_a_shallow_walk_neither_end_it_early_nor_skip(
    listed, clock, any_url, any_engine
):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, any_url, handle)
    at(clock, timedelta(hours=1))
    before = [str(t["task_id"]) for t in fake.tasks(handle)]
    changed = before[9]  # page 3 when the walk starts
    fake.move_status(changed, "failed")
    read: list[str] = []
    inserted: list[str] = []

    def between_pages(_result: AgentResult, page: Any) -> None:
        read.extend(str(doc.task_id) for doc in page.tasks)
        if page.number in (1, 2):  # two new tasks at the head before pages 2 and 3
            inserted.extend(str(fake.add_task(handle)["task_id"]) for _ in range(2))

    runner = SyncRunner(config(fake, server, any_url, agents=(handle,)))
    runner.on_page = between_pages
    try:
        (agent,) = runner.run().agents
    finally:
        runner.engine.dispose()
    # Pages 2 and 3 held only two fresh (settled) tasks each, the rest already read: half a
    # page each, so the walk went on. Page 4 brought the changed task (pushed down from page
    # 3), pages 5 and 6 the two settled pages' worth below it: 20 of the tasks that were there.
    assert agent.walk == "shallow" and agent.pages_walked == 6 and agent.deepest_change_page == 4
    # None skipped: what the walk read is the head of the list as it was when it started.
    assert read == before[:20]
    assert all(is_current(fake, any_engine, task_id) for task_id in read)
    assert not any(is_current(fake, any_engine, task_id) for task_id in inserted)
    at(clock, timedelta(hours=2))
    following = run(fake, server, any_url, handle)
    assert following.walk == "shallow" and following.inserted == 4
    assert all(is_current(fake, any_engine, task_id) for task_id in inserted)


# -- 5. full-walk reasons, deletions ------------------------------------------------------


def test_an_auto_walk_that_reaches_the_end_is_full(clock, sqlite_url):  # type: ignore[no-untyped-def]
    fake = FakeUnpod(agents=1, tasks_per_agent=5, seed=5, unpublished_agents=0, newest=OLD)
    handle = fake.published_handles()[0]
    add_at(fake, handle, timedelta(hours=1))  # page 1 young, page 2 (2 tasks) the end
    with FakeServer(fake) as server:
        assert run(fake, server, sqlite_url, handle).full_walk_reason == "never"
        at(clock, timedelta(hours=1))
        agent = run(fake, server, sqlite_url, handle)
    assert (agent.walk, agent.full_walk_reason, agent.walk_complete) == ("full", "end", True)
    assert agent.pages_walked == 2


def test_deletions_wait_for_two_complete_full_walks(listed, clock, any_url, any_engine):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, any_url, handle)
    victim = str(fake.tasks(handle)[20]["task_id"])  # page 6
    at(clock, timedelta(hours=1))
    fake.remove_task(victim)
    fake.add_task(handle)  # the count stays as stored, give or take the new task
    shallow = run(fake, server, any_url, handle)
    assert shallow.walk == "shallow" and shallow.walk_complete is False
    assert task_marks(any_engine, victim) == (None, None)  # a shallow walk marks nothing

    at(clock, timedelta(hours=2))
    first = run(fake, server, any_url, handle, walk="full")
    assert first.walk_complete is True and first.deleted == 0
    missing, deleted = task_marks(any_engine, victim)
    assert missing is not None and deleted is None

    at(clock, timedelta(hours=3))
    between = run(fake, server, any_url, handle)  # agrees with the last full walk's count
    assert between.walk == "shallow" and task_marks(any_engine, victim) == (missing, None)

    at(clock, timedelta(hours=4))
    second = run(fake, server, any_url, handle, walk="full")
    assert second.deleted == 1 and task_marks(any_engine, victim)[1] is not None
    at(clock, timedelta(hours=5))
    assert run(fake, server, any_url, handle).walk == "shallow"  # the deletion is no surprise


def test_a_task_gone_below_makes_the_walk_full(listed, clock, sqlite_url):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, sqlite_url, handle)
    at(clock, timedelta(hours=1))
    fake.remove_task(str(fake.tasks(handle)[-1]["task_id"]))  # the last page
    agent = run(fake, server, sqlite_url, handle)
    assert (agent.walk, agent.full_walk_reason, agent.walk_complete) == ("full", "count", True)
    assert (agent.api_count, agent.stored_tasks, agent.pages_walked) == (25, 26, 7)


def test_a_task_reassigned_deep_down_makes_both_walks_full(clock, any_url, any_engine):  # type: ignore[no-untyped-def]
    fake = FakeUnpod(agents=2, tasks_per_agent=OLD_TASKS, seed=5, unpublished_agents=0, newest=OLD)
    handles = fake.published_handles()
    with FakeServer(fake) as server:
        run_all(fake, server, any_url)
        mover = str(fake.tasks(handles[0])[20]["task_id"])  # page 6 of 6
        at(clock, timedelta(hours=1))
        fake.reassign_task(mover, handles[1])  # ten days old: it lands deep in the other list
        agents = {a.handle: a for a in run_all(fake, server, any_url).agents}
    # One count fell, the other rose by a task not new at the head: both walk to the end.
    assert {(a.walk, a.full_walk_reason, a.walk_complete) for a in agents.values()} == {
        ("full", "count", True)
    }
    assert agents[handles[1]].reassigned == 1
    assert actual_rows(any_engine) == expected_rows(fake, handles)


def test_an_auto_walk_that_fails_on_the_way_is_not_full(listed, clock, any_url, any_engine):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, any_url, handle)
    at(clock, timedelta(hours=1))
    fake.faults.inject("206", agent=handle, page=2)  # the agent fails after page 1
    runner = SyncRunner(config(fake, server, any_url, agents=(handle,)))
    try:
        (agent,) = runner.run().agents
    finally:
        runner.engine.dispose()
    assert agent.outcome == "failed"
    # It did not reach the end: no "end" reason, not full, not complete.
    assert (agent.walk, agent.full_walk_reason, agent.walk_complete) == ("shallow", None, False)
    row = agent_rows(any_engine, handle)[-1]
    assert (row["walk"], row["full_walk_reason"], row["pages_walked"]) == ("shallow", None, 1)


# -- 6. a run killed half-way; workers and shards ---------------------------------------


def killed_after_page(fake: FakeUnpod, server: FakeServer, url: str, handle: str, n: int) -> None:
    """A run that dies (as from a kill) once it has written `n` pages."""

    def die(_result: AgentResult, page: Any) -> None:
        if page.number == n:
            raise KeyboardInterrupt

    runner = SyncRunner(config(fake, server, url, agents=(handle,)))
    runner.on_page = die
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run()
    finally:
        runner.engine.dispose()


def test_a_run_killed_half_way_is_no_full_walk(listed, clock, any_url, any_engine):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    killed_after_page(fake, server, any_url, handle, 4)
    at(clock, timedelta(hours=1))
    again = run(fake, server, any_url, handle)
    assert (again.walk, again.full_walk_reason, again.walk_complete) == ("full", "never", True)

    at(clock, timedelta(hours=22))  # due: killed half-way again
    killed_after_page(fake, server, any_url, handle, 4)
    at(clock, timedelta(hours=23))
    due = run(fake, server, any_url, handle)
    assert (due.walk, due.full_walk_reason, due.walk_complete) == ("full", "due", True)
    rows = agent_rows(any_engine, handle)
    assert [row["walk_complete"] for row in rows] == [None, True, None, True]
    at(clock, timedelta(hours=24))
    assert run(fake, server, any_url, handle).walk == "shallow"


@pytest.mark.parametrize("split", ["workers", "shards"])
def test_workers_and_shards_write_the_same_warehouse_in_both_modes(clock, pg_url, pg_engine, split):  # type: ignore[no-untyped-def]
    fake = FakeUnpod(agents=6, tasks_per_agent=12, seed=3, unpublished_agents=0, newest=OLD)
    handles = fake.published_handles()
    heads = {handle: add_at(fake, handle, timedelta(hours=1)) for handle in handles}

    def sync_all(server: FakeServer, **kw: Any) -> list[AgentResult]:
        if split == "workers":
            return run_all(fake, server, pg_url, workers=2, **kw).agents
        return [
            a for k in range(3) for a in run_all(fake, server, pg_url, shard=(k, 3), **kw).agents
        ]

    with FakeServer(fake) as server:
        first = sync_all(server)
        assert sorted(a.handle for a in first) == sorted(handles)
        assert {(a.walk, a.full_walk_reason) for a in first} == {("full", "never")}
        assert actual_rows(pg_engine) == expected_rows(fake, handles)
        at(clock, timedelta(hours=1))
        deep = []
        for handle in handles:  # at the head of each agent, and one deep down
            fake.complete_without_marker(heads[handle])
            fake.add_task(handle)
            deep.append(str(fake.tasks(handle)[-1]["task_id"]))
            fake.move_status(deep[-1], "failed")
        shallow = sync_all(server)
        assert {a.walk for a in shallow} == {"shallow"}
        assert sum(a.inserted for a in shallow) == 6 and sum(a.updated for a in shallow) == 6
        assert not any(is_current(fake, pg_engine, task_id) for task_id in deep)
        at(clock, timedelta(hours=2))
        full = sync_all(server, walk="full")
    assert {(a.walk, a.full_walk_reason, a.walk_complete) for a in full} == {
        ("full", "requested", True)
    }
    assert actual_rows(pg_engine) == expected_rows(fake, handles)
    assert_consistent(pg_engine)

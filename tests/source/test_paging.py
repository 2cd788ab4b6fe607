"""Paging never trusts one signal alone: real syncs against a fake that pages the way other
servers, proxies and upgrades do (ignores page_size, miscounts, repeats a page). Each case
loads exactly the source, or fails or flags the agent with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import actual_rows, expected_rows, sync_in_process
from unpod_etl.cli.render import run_summary
from unpod_etl.core.errors import ApiError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.source.paging import PageWalk
from unpod_etl.source.rawjson import TaskDoc
from unpod_etl.source.walk import WalkReport
from unpod_etl.warehouse.schema import sync_agent_results, tasks


def serve(tasks: int) -> Iterator[tuple[FakeUnpod, FakeServer, str]]:
    fake = FakeUnpod(agents=1, tasks_per_agent=tasks, seed=11, unpublished_agents=0)
    with FakeServer(fake) as server:
        yield fake, server, fake.published_handles()[0]


@pytest.fixture
def f45() -> Iterator[tuple[FakeUnpod, FakeServer, str]]:
    yield from serve(45)


@pytest.fixture
def f30() -> Iterator[tuple[FakeUnpod, FakeServer, str]]:
    yield from serve(30)


def loads_the_source(engine: Engine, fake: FakeUnpod, handle: str) -> None:
    want, got = expected_rows(fake, [handle]), actual_rows(engine)
    assert got["fingerprints"] == want["fingerprints"]
    assert got["call_lines"] == want["call_lines"]


def stored_result(engine: Engine, run: RunResult) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            select(sync_agent_results).where(sync_agent_results.c.run_id == run.run_id)
        ).one()
    return dict(row._mapping)


def task_requests(fake: FakeUnpod) -> list[tuple[str, str]]:
    return [
        (r.query.get("page", ""), r.query.get("page_size", ""))
        for r in fake.access.requests
        if r.path.endswith("/tasks/")
    ]


@pytest.mark.parametrize("asked", [100, 7])
def test_a_server_that_ignores_page_size_is_walked_to_the_end(f45, pg_url, pg_engine, asked):
    fake, server, handle = f45
    fault = fake.faults.inject("ignore_page_size", agent=handle, serve=20)
    run = sync_in_process(server, fake, pg_url, page_size=asked)
    agent = run.agents[0]
    assert run.exit_code == 0 and agent.outcome == "ok" and agent.seen == 45
    loads_the_source(pg_engine, fake, handle)
    assert agent.walk_complete is True and agent.count_mismatch is False
    # pages of the server's own size, numbered by it: 20 + 20 + 5
    assert task_requests(fake) == [("1", str(asked)), ("2", "20"), ("3", "20")]
    assert fault.fired == 3
    row = stored_result(pg_engine, run)
    assert row["walk_complete"] is True and row["count_mismatch"] is False


@pytest.mark.parametrize("page_size", [7, 5])  # 5: half the count is a whole number of pages
def test_a_count_at_half_loads_everything_and_flags_the_mismatch(f30, pg_url, pg_engine, page_size):
    fake, server, handle = f30
    fake.faults.inject("wrong_count", agent=handle, factor=0.5)
    run = sync_in_process(server, fake, pg_url, page_size=page_size)
    agent = run.agents[0]
    assert agent.outcome == "ok" and agent.seen == 30 and run.exit_code == 0
    loads_the_source(pg_engine, fake, handle)
    assert agent.count_mismatch is True and agent.walk_complete is False
    row = stored_result(pg_engine, run)
    assert row["count_mismatch"] is True and row["walk_complete"] is False
    summary = run_summary(run)
    assert "30 distinct tasks seen but the server counts 15: count mismatch" in summary


def test_a_count_at_double_ends_on_the_short_page_and_flags_the_mismatch(f30, pg_url, pg_engine):
    fake, server, handle = f30
    fake.faults.inject("wrong_count", agent=handle, factor=2)
    run = sync_in_process(server, fake, pg_url, page_size=7)
    agent = run.agents[0]
    assert agent.outcome == "ok" and agent.seen == 30
    loads_the_source(pg_engine, fake, handle)
    assert agent.count_mismatch is True and agent.walk_complete is False
    assert len(task_requests(fake)) == 5  # 7+7+7+7+2: the short page ends it, not the count
    assert "server counts 60" in run_summary(run)


def test_a_count_at_double_with_everything_on_page_one(f30, pg_url, pg_engine):
    """30 of 100 asked while count says 60: maybe the server serves 30 a page; page 2 says."""
    fake, server, handle = f30
    fake.faults.inject("wrong_count", agent=handle, factor=2)
    run = sync_in_process(server, fake, pg_url, page_size=100)
    loads_the_source(pg_engine, fake, handle)
    assert run.agents[0].count_mismatch is True
    assert task_requests(fake) == [("1", "100"), ("2", "30")]


def test_a_server_answering_page_one_for_every_page_fails_the_agent(f30, pg_url, pg_engine):
    fake, server, handle = f30
    fault = fake.faults.inject("repeat_page", agent=handle)
    run = sync_in_process(server, fake, pg_url, page_size=7)
    agent = run.agents[0]
    assert run.exit_code == 1 and agent.outcome == "failed"
    assert agent.error is not None
    assert "same 7 tasks in the same order as page 1" in agent.error
    assert "not paging" in agent.error
    assert task_requests(fake) == [("1", "7"), ("2", "7"), ("2", "7")]  # retried once
    assert fault.fired == 3
    assert agent.walk_complete is False
    assert stored_result(pg_engine, run)["walk_complete"] is False


def test_a_repeat_that_goes_away_on_the_retry_is_forgiven(f30, pg_url, pg_engine):
    fake, server, handle = f30
    fake.faults.inject("repeat_page", agent=handle, page=3, times=1)
    run = sync_in_process(server, fake, pg_url, page_size=7)
    assert run.agents[0].outcome == "ok" and run.agents[0].walk_complete is True
    loads_the_source(pg_engine, fake, handle)


def test_an_exactly_full_last_page_is_confirmed_by_an_empty_page(pg_url, pg_engine):
    for fake, server, handle in serve(40):
        run = sync_in_process(server, fake, pg_url, page_size=20)
        assert run.agents[0].walk_complete is True and run.agents[0].seen == 40
        loads_the_source(pg_engine, fake, handle)
        # `count` alone is never the stop (it may be off by a whole page): one empty page
        assert task_requests(fake) == [("1", "20"), ("2", "20"), ("3", "20")]


def test_an_honest_walk_is_complete_and_says_so(f30, pg_url, pg_engine):
    fake, server, handle = f30
    run = sync_in_process(server, fake, pg_url, page_size=7)
    agent = run.agents[0]
    assert agent.walk_complete is True and agent.shifts == 0 and not agent.count_mismatch
    row = stored_result(pg_engine, run)
    assert (row["walk_complete"], row["shifts"], row["count_mismatch"]) == (True, 0, False)


# -- the walk alone, without HTTP -----------------------------------------------------------


def docs(ids: range) -> list[TaskDoc]:
    return [TaskDoc(f"T{i}", None, {"task_id": f"T{i}"}) for i in ids]


def test_a_server_that_never_ends_is_cut_off_incomplete():
    def endless(page: int, size: int) -> dict[str, Any]:
        return {"count": 10, "data": docs(range((page - 1) * size, page * size))}

    walk = WalkReport()
    pages = list(PageWalk(endless, "agent 'x'", 5, 1, walk).pages())
    assert len(pages) == 9  # 2 x count + 5 pages of 5: 45 tasks, then it stops
    assert walk.complete is False and walk.ended_by == "past the announced count"
    assert "far past its count" in " ".join(walk.problems())


def test_a_page_longer_than_the_served_size_fails():
    def growing(page: int, size: int) -> dict[str, Any]:
        return {"count": 100, "data": docs(range(page * 100, page * 100 + 10 * page))}

    with pytest.raises(ApiError, match="20 tasks on a page after 10 per page"):
        list(PageWalk(growing, "agent 'x'", 10, 1, WalkReport()).pages())


def test_a_full_page_of_new_tasks_between_two_pages_is_a_shift_not_a_stuck_server(
    f30, pg_url, pg_engine
):
    # Five tasks created right after page 1 was read push page 1's tasks onto page 2, which
    # then repeats page 1 exactly. The count grew by that page: the list moved, the server
    # is paging. Every task there at the start is loaded; the new ones come with the next run.
    fake, server, handle = f30
    before = {str(t["task_id"]) for t in fake.tasks(handle)}
    added: list[str] = []

    def after_page(_result: Any, page: Any) -> None:
        if page.number == 1 and not added:
            added.extend(str(fake.add_task(handle)["task_id"]) for _ in range(5))

    config = SyncConfig(
        server.url, fake.token, fake.org, pg_url, agents=(handle,), page_size=5, walk="full"
    )
    runner = SyncRunner(config, engine=pg_engine)
    runner.on_page = after_page
    run = runner.run()
    (agent,) = run.agents
    assert agent.outcome == "ok", agent.error
    assert agent.shifts >= 1
    with pg_engine.connect() as conn:
        stored = set(conn.execute(select(tasks.c.task_id)).scalars())
    assert before <= stored and len(added) == 5
    again = sync_in_process(server, fake, pg_url, page_size=5, agents=(handle,))
    assert again.agents[0].inserted == 5
    loads_the_source(pg_engine, fake, handle)

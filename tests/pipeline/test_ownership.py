"""One owner per task: a task listed under two agents is written once, by its owner (the agent
its assignee names, else the first that listed it), counted duplicate_listing on the other, and
not rewritten by later runs unless it changed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import assert_consistent, cli_env, run_sync_cli
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.ownership import TaskOwners, assigned_owner, first_lister
from unpod_etl.pipeline.results import AgentResult, RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.schema import sync_agent_results, tasks


@pytest.fixture
def two_listers():  # type: ignore[no-untyped-def]
    fake = FakeUnpod(agents=3, tasks_per_agent=10, seed=11, unpublished_agents=0)
    with FakeServer(fake) as server:
        yield fake, server


def sync(fake: FakeUnpod, server: FakeServer, url: str, workers: int = 1) -> RunResult:
    config = SyncConfig(server.url, fake.token, fake.org, url, page_size=4, workers=workers)
    result = SyncRunner(config).run()
    assert result.outcome == "ok", [(a.handle, a.error) for a in result.agents]
    return result


def stored_row(engine: Engine, task_id: str) -> tuple[Any, Any]:
    query = select(tasks.c.agent_handle, tasks.c.last_sync_run_id)
    with engine.connect() as conn:
        row = conn.execute(query.where(tasks.c.task_id == task_id)).one()
    return row[0], row[1]


def recorded_duplicates(engine: Engine, run_id: int | None) -> dict[str, int]:
    query = select(sync_agent_results.c.agent_handle, sync_agent_results.c.duplicate_listing)
    with engine.connect() as conn:
        rows = conn.execute(query.where(sync_agent_results.c.run_id == run_id)).all()
    return {row[0]: row[1] for row in rows}


def by_handle(result: RunResult) -> dict[str, AgentResult]:
    return {a.handle: a for a in result.agents}


def assert_stable(fake, server, url, engine, task_id, owner, other, first_run, workers):  # type: ignore[no-untyped-def]
    """Later runs rewrite nothing, and the row stays the owner's."""
    for _ in range(2):
        again = sync(fake, server, url, workers)
        assert (again.total("inserted"), again.total("updated")) == (0, 0)
        assert by_handle(again)[other].duplicate_listing == 1
        assert by_handle(again)[owner].duplicate_listing == 0
        assert stored_row(engine, task_id) == (owner, first_run)


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("owner_first", [True, False])
def test_the_assignee_owns_a_task_listed_twice(  # type: ignore[no-untyped-def]
    two_listers, pg_url, pg_engine, workers, owner_first
):
    fake, server = two_listers
    first, second, third = fake.published_handles()
    owner, other = (first, second) if owner_first else (second, first)
    task_id = fake.tasks(owner)[3]["task_id"]
    fake.list_also(task_id, other)  # its assignee still names the owner

    run = sync(fake, server, pg_url, workers)
    agents = by_handle(run)
    assert stored_row(pg_engine, task_id) == (owner, run.run_id)
    assert agents[other].duplicate_listing == 1 and agents[owner].duplicate_listing == 0
    assert agents[other].seen == fake.count(other)
    assert agents[other].inserted == fake.count(other) - 1
    assert recorded_duplicates(pg_engine, run.run_id) == {owner: 0, other: 1, third: 0}
    assert_stable(fake, server, pg_url, pg_engine, task_id, owner, other, run.run_id, workers)
    assert_consistent(pg_engine)


@pytest.mark.parametrize("assignee", ["", "an-agent-of-another-org"])
def test_the_first_lister_owns_it_when_the_assignee_names_neither(  # type: ignore[no-untyped-def]
    two_listers, pg_url, pg_engine, assignee
):
    fake, server = two_listers
    first, second, _ = fake.published_handles()
    task_id = fake.tasks(second)[2]["task_id"]
    fake.list_also(task_id, first, assignee=assignee)

    run = sync(fake, server, pg_url)  # one worker: the agents go in listing order
    assert stored_row(pg_engine, task_id) == (first, run.run_id)
    assert by_handle(run)[second].duplicate_listing == 1
    assert by_handle(run)[first].duplicate_listing == 0
    assert_stable(fake, server, pg_url, pg_engine, task_id, first, second, run.run_id, 1)


def test_concurrent_first_listers_write_it_once(two_listers, pg_url, pg_engine):  # type: ignore[no-untyped-def]
    fake, server = two_listers
    first, second, _ = fake.published_handles()
    task_id = fake.tasks(first)[0]["task_id"]
    fake.list_also(task_id, second, assignee="")

    run = sync(fake, server, pg_url, workers=4)
    owner, written_by = stored_row(pg_engine, task_id)
    other = second if owner == first else first
    assert written_by == run.run_id
    assert by_handle(run)[other].duplicate_listing == 1
    assert by_handle(run)[owner].duplicate_listing == 0
    assert run.total("inserted") == sum(fake.count(h) for h in fake.published_handles()) - 1
    assert_stable(fake, server, pg_url, pg_engine, task_id, owner, other, run.run_id, 4)


def test_a_change_is_written_once_by_the_owner(two_listers, pg_url, pg_engine):  # type: ignore[no-untyped-def]
    fake, server = two_listers
    first, second, _ = fake.published_handles()
    task_id = fake.tasks(first)[5]["task_id"]
    fake.list_also(task_id, second)
    sync(fake, server, pg_url)

    fake.move_status(task_id, "failed")  # shows under both agents: the same document
    changed = sync(fake, server, pg_url)
    agents = by_handle(changed)
    assert (agents[first].moved, agents[second].moved) == (1, 0)
    assert agents[second].duplicate_listing == 1
    assert stored_row(pg_engine, task_id) == (first, changed.run_id)
    with pg_engine.connect() as conn:
        status = conn.execute(select(tasks.c.status).where(tasks.c.task_id == task_id)).scalar()
    assert status == "failed"


def test_the_ownership_rules_themselves() -> None:
    agents = {"a", "b"}
    assert assigned_owner("a", "a", agents) == "a"
    assert assigned_owner("a", " b ", agents) == "b"  # another agent of the run owns it
    assert assigned_owner("a", "zed", agents) is None  # names neither
    assert assigned_owner("a", None, agents) is None and assigned_owner("a", 7, agents) is None
    assert first_lister("b", lambda: "a") == "b"  # stored: the first that ever listed it
    book = TaskOwners(agents)
    assert first_lister(None, lambda: book.claim("T1", "b")) == "b"
    assert first_lister(None, lambda: book.claim("T1", "a")) == "b"  # one claim wins


def test_the_summary_and_status_show_the_duplicate_listing(two_listers, pg_url):  # type: ignore[no-untyped-def]
    fake, server = two_listers
    first, second, _ = fake.published_handles()
    fake.list_also(fake.tasks(first)[1]["task_id"], second)
    proc = run_sync_cli(server.url, fake, pg_url)
    assert proc.returncode == 0, proc.stderr
    assert f"{second}: 1 listed tasks owned by another agent" in proc.stdout
    status = subprocess.run(
        [sys.executable, "-m", "unpod_etl", "status", "--database-url", pg_url],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert status.returncode == 0 and "duplicate_listing" in status.stdout


def test_the_fake_lists_one_document_under_two_agents() -> None:
    fake = FakeUnpod(agents=2, tasks_per_agent=6, seed=5, unpublished_agents=0)
    owner, other = fake.all_handles()
    task_id = fake.tasks(owner)[2]["task_id"]
    fake.list_also(task_id, other, assignee="")
    listed = fake.tasks(other)
    assert len(listed) == 7 and fake.count(other) == 7
    created = [doc["created"] for doc in listed]
    assert created == sorted(created, reverse=True)  # in its place, newest first
    fake.move_status(task_id, "hold")
    assert next(d for d in fake.tasks(other) if d["task_id"] == task_id)["status"] == "hold"
    assert fake.task(task_id)["assignee"] == ""
    with pytest.raises(ValueError, match="already lists"):
        fake.list_also(task_id, owner)
    fake.remove_task(task_id)
    assert (fake.count(owner), fake.count(other)) == (5, 6)

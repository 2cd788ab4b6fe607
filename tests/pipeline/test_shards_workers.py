"""N shards together write exactly what one run writes; workers do not change the result."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import actual_rows, assert_consistent, expected_rows
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner, shard_of
from unpod_etl.warehouse.schema import tasks


@pytest.fixture
def many_agents():  # type: ignore[no-untyped-def]
    fake = FakeUnpod(agents=9, tasks_per_agent=12, seed=3, unpublished_agents=0)
    with FakeServer(fake) as server:
        yield fake, server


def config(fake, server, url, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("walk", "full")  # the adaptive walk's own worker tests: test_adaptive_walk*
    return SyncConfig(server.url, fake.token, fake.org, url, page_size=5, **kw)


def test_shards_together_equal_one_run(many_agents, pg_url, pg_engine):
    fake, server = many_agents
    n = 3
    owners = {h: shard_of(h, n) for h in fake.published_handles()}
    assert len(set(owners.values())) > 1, "the handles should spread over the shards"
    for k in range(n):
        result = SyncRunner(config(fake, server, pg_url, shard=(k, n))).run()
        assert result.outcome == "ok"
        assert sorted(a.handle for a in result.agents) == sorted(
            h for h, owner in owners.items() if owner == k
        )
    assert actual_rows(pg_engine) == expected_rows(fake, fake.published_handles())
    assert_consistent(pg_engine)


@pytest.mark.parametrize("workers", [1, 4])
def test_workers_write_the_same_warehouse(many_agents, pg_url, pg_engine, workers):
    fake, server = many_agents
    result = SyncRunner(config(fake, server, pg_url, workers=workers)).run()
    assert result.outcome == "ok" and len(result.agents) == 9
    assert actual_rows(pg_engine) == expected_rows(fake, fake.published_handles())
    again = SyncRunner(config(fake, server, pg_url, workers=workers)).run()
    assert again.total("unchanged") == again.total("seen") == result.total("inserted")
    with pg_engine.connect() as conn:
        runs = set(conn.execute(select(tasks.c.last_sync_run_id)).scalars())
    assert runs == {result.run_id}


def test_shard_assignment_is_stable():
    assert shard_of("sales-agent", 4) == shard_of("sales-agent", 4)
    assert {shard_of(f"agent-{i}", 4) for i in range(40)} == {0, 1, 2, 3}


def test_bad_shard_is_a_usage_error():
    from unpod_etl.core.errors import ConfigError

    with pytest.raises(ConfigError):
        SyncConfig("http://x", "t", "o", "sqlite://", shard=(3, 3))


def test_refused_token_stops_the_queued_agents_too(many_agents, pg_url):
    fake, server = many_agents
    fake.faults.inject("401", route="tasks", after=1)  # the token is revoked after the first page
    result = SyncRunner(config(fake, server, pg_url, workers=2)).run()
    assert result.outcome == "aborted" and result.exit_code == 3
    task_requests = [r for r in fake.access.requests if r.path.endswith("/tasks/")]
    # 9 agents, 2 workers: once one worker hit the 401, queued agents never ask the API
    assert len(task_requests) <= 4, [r.path for r in task_requests]

"""The client and the sync under API and network faults, end to end against PostgreSQL.

Transient faults (429, 5xx, slow answers, dropped connections) must be retried away;
a page that stays broken fails only its agent, naming the agent and the page; a refused
token aborts the run without leaking the token. Faults come from `FakeUnpod.inject`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import sync_in_process
from unpod_etl.core.errors import AuthError, EtlError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import AgentResult, RunResult
from unpod_etl.source.client import UnpodClient
from unpod_etl.source.retrying import RetryPolicy
from unpod_etl.warehouse.schema import rejected_records, sync_agent_results, sync_runs, tasks

# Fast enough for tests, still four attempts: three faults in a row are survivable.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.2, total_seconds=5)
CLIENT_TIMEOUT = 0.5  # seconds; "slow" faults sleep longer than this
PAGE_SIZE = 10  # the `fake` fixture has 30 tasks an agent: three pages each


def make_client(
    server: FakeServer, fake: FakeUnpod, retry: RetryPolicy = FAST_RETRY, **options: Any
) -> UnpodClient:
    options.setdefault("timeout", CLIENT_TIMEOUT)
    return UnpodClient(server.url, fake.token, fake.org, retry=retry, **options)


def run_sync(
    server: FakeServer,
    fake: FakeUnpod,
    pg_url: str,
    engine: Engine,
    page_size: int = PAGE_SIZE,
    retry: RetryPolicy = FAST_RETRY,
) -> RunResult:
    client = make_client(server, fake, retry)  # fast retries: the faults tests wait for nothing
    return sync_in_process(server, fake, pg_url, page_size=page_size, engine=engine, client=client)


def stored_task_ids(engine: Engine, handle: str | None = None) -> list[str]:
    query = select(tasks.c.task_id)
    if handle is not None:
        query = query.where(tasks.c.agent_handle == handle)
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def source_ids(fake: FakeUnpod, handles: list[str]) -> list[str]:
    return sorted(t["task_id"] for h in handles for t in fake.tasks(h))


def page_ids(fake: FakeUnpod, handle: str, page: int, size: int = PAGE_SIZE) -> set[str]:
    return {t["task_id"] for t in fake.tasks(handle)[(page - 1) * size : page * size]}


def requests_for(fake: FakeUnpod, handle: str, page: int) -> int:
    path = f"/api/v2/platform/agents/{handle}/tasks/"
    return sum(r.path == path and r.query.get("page") == str(page) for r in fake.access.requests)


def by_handle(result: RunResult) -> dict[str, AgentResult]:
    return {agent.handle: agent for agent in result.agents}


def assert_complete(result: RunResult, fake: FakeUnpod, engine: Engine) -> None:
    """The run succeeded and stored every task of every published agent, once."""
    handles = fake.published_handles()
    assert (result.outcome, result.exit_code, result.error) == ("ok", 0, None)
    assert sorted(by_handle(result)) == sorted(handles)
    assert all(a.outcome == "ok" and a.failed == 0 for a in result.agents)
    assert stored_task_ids(engine) == source_ids(fake, handles)
    assert result.total("inserted") == 30 * len(handles)


def run_row(engine: Engine, run_id: int | None) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(sync_runs).where(sync_runs.c.run_id == run_id)).one()


# -- transient faults: retried, the run completes ------------------------------------------


def page_request_times(fake: FakeUnpod, handle: str, page: int) -> list[float]:
    path = f"/api/v2/platform/agents/{handle}/tasks/"
    return [
        r.at for r in fake.access.requests if r.path == path and r.query.get("page") == str(page)
    ]


# Retry-After waits are capped by RetryPolicy.max_retry_after (max_wait caps only our own
# backoff). The backoff alone (initial 0.01 s) retries within hundredths of a second, so a
# longer gap between the refused request and its retry shows the hint was honoured.
HINT_CAP = replace(FAST_RETRY, max_retry_after=0.3)


@pytest.mark.parametrize(
    ("shape", "retry", "least", "most"),
    [
        pytest.param("seconds", FAST_RETRY, 0.9, 1.6, id="seconds-honoured"),
        pytest.param("http-date", HINT_CAP, 0.25, 1.0, id="http-date-capped"),
    ],
)
def test_429_with_retry_after_is_waited_out_and_the_sync_completes(
    fake: FakeUnpod,
    fake_server: FakeServer,
    pg_url: str,
    pg_engine: Engine,
    shape: str,
    retry: RetryPolicy,
    least: float,
    most: float,
) -> None:
    handle = fake.published_handles()[1]
    # The date is 3 s ahead (whole seconds on the wire): above the 0.3 s cap either way.
    hint: int | datetime = 1 if shape == "seconds" else datetime.now(UTC) + timedelta(seconds=3)
    limited = fake.faults.inject("429", agent=handle, page=2, times=1, retry_after=hint)
    result = run_sync(fake_server, fake, pg_url, pg_engine, retry=retry)
    assert_complete(result, fake, pg_engine)
    assert limited.fired == 1
    refused_at, retried_at = page_request_times(fake, handle, 2)  # exactly two requests
    assert least <= retried_at - refused_at < most


def test_429_retry_after_is_capped(fake: FakeUnpod, fake_server: FakeServer) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("429", agent=handle, page=2, times=2, retry_after=3)  # asks for 3 s, twice
    pages = list(make_client(fake_server, fake, HINT_CAP).iter_task_pages(handle, PAGE_SIZE))
    assert sum(len(p.tasks) for p in pages) == 30
    first, second, third = page_request_times(fake, handle, 2)
    assert 0.25 <= second - first < 1.0 and 0.25 <= third - second < 1.0


def test_server_errors_a_few_times_then_success(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    first, second, third = fake.published_handles()
    rules = [
        fake.faults.inject("5xx", agent=first, page=1, times=3, status=500),
        fake.faults.inject("5xx", agent=second, page=2, times=3, status=502),
        fake.faults.inject("5xx", agent=third, page=3, times=3, status=503),
        fake.faults.inject("5xx", agent=first, page=3, times=2, status=504),
    ]
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    assert_complete(result, fake, pg_engine)
    assert [rule.fired for rule in rules] == [3, 3, 3, 2]
    assert requests_for(fake, second, 2) == 4


def test_slow_answer_past_the_timeout_is_retried(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    handle = fake.published_handles()[0]
    slow = fake.faults.inject("slow", agent=handle, page=2, times=1, delay=1.5)
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    assert_complete(result, fake, pg_engine)
    assert slow.fired == 1
    assert requests_for(fake, handle, 2) == 2


def test_connection_closed_mid_body_is_retried(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    handle = fake.published_handles()[2]
    dropped = fake.faults.inject("disconnect", agent=handle, page=2, times=2)
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    assert_complete(result, fake, pg_engine)
    assert dropped.fired == 2
    assert requests_for(fake, handle, 2) == 3


# -- big pages time out: the client asks for smaller ones ----------------------------------


def test_persistent_504_on_large_pages_shrinks_the_page_size(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    fake.access.max_page_size = 10  # any bigger page gets a gateway timeout, every time
    result = run_sync(fake_server, fake, pg_url, pg_engine, page_size=50)
    assert_complete(result, fake, pg_engine)
    walked = [r.query["page_size"] for r in fake.access.requests if "page_size" in r.query]
    sizes = sorted({int(size) for size in walked}, reverse=True)
    # halved after each page that kept failing, until the server answered (at most 10)
    assert sizes[0] == 50 and 5 <= sizes[-1] <= 10 < sizes[-2]
    assert all(small in (big // 2, (big + 1) // 2) for big, small in pairwise(sizes))


def test_page_shrinking_mid_walk_loses_and_duplicates_nothing(
    fake: FakeUnpod, fake_server: FakeServer
) -> None:
    handle = fake.published_handles()[0]
    # Page 1 at size 20 works; page 2 at size 20 keeps timing out, smaller pages work.
    too_big = fake.faults.inject("5xx", agent=handle, page=2, larger_than=10, status=504)
    pages = list(make_client(fake_server, fake).iter_task_pages(handle, 20))
    walked = [t.task_id for p in pages for t in p.tasks]
    assert len(walked) == len(set(walked)) == 30
    assert walked == [t["task_id"] for t in fake.tasks(handle)]  # newest first, no gap
    assert too_big.fired == FAST_RETRY.attempts
    assert pages[0].page_size == 20 and pages[-1].page_size < 20


def test_timeouts_on_large_pages_shrink_the_page_size(
    fake: FakeUnpod, fake_server: FakeServer
) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("slow", agent=handle, larger_than=10, delay=1.0)
    two_tries = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05, total_seconds=5)
    client = make_client(fake_server, fake, retry=two_tries, timeout=0.3)
    pages = list(client.iter_task_pages(handle, 20))
    walked = [t.task_id for p in pages for t in p.tasks]
    assert walked == [t["task_id"] for t in fake.tasks(handle)]
    assert {p.page_size for p in pages} == {10}


# -- a page that stays broken: its agent fails, the others sync ----------------------------


@pytest.mark.parametrize("kind", ["truncated", "html200", "wrong_shape"])
def test_persistent_bad_page_fails_only_its_agent(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine, kind: str
) -> None:
    first, broken, third = fake.published_handles()
    fake.faults.inject(kind, agent=broken, page=2)
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    assert (result.outcome, result.exit_code) == ("partial", 1)
    agents = by_handle(result)
    assert (agents[first].outcome, agents[third].outcome) == ("ok", "ok")
    assert agents[broken].outcome == "failed"
    assert f"agent '{broken}' page 2" in (agents[broken].error or "")
    # the others are complete; the broken agent keeps page 1, written before the failure
    assert stored_task_ids(pg_engine, first) == source_ids(fake, [first])
    assert stored_task_ids(pg_engine, third) == source_ids(fake, [third])
    assert set(stored_task_ids(pg_engine, broken)) == page_ids(fake, broken, 1)
    with pg_engine.connect() as conn:
        row = conn.execute(
            select(sync_agent_results.c.outcome, sync_agent_results.c.error).where(
                sync_agent_results.c.run_id == result.run_id,
                sync_agent_results.c.agent_handle == broken,
            )
        ).one()
    assert row.outcome == "failed" and f"agent '{broken}' page 2" in row.error
    assert run_row(pg_engine, result.run_id).outcome == "partial"


def test_206_mid_run_fails_only_that_agent(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    first, refused, third = fake.published_handles()
    rule = fake.faults.inject("206", agent=refused, page=2, variant="fetch_failed")
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    assert (result.outcome, result.exit_code) == ("partial", 1)
    agents = by_handle(result)
    assert [agents[h].outcome for h in (first, refused, third)] == ["ok", "failed", "ok"]
    error = agents[refused].error or ""
    assert f"agent '{refused}' page 2" in error and "206" in error
    assert set(stored_task_ids(pg_engine, refused)) == page_ids(fake, refused, 1)
    assert stored_task_ids(pg_engine, third) == source_ids(fake, [third])
    assert rule.fired >= 1


def test_document_without_task_id_is_rejected_and_the_page_loads(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, pg_engine: Engine
) -> None:
    handle = fake.published_handles()[0]
    lost = fake.tasks(handle)[PAGE_SIZE + 3]  # page 2, fourth document
    stripped = fake.faults.inject("missing_task_id", agent=handle, page=2, index=3)
    result = run_sync(fake_server, fake, pg_url, pg_engine)
    agent = by_handle(result)[handle]
    assert agent.failed == 1
    assert stripped.details == [lost["task_id"]]
    expected = set(source_ids(fake, [handle])) - {lost["task_id"]}
    assert set(stored_task_ids(pg_engine, handle)) == expected  # the rest of page 2 loaded
    others = [a for a in result.agents if a.handle != handle]
    assert [a.outcome for a in others] == ["ok", "ok"]
    with pg_engine.connect() as conn:
        rows = conn.execute(select(rejected_records)).mappings().all()
    assert len(rows) == 1
    rejected = rows[0]
    assert rejected["agent_handle"] == handle
    assert rejected["task_id"] is None
    assert "task_id" in rejected["reason"]
    assert rejected["page"] == 2
    assert rejected["record_key"].startswith("sha256:")
    assert rejected["document"]["_id"] == lost["_id"]
    assert "task_id" not in rejected["document"]


# -- a refused token: the whole run stops ---------------------------------------------------


@pytest.fixture
def secret_fake() -> FakeUnpod:
    return FakeUnpod(
        agents=3, tasks_per_agent=30, seed=11, token="tok-9f2c61d0e4b8a7", unpublished_agents=0
    )


@pytest.fixture
def secret_server(secret_fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(secret_fake) as server:
        yield server


def test_401_mid_run_aborts_and_keeps_what_was_written(
    secret_fake: FakeUnpod,
    secret_server: FakeServer,
    pg_url: str,
    pg_engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = secret_fake
    first, revoked_on, _ = fake.published_handles()
    rule = fake.faults.inject("401", agent=revoked_on, page=2)
    with caplog.at_level(logging.DEBUG):
        result = run_sync(secret_server, fake, pg_url, pg_engine)
    assert (result.outcome, result.exit_code) == ("aborted", 3)
    assert rule.fired == 1
    error = result.error or ""
    assert "token" in error.lower() and "refused" in error.lower()
    assert fake.token not in error
    assert fake.token not in caplog.text
    stored = set(stored_task_ids(pg_engine))
    assert page_ids(fake, revoked_on, 1) <= stored  # written before the refusal
    assert stored <= set(source_ids(fake, fake.published_handles()))
    assert not page_ids(fake, revoked_on, 2) & stored
    row = run_row(pg_engine, result.run_id)
    assert row.outcome == "aborted"
    assert fake.token not in (row.error or "")


def test_client_raises_auth_error_without_the_token(
    secret_fake: FakeUnpod, secret_server: FakeServer
) -> None:
    handle = secret_fake.published_handles()[0]
    secret_fake.faults.inject("401", agent=handle, page=2)
    client = make_client(secret_server, secret_fake)
    walked: list[str] = []
    with pytest.raises(AuthError) as raised:
        for page in client.iter_task_pages(handle, PAGE_SIZE):
            walked.extend(t.task_id for t in page.tasks)
    assert len(walked) == PAGE_SIZE
    assert secret_fake.token not in str(raised.value)
    assert requests_for(secret_fake, handle, 2) == 1  # a refused token is not retried


@pytest.mark.parametrize(
    ("kind", "params", "said"),
    [
        ("disconnect", {}, "connection closed in the middle of the body"),
        ("slow", {"delay": 1.0}, "timed out"),
    ],
)
def test_a_page_that_keeps_failing_in_transit_says_how(
    fake: FakeUnpod, fake_server: FakeServer, kind: str, params: dict[str, Any], said: str
) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject(kind, agent=handle, page=1, **params)
    client = make_client(fake_server, fake, min_page_size=PAGE_SIZE)
    with pytest.raises(EtlError) as failed:
        list(client.iter_task_pages(handle, PAGE_SIZE))
    assert f"agent '{handle}' page 1: {said}" in str(failed.value)

"""Shared pieces of the adaptive-walk tests (test_adaptive_walk*.py): a frozen clock, lists
whose task ages the test controls, and one sync of one agent with the walk's settings.

The clock is frozen (time-machine) at T0 and only moved by the tests, and every task's
`created` is set relative to T0, so no test depends on today's date or the time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from sqlalchemy import Engine, select

from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.fakeapi.generator import iso_ms
from unpod_etl.normalize import normalize_task
from unpod_etl.pipeline.results import AgentResult, RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.schema import sync_agent_results, tasks

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NAIVE_T0 = T0.replace(tzinfo=None)
PAGE = 4  # small pages: a shallow walk of 3 pages reads 12 tasks
# The generated part of a list is ten days old: older than --settle-window and outside
# --watch-window, so only the tasks a test adds itself are young or watched.
OLD = NAIVE_T0 - timedelta(days=10)
OLD_TASKS = 24


@contextmanager
def frozen() -> Iterator[Any]:
    """The clock stopped at T0 (each test file's `clock` fixture)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def at(clock: Any, delta: timedelta) -> None:
    clock.move_to(T0 + delta)


def add_at(fake: FakeUnpod, handle: str, age: timedelta, kind: str = "pending") -> str:
    """A task created `age` before T0; its place in the list follows from `created`."""
    return str(fake.add_task(handle, kind=kind, created=iso_ms(NAIVE_T0 - age))["task_id"])


@contextmanager
def listed_agent() -> Iterator[tuple[FakeUnpod, FakeServer, str]]:
    """One agent: two young pending tasks at the head (an hour or two old, watched) above
    24 settled ten-day-old ones: 26 tasks, 7 pages of 4."""
    fake = FakeUnpod(agents=1, tasks_per_agent=OLD_TASKS, seed=5, unpublished_agents=0, newest=OLD)
    handle = fake.published_handles()[0]
    add_at(fake, handle, timedelta(hours=2))
    add_at(fake, handle, timedelta(hours=1))
    with FakeServer(fake) as server:
        yield fake, server, handle


def config(fake: FakeUnpod, server: FakeServer, url: str, **kw: Any) -> SyncConfig:
    kw.setdefault("page_size", PAGE)
    return SyncConfig(server.url, fake.token, fake.org, url, **kw)


def run(fake: FakeUnpod, server: FakeServer, url: str, handle: str, **kw: Any) -> AgentResult:
    """One sync of one agent; its result, checked to be ok."""
    (agent,) = run_all(fake, server, url, agents=(handle,), **kw).agents
    return agent


def run_all(fake: FakeUnpod, server: FakeServer, url: str, **kw: Any) -> RunResult:
    runner = SyncRunner(config(fake, server, url, **kw))
    try:
        result = runner.run()
    finally:
        runner.engine.dispose()
    assert result.outcome == "ok", result
    return result


def fingerprint(fake: FakeUnpod, task_id: str) -> str:
    doc = fake.task(task_id)
    return str(normalize_task(doc, str(doc["assignee"])).task["fingerprint"])


def stored_fingerprints(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(tasks.c.task_id, tasks.c.fingerprint)).all())


def is_current(fake: FakeUnpod, engine: Engine, task_id: str) -> bool:
    """The warehouse holds the task as the fake serves it now."""
    return stored_fingerprints(engine).get(task_id) == fingerprint(fake, task_id)


def task_marks(engine: Engine, task_id: str) -> tuple[Any, Any]:
    with engine.connect() as conn:
        query = select(tasks.c.missing_since, tasks.c.deleted_at).where(tasks.c.task_id == task_id)
        row = conn.execute(query).one()
    return row[0], row[1]


WALK_COLUMNS = (
    "walk",
    "full_walk_reason",
    "pages_walked",
    "deepest_change_page",
    "api_count",
    "stored_tasks",
    "walk_complete",
)


def agent_rows(engine: Engine, handle: str) -> list[dict[str, Any]]:
    """The agent's sync_agent_results rows, oldest run first: the walk's columns."""
    sar = sync_agent_results.c
    with engine.connect() as conn:
        query = (
            select(sar.run_id, *(sar[name] for name in WALK_COLUMNS))
            .where(sar.agent_handle == handle)
            .order_by(sar.run_id)
        )
        return [dict(row._mapping) for row in conn.execute(query)]

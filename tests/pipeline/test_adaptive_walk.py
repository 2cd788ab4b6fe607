"""The adaptive walk (issue 14) against the fake API: what a shallow walk catches (the head,
the watched tasks), what only a full walk catches (settled old tasks), and what the
sync_agent_results row records. Clock frozen, ages set relative to it (walk_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.pipeline.walk_fixtures import (
    add_at,
    agent_rows,
    at,
    is_current,
    run,
)
from unpod_etl.fakeapi import FakeServer, FakeUnpod

# -- 1. the head ------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["new task", "moved marker", "post-call data, no marker"])
def test_a_change_at_the_head_is_caught_by_a_shallow_walk(
    listed, clock, any_url, any_engine, change
):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    first = run(fake, server, any_url, handle)
    assert (first.walk, first.full_walk_reason, first.walk_complete) == ("full", "never", True)
    at(clock, timedelta(hours=1))
    head = [str(t["task_id"]) for t in fake.tasks(handle)[:2]]
    if change == "new task":
        target = str(fake.add_task(handle)["task_id"])
    elif change == "moved marker":
        target = head[0]
        fake.move_status(target, "in_progress")
    else:
        target = head[1]
        fake.complete_without_marker(target)
    assert not is_current(fake, any_engine, target)
    agent = run(fake, server, any_url, handle)
    assert is_current(fake, any_engine, target)
    # Page 1 changed (or is young); pages 2 and 3 are settled: stop there, of 7.
    assert agent.walk == "shallow" and agent.full_walk_reason is None
    assert agent.pages_walked == 3 and agent.walk_complete is False
    assert agent.deepest_change_page == 1
    assert (agent.inserted, agent.updated) == ((1, 0) if change == "new task" else (0, 1))
    assert agent.seen == 12  # three pages of 4; nothing below was read


# -- 2. a watched task below the settled head ---------------------------------------------


@pytest.fixture
def week_of_calls(clock: Any) -> Iterator[tuple[FakeUnpod, FakeServer, str, str]]:
    """Completed calls every 6 hours over ten days (40 tasks, 10 pages of 4); the one at
    five days (page 5) is a pending task: watched. Pages 1-2 are younger than the settle
    window, pages 3-4 settled: without the watched task a walk would stop after page 4."""
    fake = FakeUnpod(agents=1, tasks_per_agent=0, seed=11, unpublished_agents=0)
    handle = fake.published_handles()[0]
    pending = ""
    for i in range(40):
        age = timedelta(hours=6 * (i + 1))
        if age == timedelta(days=5):
            pending = add_at(fake, handle, age, kind="pending")
        else:
            add_at(fake, handle, age, kind="call_outbound")
    assert [t["task_id"] for t in fake.tasks(handle)].index(pending) == 19  # page 5
    with FakeServer(fake) as server:
        yield fake, server, handle, pending


@pytest.mark.parametrize("state", ["pending", "completed, interim output"])
def test_a_watched_task_below_the_settled_head_is_caught(
    week_of_calls, clock, any_url, any_engine, state
):  # type: ignore[no-untyped-def]
    fake, server, handle, pending = week_of_calls
    if state != "pending":  # the post-call flow's first write: the full output is to come
        fake.set_interim(pending, marker=False)
    assert run(fake, server, any_url, handle).full_walk_reason == "never"
    at(clock, timedelta(hours=1))
    # Nothing changed: still read down to the watched task's page (unchanged and old, it
    # settles its page: pages 4 and 5 are the settled pair).
    quiet = run(fake, server, any_url, handle)
    assert quiet.walk == "shallow" and quiet.pages_walked == 5
    assert quiet.deepest_change_page is None
    at(clock, timedelta(hours=2))
    fake.complete_without_marker(pending)  # the post-call job: no marker moves
    agent = run(fake, server, any_url, handle)
    assert is_current(fake, any_engine, pending)
    assert agent.updated == 1 and agent.deepest_change_page == 5
    # Read past it (page 5 changed, 6 and 7 settled), not to the end (10 pages).
    assert agent.walk == "shallow" and agent.pages_walked == 7 and agent.walk_complete is False
    at(clock, timedelta(hours=3))
    # Completed now: no longer watched, so the next walk stops on the settled pages 3-4.
    assert run(fake, server, any_url, handle).pages_walked == 4


def test_a_task_older_than_the_watch_window_is_not_watched(week_of_calls, clock, sqlite_url):  # type: ignore[no-untyped-def]
    fake, server, handle, pending = week_of_calls
    run(fake, server, sqlite_url, handle)
    at(clock, timedelta(hours=1))
    fake.complete_without_marker(pending)
    agent = run(fake, server, sqlite_url, handle, watch_window=timedelta(days=4))
    assert agent.walk == "shallow" and agent.pages_walked == 4  # the settled pages 3-4
    assert agent.updated == 0 and agent.deepest_change_page is None  # page 5 not read


# -- 3. settled old tasks: only a full walk ---------------------------------------------


def test_a_settled_old_task_waits_for_the_next_full_walk(listed, clock, pg_url, pg_engine):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, pg_url, handle)  # T0: full, never
    old = [str(t["task_id"]) for t in fake.tasks(handle) if t["status"] == "completed"]
    deep, deeper = old[-1], old[-2]  # on the last pages
    at(clock, timedelta(hours=1))
    fake.move_status(deep, "failed")
    shallow = run(fake, server, pg_url, handle)
    assert shallow.walk == "shallow" and shallow.pages_walked == 3
    assert not is_current(fake, pg_engine, deep)  # below the stopping point: not read

    at(clock, timedelta(hours=19, minutes=59))  # the last full walk started 19h59m ago
    assert run(fake, server, pg_url, handle).walk == "shallow"
    assert not is_current(fake, pg_engine, deep)

    at(clock, timedelta(hours=20, minutes=1))  # --full-walk-every 20h has elapsed
    due = run(fake, server, pg_url, handle)
    assert (due.walk, due.full_walk_reason, due.walk_complete) == ("full", "due", True)
    assert due.pages_walked == 7 and due.updated == 1
    assert is_current(fake, pg_engine, deep)

    at(clock, timedelta(hours=21))
    fake.complete_without_marker(deeper)
    assert run(fake, server, pg_url, handle).walk == "shallow"  # the full walk was an hour ago
    assert not is_current(fake, pg_engine, deeper)
    requested = run(fake, server, pg_url, handle, walk="full")
    assert (requested.walk, requested.full_walk_reason) == ("full", "requested")
    assert requested.walk_complete is True and is_current(fake, pg_engine, deeper)


def test_full_walk_every_is_a_setting(listed, clock, sqlite_url):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, sqlite_url, handle)
    at(clock, timedelta(hours=3))
    hourly = run(fake, server, sqlite_url, handle, full_walk_every=timedelta(hours=2))
    assert (hourly.walk, hourly.full_walk_reason) == ("full", "due")
    at(clock, timedelta(hours=4))
    assert run(fake, server, sqlite_url, handle).walk == "shallow"


# -- 7. what sync_agent_results records ------------------------------------------------


def test_the_walk_columns_hold_what_each_run_did(listed, clock, any_url, any_engine):  # type: ignore[no-untyped-def]
    fake, server, handle = listed
    run(fake, server, any_url, handle)
    at(clock, timedelta(hours=1))
    fake.add_task(handle)
    run(fake, server, any_url, handle)
    at(clock, timedelta(hours=2))
    fake.remove_task(str(fake.tasks(handle)[20]["task_id"]))  # page 6: the count drops
    run(fake, server, any_url, handle)
    at(clock, timedelta(hours=3))
    run(fake, server, any_url, handle, walk="full")
    rows = [
        {k: v for k, v in row.items() if k != "run_id"} for row in agent_rows(any_engine, handle)
    ]
    full_26 = {"walk": "full", "pages_walked": 7, "api_count": 26, "walk_complete": True}
    assert rows == [
        # 26 tasks: pages 1-6 full, page 7 short; every page inserted
        {**full_26, "full_walk_reason": "never", "deepest_change_page": 7, "stored_tasks": 26},
        # one new task at the head; stopped after the settled pages 2 and 3
        {
            "walk": "shallow",
            "full_walk_reason": None,
            "pages_walked": 3,
            "deepest_change_page": 1,
            "api_count": 27,
            "stored_tasks": 27,
            "walk_complete": False,
        },
        # one task gone below: the count (26) disagrees with the 27 stored: walked to the end;
        # the first absence marks it missing, it stays live (stored_tasks 27)
        {**full_26, "full_walk_reason": "count", "deepest_change_page": None, "stored_tasks": 27},
        # requested; the second absence deletes it
        {
            **full_26,
            "full_walk_reason": "requested",
            "deepest_change_page": None,
            "stored_tasks": 26,
        },
    ]

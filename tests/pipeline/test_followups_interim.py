"""Follow-up tasks and the interim completed output, through real syncs against the fake API
on PostgreSQL and SQLite: the columns, the call_attempts chain, agent_daily counting interim
tasks apart, and migration 0009 filling the new columns for rows stored before it."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

from tests.helpers import sync_in_process
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.warehouse.db import _alembic_config, upgrade


@pytest.fixture
def url(any_url: str) -> str:
    return any_url


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    return any_engine


@pytest.fixture
def handle(fake: FakeUnpod) -> str:
    return fake.published_handles()[0]


def sync(server: FakeServer, fake: FakeUnpod, url: str, handle: str) -> None:
    result = sync_in_process(server, fake, url, page_size=10, agents=(handle,))
    assert result.outcome == "ok"


def query(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def daily_totals(engine: Engine, handle: str) -> tuple[int, int]:
    row = query(
        engine,
        "SELECT SUM(tasks_completed) AS done, SUM(tasks_interim) AS interim, "
        "SUM(tasks_other) AS other FROM agent_daily WHERE agent_handle = :h",
        h=handle,
    )[0]
    assert row["other"] == 0
    return int(row["done"]), int(row["interim"])


def test_interim_output_is_counted_apart_then_replaced(fake, fake_server, url, engine, handle):
    sync(fake_server, fake, url, handle)
    done_before, interim_before = daily_totals(engine, handle)
    assert interim_before == 0
    waiting = next(t["task_id"] for t in fake.tasks(handle) if t["status"] == "in_progress")
    fake.set_interim(waiting)
    sync(fake_server, fake, url, handle)
    row = query(engine, "SELECT status, output_kind FROM tasks WHERE task_id = :t", t=waiting)
    assert row == [{"status": "completed", "output_kind": "interim"}]
    assert query(engine, "SELECT call_id FROM call_facts WHERE task_id = :t", t=waiting) == []
    assert daily_totals(engine, handle) == (done_before, 1)

    fake.complete_without_marker(waiting)  # the full output arrives, marker unmoved
    sync(fake_server, fake, url, handle)
    row = query(engine, "SELECT output_kind FROM tasks WHERE task_id = :t", t=waiting)
    assert row == [{"output_kind": "call"}]
    assert len(query(engine, "SELECT call_id FROM call_facts WHERE task_id = :t", t=waiting)) == 1
    assert daily_totals(engine, handle) == (done_before + 1, 0)


def test_follow_ups_chain_in_call_attempts(fake, fake_server, url, engine, handle):
    original = next(t for t in fake.tasks(handle) if t["status"] == "failed")["task_id"]
    first = fake.add_followup(original)["task_id"]
    second = fake.add_followup(original)["task_id"]
    sync(fake_server, fake, url, handle)
    refs = query(
        engine,
        "SELECT task_id, referenced_task_id, followup_count, status FROM tasks "
        "WHERE task_id IN (:a, :b, :c)",
        a=original,
        b=first,
        c=second,
    )
    refs.sort(key=lambda r: r["followup_count"] or 0)
    assert [(r["task_id"], r["referenced_task_id"], r["followup_count"]) for r in refs] == [
        (original, None, None),
        (first, original, 1),
        (second, original, 2),
    ]
    chain = query(
        engine,
        "SELECT task_id, attempt, attempts, final_status FROM call_attempts "
        "WHERE original_task_id = :o ORDER BY attempt",
        o=original,
    )
    assert [(c["task_id"], c["attempt"]) for c in chain] == [(original, 1), (first, 2), (second, 3)]
    assert {c["attempts"] for c in chain} == {3} and {c["final_status"] for c in chain} == {
        "scheduled"
    }
    alone = query(
        engine, "SELECT COUNT(*) AS n FROM call_attempts WHERE attempts = 1 AND attempt = 1"
    )[0]["n"]
    assert alone == fake.count(handle) - 3  # every other task is a chain of one

    fake.complete_without_marker(second)  # the last follow-up reached the customer
    sync(fake_server, fake, url, handle)
    outcome = query(engine, "SELECT summary_status FROM calls WHERE task_id = :t", t=second)
    finals = query(
        engine,
        "SELECT DISTINCT final_status, final_outcome FROM call_attempts "
        "WHERE original_task_id = :o",
        o=original,
    )
    assert finals == [{"final_status": "completed", "final_outcome": outcome[0]["summary_status"]}]


def test_migration_fills_the_columns_of_stored_rows(fake, fake_server, url, engine, handle):
    waiting = next(t["task_id"] for t in fake.tasks(handle) if t["status"] == "in_progress")
    fake.set_interim(waiting)
    original = fake.tasks(handle)[3]["task_id"]
    follow = fake.add_followup(original)["task_id"]
    sync(fake_server, fake, url, handle)
    cfg = _alembic_config()
    with engine.begin() as conn:  # back to what an older unpod-etl stored
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
        conn.execute(
            text("UPDATE tasks SET output_kind = 'other' WHERE task_id = :t"), {"t": waiting}
        )
    upgrade(engine)
    assert query(engine, "SELECT output_kind FROM tasks WHERE task_id = :t", t=waiting) == [
        {"output_kind": "interim"}
    ]
    assert query(
        engine,
        "SELECT referenced_task_id, followup_count FROM tasks WHERE task_id = :t",
        t=follow,
    ) == [{"referenced_task_id": original, "followup_count": 1}]
    # and a re-sync finds nothing to rewrite: the backfill matches the normalizer
    result = sync_in_process(fake_server, fake, url, page_size=10, agents=(handle,))
    assert result.agents[0].updated == 0 and result.agents[0].inserted == 0

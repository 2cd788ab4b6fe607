"""A complete walk, pages that shift under it, and values in other shapes: real syncs against
the fake API (issue 9's walk, issue 12's values)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import actual_rows, expected_rows, sync_in_process
from unpod_etl.cli.render import status as render_status
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.normalize import normalize_task
from unpod_etl.pipeline.results import RunResult
from unpod_etl.warehouse.schema import calls, sync_agent_results, tasks, transcript_lines
from unpod_etl.warehouse.status import load_status


@pytest.fixture
def handle(fake: FakeUnpod) -> str:
    return fake.published_handles()[0]


def sync(server: FakeServer, fake: FakeUnpod, url: str, handle: str) -> RunResult:
    return sync_in_process(server, fake, url, page_size=7, agents=(handle,))


def stored_ids(engine: Engine, handle: str) -> set[str]:
    with engine.connect() as conn:
        query = select(tasks.c.task_id).where(tasks.c.agent_handle == handle)
        return set(conn.execute(query).scalars())


def agent_row(engine: Engine, run: RunResult) -> dict[str, Any]:
    with engine.connect() as conn:
        query = select(sync_agent_results).where(sync_agent_results.c.run_id == run.run_id)
        return dict(conn.execute(query).one()._mapping)


def deleted_at(engine: Engine, task_id: str) -> Any:
    with engine.connect() as conn:
        query = select(tasks.c.deleted_at).where(tasks.c.task_id == task_id)
        return conn.execute(query).scalar_one()


# -- shifts -------------------------------------------------------------------------------


def test_a_task_deleted_above_the_cursor_does_not_hide_the_next_one(
    fake, fake_server, pg_url, pg_engine, handle
):
    before = [t["task_id"] for t in fake.tasks(handle)]
    # Between pages 1 and 2 the newest task goes: the 8th moves up onto page 1, already read.
    fault = fake.faults.inject("shift", agent=handle, page=2, times=1)
    run = sync(fake_server, fake, pg_url, handle)
    agent = run.agents[0]
    assert fault.details == [before[0]]
    assert before[7] in stored_ids(pg_engine, handle)  # found by the re-read, same run
    assert stored_ids(pg_engine, handle) == set(before)  # the deleted one was read first
    assert agent.shifts == 1 and agent.walk_complete is True and not agent.count_mismatch
    row = agent_row(pg_engine, run)
    assert row["shifts"] == 1 and row["walk_complete"] is True
    want = expected_rows(fake, [handle])["fingerprints"]
    got = actual_rows(pg_engine)["fingerprints"]
    assert {k: got[k] for k in want} == want


def test_a_shift_near_the_end_is_re_read_too(fake, fake_server, pg_url, pg_engine, handle):
    before = [t["task_id"] for t in fake.tasks(handle)]
    fake.faults.inject("shift", agent=handle, page=5, times=1, index=3)  # 30 = 4x7 + 2
    run = sync(fake_server, fake, pg_url, handle)
    assert stored_ids(pg_engine, handle) == set(before)
    assert run.agents[0].shifts == 1 and run.agents[0].walk_complete is True


def test_a_shift_that_keeps_shifting_leaves_the_walk_incomplete(
    fake, fake_server, pg_url, pg_engine, handle
):
    fake.faults.inject("shift", agent=handle, page=2, times=1)
    # the re-read of page 1 (its second request) meets another deletion
    fake.faults.inject("shift", agent=handle, page=1, after=1, times=1, index=0)
    run = sync(fake_server, fake, pg_url, handle)
    agent = run.agents[0]
    assert agent.outcome == "ok" and agent.walk_complete is False and agent.shifts >= 1
    assert agent_row(pg_engine, run)["walk_complete"] is False
    assert "re-read could not rule out a skipped task" in "\n".join(agent.warnings)


# -- only complete walks delete -------------------------------------------------------------


def absent_twice_setup(fake, server, url, handle) -> str:  # type: ignore[no-untyped-def]
    sync(server, fake, url, handle)
    victim = str(fake.tasks(handle)[10]["task_id"])
    fake.remove_task(victim)
    first = sync(server, fake, url, handle)  # first absence: missing_since only
    assert first.agents[0].walk_complete is True and first.agents[0].deleted == 0
    return victim


@pytest.mark.parametrize("fault", ["count", "shift"])
def test_an_incomplete_walk_deletes_nothing(fake, fake_server, pg_url, pg_engine, handle, fault):
    victim = absent_twice_setup(fake, fake_server, pg_url, handle)
    if fault == "count":
        fake.faults.inject("wrong_count", agent=handle, factor=2)
    else:
        fake.faults.inject("shift", agent=handle, page=2, times=1)
        fake.faults.inject("shift", agent=handle, page=1, after=1, times=1, index=0)
    run = sync(fake_server, fake, pg_url, handle)
    agent = run.agents[0]
    assert agent.walk_complete is False and agent.deleted == 0
    assert deleted_at(pg_engine, victim) is None
    row = agent_row(pg_engine, run)
    assert row["walk_complete"] is False and row["deleted"] == 0
    fake.faults.clear()  # the next complete walk deletes it, and the row records it
    run = sync(fake_server, fake, pg_url, handle)
    assert run.agents[0].deleted == 1 and deleted_at(pg_engine, victim) is not None
    assert agent_row(pg_engine, run)["deleted"] == 1


def test_status_shows_walk_fields(fake, fake_server, pg_url, pg_engine, handle):
    fake.faults.inject("shift", agent=handle, page=2, times=1)
    run = sync(fake_server, fake, pg_url, handle)
    snapshot = load_status(pg_engine, limit=5)
    (agent,) = snapshot.as_json()["agents"]
    assert agent["run_id"] == run.run_id
    assert (agent["shifts"], agent["walk_complete"], agent["deleted"], agent["restored"]) == (
        1,
        True,
        0,
        0,
    )
    text = render_status(snapshot.runs, snapshot.agents)
    header = next(line for line in text.splitlines() if line.startswith("run_id  agent_handle"))
    for column in ("deleted", "restored", "shifts", "walk_complete"):
        assert column in header


# -- values ---------------------------------------------------------------------------------


def test_epoch_millisecond_times_are_stored(fake, fake_server, pg_url, pg_engine, handle):
    fake.faults.inject("epoch_times", agent=handle, unit="ms")
    run = sync(fake_server, fake, pg_url, handle)
    assert run.agents[0].unreadable_times == {}
    want = {t["task_id"]: normalize_task(t, handle) for t in fake.tasks(handle)}
    with pg_engine.connect() as conn:
        rows = conn.execute(
            select(tasks.c.task_id, tasks.c.last_status_change, tasks.c.modified_at)
        ).all()
        ends = dict(conn.execute(select(calls.c.task_id, calls.c.end_time)).all())
    assert len(rows) == 30

    def ms(moment: datetime | None) -> datetime | None:
        return (
            None
            if moment is None
            else moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        )

    markers = 0
    for task_id, marker, modified in rows:
        item = want[task_id]
        assert marker == ms(item.task["last_status_change"])
        assert modified == ms(item.task["modified_at"]) and modified is not None
        markers += marker is not None
        if item.call is not None and item.call["end_time"] is not None:
            assert ends[task_id] == ms(item.call["end_time"])
    assert markers > 0 and any(v is not None for v in ends.values())


def test_post_call_data_sent_as_a_json_string(fake, fake_server, pg_url, pg_engine, handle):
    fake.faults.inject("string_post_call_data", agent=handle)
    sync(fake_server, fake, pg_url, handle)
    want = {}
    for task in fake.tasks(handle):
        call = normalize_task(task, handle).call
        if call is not None:
            want[call["call_id"]] = (call["summary_status"], call["post_call_data"])
    with pg_engine.connect() as conn:
        got = {
            r.call_id: (r.summary_status, r.post_call_data)
            for r in conn.execute(
                select(calls.c.call_id, calls.c.summary_status, calls.c.post_call_data)
            )
        }
    assert got == want
    assert any(status is not None for status, _ in got.values())


def test_a_bare_number_in_a_transcript_is_a_line(fake, fake_server, pg_url, pg_engine, handle):
    fake.faults.inject("number_transcript", agent=handle, value=42, index=1)
    sync(fake_server, fake, pg_url, handle)
    with pg_engine.connect() as conn:
        numbered = conn.execute(
            select(transcript_lines.c.call_id).where(
                transcript_lines.c.seq == 1, transcript_lines.c.content == "42"
            )
        ).scalars()
        numbered_calls = set(numbered)
    lists = {
        t["output"]["call_id"]
        for t in fake.tasks(handle)
        if isinstance(t.get("output"), dict)
        and isinstance(t["output"].get("transcript"), list)
        and len(t["output"]["transcript"]) >= 1
        and t["output"].get("call_id")
    }
    assert lists and lists <= numbered_calls


def test_unreadable_times_are_counted_and_logged_once_per_field(
    fake, fake_server, pg_url, pg_engine, handle, caplog
):
    bad = [
        fake.add_task(handle, last_status_change="last tuesday")["task_id"],
        fake.add_task(handle, last_status_change="soon-ish")["task_id"],
    ]
    with caplog.at_level(logging.WARNING, logger="unpod_etl"):
        run = sync(fake_server, fake, pg_url, handle)
    agent = run.agents[0]
    assert agent.unreadable_times == {"last_status_change": 2}
    logged = [r for r in caplog.records if "could not be read as a time" in r.getMessage()]
    assert len(logged) == 1 and "last_status_change" in logged[0].getMessage()
    assert "2 unreadable last_status_change value(s) stored as NULL" in agent.warnings
    with pg_engine.connect() as conn:
        rows = conn.execute(
            select(tasks.c.last_status_change, tasks.c.document).where(tasks.c.task_id.in_(bad))
        ).all()
    assert [r.last_status_change for r in rows] == [None, None]
    assert sorted(r.document["last_status_change"] for r in rows) == ["last tuesday", "soon-ish"]


def test_epoch_times_are_utc(fake, fake_server, pg_url, pg_engine, handle):
    task = fake.add_task(handle, last_status_change=1769940000250)
    sync(fake_server, fake, pg_url, handle)
    with pg_engine.connect() as conn:
        marker = conn.execute(
            select(tasks.c.last_status_change).where(tasks.c.task_id == task["task_id"])
        ).scalar_one()
    assert marker == datetime(2026, 2, 1, 10, 0, 0, 250000, tzinfo=UTC)

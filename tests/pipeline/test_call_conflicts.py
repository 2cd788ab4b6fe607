"""A call_id claimed by two tasks: the holder's call and transcript are never overwritten;
the claimant is kept aside in rejected_records with a reason naming both (real syncs)."""

from __future__ import annotations

import copy
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from tests.helpers import sync_in_process
from unpod_etl.cli.main import main
from unpod_etl.cli.render import run_summary
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.warehouse.schema import rejected_records


def call_task(fake: FakeUnpod, handle: str) -> dict[str, Any]:
    for task in fake.tasks(handle):
        out = task.get("output")
        if isinstance(out, dict) and out.get("call_id") and out.get("transcript"):
            return task
    raise AssertionError("no task with a call")


def holder_of(engine: Engine, call_id: str) -> tuple[str, int]:
    with engine.connect() as conn:
        task_id = conn.execute(
            text("SELECT task_id FROM calls WHERE call_id = :c"), {"c": call_id}
        ).scalar_one()
        lines = conn.execute(
            text("SELECT COUNT(*) FROM transcript_lines WHERE call_id = :c AND task_id = :t"),
            {"c": call_id, "t": task_id},
        ).scalar_one()
    return task_id, lines


def open_rejections(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(rejected_records.c.record_key, rejected_records.c.reason).where(
                rejected_records.c.resolved_at.is_(None)
            )
        ).all()
    return {r.record_key: r.reason for r in rows}


def test_a_second_claimant_is_kept_aside(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[0]
    sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    holder = call_task(fake, handle)
    call_id = holder["output"]["call_id"]
    before = holder_of(pg_engine, call_id)
    output = copy.deepcopy(holder["output"])
    output["transcript"] = [{"role": "user", "content": "someone else's words"}]
    claimant = fake.add_task(handle, kind="call_outbound", status="completed", output=output)

    for attempt in range(2):  # the conflict stays a conflict, run after run
        run = sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
        agent = run.agents[0]
        assert run.outcome == "ok" and agent.call_conflicts == 1
        assert agent.inserted == 0
        assert holder_of(pg_engine, call_id) == before == (holder["task_id"], before[1])
        reasons = open_rejections(pg_engine)
        assert holder["task_id"] in reasons[claimant["task_id"]]
        assert claimant["task_id"] in reasons[claimant["task_id"]]
        if attempt == 0:
            assert "another task's call" in run_summary(run)
    with pg_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT COUNT(*) FROM tasks WHERE task_id = :t"), {"t": claimant["task_id"]}
        ).scalar_one()
    assert stored == 0

    verify = CliRunner().invoke(
        main,
        [
            "verify",
            "--api-url",
            fake_server.url,
            "--token",
            fake.token,
            "--org",
            fake.org,
            "--database-url",
            pg_url,
            "--agent",
            handle,
            "--json",
        ],
    )
    assert verify.exit_code == 0, verify.output  # kept aside on purpose: not a difference


def test_two_new_tasks_with_one_call_on_a_page(fake, fake_server, sqlite_url):
    from unpod_etl.warehouse.db import make_engine

    handle = fake.published_handles()[0]
    output = copy.deepcopy(call_task(fake, handle)["output"])
    output["call_id"] = "call-shared-by-two"
    older = fake.add_task(handle, kind="call_outbound", status="completed", output=output)
    newer = fake.add_task(handle, kind="call_outbound", status="completed", output=output)
    run = sync_in_process(fake_server, fake, sqlite_url, page_size=10, agents=(handle,))
    assert run.agents[0].call_conflicts == 1
    engine = make_engine(sqlite_url)
    holder, lines = holder_of(engine, "call-shared-by-two")
    reasons = open_rejections(engine)
    engine.dispose()
    first, second = newer["task_id"], older["task_id"]  # the newest is listed first
    assert holder == first and lines == len(output["transcript"])
    assert first in reasons[second] and second in reasons[second]

"""Documents that cannot be normalized are kept aside, never fatal; text PostgreSQL refuses
is cleaned; very long transcripts load."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.helpers import sync_in_process
from unpod_etl.warehouse.schema import calls, rejected_records, tasks, transcript_lines


def test_unnormalizable_task_is_rejected_then_healed(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[0]
    good_before = len(fake.tasks(handle))
    bad = fake.add_task(
        handle, kind="call_outbound", output={"call_id": "c" * 400, "transcript": []}
    )
    nameless = fake.add_task(handle, task_id=None)
    first = sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    agent = first.agents[0]
    assert first.outcome == "ok" and agent.failed == 2
    assert agent.inserted == good_before
    with pg_engine.connect() as conn:
        rows = {r.record_key: r for r in conn.execute(select(rejected_records))}
        stored_ids = set(conn.execute(select(tasks.c.task_id)).scalars())
    assert bad["task_id"] in rows and bad["task_id"] not in stored_ids
    assert "call_id" in rows[bad["task_id"]].reason
    assert rows[bad["task_id"]].document["task_id"] == bad["task_id"]
    keyless = [r for k, r in rows.items() if k.startswith("sha256:")]
    assert len(keyless) == 1 and "task_id" in keyless[0].reason
    assert keyless[0].document["run_id"] == nameless["run_id"]
    assert all(r.resolved_at is None and r.first_run_id == first.run_id for r in rows.values())

    fake.complete_without_marker(bad["task_id"])  # the source now sends a sane call
    second = sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    assert second.agents[0].failed == 1 and second.agents[0].inserted == 1
    with pg_engine.connect() as conn:
        healed = conn.execute(
            select(rejected_records).where(rejected_records.c.record_key == bad["task_id"])
        ).one()
        loaded = conn.execute(
            select(tasks.c.status).where(tasks.c.task_id == bad["task_id"])
        ).scalar_one()
        still_open = conn.execute(
            select(func.count())
            .select_from(rejected_records)
            .where(rejected_records.c.resolved_at.is_(None))
        ).scalar_one()
    assert healed.resolved_at is not None and loaded == "completed"
    assert still_open == 1  # the document without task_id is still rejected, once


def test_nul_characters_are_cleaned_not_fatal(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[0]
    doc = fake.add_task(
        handle,
        kind="call_outbound",
        input={"name": "Ann\x00a", "notes": {"deep": "x\x00y"}},
        output={
            "call_id": "call-nul",
            "transcript": [
                {"role": "user", "content": "hel\x00lo", "timestamp": "2026-01-31 11:47:38"}
            ],
        },
    )
    result = sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    assert result.outcome == "ok" and result.agents[0].failed == 0
    with pg_engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.task_id == doc["task_id"])).one()
        line = conn.execute(
            select(transcript_lines.c.content).where(transcript_lines.c.call_id == "call-nul")
        ).scalar_one()
    assert task.contact_name == "Anna"
    assert task.input["notes"]["deep"] == "xy"
    assert line == "hello"


def test_very_long_transcript_loads(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[0]
    messages = [
        {
            "role": "assistant" if i % 2 else "user",
            "content": f"{i:05d} " + "word " * 20,
            "timestamp": "",
        }
        for i in range(10_000)
    ]
    assert sum(len(m["content"]) for m in messages) > 1_000_000
    doc = fake.add_task(
        handle, kind="call_outbound", output={"call_id": "call-long", "transcript": messages}
    )
    result = sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    assert result.outcome == "ok"
    with pg_engine.connect() as conn:
        n, total = conn.execute(
            select(func.count(), func.sum(func.length(transcript_lines.c.content))).where(
                transcript_lines.c.call_id == "call-long"
            )
        ).one()
        count = conn.execute(
            select(calls.c.transcript_line_count).where(calls.c.task_id == doc["task_id"])
        ).scalar_one()
        last = conn.execute(
            select(transcript_lines.c.content).where(
                transcript_lines.c.call_id == "call-long", transcript_lines.c.seq == 9_999
            )
        ).scalar_one()
    assert n == count == 10_000 and total > 1_000_000
    assert last.startswith("09999 ")

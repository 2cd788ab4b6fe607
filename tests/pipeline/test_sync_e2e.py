"""End-to-end: fake Unpod API -> sync -> PostgreSQL, checked table by table."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from tests.helpers import sync_in_process
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.schema import calls, sync_agent_results, sync_runs, tasks, transcript_lines


def all_source_tasks(fake: FakeUnpod, handles: list[str]) -> dict[str, dict]:
    return {t["task_id"]: t for h in handles for t in fake.tasks(h)}


def stored(engine: Engine, *cols):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(select(*cols))}


def test_first_sync_loads_every_published_agent(fake, fake_server, pg_url, pg_engine):
    result = sync_in_process(fake_server, fake, pg_url, page_size=7)
    handles = fake.published_handles()
    source = all_source_tasks(fake, handles)
    assert result.outcome == "ok" and result.exit_code == 0
    assert sorted(a.handle for a in result.agents) == sorted(handles)
    assert result.total("inserted") == len(source) == result.total("seen")
    in_db = stored(pg_engine, tasks.c.task_id, tasks.c.status, tasks.c.agent_handle)
    assert {k: v[0] for k, v in in_db.items()} == {k: t["status"] for k, t in source.items()}
    # every task with a non-empty call id has exactly one call row, with its transcript
    with pg_engine.connect() as conn:
        call_rows = conn.execute(
            select(calls.c.call_id, calls.c.task_id, calls.c.transcript_line_count)
        ).all()
        line_counts = dict(
            conn.execute(
                select(transcript_lines.c.call_id, func.count()).group_by(
                    transcript_lines.c.call_id
                )
            ).all()
        )
    expected_calls = {
        t["output"]["call_id"]
        for t in source.values()
        if isinstance(t.get("output"), dict) and t["output"].get("call_id")
    }
    assert expected_calls <= {r.call_id for r in call_rows}
    for row in call_rows:
        assert line_counts.get(row.call_id, 0) == row.transcript_line_count
    assert sum(line_counts.values()) > 0


def test_second_sync_writes_nothing(fake, fake_server, pg_url, pg_engine):
    first = sync_in_process(fake_server, fake, pg_url, page_size=7)
    before = stored(pg_engine, tasks.c.task_id, tasks.c.last_synced_at, tasks.c.last_sync_run_id)
    second = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert second.total("inserted") == second.total("updated") == 0
    assert second.total("unchanged") == first.total("seen")
    after = stored(pg_engine, tasks.c.task_id, tasks.c.last_synced_at, tasks.c.last_sync_run_id)
    assert after == before


def test_moved_marker_rewrites_exactly_that_task(fake, fake_server, pg_url, pg_engine):
    sync_in_process(fake_server, fake, pg_url, page_size=7)
    handle = fake.published_handles()[0]
    target = next(t for t in fake.tasks(handle) if t["status"] == "pending")
    fake.move_status(target["task_id"], "in_progress")
    second = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert second.total("moved") == 1 and second.total("changed_unmoved") == 0
    assert second.total("inserted") == 0
    rows = stored(pg_engine, tasks.c.task_id, tasks.c.status, tasks.c.last_sync_run_id)
    rewritten = {tid for tid, (_, run) in rows.items() if run == second.run_id}
    assert rewritten == {target["task_id"]}
    assert rows[target["task_id"]][0] == "in_progress"


def test_output_changed_without_marker_is_picked_up(fake, fake_server, pg_url, pg_engine):
    sync_in_process(fake_server, fake, pg_url, page_size=7)
    handle = fake.published_handles()[0]
    target = next(t for t in fake.tasks(handle) if t["status"] == "pending")
    marker_before = target["last_status_change"]
    fake.complete_without_marker(target["task_id"])
    assert fake.task(target["task_id"])["last_status_change"] == marker_before
    second = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert second.total("changed_unmoved") == 1 and second.total("moved") == 0
    with pg_engine.connect() as conn:
        status = conn.execute(
            select(tasks.c.status).where(tasks.c.task_id == target["task_id"])
        ).scalar_one()
        call = conn.execute(select(calls).where(calls.c.task_id == target["task_id"])).one()
        lines = conn.execute(
            select(func.count())
            .select_from(transcript_lines)
            .where(transcript_lines.c.task_id == target["task_id"])
        ).scalar_one()
    assert status == "completed"
    assert call.call_id == fake.task(target["task_id"])["output"]["call_id"]
    assert lines == call.transcript_line_count > 0


def test_shrinking_transcript_leaves_no_orphans(fake, fake_server, pg_url, pg_engine):
    sync_in_process(fake_server, fake, pg_url, page_size=7)
    handle = fake.published_handles()[0]
    target = next(
        t
        for t in fake.tasks(handle)
        if isinstance(t["output"].get("transcript"), list)
        and len(t["output"]["transcript"]) >= 4
        and t["output"].get("call_id")
    )
    call_id = target["output"]["call_id"]
    fake.set_transcript(target["task_id"], target["output"]["transcript"][:2])
    sync_in_process(fake_server, fake, pg_url, page_size=7)
    with pg_engine.connect() as conn:
        seqs = (
            conn.execute(
                select(transcript_lines.c.seq)
                .where(transcript_lines.c.call_id == call_id)
                .order_by(transcript_lines.c.seq)
            )
            .scalars()
            .all()
        )
        count = conn.execute(
            select(calls.c.transcript_line_count).where(calls.c.call_id == call_id)
        ).scalar_one()
    assert seqs == [0, 1] and count == 2


def test_refused_agents_are_isolated(fake, fake_server, pg_url, pg_engine):
    handles = fake.published_handles()
    fake.access.refuse(handles[0], 206)
    fake.access.refuse(handles[1], 404)
    result = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert result.outcome == "partial" and result.exit_code == 1
    by_handle = {a.handle: a for a in result.agents}
    assert by_handle[handles[0]].outcome == "failed" and "206" in (
        by_handle[handles[0]].error or ""
    )
    assert by_handle[handles[1]].outcome == "failed" and "404" in (
        by_handle[handles[1]].error or ""
    )
    ok = by_handle[handles[2]]
    assert ok.outcome == "ok" and ok.inserted == len(fake.tasks(handles[2]))
    with pg_engine.connect() as conn:
        agents_in_db = set(conn.execute(select(tasks.c.agent_handle).distinct()).scalars())
        results = {
            r.agent_handle: r.outcome
            for r in conn.execute(
                select(sync_agent_results).where(sync_agent_results.c.run_id == result.run_id)
            )
        }
        run = conn.execute(select(sync_runs).where(sync_runs.c.run_id == result.run_id)).one()
    assert agents_in_db == {handles[2]}
    assert results == {handles[0]: "failed", handles[1]: "failed", handles[2]: "ok"}
    assert run.outcome == "partial" and run.agents_failed == 2 and run.finished_at is not None


def test_named_unpublished_agent_is_synced(fake, fake_server, pg_url, pg_engine):
    hidden = sorted(set(fake.all_handles()) - set(fake.published_handles()))
    assert hidden, "the fake should have an unpublished agent"
    result = sync_in_process(fake_server, fake, pg_url, page_size=7, agents=(hidden[0],))
    assert result.outcome == "ok"
    assert result.total("inserted") == len(fake.tasks(hidden[0])) > 0


def test_tasks_created_during_the_walk_are_deduplicated(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[0]
    runner = SyncRunner(
        SyncConfig(fake_server.url, fake.token, fake.org, pg_url, agents=(handle,), page_size=5)
    )
    added: list[str] = []

    def add_during_walk(res, page):  # type: ignore[no-untyped-def]
        if page.number in (1, 2):  # new tasks push older ones onto later pages
            added.append(fake.add_task(handle)["task_id"])

    runner.on_page = add_during_walk
    result = runner.run()
    agent = result.agents[0]
    ids = stored(pg_engine, tasks.c.task_id, tasks.c.status)
    originals = {t["task_id"] for t in fake.tasks(handle)} - set(added)
    assert originals <= set(ids)
    assert agent.seen == agent.inserted == len(set(ids))  # nothing counted twice


def test_requests_carry_token_and_org_handle(fake, fake_server, pg_url):
    sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert fake.access.requests, "no requests recorded"
    for req in fake.access.requests:
        headers = (
            {k.lower(): v for k, v in req["headers"].items()}
            if isinstance(req, dict)
            else {k.lower(): v for k, v in req.headers.items()}
        )
        assert headers["authorization"] == f"Token {fake.token}"
        assert headers["org-handle"] == fake.org


def test_same_path_on_sqlite(fake, fake_server, sqlite_url):
    from unpod_etl.warehouse.db import make_engine

    first = sync_in_process(fake_server, fake, sqlite_url, page_size=7)
    handle = fake.published_handles()[1]
    target = next(t for t in fake.tasks(handle) if t["status"] == "pending")
    fake.complete_without_marker(target["task_id"])
    second = sync_in_process(fake_server, fake, sqlite_url, page_size=7)
    assert first.outcome == "ok" and first.total("inserted") == first.total("seen") > 0
    assert second.total("changed_unmoved") == 1 and second.total("inserted") == 0
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        n_tasks = conn.execute(select(func.count()).select_from(tasks)).scalar_one()
        status = conn.execute(
            select(tasks.c.status).where(tasks.c.task_id == target["task_id"])
        ).scalar_one()
    assert n_tasks == first.total("seen")
    assert status == "completed"


def test_untouched_documents_are_not_normalized_again(fake, fake_server, pg_url, pg_engine):
    from sqlalchemy import update

    sync_in_process(fake_server, fake, pg_url, page_size=7)
    handle = fake.published_handles()[0]
    victim = fake.tasks(handle)[3]["task_id"]
    with pg_engine.begin() as conn:  # a stored fingerprint no normalization would produce
        conn.execute(update(tasks).where(tasks.c.task_id == victim).values(fingerprint="stale"))
    second = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert second.total("unchanged") == second.total("seen")
    with pg_engine.connect() as conn:
        kept = conn.execute(select(tasks.c.fingerprint).where(tasks.c.task_id == victim))
        assert kept.scalar_one() == "stale"  # the raw fingerprint matched: skipped untouched
        raws = conn.execute(select(tasks.c.raw_fingerprint)).scalars().all()
    assert len(raws) == second.total("seen") and None not in raws
    fake.move_status(victim, "failed")  # once the source changes, it is normalized and fixed
    third = sync_in_process(fake_server, fake, pg_url, page_size=7)
    assert third.total("moved") == 1
    with pg_engine.connect() as conn:
        fixed = conn.execute(select(tasks.c.fingerprint).where(tasks.c.task_id == victim))
        assert fixed.scalar_one() != "stale"

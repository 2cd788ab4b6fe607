"""`unpod-etl webhook` over real HTTP: uvicorn in a thread, requests as Unpod's client,
real PostgreSQL and SQLite behind it."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from sqlalchemy import func, select, text

from tests.helpers import all_table_text, sync_in_process
from tests.intake.serving import SECRET, serving, unused_port
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.fakeapi.webhook import webhook_body
from unpod_etl.pipeline.deliveries import UNKNOWN_AGENT
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.intake import WEBHOOK_SOURCE
from unpod_etl.warehouse.schema import rejected_records, sync_runs, task_changes, tasks

HEADERS = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
SPACE_TOKEN = "spc_tok_9b1e"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")


def finished_tasks(fake: FakeUnpod) -> list[dict]:
    """Documents the webhook fires for (completed or failed), with both secrets in them."""
    found = []
    for handle in fake.published_handles():
        for doc in fake.tasks(handle):
            finished = doc["status"] in ("completed", "failed")
            user_token = (doc.get("user_info") or {}).get("user_token")
            space_token = isinstance(doc.get("input"), dict) and doc["input"].get("token")
            if finished and user_token and space_token:
                found.append(doc)
    assert len(found) >= 3
    return found


def post(base: str, body: bytes, headers: dict | None = None, path: str = "/unpod/tasks"):
    return requests.post(base + path, data=body, headers=HEADERS if headers is None else headers,
                         timeout=30)  # fmt: skip


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def secrets_of(docs: list[dict]) -> set[str]:
    return (
        {d["user_info"]["user_token"] for d in docs}
        | {SPACE_TOKEN, SECRET}
        | {d["input"]["token"] for d in docs}
    )


def test_good_secret_in_the_header_and_in_the_path(db_url, fake, caplog):
    caplog.set_level(logging.INFO)
    first, second = finished_tasks(fake)[:2]
    with serving(db_url) as (base, intake):
        by_header = post(base, webhook_body(first))
        by_path = post(base, webhook_body(second), {}, f"/unpod/tasks/{SECRET}")
        run_id = intake.run_id
        engine = make_engine(db_url)
        with engine.connect() as conn:
            run = conn.execute(select(sync_runs)).one()
        assert (run.api_url, run.outcome) == (WEBHOOK_SOURCE, RunOutcome.RUNNING)
    assert by_header.status_code == 200, by_header.text
    assert by_header.json() == {
        "outcome": "inserted", "task_id": first["task_id"], "agent": first["assignee"],
    }  # fmt: skip
    assert (by_path.status_code, by_path.json()["outcome"]) == (200, "inserted")
    with engine.connect() as conn:
        stored = {r.task_id: r for r in conn.execute(select(tasks))}
        changes = conn.execute(select(task_changes)).all()
        run = conn.execute(select(sync_runs)).one()
    assert set(stored) == {first["task_id"], second["task_id"]}
    assert stored[first["task_id"]].agent_handle == first["assignee"]
    # The pull's form is stored, not the payload's spaced datetimes.
    assert stored[first["task_id"]].document["created"] == first["created"]
    assert sorted((c.task_id, c.kind, c.run_id) for c in changes) == sorted(
        [(first["task_id"], "new", run_id), (second["task_id"], "new", run_id)]
    )
    assert (run.run_id, run.outcome, run.tasks_seen, run.tasks_inserted) == (
        run_id, RunOutcome.OK, 2, 2,
    )  # fmt: skip
    assert run.finished_at is not None
    warehouse = all_table_text(engine)
    assert [s for s in secrets_of([first, second]) if s in warehouse] == []
    logged = caplog.text
    assert f"task {first['task_id']!r} agent {first['assignee']!r}: inserted" in logged
    assert SECRET not in logged
    assert [s for s in secrets_of([first, second]) if s in logged] == []
    engine.dispose()


def test_a_bad_or_missing_secret_is_401_and_stores_nothing(db_url, fake):
    doc = finished_tasks(fake)[0]
    with serving(db_url) as (base, _):
        answers = [
            post(base, webhook_body(doc), {}),
            post(base, webhook_body(doc), {"X-Webhook-Secret": SECRET + "x"}),
            post(base, webhook_body(doc), {"X-Webhook-Secret": ""}),
            post(base, webhook_body(doc), {}, "/unpod/tasks/not-the-secret"),
        ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    engine = make_engine(db_url)
    assert count(engine, tasks) == count(engine, rejected_records) == 0
    engine.dispose()


def test_unusable_bodies_are_400_with_a_reason_and_kept_in_rejected_records(db_url, fake):
    doc = finished_tasks(fake)[0]
    no_task_id = {k: v for k, v in doc.items() if k != "task_id"}
    no_assignee = {k: v for k, v in doc.items() if k != "assignee"}
    bad_key = {**doc, "task_id": "T" + "0" * 80}  # not a usable primary key
    bodies = {
        "not json": b'{"task_id": "T1", "user_info": {"user_token": "utk_leak"',
        "a list": json.dumps([doc]).encode(),
        "no task_id": json.dumps(no_task_id).encode(),
        "no assignee": json.dumps(no_assignee).encode(),
        "unnormalizable": json.dumps(bad_key).encode(),
    }
    with serving(db_url) as (base, _):
        answers = {name: post(base, body) for name, body in bodies.items()}
    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(bodies, 400)
    reasons = {n: a.json()["reason"] for n, a in answers.items()}
    assert reasons == {
        "not json": "the body is not JSON",
        "a list": "the body is not a JSON object",
        "no task_id": "the task document has no task_id",
        "no assignee": "the task document has no usable assignee (agent handle)",
        "unnormalizable": "task_id is not a usable key (NUL or too long)",
    }
    engine = make_engine(db_url)
    with engine.connect() as conn:
        kept = {r.reason: r for r in conn.execute(select(rejected_records))}
    assert set(kept) == set(reasons.values())
    assert kept["the task document has no task_id"].agent_handle == doc["assignee"]
    assert kept["task_id is not a usable key (NUL or too long)"].agent_handle == doc["assignee"]
    assert kept["the body is not JSON"].agent_handle == UNKNOWN_AGENT
    assert kept["the body is not JSON"].document["bytes"] == len(bodies["not json"])
    assert kept["the body is not a JSON object"].document[0]["task_id"] == doc["task_id"]
    assert count(engine, tasks) == 0
    warehouse = all_table_text(engine)
    assert [s for s in [*secrets_of([doc]), "utk_leak"] if s in warehouse] == []
    engine.dispose()


def test_a_body_over_the_limit_is_413(sqlite_url, fake):
    doc = finished_tasks(fake)[0]
    big = json.dumps({**doc, "padding": "x" * 5000}).encode()

    def chunked():  # no Content-Length: the limit is counted while reading
        yield big[:3000]
        yield big[3000:]

    with serving(sqlite_url, max_body=4096) as (base, _):
        declared = post(base, big)
        streamed = requests.post(base + "/unpod/tasks", data=chunked(), headers=HEADERS, timeout=30)
        fits = post(base, webhook_body(doc))
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert fits.status_code == 200, fits.text  # the limit is per body, not per process
    engine = make_engine(sqlite_url)
    assert count(engine, tasks) == 1 and count(engine, rejected_records) == 0
    engine.dispose()


def test_database_down_is_503_so_unpod_retries(fake):
    doc = finished_tasks(fake)[0]
    nowhere = f"postgresql://etl:pw@127.0.0.1:{unused_port()}/warehouse"
    with serving(nowhere) as (base, intake):
        answers = [post(base, webhook_body(doc)), post(base, b"not json")]
        health = requests.get(base + "/healthz", timeout=10)
        assert intake.run_id is None
    assert [a.status_code for a in answers] == [503, 503]  # even a bad body: not yet kept
    assert answers[0].json()["outcome"] == "unavailable"
    assert health.status_code == 200  # the process keeps serving until the database is back


def test_database_lost_after_start_is_503(pg_admin_url, pg_url, fake):
    first, second = finished_tasks(fake)[:2]
    admin = make_engine(pg_admin_url)
    name = pg_url.rsplit("/", 1)[1]
    with serving(pg_url) as (base, _):
        ok = post(base, webhook_body(first))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        lost = post(base, webhook_body(second))
    admin.dispose()
    assert (ok.status_code, lost.status_code) == (200, 503)


def test_the_same_delivery_twice_writes_nothing_the_second_time(db_url, fake):
    doc = finished_tasks(fake)[0]
    engine = make_engine(db_url)
    with serving(db_url) as (base, _):
        first = post(base, webhook_body(doc))
        with engine.connect() as conn:
            before = conn.execute(select(tasks)).one()._asdict()
        again = post(base, webhook_body(doc))
    assert (first.json()["outcome"], again.json()["outcome"]) == ("inserted", "unchanged")
    assert again.status_code == 200
    with engine.connect() as conn:
        after = conn.execute(select(tasks)).one()._asdict()
    assert after == before  # not even last_synced_at moved
    assert count(engine, task_changes) == 1
    engine.dispose()


def test_a_delivery_then_a_pull_of_the_same_task_writes_nothing_more(db_url, fake, fake_server):
    doc = finished_tasks(fake)[0]
    handle = doc["assignee"]
    engine = make_engine(db_url)
    with serving(db_url) as (base, intake):
        assert post(base, webhook_body(doc)).json()["outcome"] == "inserted"
        webhook_run = intake.run_id
        with engine.connect() as conn:
            before = conn.execute(select(tasks)).one()._asdict()
        result = sync_in_process(fake_server, fake, db_url, agents=(handle,))
    agent = result.agents[0]
    assert agent.inserted == len(fake.tasks(handle)) - 1  # the others are new to it
    assert (agent.moved, agent.changed_unmoved, agent.unchanged) == (0, 0, 1)
    with engine.connect() as conn:
        after = conn.execute(select(tasks).where(tasks.c.task_id == doc["task_id"])).one()
        kinds = conn.execute(
            select(task_changes.c.kind, task_changes.c.run_id).where(
                task_changes.c.task_id == doc["task_id"]
            )
        ).all()
    assert kinds == [("new", webhook_run)]  # the pull added no history row
    assert after.last_sync_run_id == webhook_run  # and did not rewrite the row
    assert after.fingerprint == before["fingerprint"]
    assert after.document == before["document"]
    # The fake's page bytes (json.dumps, spaced) are not the delivery's compact re-encoding:
    # that pull recorded the page's raw fingerprint (RAW_MOVED), so the next one skips it.
    assert after.raw_fingerprint != before["raw_fingerprint"]
    again = sync_in_process(fake_server, fake, db_url, agents=(handle,)).agents[0]
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(fake.tasks(handle)))
    engine.dispose()


def test_a_pull_then_a_delivery_writes_nothing_and_a_change_is_recorded(pg_url, fake, fake_server):
    docs = finished_tasks(fake)
    doc = docs[0]
    sync_in_process(fake_server, fake, pg_url, agents=(doc["assignee"],))
    engine = make_engine(pg_url)
    changes_before = count(engine, task_changes)
    changed = {**doc, "status": "failed", "last_status_change": "2026-02-03T10:00:00.000000"}
    older = {**doc, "status": "pending", "last_status_change": "2025-12-01T10:00:00.000000"}
    with serving(pg_url) as (base, intake):
        same = post(base, webhook_body(doc))
        moved = post(base, webhook_body(changed))
        stale = post(base, webhook_body(older))
        run_id = intake.run_id
    assert [a.json()["outcome"] for a in (same, moved, stale)] == ["unchanged", "updated", "stale"]
    with engine.connect() as conn:
        new_rows = conn.execute(
            select(task_changes.c.kind, task_changes.c.status_after, task_changes.c.run_id).where(
                task_changes.c.run_id == run_id
            )
        ).all()
        status = conn.execute(select(tasks.c.status).where(tasks.c.task_id == doc["task_id"]))
        assert status.scalar() == "failed"  # the stale retry did not roll it back
    assert new_rows == [("moved", "failed", run_id)]
    assert count(engine, task_changes) == changes_before + 1
    engine.dispose()

"""Deliveries take the sync's own paths: reassignment, call-id conflicts, healed rejections,
and deliveries of one process written one at a time."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from tests.intake.serving import SECRET, serving
from unpod_etl.fakeapi.webhook import webhook_body
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import calls, rejected_records, task_changes, tasks

HEADERS = {"X-Webhook-Secret": SECRET}


def call_tasks(fake) -> list[dict]:
    found = [
        d
        for h in fake.published_handles()
        for d in fake.tasks(h)
        if isinstance(d.get("output"), dict) and d["output"].get("call_id")
    ]
    assert len(found) >= 2
    return found


def post(base: str, doc: dict) -> requests.Response:
    return requests.post(base + "/unpod/tasks", data=webhook_body(doc), headers=HEADERS, timeout=30)


def test_reassignment_and_a_call_id_conflict(pg_url, fake):
    first, second = call_tasks(fake)[:2]
    moved = {**first, "assignee": "another-agent"}
    claimant = {**second, "output": {**second["output"], "call_id": first["output"]["call_id"]}}
    with serving(pg_url) as (base, _):
        answers = [post(base, first), post(base, moved), post(base, claimant)]
    assert [a.json()["outcome"] for a in answers] == ["inserted", "reassigned", "call_conflict"]
    assert [a.status_code for a in answers] == [200, 200, 200]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        stored = conn.execute(select(tasks.c.task_id, tasks.c.agent_handle)).all()
        call_owner = conn.execute(select(calls.c.task_id, calls.c.agent_handle)).all()
        kinds = conn.execute(
            select(task_changes.c.kind, task_changes.c.agent_before).order_by(
                task_changes.c.change_id
            )
        ).all()
        kept = conn.execute(select(rejected_records.c.task_id, rejected_records.c.reason)).all()
    engine.dispose()
    assert stored == [(first["task_id"], "another-agent")]  # the claimant was kept aside
    assert call_owner == [(first["task_id"], "another-agent")]  # the call moved with its task
    assert kinds == [("new", None), ("reassigned", first["assignee"])]
    assert len(kept) == 1 and kept[0][0] == second["task_id"]
    assert "claims it too" in kept[0][1]


def test_a_rejected_task_delivered_fine_later_is_resolved(sqlite_url, fake):
    doc = call_tasks(fake)[0]
    broken = {**doc, "output": {**doc["output"], "call_id": "c" * 300}}  # longer than a key
    with serving(sqlite_url) as (base, _):
        bad, good = post(base, broken), post(base, doc)
    assert (bad.status_code, good.status_code) == (400, 200)
    assert bad.json()["reason"].startswith("call_id longer than")
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        kept = conn.execute(select(rejected_records)).one()
    engine.dispose()
    assert kept.task_id == doc["task_id"] and kept.resolved_at is not None


def test_simultaneous_deliveries_of_one_task_insert_it_once(pg_url, fake):
    doc = call_tasks(fake)[0]
    with serving(pg_url) as (base, _), ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(base, doc), range(8)))
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["inserted"] + ["unchanged"] * 7
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(task_changes)).scalar() == 1
    engine.dispose()
    assert json.loads(answers[0].text)["task_id"] == doc["task_id"]

"""The fake's reshaping kinds look on the wire the way another server would send them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from unpod_etl.fakeapi import FakeServer, FakeUnpod

AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=1, tasks_per_agent=45, seed=5, unpublished_agents=0)


@pytest.fixture
def server(fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(fake) as running:
        yield running


def page(server: FakeServer, handle: str, number: int, size: int) -> dict[str, Any]:
    resp = requests.get(
        f"{server.url}/api/v2/platform/agents/{handle}/tasks/",
        headers=AUTH,
        params={"page": number, "page_size": size},
        timeout=5,
    )
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [doc["task_id"] for doc in body["data"]]


def test_ignore_page_size_serves_twenty_by_the_servers_own_numbering(fake, server):
    handle = fake.published_handles()[0]
    fake.faults.inject("ignore_page_size", agent=handle)
    everything = [t["task_id"] for t in fake.tasks(handle)]
    assert ids(page(server, handle, 1, 100)) == everything[:20]
    assert ids(page(server, handle, 3, 7)) == everything[40:]


@pytest.mark.parametrize(("factor", "count"), [(0.5, 22), (2, 90)])
def test_wrong_count_either_way(fake, server, factor, count):
    handle = fake.published_handles()[0]
    fake.faults.inject("wrong_count", agent=handle, factor=factor)
    body = page(server, handle, 1, 10)
    assert body["count"] == count and len(body["data"]) == 10


def test_repeat_page_answers_page_one(fake, server):
    handle = fake.published_handles()[0]
    fake.faults.inject("repeat_page", agent=handle)
    assert ids(page(server, handle, 4, 10)) == ids(page(server, handle, 1, 10))


def test_shift_deletes_a_task_before_serving_the_page(fake, server):
    handle = fake.published_handles()[0]
    before = [t["task_id"] for t in fake.tasks(handle)]
    fault = fake.faults.inject("shift", agent=handle, page=2, times=1)
    body = page(server, handle, 2, 10)
    assert fault.details == [before[0]] and body["count"] == 44
    assert ids(body) == before[11:21]  # before[10] moved onto page 1


def test_value_shapes(fake, server):
    handle = fake.published_handles()[0]
    fake.faults.inject("epoch_times", agent=handle, times=1)
    fake.faults.inject("string_post_call_data", agent=handle, times=1)
    fake.faults.inject("number_transcript", agent=handle, times=1, value=7)
    epoch_docs = page(server, handle, 1, 45)["data"]
    assert all(isinstance(d["modified"], int) and d["modified"] > 10**12 for d in epoch_docs)
    pcd_docs = page(server, handle, 1, 45)["data"]
    strings = [d["output"]["post_call_data"] for d in pcd_docs if "post_call_data" in d["output"]]
    assert strings and all(isinstance(s, str) for s in strings)
    assert any(isinstance(json.loads(s), dict) and json.loads(s) for s in strings)
    lists = [d["output"].get("transcript") for d in page(server, handle, 1, 45)["data"]]
    numbered = [t for t in lists if isinstance(t, list) and len(t) > 1]
    assert numbered and all(t[1] == 7 for t in numbered)


def test_reshaping_kinds_are_for_the_tasks_route_only(fake):
    with pytest.raises(ValueError, match="tasks route only"):
        fake.faults.inject("wrong_count", route="agents")

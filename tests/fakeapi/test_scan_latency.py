"""Scan latency (fake.access.scan_latency): task pages answered later the bigger the agent and
the deeper the page, as the unindexed, sorted tasks query does (the API notes)."""

from __future__ import annotations

import time

import pytest
import requests

from unpod_etl.fakeapi import FakeServer, FakeUnpod, ScanLatency, respond

AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}
MODEL = ScanLatency(base=0.01, per_task_total=0.0001, per_task_offset=0.001)


def tasks_path(handle: str, page: int, page_size: int) -> str:
    return f"/api/v2/platform/agents/{handle}/tasks/?page={page}&page_size={page_size}"


def test_off_by_default():
    fake = FakeUnpod(1, 40)
    assert respond(fake, "GET", tasks_path(fake.all_handles()[0], 2, 10), AUTH).delay == 0.0


@pytest.mark.parametrize(
    ("page", "want"),
    [
        (1, 0.01 + 0.0001 * 40),
        (3, 0.01 + 0.0001 * 40 + 0.001 * 20),
        (9, 0.01 + 0.0001 * 40 + 0.001 * 40),  # past the end: the whole list skipped
    ],
)
def test_delay_grows_with_the_total_and_the_offset(page: int, want: float):
    fake = FakeUnpod(1, 40)
    fake.access.scan_latency = MODEL
    reply = respond(fake, "GET", tasks_path(fake.all_handles()[0], page, 10), AUTH)
    assert reply.status == 200
    assert reply.delay == pytest.approx(want)


def test_a_bigger_agent_answers_later():
    small, big = FakeUnpod(1, 40), FakeUnpod(1, 400)
    for fake in (small, big):
        fake.access.scan_latency = MODEL
    delays = [
        respond(f, "GET", tasks_path(f.all_handles()[0], 1, 10), AUTH).delay for f in (small, big)
    ]
    assert delays[1] - delays[0] == pytest.approx(0.0001 * 360)


def test_only_task_pages_wait():
    fake = FakeUnpod(1, 40)
    fake.access.scan_latency = MODEL
    assert respond(fake, "GET", "/api/v2/platform/agents/", AUTH).delay == 0.0
    assert respond(fake, "GET", tasks_path("no-such-agent", 1, 10), AUTH).delay == 0.0


def test_the_server_waits_the_delay():
    fake = FakeUnpod(1, 40)
    fake.access.scan_latency = ScanLatency(base=0.3)
    with FakeServer(fake, port=0) as server:
        started = time.monotonic()
        got = requests.get(
            server.url + tasks_path(fake.all_handles()[0], 1, 10), headers=AUTH, timeout=10
        )
        waited = time.monotonic() - started
    assert got.status_code == 200 and waited >= 0.3
    assert ScanLatency(0.001, 2e-6, 3e-6).describe() == (
        "1 ms + 2 us per task of the agent + 3 us per task before the page"
    )

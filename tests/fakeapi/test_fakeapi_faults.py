"""Fault injection in the fake Unpod API: each fault looks on the wire the way it should,
fires only where its rule says, and is logged."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from unpod_etl.fakeapi import FakeServer, FakeUnpod, FiredFault, respond

API = "/api/v2/platform"
AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=3, tasks_per_agent=25, seed=3, unpublished_agents=0)


@pytest.fixture
def server(fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(fake) as running:
        yield running


def get_tasks(
    server: FakeServer, handle: str, page: int = 1, page_size: int = 10, timeout: float = 5
) -> requests.Response:
    return requests.get(
        f"{server.url}{API}/agents/{handle}/tasks/",
        headers=AUTH,
        params={"page": page, "page_size": page_size},
        timeout=timeout,
    )


def get_agents(server: FakeServer) -> requests.Response:
    return requests.get(f"{server.url}{API}/agents/", headers=AUTH, timeout=5)


def raw_get(server: FakeServer, path: str) -> tuple[dict[str, str], bytes]:
    """Headers and every body byte the server sent before closing (no client-side checks)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Token fake-token\r\n\r\n"
        conn.sendall(request.encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return {"Status": lines[0].split()[1], **headers}, body


def test_429_carries_retry_after_in_seconds_or_as_an_http_date(
    server: FakeServer, fake: FakeUnpod
) -> None:
    handle = fake.published_handles()[0]
    in_seconds = fake.faults.inject("429", times=1, retry_after=2)
    first = get_tasks(server, handle)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    assert first.headers["Content-Type"].startswith("text/html")
    assert in_seconds.fired == 1
    assert get_tasks(server, handle).status_code == 200  # times=1: spent
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    fake.faults.inject("429", times=1, retry_after=when)
    dated = get_tasks(server, handle)
    assert dated.status_code == 429
    assert dated.headers["Retry-After"].endswith(" GMT")
    assert parsedate_to_datetime(dated.headers["Retry-After"]) == when
    bare = fake.faults.inject("429", times=1)
    assert "Retry-After" not in get_tasks(server, handle).headers
    assert bare.fired == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_an_html_page_with_that_status(
    server: FakeServer, fake: FakeUnpod, status: int
) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("5xx", times=2, status=status)
    answers = [get_tasks(server, handle) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].headers["Content-Type"].startswith("text/html")
    assert f"{status}" in answers[0].text and answers[0].text.lstrip().startswith("<")


def test_bad_rules_are_refused(fake: FakeUnpod) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake.faults.inject("teapot")
    with pytest.raises(ValueError, match="5xx"):
        fake.faults.inject("5xx", status=501)
    with pytest.raises(TypeError, match="delay"):
        fake.faults.inject("429", delay=3)
    with pytest.raises(ValueError, match="route"):
        fake.faults.inject("html200", route="calls")
    with pytest.raises(ValueError, match="every"):
        fake.faults.inject("html200", every=0)
    assert fake.faults.rules == []


def test_rules_match_by_agent_page_route_and_page_size(server: FakeServer, fake: FakeUnpod) -> None:
    first, second, _ = fake.published_handles()
    by_page = fake.faults.inject("5xx", agent=second, page=2, status=503)
    by_size = fake.faults.inject("5xx", larger_than=20, status=504)
    assert get_tasks(server, first, page=2).status_code == 200  # other agent
    assert get_tasks(server, second, page=1).status_code == 200  # other page
    assert get_tasks(server, second, page=2).status_code == 503
    assert get_tasks(server, second, page=2).status_code == 503  # no `times`: persistent
    assert get_tasks(server, first, page_size=21).status_code == 504
    assert get_tasks(server, first, page_size=20).status_code == 200
    assert get_agents(server).status_code == 200  # route="tasks" is the default
    assert (by_page.fired, by_size.fired) == (2, 1)
    assert fake.faults.fired == [
        FiredFault("5xx", "tasks", second, 2),
        FiredFault("5xx", "tasks", second, 2),
        FiredFault("5xx", "tasks", first, 1),
    ]
    fake.faults.clear()
    assert get_tasks(server, second, page=2).status_code == 200
    assert len(fake.faults.fired) == 3  # the log outlives the rules


def test_agents_route_and_any_route(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("5xx", route="agents", times=1, status=502)
    assert get_agents(server).status_code == 502
    assert get_tasks(server, handle).status_code == 200
    fake.faults.inject("html200", route="any", times=2)
    assert get_agents(server).headers["Content-Type"].startswith("text/html")
    assert get_tasks(server, handle).headers["Content-Type"].startswith("text/html")
    assert get_agents(server).json()["status_code"] == 200
    assert fake.faults.fired_kinds() == ["5xx", "html200", "html200"]


def test_every_after_and_times(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    rule = fake.faults.inject("5xx", after=1, every=2, times=2, status=500)
    statuses = [get_tasks(server, handle).status_code for _ in range(7)]
    arrivals = [record.at for record in fake.access.requests]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0
    # request 1 skipped (after=1); then every 2nd of the rest, twice: requests 3 and 5
    assert statuses == [200, 200, 500, 200, 500, 200, 200]
    assert (rule.matched, rule.fired) == (7, 2)


def test_slow_reply_passes_a_client_timeout_and_does_not_block_shutdown(
    fake: FakeUnpod,
) -> None:
    handle = fake.published_handles()[0]
    server = FakeServer(fake).start()
    rule = fake.faults.inject("slow", times=1, delay=1.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get_tasks(server, handle, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert get_tasks(server, handle, timeout=0.3).status_code == 200  # the next one is fast
    assert rule.fired == 1
    fake.faults.inject("slow", times=1, delay=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get_tasks(server, handle, timeout=0.2)
    started = time.monotonic()
    server.stop()  # a request still asleep in its thread must not hold the server
    assert time.monotonic() - started < 1.0


def test_slow_is_a_field_of_the_reply_without_sockets(fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("slow", delay=0.7)
    reply = respond(fake, "GET", f"{API}/agents/{handle}/tasks/?page=1", AUTH)
    assert (reply.status, reply.delay) == (200, 0.7)
    assert len(json.loads(reply.body)["data"]) == 20


def test_disconnect_promises_more_than_it_sends(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    path = f"{API}/agents/{handle}/tasks/?page=1&page_size=10"
    full = get_tasks(server, handle).content
    fake.faults.inject("disconnect", times=2, keep=0.25)
    headers, body = raw_get(server, path)
    assert headers["Status"] == "200"
    assert int(headers["Content-Length"]) == len(full)
    assert 0 < len(body) < len(full) and full.startswith(body)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get_tasks(server, handle)
    assert get_tasks(server, handle).content == full


def test_truncated_json_has_an_honest_content_length(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    full = get_tasks(server, handle).content
    rule = fake.faults.inject("truncated", page=1)
    cut = get_tasks(server, handle)
    assert cut.status_code == 200
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    assert 0 < len(cut.content) < len(full) and full.startswith(cut.content)
    with pytest.raises(ValueError):
        cut.json()
    assert get_tasks(server, handle, page=2).json()["status_code"] == 200
    assert rule.fired == 1


def test_html_with_200(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("html200", agent=handle)
    reply = get_tasks(server, handle)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError):
        reply.json()


def test_wrong_shape_keeps_the_envelope_but_data_is_no_list(
    server: FakeServer, fake: FakeUnpod
) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("wrong_shape", times=1)
    body = get_tasks(server, handle).json()
    assert body["status_code"] == 200 and body["count"] == 25
    assert isinstance(body["data"], dict)
    assert len(body["data"]["results"]) == 10  # the real page, one level too deep
    fake.faults.inject("wrong_shape", times=1, data="oops")
    assert get_tasks(server, handle).json()["data"] == "oops"


def test_missing_task_id_strips_one_document(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[1]
    expected = fake.tasks(handle)[10:20]  # page 2 of size 10
    rule = fake.faults.inject("missing_task_id", agent=handle, page=2, index=3)
    data: list[dict[str, Any]] = get_tasks(server, handle, page=2).json()["data"]
    assert "task_id" not in data[3]
    assert rule.details == [expected[3]["task_id"]]
    assert [d.get("task_id") for d in data] == [
        None if i == 3 else t["task_id"] for i, t in enumerate(expected)
    ]
    assert data[3]["_id"] == expected[3]["_id"]  # the rest of the document is intact
    fake.faults.clear()
    fake.faults.inject("missing_task_id", times=1, value=None)
    assert get_tasks(server, handle).json()["data"][0]["task_id"] is None


@pytest.mark.parametrize(
    ("variant", "message"),
    [("no_access", "You Don't have Access to this Agent's Space"), ("fetch_failed", None)],
)
def test_206_both_variants(
    server: FakeServer, fake: FakeUnpod, variant: str, message: str | None
) -> None:
    first, second, _ = fake.published_handles()
    fake.faults.inject("206", agent=first, page=2, variant=variant)
    assert get_tasks(server, first, page=1).status_code == 200
    refused = get_tasks(server, first, page=2)
    assert refused.status_code == 206
    body = refused.json()
    assert body["status_code"] == 206
    if message is None:
        assert body["message"] == "Tasks Fetch Failed" and body["errors"]
    else:
        assert body == {"status_code": 206, "message": message, "data": {}}
    assert get_tasks(server, second, page=2).status_code == 200


def test_401_mid_run_revokes_the_token_for_good(server: FakeServer, fake: FakeUnpod) -> None:
    first, second, _ = fake.published_handles()
    rule = fake.faults.inject("401", page=2)
    assert get_tasks(server, first, page=1).status_code == 200
    revoked = get_tasks(server, first, page=2)
    assert revoked.status_code == 401
    assert revoked.json() == {"message": "Unauthorized Access", "error": "Expired Auth Token"}
    assert fake.access.token_revoked
    assert get_tasks(server, second, page=1).status_code == 401
    assert get_agents(server).status_code == 401
    assert rule.fired == 1  # later refusals come from the revoked token, not the rule


def test_401_without_revoking_refuses_once(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("401", times=1, revoke=False, variant="invalid")
    refused = get_tasks(server, handle)
    assert refused.json() == {"message": "Invalid token.", "status_code": 401}
    assert not fake.access.token_revoked
    assert get_tasks(server, handle).status_code == 200


def test_first_due_rule_answers(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("5xx", times=1, status=502)
    fake.faults.inject("5xx", times=1, status=503)
    fake.faults.inject("5xx", times=1, status=500)
    statuses = [get_tasks(server, handle).status_code for _ in range(4)]
    assert statuses == [502, 503, 500, 200]

"""The fake's rate limit (the published docs' behaviour): a fixed window announced on every
answer, a 429 with the documented body past it, off by default. Its clock is injected, so
no test waits for a window to pass."""

from __future__ import annotations

import json

import pytest
import requests

from unpod_etl.fakeapi import FakeServer, FakeUnpod, RateLimitWindow, respond

API = "/api/v2/platform"
AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}


class Wall:
    """An epoch clock a test moves by hand."""

    def __init__(self, at: float = 1_780_000_000.25) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=1, tasks_per_agent=5, seed=3, unpublished_agents=0)


def get(fake: FakeUnpod, path: str = "agents/", headers: dict[str, str] | None = None):
    return respond(fake, "GET", f"{API}/{path}", AUTH if headers is None else headers)


def test_off_by_default_no_headers_no_429(fake: FakeUnpod):
    replies = [get(fake) for _ in range(30)]
    assert {r.status for r in replies} == {200}
    assert all(not any(h.startswith("X-RateLimit") for h in r.headers) for r in replies)


def test_a_window_admits_limit_requests_then_answers_429_until_it_resets(fake: FakeUnpod):
    wall = Wall()
    fake.access.rate_limit = window = RateLimitWindow(3, 10.0, wall=wall)
    replies = [get(fake) for _ in range(5)]
    assert [r.status for r in replies] == [200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in replies} == {"3"}
    # Epoch seconds, rounded up: 1_780_000_000.25 + 10 -> ...011
    assert {r.headers["X-RateLimit-Reset"] for r in replies} == {"1780000011"}
    assert json.loads(replies[3].body) == {
        "error": {"code": "rate_limit_exceeded", "message": "Too many requests. Try again later."}
    }
    assert "Retry-After" not in replies[3].headers
    assert (window.admitted, window.refused) == (3, 2)
    wall.at += 9.9  # still the same window
    assert get(fake).status == 429
    wall.at += 0.1  # over: a fresh window starts with this request
    fresh = get(fake)
    assert fresh.status == 200 and fresh.headers["X-RateLimit-Remaining"] == "2"
    assert fresh.headers["X-RateLimit-Reset"] == "1780000021"
    assert len(fake.access.requests) == 7  # refused requests are logged too


def test_every_answer_carries_the_headers_even_errors(fake: FakeUnpod):
    fake.access.rate_limit = RateLimitWindow(10, 60.0, wall=Wall())
    refused_token = get(fake, headers={"Authorization": "Token wrong"})
    missing = get(fake, "agents/nobody/tasks/")
    assert (refused_token.status, missing.status) == (401, 404)
    assert refused_token.headers["X-RateLimit-Remaining"] == "9"
    assert missing.headers["X-RateLimit-Remaining"] == "8"


def test_retry_after_when_asked_and_headers_on_the_wire(fake: FakeUnpod):
    wall = Wall(1_780_000_000.0)
    fake.access.rate_limit = RateLimitWindow(1, 30.0, retry_after=True, wall=wall)
    with FakeServer(fake) as server:
        first = requests.get(f"{server.url}{API}/agents/", headers=AUTH, timeout=5)
        wall.at += 12.5
        second = requests.get(f"{server.url}{API}/agents/", headers=AUTH, timeout=5)
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "0"
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "18"  # 17.5 s left, rounded up
    assert second.headers["X-RateLimit-Reset"] == "1780000030"
    assert second.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_window_needs_a_limit_and_a_length():
    with pytest.raises(ValueError):
        RateLimitWindow(0, 1.0)
    with pytest.raises(ValueError):
        RateLimitWindow(1, 0.0)

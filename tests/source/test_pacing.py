"""Pacing (source/pacing.py): a sync against the docs' rate limit draws no 429, and
--max-requests-per-second spaces the run's requests. Real fake server, real SQLite files.

Timing assertions are lower bounds on spacing only (never "finished within"), so a slow or
busy machine cannot fail them."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from tests.cli.one_line import api_args, assert_one_line, invoke
from unpod_etl.cli.main import main
from unpod_etl.core import clock
from unpod_etl.core.errors import ConfigError
from unpod_etl.fakeapi import FakeServer, FakeUnpod, RateLimitWindow
from unpod_etl.pipeline.metrics import build_registry
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.source.client import UnpodClient
from unpod_etl.source.pacing import ServerBudget
from unpod_etl.source.stats import RequestStats
from unpod_etl.warehouse.schema import tasks

PAGE_SIZE = 4
API = "/api/v2/platform"


@pytest.fixture
def small_fake() -> FakeUnpod:
    # 2 agents x 12 tasks in pages of 4: ~9 requests, more than two windows of 4.
    return FakeUnpod(agents=2, tasks_per_agent=12, seed=5, unpublished_agents=0)


@pytest.fixture
def server(small_fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(small_fake) as running:
        yield running


def stored_tasks(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tasks)).scalar_one())
    finally:
        engine.dispose()


def sync(server: FakeServer, fake: FakeUnpod, url: str, **options: object):  # type: ignore[no-untyped-def]
    config = SyncConfig(server.url, fake.token, fake.org, url, page_size=PAGE_SIZE, **options)  # type: ignore[arg-type]
    runner = SyncRunner(config)
    return runner, runner.run()


def total_tasks(fake: FakeUnpod) -> int:
    return sum(len(fake.tasks(handle)) for handle in fake.published_handles())


# -- the server's announced budget ---------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_sync_within_a_small_window_draws_no_429_and_loads_everything(
    server, small_fake, sqlite_url, workers
):
    small_fake.access.rate_limit = window = RateLimitWindow(4, 0.3)
    runner, result = sync(server, small_fake, sqlite_url, workers=workers)
    assert result.exit_code == 0
    assert stored_tasks(sqlite_url) == total_tasks(small_fake)
    assert window.admitted > window.limit  # the run needed more than one window
    assert window.refused == 0
    assert runner.client.stats.waits >= 1 and runner.client.stats.retries == 0
    assert runner.client.stats.waited_seconds > 0
    registry = build_registry(result, 1.0, clock.now(), runner.client.stats)
    waits = registry.get_sample_value("unpod_etl_last_run_rate_limit_waits")
    assert waits == runner.client.stats.waits


def test_a_client_ignoring_the_headers_would_draw_429s(server, small_fake):
    """The same walk, sent as fast as it goes: the window does refuse (so the test above
    can fail)."""
    small_fake.access.rate_limit = window = RateLimitWindow(3, 30.0)
    headers = {"Authorization": f"Token {small_fake.token}", "Org-Handle": small_fake.org}
    with requests.Session() as session:
        for handle, page in itertools.product(small_fake.published_handles(), (1, 2, 3)):
            url = f"{server.url}{API}/agents/{handle}/tasks/"
            session.get(url, params={"page": page, "page_size": PAGE_SIZE}, headers=headers)
    assert window.refused == 3


def test_a_429_that_comes_anyway_is_retried_and_the_retry_waits_for_the_reset(
    server, small_fake, sqlite_url
):
    small_fake.access.rate_limit = window = RateLimitWindow(1, 0.3, retry_after=True)
    # Another client spends the window first: ours learns of it only from its 429.
    requests.get(f"{server.url}{API}/agents/", headers={"Authorization": "Token x"}, timeout=5)
    client = UnpodClient(server.url, small_fake.token, small_fake.org)
    assert len(client.list_agents()) == 2
    assert window.refused == 1 and client.stats.retries == 1


# -- ServerBudget alone: injected wall clock and sleep, no waiting --------------------------


class Manual:
    def __init__(self) -> None:
        self.at = 1_780_000_000.0
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


def budget(manual: Manual, max_wait: float = 120.0) -> tuple[ServerBudget, RequestStats]:
    stats = RequestStats()
    return ServerBudget(max_wait, stats, wall=manual.wall, sleep=manual.sleep), stats


def answered(left: int, reset: str, limit: str = "5") -> dict[str, str]:
    return {
        "x-ratelimit-limit": limit,
        "X-RateLimit-Remaining": str(left),
        "x-ratelimit-reset": reset,
    }


@pytest.mark.parametrize("reset", ["1780000007", "7", "7.0"], ids=["epoch", "delta", "float"])
def test_a_spent_budget_waits_until_the_reset_epoch_or_seconds_from_now(reset):
    manual = Manual()
    paced, stats = budget(manual)
    paced.acquire()
    paced.done(answered(0, reset))
    paced.acquire()  # spent: waits for the reset
    assert manual.slept == [pytest.approx(7.0)]
    assert (stats.waits, stats.waited_seconds >= 0) == (1, True)


def test_the_wait_is_capped_and_no_headers_mean_no_wait(caplog):
    manual = Manual()
    paced, _ = budget(manual, max_wait=2.0)
    for _ in range(20):  # a server that announces nothing is never waited for
        paced.acquire()
        paced.done({})
    assert manual.slept == []
    paced.acquire()
    paced.done(answered(0, str(int(manual.at) + 3600)))  # a proxy asking for an hour
    with caplog.at_level(logging.INFO, logger="unpod_etl.source.pacing"):
        paced.acquire()
    assert manual.slept == [2.0]
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_requests_in_flight_count_against_the_budget():
    """Three workers send at once against a limit of 3: the first answer (2 left) must not
    let a fourth go before the reset."""
    manual = Manual()
    paced, _ = budget(manual)
    for _ in range(3):
        paced.acquire()
    paced.done(answered(2, "10", limit="3"))
    paced.acquire()
    assert manual.slept == [pytest.approx(10.0)]
    # After the reset the announced limit is the new budget, counted down locally.
    paced.acquire()
    paced.acquire()
    assert len(manual.slept) == 1


def test_workers_waiting_for_one_reset_log_one_line(caplog):
    manual = Manual()
    both_asleep = threading.Barrier(2, timeout=10)

    def sleep(seconds: float) -> None:  # returns once both workers are waiting
        manual.slept.append(seconds)
        both_asleep.wait()

    stats = RequestStats()
    paced = ServerBudget(120.0, stats, wall=manual.wall, sleep=sleep)
    paced.acquire()
    paced.done(answered(0, "30"))
    with caplog.at_level(logging.INFO, logger="unpod_etl.source.pacing"):
        workers = [threading.Thread(target=paced.acquire) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
    assert manual.slept == [pytest.approx(30.0)] * 2 and stats.waits == 2
    assert len(caplog.records) == 1


def test_an_answer_arriving_after_its_window_ended_does_not_reopen_the_budget():
    manual = Manual()
    paced, _ = budget(manual)
    for _ in range(2):
        paced.acquire()
    paced.done(answered(0, "5", limit="2"))  # spent; the other request is still out
    paced.acquire()  # waits 5 s, then the next window's 2 are ours: this one...
    paced.acquire()  # ...and this one
    paced.done(answered(1, str(int(manual.at) - 1), limit="2"))  # the old one, late: ignored
    third = threading.Thread(target=paced.acquire)
    third.start()  # the new window is spent and its reset unknown: waits for an answer
    third.join(0.2)
    assert third.is_alive()
    paced.done(answered(0, "10", limit="2"))  # the new window's first answer
    third.join(10)
    assert not third.is_alive()
    assert manual.slept == [pytest.approx(5.0), pytest.approx(10.0)]


def test_a_late_answer_of_an_older_window_does_not_raise_the_budget():
    manual = Manual()
    paced, _ = budget(manual)
    paced.acquire()
    paced.acquire()
    paced.done(answered(0, "1780000010"))
    paced.done(answered(4, "1780000005"))  # older window, answered late
    paced.acquire()
    assert manual.slept == [pytest.approx(10.0)]


# -- our own cap ---------------------------------------------------------------------------


def overshoot(times: list[float], interval: float) -> float:
    """How far the densest stretch of requests beats one per `interval`: the largest
    j * interval - (t_j - t_0), in seconds (<= 0: never faster than the cap).

    Measured from the run's first request (the agent list, sent while nothing else runs),
    not between neighbours: a request held up between the cap and the socket (the GIL, a
    busy machine) arrives late and its successor seems close, but lateness only ever adds
    to t_j - t_0. So this is a lower bound on spacing that no slow machine can break."""
    ordered = sorted(times)
    return max(j * interval - (t - ordered[0]) for j, t in enumerate(ordered))


def arrivals(fake: FakeUnpod) -> list[float]:
    return [r.at for r in fake.access.requests]


def test_overshoot_finds_requests_denser_than_the_cap():
    assert overshoot([0.0, 0.1, 0.2, 0.3], 0.1) == pytest.approx(0.0)
    assert overshoot([0.0, 0.18, 0.2, 0.3], 0.1) == pytest.approx(0.0)  # one came late
    assert overshoot([0.0, 0.1, 0.12, 0.14], 0.1) == pytest.approx(0.16)  # three too soon


@pytest.mark.parametrize("workers", [1, 3])
def test_max_requests_per_second_spaces_every_request_of_the_run(
    server, small_fake, sqlite_url, workers
):
    runner, result = sync(
        server, small_fake, sqlite_url, workers=workers, max_requests_per_second=10
    )
    assert result.exit_code == 0 and stored_tasks(sqlite_url) == total_tasks(small_fake)
    assert len(small_fake.access.requests) >= 7
    # 10/s: one per 100 ms; 20 ms of slack for the first request's own trip to the server.
    assert overshoot(arrivals(small_fake), 0.1) <= 0.02, sorted(arrivals(small_fake))
    assert runner.client.stats.waits >= 1


def test_without_a_cap_nothing_waits(server, small_fake, sqlite_url):
    runner, _ = sync(server, small_fake, sqlite_url, workers=3)
    assert runner.client.stats.waits == 0 and runner.client.stats.waited_seconds == 0


def test_a_cap_must_be_more_than_zero(sqlite_url):
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="max_requests_per_second"):
            SyncConfig("http://x", "t", "o", sqlite_url, max_requests_per_second=bad)
        with pytest.raises(ConfigError, match="max requests per second"):
            UnpodClient("http://x", "t", "o", max_requests_per_second=bad)


# -- the CLI and its config file -----------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "-2", "abc", "nan", ""])
def test_a_bad_cap_is_exit_2_one_line_before_any_request(server, small_fake, tmp_path, bad):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    result = invoke("sync", *api_args(server.url, small_fake), "--database-url", url,
                    "--max-requests-per-second", bad)  # fmt: skip
    assert assert_one_line(result).startswith("error: --max-requests-per-second must be")
    assert small_fake.access.requests == []
    assert not (tmp_path / "w.db").exists()


def test_the_cap_from_the_config_file_and_bad_values_from_file_or_environment(
    server, small_fake, tmp_path: Path
):
    config = tmp_path / "etl.toml"
    config.write_text("[sync]\nmax_requests_per_second = 10\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    result = invoke("--config", str(config), "sync", *api_args(server.url, small_fake),
                    "--database-url", url, "--page-size", str(PAGE_SIZE))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert overshoot(arrivals(small_fake), 0.1) <= 0.02
    # A bad value in the file (a top-level key this time) is the same one line.
    config.write_text("max_requests_per_second = 0\n", encoding="utf-8")
    bad_file = invoke("--config", str(config), "sync", *api_args(server.url, small_fake),
                      "--database-url", url)  # fmt: skip
    assert "got 0" in assert_one_line(bad_file)
    bad_env = CliRunner().invoke(
        main,
        ["sync", *api_args(server.url, small_fake), "--database-url", url],
        env={"UNPOD_ETL_MAX_REQUESTS_PER_SECOND": "-3", "UNPOD_ETL_CONFIG": None},
    )
    assert "got '-3'" in assert_one_line(bad_env)

"""Being polite to the API: wait rather than draw a 429.

Two limits, both shared by the worker threads of one UnpodClient:

- the server's budget, when it announces one (X-RateLimit-Limit / -Remaining / -Reset, as the
  published docs describe): once it is spent, wait until the reset. Remaining is counted down
  locally for every request sent, so several workers do not all spend the last request, and
  an answer only ever lowers it within one window (answers arrive out of order).
- our own cap, `max_requests_per_second`, through pyrate-limiter.

A 429 that comes anyway goes through the retry path (retrying.py, Retry-After honoured); its
headers still teach the budget, so the retry waits for the reset here too.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping

from pyrate_limiter import InMemoryBucket, Limiter, Rate

from unpod_etl.core import clock
from unpod_etl.source.stats import RequestStats

log = logging.getLogger(__name__)

# A Reset above this is an epoch time; below, seconds from now (about 31 years of seconds:
# no window is that long, and no epoch time that small is in the future).
EPOCH_THRESHOLD = 1e9


def _wall() -> float:
    return clock.now().timestamp()


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value >= 0 else None


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        value = float(raw.strip()) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


class ServerBudget:
    """What the server last said is left of its window, counted down for each request sent."""

    def __init__(
        self,
        max_wait: float,
        stats: RequestStats,
        *,
        wall: Callable[[], float] = _wall,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_wait = max_wait  # a proxy may announce a reset hours away: RetryPolicy's cap
        self._stats, self._wall, self._sleep = stats, wall, sleep
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)  # notified by done()
        self._limit: int | None = None
        self._remaining: int | None = None  # None: no budget known (the server sends none)
        self._reset_at: float | None = None  # epoch seconds the window ends
        self._in_flight = 0
        self._announced: float | None = None  # the reset the last wait was logged for

    def acquire(self) -> None:
        """Take one request of the budget, waiting for the reset when none is left."""
        while True:
            with self._lock:
                remaining, reset_at = self._remaining, self._reset_at
                if remaining is None or remaining > 0:
                    self._take()
                    return
                if reset_at is None:  # a new window, spent before any of its answers came
                    if self._in_flight == 0:  # nothing will tell us more: go
                        self._take()
                        return
                    self._answered.wait(self.max_wait)  # its reset is on the way
                    continue
                wait = reset_at - self._wall()
                if wait <= 0:  # the window is over: a fresh budget
                    self._fresh_window(reset_at)
                    self._take()
                    return
                # Several workers wait for the same reset: one line says so, not one each.
                first, self._announced = self._announced != reset_at, reset_at
            wait = min(wait, self.max_wait)
            if first:
                log.info(
                    "the API's rate limit is spent for this window: waiting %.1fs for its reset",
                    wait,
                )
            started = time.monotonic()
            self._sleep(wait)
            self._stats.add_wait(time.monotonic() - started)
            with self._lock:
                # Waited until the reset (or the cap): the next window is ours. Only the
                # first waiter to wake renews it; the others then count it down.
                left = self._remaining
                if self._reset_at == reset_at and left is not None and left <= 0:
                    self._fresh_window(reset_at)

    def _take(self) -> None:
        self._in_flight += 1
        if self._remaining is not None:
            self._remaining -= 1

    def _fresh_window(self, reset_at: float) -> None:
        # The limit of the window to come is the one announced; its reset is not known yet.
        self._remaining = self._limit
        self._reset_at = None if self._limit is not None else reset_at

    def done(self, headers: Mapping[str, str] | None) -> None:
        """One request answered (headers) or failed without an answer (None)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._answered.notify_all()  # who waits for a reset learns it on leaving the lock
            if headers is None:
                return
            named = {name.lower(): value for name, value in headers.items()}  # any spelling
            limit = _header_int(named, "x-ratelimit-limit")
            remaining = _header_int(named, "x-ratelimit-remaining")
            reset = _header_float(named, "x-ratelimit-reset")
            if remaining is None or reset is None:
                return
            now = self._wall()
            reset_at = reset if reset > EPOCH_THRESHOLD else now + reset
            if reset_at <= now:
                # A window already over (a slow answer): it says nothing of the current one,
                # and taking it would re-open a budget the new window has partly spent.
                return
            if limit is not None:
                self._limit = limit
            # Requests still in flight were sent after this answer's count may have been made:
            # count them as spent (at worst we wait a little early).
            left = max(0, remaining - self._in_flight)
            same_window = self._reset_at is not None and abs(reset_at - self._reset_at) < 1.0
            if same_window and self._remaining is not None:
                self._remaining = min(self._remaining, left)
            elif self._reset_at is None or reset_at > self._reset_at:  # a newer window
                self._remaining, self._reset_at = left, reset_at
            # else: a late answer from a window already over


class RateCap:
    """At most `per_second` requests a second over the whole run (pyrate-limiter)."""

    def __init__(self, per_second: float, stats: RequestStats) -> None:
        # One request per interval: spacing, not bursts, so a cap of 0.5 means one per 2s.
        self.interval_ms = max(1, math.ceil(1000.0 / per_second))
        # A bucket, not a bare Rate: the library logs at INFO when it makes the bucket itself.
        # Its default 50 ms of slack after each wait would halve a cap of 20 a second.
        self._limiter = Limiter(InMemoryBucket([Rate(1, self.interval_ms)]), buffer_ms=2)
        self._stats = stats
        self._told = False

    def acquire(self) -> None:
        if self._limiter.try_acquire("unpod-api", blocking=False):
            return
        if not self._told:  # every request may wait a little: say so once, not each time
            self._told = True
            log.info("pacing requests to one per %d ms (max_requests_per_second)", self.interval_ms)
        started = time.monotonic()
        self._limiter.try_acquire("unpod-api", blocking=True)
        self._stats.add_wait(time.monotonic() - started)


class Pacer:
    """Both limits, in the order a request meets them (the budget's wait can be long; the
    cap's spacing is measured right before sending)."""

    def __init__(
        self,
        stats: RequestStats,
        max_wait: float,
        max_requests_per_second: float | None = None,
        *,
        wall: Callable[[], float] = _wall,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.budget = ServerBudget(max_wait, stats, wall=wall, sleep=sleep)
        self.cap = RateCap(max_requests_per_second, stats) if max_requests_per_second else None

    def before_request(self) -> None:
        self.budget.acquire()
        if self.cap is not None:
            self.cap.acquire()

    def after_request(self, headers: Mapping[str, str] | None) -> None:
        self.budget.done(headers)

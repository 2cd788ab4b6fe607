"""The rate limit the published docs describe (the server code has none): a fixed window of
`limit` requests per `window` seconds, announced on every answer with X-RateLimit-Limit,
X-RateLimit-Remaining and X-RateLimit-Reset (epoch seconds), and a 429 with the documented
body past it. Off unless a test sets `fake.access.rate_limit = RateLimitWindow(...)`.

The window starts with the first request after the previous one ended (not on a grid), and
its clock is injectable (`wall`, epoch seconds) so a test can move it instead of waiting.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from unpod_etl.core import clock
from unpod_etl.fakeapi.replies import Reply, json_reply

LIMIT_BODY = {
    "error": {"code": "rate_limit_exceeded", "message": "Too many requests. Try again later."}
}


def _wall() -> float:
    return clock.now().timestamp()


class RateLimitWindow:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        retry_after: bool = False,  # also send Retry-After on a 429 (the docs show both)
        wall: Callable[[], float] = _wall,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit, self.window, self.retry_after, self._wall = limit, window, retry_after, wall
        self._lock = threading.Lock()
        self._start: float | None = None  # no window open until the first request
        self._used = 0
        self.admitted = 0  # requests let through, over every window
        self.refused = 0  # 429s answered: what a polite client never draws

    def admit(self) -> tuple[Reply | None, dict[str, str]]:
        """(a 429 reply or None, the headers every answer carries)."""
        with self._lock:
            now = self._wall()
            if self._start is None or now >= self._start + self.window:
                self._start, self._used = now, 0
            reset = self._start + self.window
            admitted = self._used < self.limit
            if admitted:
                self._used += 1
                self.admitted += 1
            else:
                self.refused += 1
            headers = {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(self.limit - self._used),
                # Rounded up: a client that waits until the announced second never comes early.
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
        if admitted:
            return None, headers
        reply = json_reply(429, LIMIT_BODY)
        reply.headers.update(headers)
        if self.retry_after:
            reply.headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        return reply, headers

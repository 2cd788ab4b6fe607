"""Who the fake lets in: its token (revocable, under the auth scheme the account uses),
per-agent refusals, a gateway's page-size limit, the docs' rate limit (off by default),
the database's scan latency; and the log of requests served. FakeUnpod holds one as
`fake.access`; injected failures live apart in faults.py (`fake.faults`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from unpod_etl.fakeapi.latency import ScanLatency
from unpod_etl.fakeapi.ratelimit import RateLimitWindow
from unpod_etl.fakeapi.replies import TOKEN_REFUSALS


class RequestRecord(NamedTuple):
    method: str
    path: str
    query: dict[str, str]  # last value of each parameter, as Django's request.GET.get reads it
    headers: dict[str, str]  # names in Title-Case ("Org-Handle", "Authorization")
    at: float = 0.0  # time.monotonic() on arrival: lets a test measure a client's waits


class AccessControl:
    def __init__(self, known: Callable[[str], None] = lambda handle: None) -> None:
        """`known` raises KeyError for a handle the fake does not have."""
        self._known = known
        self._lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.token_revoked = False
        # How a revoked token is refused: a name of replies.TOKEN_REFUSALS.
        self.revoked_answer = "expired"
        # The Authorization keyword the account's token is valid under; the server knows
        # Token, JWT and Bearer, and a token sent under another keyword is an invalid one.
        self.auth_scheme = "Token"
        self.max_page_size: int | None = None  # bigger pages get an HTML 504, as a gateway would
        # The published docs' rate limit (fakeapi/ratelimit.py); the server has none: off.
        self.rate_limit: RateLimitWindow | None = None
        self.scan_latency: ScanLatency | None = None  # task pages answered later (latency.py)
        self._refusals: dict[str, tuple[int, bool]] = {}

    def refuse(self, handle: str, status: int, *, fetch_failed: bool = False) -> None:
        """Answer this agent's tasks route with 206 (no access / fetch failed) or 404."""
        if status not in (206, 404):
            raise ValueError("refuse() takes 206 or 404")
        with self._lock:
            self._known(handle)
            self._refusals[handle] = (status, fetch_failed)

    def allow(self, handle: str) -> None:
        with self._lock:
            self._refusals.pop(handle, None)

    def refusal(self, handle: str) -> tuple[int, bool] | None:
        with self._lock:
            return self._refusals.get(handle)

    def revoke_token(self, answer: str = "expired") -> None:
        """Refuse the token from now on, with `answer` (a name of replies.TOKEN_REFUSALS)."""
        if answer not in TOKEN_REFUSALS:
            raise ValueError(f"unknown refusal {answer!r}; known: {', '.join(TOKEN_REFUSALS)}")
        self.revoked_answer = answer
        self.token_revoked = True

    def restore_token(self) -> None:
        self.token_revoked = False

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.requests.append(entry)

"""What the fake refuses or breaks on purpose: tokens, per-agent refusals, injected
failures (see faults.py for the general rules); and the log of requests served. Mixed into
FakeUnpod."""

from __future__ import annotations

import threading
from typing import NamedTuple

from unpod_etl.fakeapi.faults import FaultBook


class RequestRecord(NamedTuple):
    method: str
    path: str
    query: dict[str, str]  # last value of each parameter, as Django's request.GET.get reads it
    headers: dict[str, str]  # names in Title-Case ("Org-Handle", "Authorization")
    at: float = 0.0  # time.monotonic() on arrival: lets a test measure a client's waits


class AccessControl(FaultBook):
    def __init__(self) -> None:
        FaultBook.__init__(self)
        self._lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.token_revoked = False
        self.max_page_size: int | None = None  # bigger pages get an HTML 504, as a gateway would
        self._refusals: dict[str, tuple[int, bool]] = {}
        self._failures: list[tuple[int, int | None]] = []

    def _known(self, handle: str) -> None:
        """Raise KeyError for a handle the fake does not have (FakeUnpod overrides)."""

    # -- refusals ------------------------------------------------------------------------

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

    def revoke_token(self) -> None:
        self.token_revoked = True

    def restore_token(self) -> None:
        self.token_revoked = False

    def fail_next(self, status: int = 500, times: int = 1, retry_after: int | None = None) -> None:
        """The next `times` tasks-route requests fail with `status` (HTML; 429 may carry
        Retry-After), as a timing-out database or a proxy would."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def take_failure(self) -> tuple[int, int | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.requests.append(entry)

"""Counts of the HTTP requests a client made, of the retries among them and of the waits
its pacing made (source/pacing.py), for metrics.

Shared by the worker threads of one client, hence the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    requests: int = 0  # every HTTP request sent, retries included
    retries: int = 0  # requests sent again after a transient failure (see retrying.py)
    waits: int = 0  # times a request waited for the API's rate limit or our own cap
    waited_seconds: float = 0.0  # how long those waits took, together
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_request(self) -> None:
        with self._lock:
            self.requests += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self.waits += 1
            self.waited_seconds += seconds

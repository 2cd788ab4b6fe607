"""Retry policy for transient API failures, built on tenacity.

Exponential backoff with jitter, `Retry-After` honoured (seconds or an HTTP date) and a
bound on both the attempts and the total time spent waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from unpod_etl.core.errors import ApiError

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientHttpError(ApiError):
    """Worth another try: connection error, timeout, 429 or 5xx."""

    def __init__(
        self, message: str, retry_after: str | None = None, shrinkable: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = parse_retry_after(retry_after)
        # Whether asking for a smaller page may help (5xx, timeouts; not 429 or a bad body).
        self.shrinkable = shrinkable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 30.0  # cap of our own backoff
    max_retry_after: float = 120.0  # cap of a server's Retry-After (a proxy may ask for hours)
    total_seconds: float = 300.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """fn() until it succeeds or the policy gives up; on_retry() before each new attempt."""
    backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after if isinstance(exc, TransientHttpError) else None
        # A server's Retry-After wins over our own guess, within the policy's cap.
        return min(hinted, policy.max_retry_after) if hinted is not None else backoff(state)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s (attempt %d of %d), retrying in %.1fs",
            exc,
            state.attempt_number,
            policy.attempts,
            state.next_action.sleep if state.next_action else 0.0,
        )
        if on_retry is not None:
            on_retry()

    retrying = Retrying(
        retry=retry_if_exception_type(TransientHttpError),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_seconds),
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)

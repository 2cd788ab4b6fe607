from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from unpod_etl.source.retrying import (
    RetryPolicy,
    TransientHttpError,
    call_with_retries,
    parse_retry_after,
)


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("7") == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_retries_transient_errors_then_succeeds():
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientHttpError("HTTP 503", retry_after="0")
        return "ok"

    assert call_with_retries(flaky, RetryPolicy(attempts=5, initial_wait=0.001), "x") == "ok"
    assert len(calls) == 3


def test_gives_up_after_the_bounded_attempts():
    calls = []

    def down() -> None:
        calls.append(1)
        raise TransientHttpError("HTTP 500")

    with pytest.raises(TransientHttpError, match="HTTP 500"):
        call_with_retries(down, RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.01), "x")
    assert len(calls) == 3

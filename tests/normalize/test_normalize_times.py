"""parse_time: every timestamp shape the API produces, always tz-aware UTC or None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from unpod_etl.normalize import parse_time

MOMENT = datetime(2026, 1, 31, 11, 47, 38, 67021, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31 11:47:38.067021",
        "2026-01-31T11:47:38.067021",
        "2026-01-31T11:47:38.067021Z",
        "2026-01-31T11:47:38.067021+00:00",
        "2026-01-31T17:17:38.067021+05:30",
        "2026-01-31T06:47:38.067021-05:00",
        "  2026-01-31T11:47:38.067021  ",
        "2026-01-31 11:47:38.067021 UTC",
        "2026-01-31 11:47:38.067021 +00:00",
        datetime(2026, 1, 31, 11, 47, 38, 67021),
        datetime(2026, 1, 31, 12, 47, 38, 67021, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_shapes_of_one_moment(value: object) -> None:
    parsed = parse_time(value)
    assert parsed == MOMENT
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


def test_millisecond_z_and_no_fraction() -> None:
    assert parse_time("2026-01-31T11:47:38.067Z") == datetime(
        2026, 1, 31, 11, 47, 38, 67000, tzinfo=UTC
    )
    assert parse_time("2026-01-31T11:47:38") == datetime(2026, 1, 31, 11, 47, 38, tzinfo=UTC)
    assert parse_time("2026-02-01 10:00:00") == datetime(2026, 2, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", [None, "", "   ", "None", "null", "NULL", "garbage", "2026-13-45", [], {}, True]
)
def test_no_time(value: object) -> None:
    assert parse_time(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1769940000, datetime(2026, 2, 1, 10, tzinfo=UTC)),
        (1769940000.5, datetime(2026, 2, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("1769940000", datetime(2026, 2, 1, 10, tzinfo=UTC)),
        (" 1769940000.5 ", datetime(2026, 2, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_epoch_seconds(value: object, expected: datetime) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**20, -(10**20), "1e400"])
def test_unrepresentable_epochs_are_none(value: object) -> None:
    assert parse_time(value) is None


def test_rfc2822_fallback() -> None:
    assert parse_time("Sat, 31 Jan 2026 11:47:38 GMT") == datetime(
        2026, 1, 31, 11, 47, 38, tzinfo=UTC
    )

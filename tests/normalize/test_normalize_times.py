"""parse_time: every timestamp shape the API produces, always tz-aware UTC or None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from unpod_etl.normalize import normalize_task, parse_time
from unpod_etl.normalize.times import read_time

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


@pytest.mark.parametrize(
    "value",
    [
        1769940000250,  # milliseconds
        "1769940000250",
        1769940000250000,  # microseconds
        1769940000.25,  # seconds with a fraction
        1769940000250.0,
    ],
)
def test_epoch_unit_by_magnitude(value: object) -> None:
    assert parse_time(value) == datetime(2026, 2, 1, 10, 0, 0, 250000, tzinfo=UTC)


def test_epoch_microseconds_are_exact() -> None:
    assert parse_time(1769940000123457) == datetime(2026, 2, 1, 10, 0, 0, 123457, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "counted"),
    [
        (None, False),
        ("", False),
        ("None", False),
        (0, False),  # epoch 0: how "unset" looks in epoch fields
        ("0", False),
        ("2026-01-31T11:48:14", False),
        (1769940000250, False),
        ("yesterday", True),
        (-5, True),
        (10**20, True),
        ("9999-01-01", True),
        (True, True),
        ({"$date": 1}, True),
    ],
)
def test_read_time_counts_present_but_unreadable_values(value: object, counted: bool) -> None:
    unreadable: list[str] = []
    read_time(value, "modified", unreadable)
    assert unreadable == (["modified"] if counted else [])


def test_a_task_reports_its_unreadable_times() -> None:
    doc = {
        "task_id": "T1",
        "created": "2026-01-31T11:48:14",
        "modified": 1769940000250,
        "last_status_change": "not a time",
        "output": {"call_id": "c1", "start_time": "soon", "end_time": 1769940000},
    }
    item = normalize_task(doc, "agent")
    assert item.task["modified_at"] == datetime(2026, 2, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert item.task["last_status_change"] is None
    assert item.task["document"]["last_status_change"] == "not a time"  # the raw value stays
    assert sorted(item.unreadable_times) == ["last_status_change", "output.start_time"]

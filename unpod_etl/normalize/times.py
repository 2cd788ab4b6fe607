"""Timestamp parsing: every shape the API produces, always to tz-aware UTC.

The server writes naive ISO strings that mean UTC, with a space or a "T", with or without a
fraction; the docs show a "Z"; empty values arrive as "", "None" or null; and
`scheduled_timestamp` is epoch seconds (int, or sometimes a numeric string). A server (or a
proxy re-encoding its JSON) may send any time as an epoch number in seconds, milliseconds or
microseconds: the unit is read from the magnitude, since today's instant is ~1.7e9 seconds,
~1.7e12 ms and ~1.7e15 us, and each unit's plausible range (1970-2200) is far from the next's.

A value that is present but cannot be read as a time becomes NULL in its column; callers that
pass an `unreadable` list learn which fields those were, so the pipeline can count and log them
(the raw value always stays in `document`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

# Strings that mean "no time" rather than a malformed one.
_EMPTY_WORDS = frozenset({"", "none", "null", "nil", "nan", "undefined", "n/a", "na"})
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# "... UTC" / "... GMT" suffixes and a space before a numeric offset, which fromisoformat refuses.
_ZONE_WORD = re.compile(r"\s*(UTC|GMT|Z)$", re.IGNORECASE)
_SPACED_OFFSET = re.compile(r"\s+([+-]\d{2}:?\d{2})$")

# Bounds of a plausible business timestamp. Epoch 0 (or less) is how "unset" looks in epoch
# fields, and years past 2200 are garbage; such values become NULL in the row (the raw value stays
# in `document`) instead of rejecting the whole task.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# (magnitude below which, units per second): 1e11 s is the year 5138, 1e14 ms the year 5138.
_EPOCH_UNITS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000))


def parse_time(value: Any) -> datetime | None:
    """Parse any timestamp shape leniently; return tz-aware UTC, or None when there is no time.

    Naive values are UTC, offsets are converted to UTC, int/float (and numeric strings) are epoch
    seconds, milliseconds or microseconds by magnitude. Never raises.
    """
    try:
        return _parse(value)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def parse_row_time(value: Any) -> datetime | None:
    """parse_time for a warehouse column: also None outside (1970-01-01, 2200-01-01)."""
    parsed = parse_time(value)
    if parsed is None or not _EARLIEST < parsed < _LATEST:
        return None
    return parsed


def read_time(value: Any, field: str, unreadable: list[str] | None) -> datetime | None:
    """parse_row_time, appending `field` to `unreadable` when a time was there but unreadable."""
    parsed = parse_row_time(value)
    if parsed is None and unreadable is not None and not is_no_time(value):
        unreadable.append(field)
    return parsed


def is_no_time(value: Any) -> bool:
    """True for the ways of saying "no time": null, "", "None" and such, and epoch 0 ("unset")."""
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        return text.lower() in _EMPTY_WORDS or (bool(_NUMERIC.match(text)) and float(text) == 0)
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return _to_utc(value)
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower() in _EMPTY_WORDS:
        return None
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    iso = _SPACED_OFFSET.sub(r"\1", _ZONE_WORD.sub("+00:00", text))
    try:
        return _to_utc(datetime.fromisoformat(iso))
    except ValueError:
        pass
    # Last resort: RFC 2822 ("Sat, 31 Jan 2026 11:47:38 GMT"), which HTTP-ish sources use.
    return _to_utc(parsedate_to_datetime(text))


def _from_epoch(number: float) -> datetime | None:
    if not math.isfinite(number):
        return None
    for limit, per_second in _EPOCH_UNITS:
        if abs(number) < limit:
            if number.is_integer():  # exact: no float rounding of milli/microseconds
                micros = int(number) * (1_000_000 // per_second)
                return _EARLIEST + timedelta(microseconds=micros)
            return datetime.fromtimestamp(number / per_second, tz=UTC)
    return None  # beyond microseconds in the year 2200: not a time


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

"""The one wall clock of the package: every "now" comes from here.

One place so that a test can freeze or move it (time-machine patches what `now()` reads)
and so no module mixes naive local times with aware UTC ones. Durations measured inside one
process use time.monotonic() instead: a wall clock can jump (NTP, a suspended laptop).
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def naive_utc_now() -> datetime:
    """The current instant as a naive UTC datetime, to the second (the fake API's dating)."""
    return now().replace(tzinfo=None, microsecond=0)

"""The one clock: every "now" of the package comes from here, so tests can freeze it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)

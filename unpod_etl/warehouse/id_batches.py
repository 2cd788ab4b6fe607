"""Long id lists go to the database in batches: one `IN (...)` of a million ids is a
statement PostgreSQL parses slowly and SQLite refuses past its variable limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

BATCH = 1000  # ids per statement


def batches(ids: Sequence[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])

"""Every "now" of the package comes from unpod_etl.core.clock, which a test can freeze."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import time_machine

from unpod_etl.core import clock

PACKAGE = Path(__file__).resolve().parent.parent / "unpod_etl"
# Wall-clock reads; time.monotonic() (durations) is fine anywhere.
WALL_CLOCK = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|\btime\.time\(|def utcnow\b")


def test_no_module_reads_the_wall_clock_but_core_clock():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "core" / "clock.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if WALL_CLOCK.search(code) and "import" not in code:
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_clock_is_aware_utc_and_can_be_frozen():
    instant = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)
    with time_machine.travel(instant, tick=False):
        assert clock.now() == instant and clock.now().utcoffset().total_seconds() == 0
        assert clock.naive_utc_now() == datetime(2026, 3, 29, 0, 59, 30)
    assert clock.now().tzinfo is UTC

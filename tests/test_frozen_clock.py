"""The suite does not depend on the date, the time of day or the time zone.

A slice of it (the views, the report, the end-to-end sync, the schedule and the retry
waits: the tests that deal in days and instants) runs again in a pytest of its own, with
the clock travelled by time-machine to instants where date bugs show (ticking on from
there, so a run may cross the boundary) and under a time zone other than UTC.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SLICE = [
    "tests/warehouse/test_views.py",
    "tests/report",
    "tests/pipeline/test_sync_e2e.py",
    "tests/pipeline/test_schedule.py",
    "tests/source/test_retrying.py",
]
# The 100,000-task index test is about query plans, not dates, and costs more than the rest.
DESELECT = "not 100k"

# Travel first, then check the travel took (the package's one clock reads it), then run.
RUNNER = """
import sys
from datetime import datetime, timedelta
import pytest, time_machine
from unpod_etl.core import clock
destination = datetime.fromisoformat(sys.argv[1])
time_machine.travel(destination, tick=True).start()
assert destination <= clock.now() < destination + timedelta(minutes=5), clock.now()
print("clock at", clock.now().isoformat(), flush=True)
sys.exit(pytest.main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("instant", "zone"),
    [
        # Half an hour into a UTC day: the newest day of data relative to "now" holds only a
        # few calls, none with a duration (an old test_views expectation failed here).
        pytest.param("2026-06-01T00:30:00+00:00", "UTC", id="just-after-midnight-utc"),
        # 18:59 in New York: a month's last minute in UTC, a different day in local time
        pytest.param("2026-08-31T23:59:10+00:00", "America/New_York", id="last-day-of-a-month"),
        # Berlin leaves CET for CEST at 01:00 UTC: the local clock jumps from 02:00 to 03:00
        pytest.param("2026-03-29T00:59:30+00:00", "Europe/Berlin", id="dst-change-berlin"),
    ],
)
def test_the_date_sensitive_slice_passes_at(instant, zone, pg_admin_url, request):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "TZ": zone,
        "UNPOD_ETL_TEST_DATABASE_URL": pg_admin_url,  # the server of this session, reused
        "UNPOD_ETL_TEST_DB_TAG": f"_frozen_{request.node.callspec.id.replace('-', '_')}",
    }
    args = ["-q", "-p", "no:cacheprovider", "-k", DESELECT, *SLICE]
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, instant, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    assert f"clock at {instant[:16]}" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

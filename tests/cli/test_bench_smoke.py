"""The benchmark's smoke run (CI): small workload, data verified, table printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_check_small_workload():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--workload", "small", "--check", "--workers", "auto"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "check: ok" in out
    for phase in (
        "fetch only (floor)",
        "initial sync",
        "re-sync, nothing changed",
        "re-sync, 1% changed",
        "COPY only (floor)",
        "fetch + COPY (floor)",
        "`unpod-etl --help` (start-up)",
    ):
        assert phase in out
    assert "start-up: `unpod-etl --help`" in out and "a no-change sync of the small" in out
    assert "peak RSS of the initial sync" in out
    # The adaptive-walk phases run when the sync has --walk; otherwise a note says why not.
    assert "walk phases skipped" in out or "shallow re-sync, nothing changed" in out

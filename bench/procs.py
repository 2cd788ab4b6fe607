"""Child processes of the benchmark: the sync under test and the fetch-only floor.

Each runs as its own process, so its peak RSS (ru_maxrss from wait4) is its own alone:
the fake API lives in the benchmark process, PostgreSQL in its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(args: list[str], timeout: float = 1800.0) -> ChildRun:
    """Run `python <args>` through bench.measure; wall time, peak RSS and output."""
    with tempfile.TemporaryDirectory(prefix="unpod-bench-") as tmp:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        launcher = [sys.executable, "-m", "bench.measure", out, err, "--", sys.executable, *args]
        # Waiting in subprocess.run releases the GIL: the fake API thread keeps serving.
        done = subprocess.run(launcher, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"bench.measure failed: {done.stderr[-2000:]}")
        info = json.loads(done.stdout)
        with open(out) as fo, open(err) as fe:
            stdout, stderr = fo.read(), fe.read()
    # Linux reports ru_maxrss in kilobytes.
    return ChildRun(info["seconds"], info["maxrss_kb"] / 1024, info["rc"], stdout, stderr)


def sync_has_option(option: str) -> bool:
    """Whether `unpod-etl sync --help` lists `option`: the bench measures builds with and
    without it (an older sync, or a branch that lacks it)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "unpod_etl", "sync", "--help"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return option in help_text


def sync_supports_workers() -> bool:
    return sync_has_option("--workers")


def sync_supports_walk() -> bool:
    return sync_has_option("--walk")


def sync_args(
    api_url: str,
    token: str,
    org: str,
    database_url: str,
    handles: list[str],
    page_size: int,
    workers: int | None = None,
    walk: str | None = None,
) -> list[str]:
    """`walk`: 'full' or 'auto' for `--walk`; None sends no --walk (a sync without it)."""
    args = ["-m", "unpod_etl", "sync", "--api-url", api_url, "--token", token, "--org", org]
    args += ["--database-url", database_url, "--page-size", str(page_size)]
    for handle in handles:
        args += ["--agent", handle]
    if workers is not None:
        args += ["--workers", str(workers)]
    if walk is not None:
        args += ["--walk", walk]
    return args


def run_sync(
    api_url: str,
    token: str,
    org: str,
    database_url: str,
    handles: list[str],
    page_size: int,
    workers: int | None = None,
    walk: str | None = None,
) -> ChildRun:
    args = sync_args(api_url, token, org, database_url, handles, page_size, workers, walk)
    run = run_child(args)
    if run.returncode != 0:
        raise RuntimeError(f"sync exited {run.returncode}:\n{run.stderr[-3000:]}")
    return run


def run_fetch(api_url: str, token: str, org: str, handles: list[str], page_size: int) -> ChildRun:
    """The fetch-only floor in a child process (python -m bench.fetch)."""
    spec = json.dumps(
        {"api_url": api_url, "token": token, "org": org, "handles": handles, "page_size": page_size}
    )
    run = run_child(["-m", "bench.fetch", spec])
    if run.returncode != 0:
        raise RuntimeError(f"fetch floor exited {run.returncode}:\n{run.stderr[-3000:]}")
    return run


def run_help(repeats: int = 5) -> ChildRun:
    """`unpod-etl --help` in a fresh interpreter, the start-up every command pays: the median
    of `repeats` runs (one start-up is a few tens of milliseconds, noisy on a shared machine)."""
    runs = [run_child(["-m", "unpod_etl", "--help"]) for _ in range(repeats)]
    failed = next((r for r in runs if r.returncode != 0), None)
    if failed is not None:
        raise RuntimeError(f"unpod-etl --help exited {failed.returncode}:\n{failed.stderr[-3000:]}")
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]

"""`python -m bench`: run the benchmark, print the table; --check also verifies the data."""

from __future__ import annotations

import argparse
import sys

from . import procs, report, suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--workload", choices=sorted(suite.WORKLOADS), default="small")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--workers",
        default="auto",
        help="comma-separated N for `sync --workers N` on the small workload; "
        "'auto' = 1,2,4 when the sync has --workers; 'none' = skip",
    )
    parser.add_argument(
        "--sync-workers",
        type=int,
        default=None,
        help="`sync --workers N` for the main phases (default: the sync's own default)",
    )
    parser.add_argument(
        "--walk-phases",
        choices=["auto", "always", "never"],
        default="auto",
        help="the adaptive-walk phases: auto = when `sync --help` shows --walk; always = also "
        "without it (every run a full walk: exercises the phases, not the walk)",
    )
    parser.add_argument(
        "--check", action="store_true", help="small workload; verify the data; exit 1 on mismatch"
    )
    args = parser.parse_args(argv)
    workload = "small" if args.check else args.workload
    if args.workers == "none":
        workers: list[int] = []
    elif args.workers == "auto":
        workers = [1, 2, 4] if procs.sync_supports_workers() else []
    else:
        workers = [int(n) for n in args.workers.split(",")]
        if not procs.sync_supports_workers():
            parser.error("this unpod-etl sync has no --workers option")
    result = suite.run(
        workload, args.page_size, args.check, workers, args.sync_workers, args.walk_phases
    )
    print(report.table(result), flush=True)
    if args.check:
        for failure in result.failures:
            print(f"CHECK FAILED: {failure}", file=sys.stderr)
        print("check: " + ("FAILED" if result.failures else "ok"), flush=True)
        return 1 if result.failures else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

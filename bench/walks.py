"""The adaptive walk's phases (issue 14): a full walk and shallow walks under scan latency.

The fake answers each task page later the bigger the agent and the deeper the page (the API
notes: the tasks query is unindexed and sorted), which is what makes a full walk of a large
account slow and a shallow one worth having. For each phase the table notes give the pages
requested (task-page requests in the fake's own log) and the wall time, next to the full
walk's, with the targets:
- shallow, nothing changed: pages <= the sum over agents of (page holding the oldest watched
  task + K + 1), from the fake's own documents; time < 15% of the full walk's;
- shallow, 1% of the newest 5% changed: pages <= that bound + the (agent, page) pairs holding
  a changed task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from unpod_etl.fakeapi import FakeUnpod, ScanLatency
from unpod_etl.fakeapi.routes import TASKS_ROUTE
from unpod_etl.fakeapi.server_writes import INTERIM_DATA

from . import check, procs

# A full walk of the large workload (50 agents x 21 pages of 100, the last one empty) waits
# ~170 s in all, ~42 s over the sync's 4 workers (measured: a no-change full walk 7 s without
# latency, ~50-56 s with it); an agent's first 5 pages, what a shallow walk reads, wait ~8% of
# its whole walk.
LATENCY = ScanLatency(base=0.01, per_task_total=10e-6, per_task_offset=130e-6)
WALK_WORKERS = 4  # the sync's default; the same for full and shallow
SETTLED_PAGES = 2  # K: the sync's --settled-pages default
WATCH_WINDOW = timedelta(days=7)  # the sync's --watch-window default
CHANGE_PERCENT = 1.0  # of all tasks...
NEWEST_PERCENT = 5.0  # ...chosen among each agent's newest this many percent
TIME_TARGET = 0.15  # of the full walk's wall time
SETTLED = frozenset({"completed", "partially_completed", "failed"})
FULL = "full re-sync, nothing changed (scan latency)"
SHALLOW = "shallow re-sync, nothing changed"
SHALLOW_CHANGED = f"shallow re-sync, {CHANGE_PERCENT:g}% of the newest {NEWEST_PERCENT:g}% changed"


@dataclass
class WalkRun:
    name: str
    seconds: float
    pages: int
    run_id: int
    peak_rss_mb: float


def unsettled(doc: dict[str, Any]) -> bool:
    """Still moving: not completed/partially_completed/failed, or completed with the post-call
    flow's interim output (the real one is still to come)."""
    status = doc.get("status")
    if status not in SETTLED:
        return True
    output = doc.get("output")
    return status == "completed" and isinstance(output, dict) and output.get("data") == INTERIM_DATA


def _created(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(doc["created"])).replace(tzinfo=None)


def _pages(fake: FakeUnpod, handle: str, page_size: int) -> Any:
    """The agent's pages as the fake serves them, newest first (from its encoded cache)."""
    page = 1
    while True:
        data = json.loads(fake.page_json(handle, page, page_size)[1])
        if not data:
            return
        yield page, data
        page += 1


def oldest_watched_page(fake: FakeUnpod, handle: str, page_size: int, now: datetime) -> int:
    """Number of the page holding the agent's oldest watched task (unsettled, created within
    the watch window of `now`); 0 when it has none."""
    deepest = 0
    for page, docs in _pages(fake, handle, page_size):
        young = [d for d in docs if now - _created(d) <= WATCH_WINDOW]
        if any(unsettled(d) for d in young):
            deepest = page
        if len(young) < len(docs):  # newest first: every later page is older still
            break
    return deepest


def page_bound(fake: FakeUnpod, handles: list[str], page_size: int, now: datetime) -> int:
    return sum(oldest_watched_page(fake, h, page_size, now) + SETTLED_PAGES + 1 for h in handles)


def pick_newest(fake: FakeUnpod, handles: list[str]) -> list[tuple[str, str, int, int]]:
    """(task_id, status, agent position, index in its list): CHANGE_PERCENT of each agent's
    tasks, spread evenly over its newest NEWEST_PERCENT. Deterministic."""
    picked = []
    for at, handle in enumerate(handles):
        count = fake.count(handle)
        n = round(count * CHANGE_PERCENT / 100)
        pool = max(n, round(count * NEWEST_PERCENT / 100))
        if n == 0:
            continue
        docs = json.loads(fake.page_json(handle, 1, pool)[1])
        for k in range(n):
            index = k * pool // n
            picked.append((docs[index]["task_id"], docs[index]["status"], at, index))
    return picked


def mutate(fake: FakeUnpod, picked: list[tuple[str, str, int, int]]) -> None:
    """Half with the marker moved, half without, as the 1% phase of the suite does."""
    for n, (task_id, status, _, _) in enumerate(picked):
        if n % 2:
            fake.complete_without_marker(task_id)
        else:
            fake.move_status(task_id, "completed" if status == "in_progress" else "in_progress")


def task_pages(fake: FakeUnpod, since: int) -> int:
    """Task-page requests the fake logged after the first `since` entries."""
    return sum(
        1
        for record in fake.access.requests[since:]
        if record.method == "GET" and TASKS_ROUTE.match(record.path)
    )


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def walk_phases(
    fake: FakeUnpod,
    api: tuple[str, str, str],
    url: str,
    engine: Engine,
    handles: list[str],
    page_size: int,
    walk_option: bool,
    workers: int | None = WALK_WORKERS,
) -> tuple[list[WalkRun], list[str], dict[str, tuple[object, object]]]:
    """Run the three phases; (runs, note lines, check name -> (got, wanted)). Without
    `walk_option` the sync is run with no --walk (its every walk is a full one)."""

    def phase(name: str, walk: str) -> WalkRun:
        since = len(fake.access.requests)
        done = procs.run_sync(*api, url, handles, page_size, workers, walk if walk_option else None)
        pages = task_pages(fake, since)
        return WalkRun(name, done.seconds, pages, check.last_run_id(engine), done.peak_rss_mb)

    fake.access.scan_latency = LATENCY
    try:
        full = phase(FULL, "full")
        bound = page_bound(fake, handles, page_size, datetime.now(UTC).replace(tzinfo=None))
        shallow = phase(SHALLOW, "auto")
        picked = pick_newest(fake, handles)
        mutate(fake, picked)
        changed = phase(SHALLOW_CHANGED, "auto")
    finally:
        fake.access.scan_latency = None
    changed_pages = len({(at, index // page_size + 1) for _, _, at, index in picked})
    share = shallow.seconds / full.seconds if full.seconds > 0 else 0.0
    notes = [
        f"walk phases: scan latency {LATENCY.describe()}; --workers {workers}, K={SETTLED_PAGES}, "
        f"watched = unsettled and created within {WATCH_WINDOW.days} days",
        f"  {FULL}: {full.pages} pages, {full.seconds:.2f} s",
        f"  {SHALLOW}: {shallow.pages} pages vs {full.pages} full "
        f"(<= {bound} {verdict(shallow.pages <= bound)}), {shallow.seconds:.2f} s vs "
        f"{full.seconds:.2f} s = {share:.0%} (< {TIME_TARGET:.0%} {verdict(share < TIME_TARGET)})",
        f"  {SHALLOW_CHANGED}: {changed.pages} pages vs {full.pages} full "
        f"(<= {bound + changed_pages} {verdict(changed.pages <= bound + changed_pages)}), "
        f"{changed.seconds:.2f} s vs {full.seconds:.2f} s; {len(picked)} tasks changed "
        f"on {changed_pages} pages",
    ]
    if not walk_option:
        notes.append("  (this sync has no --walk: every run above was a full walk)")
    checks: dict[str, tuple[object, object]] = {
        "full re-sync (scan latency) rows written": (check.written_by(engine, full.run_id), set()),
        "shallow no-change rows written": (check.written_by(engine, shallow.run_id), set()),
        "shallow 1% rewrote exactly": (
            check.written_by(engine, changed.run_id),
            {task_id for task_id, _, _, _ in picked},
        ),
    }
    return [full, shallow, changed], notes, checks

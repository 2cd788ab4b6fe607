"""The benchmark run: one fake API (a thread of this process), one throwaway PostgreSQL,
the sync under test in child processes, and the floors it is compared with."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from unpod_etl.fakeapi import AgeProfile, FakeServer, FakeUnpod
from unpod_etl.warehouse.db import make_engine

from . import check, copyfloor, procs, walks
from .pg import fresh_database, postgres_server

WORKLOADS = {"small": (5, 1_000), "large": (50, 2_000)}
SEED = 20240611
MUTATE_PERCENT = 1.0
HELP_PHASE = "`unpod-etl --help` (start-up)"
HELP_REPEATS = 5
# Months of tasks, only the recent ones still moving, as on a live account: what an adaptive
# walk is measured on. Ending now (the bench only; tests never read the clock).
AGES = AgeProfile(days=90, recent=timedelta(days=2), stuck_fraction=0.01)
WALK_SKIPPED = (
    "walk phases skipped: `unpod-etl sync --help` shows no --walk (no adaptive walk in this "
    "build); `--walk-phases always` runs them as full walks"
)


@dataclass
class Phase:
    name: str
    seconds: float
    tasks: int = 0
    lines: int = 0
    peak_rss_mb: float | None = None
    floor: str | None = None  # name of the phase this one is compared with
    target: float | None = None  # the ratio to the floor it should stay under


@dataclass
class Results:
    workload: str
    agents: int
    tasks_per_agent: int
    page_size: int
    phases: list[Phase] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


def make_fake(agents: int, tasks_per_agent: int) -> FakeUnpod:
    newest = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    fake = FakeUnpod(
        agents,
        tasks_per_agent,
        SEED,
        newest=newest,
        ages=AGES,
        cache_documents=agents * tasks_per_agent + 1,
    )
    for handle in fake.all_handles():  # encode every document once, before any timing
        fake.page_json(handle, 1, max(1, tasks_per_agent))
    return fake


def run(
    workload: str,
    page_size: int,
    do_check: bool,
    workers: list[int],
    sync_workers: int | None = None,
    walk_phases: str = "auto",
) -> Results:
    """`walk_phases`: auto (when the sync has --walk), always (as full walks without it), never."""
    n_agents, per_agent = WORKLOADS[workload]
    res = Results(workload, n_agents, per_agent, page_size)
    has_walk = procs.sync_supports_walk()
    # The existing phases stay full walks, so their figures compare with earlier runs.
    walk = "full" if has_walk else None
    fake = make_fake(n_agents, per_agent)
    handles = fake.all_handles()  # unpublished ones too: --agent names them all
    with postgres_server() as admin_url, FakeServer(fake) as server:
        api = (server.url, fake.token, fake.org)

        fetched = procs.run_fetch(*api, handles, page_size)
        info = json.loads(fetched.stdout)
        res.phases.append(Phase("fetch only (floor)", info["seconds"], info["tasks"]))
        res.get("fetch only (floor)").peak_rss_mb = fetched.peak_rss_mb

        expected_before = None
        if do_check:
            items = [i for h in handles for i in copyfloor.normalized(fake, h)]
            expected_before = (
                len(items),
                sum(i.call is not None for i in items),
                sum(len(i.lines) for i in items),
            )

        helped = procs.run_help(HELP_REPEATS)
        res.phases.append(Phase(HELP_PHASE, helped.seconds, peak_rss_mb=helped.peak_rss_mb))

        url = fresh_database(admin_url, "bench")
        engine = make_engine(url)
        # The fixed cost of one sync process: interpreter, imports, migration check, run rows
        # (an unknown handle: one 404, nothing to write).
        idle_args = procs.sync_args(*api, url, ["no-such-agent"], page_size, walk=walk)
        idle = procs.run_child(idle_args)
        res.phases.append(Phase("sync start-up only (no tasks)", idle.seconds))
        res.phases[-1].peak_rss_mb = idle.peak_rss_mb
        first = procs.run_sync(*api, url, handles, page_size, sync_workers, walk)
        counts = check.row_counts(engine)
        res.phases.append(
            Phase("initial sync", first.seconds, counts[0], counts[2], first.peak_rss_mb)
        )
        run1 = check.last_run_id(engine)

        again = procs.run_sync(*api, url, handles, page_size, sync_workers, walk)
        res.phases.append(Phase("re-sync, nothing changed", again.seconds, counts[0], 0))
        res.get("re-sync, nothing changed").peak_rss_mb = again.peak_rss_mb
        run2 = check.last_run_id(engine)
        res.notes.append(
            f"start-up: `unpod-etl --help` {helped.seconds:.3f} s (median of {HELP_REPEATS}); "
            f"a no-change sync of the {workload} workload {again.seconds:.2f} s"
        )

        targets = check.pick_targets(engine, MUTATE_PERCENT)
        for n, (task_id, status) in enumerate(targets):
            if n % 2:
                fake.complete_without_marker(task_id)
            else:
                fake.move_status(task_id, "completed" if status == "in_progress" else "in_progress")
        changed = procs.run_sync(*api, url, handles, page_size, sync_workers, walk)
        run3 = check.last_run_id(engine)
        res.phases.append(
            Phase(f"re-sync, {MUTATE_PERCENT:g}% changed", changed.seconds, counts[0], 0)
        )
        res.phases[-1].peak_rss_mb = changed.peak_rss_mb

        floor_url = fresh_database(admin_url, "floor")
        floor = copyfloor.copy_floor(floor_url, fake, handles)
        res.phases.append(Phase("COPY only (floor)", floor.seconds, floor.tasks, floor.lines))
        res.phases.append(
            Phase(
                "fetch + COPY (floor)",
                res.get("fetch only (floor)").seconds + floor.seconds,
                floor.tasks,
                floor.lines,
            )
        )
        res.get("initial sync").floor, res.get("initial sync").target = "fetch + COPY (floor)", 2.0
        res.get("re-sync, nothing changed").floor = "fetch only (floor)"
        res.get("re-sync, nothing changed").target = 1.3
        res.phases[-3].floor = "fetch only (floor)"  # the 1% re-sync, for information
        res.notes.append(f"1% change: {len(targets)} tasks mutated (half moved, half unmoved)")

        if do_check:
            checks = check.Checks()
            assert expected_before is not None
            checks.expect("rows after the initial sync", counts, expected_before)
            c1 = check.run_counters(engine, run1)
            checks.expect("initial sync outcome", c1["outcome"], "ok")
            checks.expect("initial sync inserted", c1["inserted"], expected_before[0])
            c2 = check.run_counters(engine, run2)
            checks.expect("no-change re-sync inserted+updated", c2["inserted"] + c2["updated"], 0)
            checks.expect("no-change re-sync rows written", check.written_by(engine, run2), set())
            c3 = check.run_counters(engine, run3)
            checks.expect("1% re-sync inserted", c3["inserted"], 0)
            checks.expect("1% re-sync updated", c3["updated"], len(targets))
            want = {t for t, _ in targets}
            checks.expect("1% re-sync rewrote exactly", check.written_by(engine, run3), want)
            final = (floor.tasks, floor.calls, floor.lines)
            checks.expect("rows after the 1% re-sync", check.row_counts(engine), final)
            res.failures.extend(checks.failures)
        if walk_phases == "always" or (walk_phases == "auto" and has_walk):
            _walks(res, fake, api, url, engine, handles, do_check, has_walk, sync_workers)
        elif walk_phases == "auto":
            res.notes.append(WALK_SKIPPED)
        engine.dispose()

        if workers:
            _workers(res, admin_url, workers, page_size, walk)
    return res


def _walks(
    res: Results,
    fake: FakeUnpod,
    api: tuple[str, str, str],
    url: str,
    engine: Engine,
    handles: list[str],
    do_check: bool,
    has_walk: bool,
    sync_workers: int | None,
) -> None:
    workers = sync_workers or walks.WALK_WORKERS
    runs, notes, wanted = walks.walk_phases(
        fake, api, url, engine, handles, res.page_size, has_walk, workers
    )
    for run in runs:
        res.phases.append(Phase(run.name, run.seconds, peak_rss_mb=run.peak_rss_mb))
        if run.name != walks.FULL:
            res.phases[-1].floor = walks.FULL
    res.get(walks.SHALLOW).target = walks.TIME_TARGET
    res.notes.extend(notes)
    if do_check:
        checks = check.Checks()
        for what, (got, want) in wanted.items():
            checks.expect(what, got, want)
        res.failures.extend(checks.failures)


def _workers(
    res: Results, admin_url: str, workers: list[int], page_size: int, walk: str | None
) -> None:
    """Initial sync of the small workload with --workers N (a fake of its own)."""
    fake = make_fake(*WORKLOADS["small"])
    handles = fake.all_handles()
    with FakeServer(fake) as server:
        for n in workers:
            url = fresh_database(admin_url, f"workers_{n}")
            started = time.perf_counter()
            api = (server.url, fake.token, fake.org)
            done = procs.run_sync(*api, url, handles, page_size, n, walk)
            engine = make_engine(url)
            counts = check.row_counts(engine)
            engine.dispose()
            res.phases.append(
                Phase(
                    f"initial sync, small, --workers {n}",
                    time.perf_counter() - started,
                    counts[0],
                    counts[2],
                    done.peak_rss_mb,
                )
            )

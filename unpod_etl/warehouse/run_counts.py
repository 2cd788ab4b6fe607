"""A run's counters, kept up to date page by page.

Written in the transaction of each page, beside the page's rows: a run killed at any
moment (SIGKILL, a lost machine) still shows the counts of what landed, and `status` reports
it as `died` with them. Runs add up their agents; agents in parallel workers each add their
own progress, so the run's totals are incremented (`x = x + delta`), never overwritten: the
row lock taken by the UPDATE orders concurrent pages.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, update

from unpod_etl.warehouse.schema import sync_agent_results, sync_runs

# The per-agent counters that the run's row sums (sync_runs has no pages/moved columns).
RUN_COUNTERS = ("tasks_seen", "tasks_inserted", "tasks_updated", "tasks_unchanged", "tasks_failed")


def delta(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """What the counters gained since `before` (the last values written)."""
    return {name: now[name] - before.get(name, 0) for name in now}


def add_to_run(conn: Connection, run_id: int, gained: Mapping[str, int]) -> None:
    """Add an agent's progress since its last write to the run's totals."""
    values = {n: sync_runs.c[n] + gained[n] for n in RUN_COUNTERS if gained.get(n)}
    if values:
        conn.execute(update(sync_runs).where(sync_runs.c.run_id == run_id).values(**values))


def record_progress(
    conn: Connection,
    run_id: int,
    handle: str,
    counters: Mapping[str, int],
    written: Mapping[str, int],
) -> None:
    """The agent's row gets its counters as they are now; the run's row what they gained
    since `written`, the counters last recorded by this function for this agent."""
    conn.execute(
        update(sync_agent_results)
        .where(sync_agent_results.c.run_id == run_id)
        .where(sync_agent_results.c.agent_handle == handle)
        .values(**counters)
    )
    add_to_run(conn, run_id, delta(counters, written))

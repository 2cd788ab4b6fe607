"""--check: the warehouse holds what the fake serves, and re-syncs write only what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from unpod_etl.warehouse.schema import calls, sync_runs, tasks, transcript_lines


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)

    def expect(self, what: str, got: object, want: object) -> None:
        if got != want:
            self.failures.append(f"{what}: got {got!r}, expected {want!r}")


def row_counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (tasks, calls, transcript_lines)
        )


def run_counters(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(select(sync_runs).where(sync_runs.c.run_id == run_id)).one()
    return {
        "outcome": row.outcome,
        "inserted": row.tasks_inserted,
        "updated": row.tasks_updated,
        "unchanged": row.tasks_unchanged,
        "failed": row.tasks_failed,
    }


def written_by(engine: Engine, run_id: int) -> set[str]:
    with engine.connect() as conn:
        query = select(tasks.c.task_id).where(tasks.c.last_sync_run_id == run_id)
        return set(conn.execute(query).scalars())


def last_run_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(sync_runs.c.run_id))).scalar_one())


def pick_targets(engine: Engine, percent: float) -> list[tuple[str, str]]:
    """(task_id, status) of every (100/percent)-th stored task, by task_id: deterministic."""
    step = max(1, round(100 / percent))
    with engine.connect() as conn:
        rows = conn.execute(select(tasks.c.task_id, tasks.c.status).order_by(tasks.c.task_id))
        return [(r.task_id, r.status) for i, r in enumerate(rows) if i % step == step // 2]

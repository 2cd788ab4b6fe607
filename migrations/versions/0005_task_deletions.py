"""soft-deleted tasks: tasks.deleted_at and tasks.missing_since; views leave deleted tasks out

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 13:00:00

A task absent from one complete walk of its agent gets `missing_since`; absent from the next
complete walk too, it gets `deleted_at` (see warehouse/deletions.py). The analytics views of
0003 are recreated with the same columns, leaving deleted tasks (and their calls) out.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "t.deleted_at IS NULL"


def _views_0003() -> ModuleType:
    """The view SQL of migration 0003, which this one narrows (module names start with a digit)."""
    path = Path(__file__).with_name("0003_analytics_views.py")
    spec = importlib.util.spec_from_file_location("unpod_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _narrowed(sql: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        if old not in sql:  # 0003 changed shape: fail the migration loudly, never silently
            raise RuntimeError(f"migration 0005: view text not found: {old!r}")
        sql = sql.replace(old, new)
    return sql


def _live_views(v: ModuleType, dialect: str) -> list[str]:
    call_facts = v._call_facts(dialect).rstrip() + f"\nWHERE {LIVE}\n"
    edits = [
        ("FROM tasks t) task_days", f"FROM tasks t WHERE {LIVE}) task_days"),
        (
            "FROM calls c JOIN tasks t ON t.task_id = c.task_id\n    GROUP BY",
            f"FROM calls c JOIN tasks t ON t.task_id = c.task_id\n    WHERE {LIVE}\n    GROUP BY",
        ),
    ]
    if dialect != "postgresql":
        edits.append(
            (
                "WHERE c.duration_seconds IS NOT NULL",
                f"WHERE c.duration_seconds IS NOT NULL AND {LIVE}",
            )
        )
    agent_daily = _narrowed(v._agent_daily(dialect), edits)
    stuck = _narrowed(
        v._stuck_tasks(dialect), [("WHERE t.status IN", f"WHERE {LIVE} AND t.status IN")]
    )
    return [call_facts, agent_daily, stuck]


def _drop_views(v: ModuleType) -> None:
    for view in v.VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    v = _views_0003()
    _drop_views(v)
    op.add_column("tasks", sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tasks", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    for sql in _live_views(v, dialect):
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    v = _views_0003()
    _drop_views(v)
    op.drop_column("tasks", "deleted_at")
    op.drop_column("tasks", "missing_since")
    op.execute(v._call_facts(dialect))
    op.execute(v._agent_daily(dialect))
    op.execute(v._stuck_tasks(dialect))

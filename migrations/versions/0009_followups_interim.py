"""follow-ups and interim outputs: tasks.referenced_task_id/followup_count, the call_attempts
view, and agent_daily counting interim-completed tasks apart

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:30:00

A follow-up is a new task whose output names the original (`referenced_task`); call_attempts
chains an original with its follow-ups. A task `completed` with the post-call flow's interim
output ("... will be available soon") has `output_kind = 'interim'`: agent_daily counts it in
`tasks_interim`, not in `tasks_completed`. The views of 0005 are rebuilt from its builders.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTERIM_STATUS = (
    "CASE WHEN t.output_kind = 'interim' THEN 'interim' ELSE t.status END AS status FROM tasks t"
)

CALL_ATTEMPTS = """
CREATE VIEW call_attempts AS
SELECT chain_id AS original_task_id, task_id, agent_handle, attempt, attempts,
       status, output_kind, outcome, call_status, created_at,
       FIRST_VALUE(status) OVER latest AS final_status,
       FIRST_VALUE(output_kind) OVER latest AS final_output_kind,
       FIRST_VALUE(outcome) OVER latest AS final_outcome
FROM (
    SELECT COALESCE(t.referenced_task_id, t.task_id) AS chain_id, t.task_id, t.agent_handle,
           ROW_NUMBER() OVER (
               PARTITION BY COALESCE(t.referenced_task_id, t.task_id)
               ORDER BY CASE WHEN t.referenced_task_id IS NULL THEN 0 ELSE 1 END,
                        COALESCE(t.followup_count, 0), t.created_at, t.task_id
           ) AS attempt,
           COUNT(*) OVER (PARTITION BY COALESCE(t.referenced_task_id, t.task_id)) AS attempts,
           t.status, t.output_kind, c.summary_status AS outcome, c.call_status, t.created_at
    FROM tasks t LEFT JOIN calls c ON c.task_id = t.task_id
    WHERE t.deleted_at IS NULL
) attempts_of_chains
WINDOW latest AS (
    PARTITION BY chain_id ORDER BY attempt DESC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
)
"""


def _load(name: str) -> ModuleType:
    """An earlier migration's module (their file names start with a digit)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"unpod_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _views(with_interim: bool, dialect: str) -> list[str]:
    v3, v5 = _load("0003_analytics_views.py"), _load("0005_task_deletions.py")
    if with_interim:
        v3.TASK_STATUSES = (*v3.TASK_STATUSES, "interim")
    call_facts, agent_daily, stuck = v5._live_views(v3, dialect)
    if with_interim:
        agent_daily = v5._narrowed(agent_daily, [("t.status FROM tasks t", INTERIM_STATUS)])
    return [call_facts, agent_daily, stuck]


def _backfill(dialect: str) -> list[str]:
    """Stored tasks get the new columns from their stored output: a re-sync would not
    rewrite them (their fingerprint did not change). The same rules as normalize/tasks.py."""
    if dialect == "postgresql":
        data, ref = "output->>'data'", "output->>'referenced_task'"
        ref_is_text = "jsonb_typeof(output->'referenced_task') = 'string'"
        count = (
            "CASE WHEN jsonb_typeof(output->'followup_count') = 'number' "
            "THEN CAST(CAST(output->>'followup_count' AS NUMERIC) AS INTEGER) END"
        )
        obj = "jsonb_typeof(output) = 'object'"
    else:
        data, ref = "json_extract(output, '$.data')", "json_extract(output, '$.referenced_task')"
        ref_is_text = "json_type(output, '$.referenced_task') = 'text'"
        count = (
            "CASE WHEN json_type(output, '$.followup_count') IN ('integer', 'real') "
            "THEN CAST(json_extract(output, '$.followup_count') AS INTEGER) END"
        )
        obj = "json_type(output) = 'object'"
    return [
        f"UPDATE tasks SET output_kind = 'interim' WHERE output_kind = 'other' AND {obj} "
        f"AND lower({data}) LIKE '%will be available soon%'",
        f"UPDATE tasks SET referenced_task_id = {ref}, followup_count = {count} "
        f"WHERE {obj} AND {ref_is_text} AND length(trim({ref})) >= 1 AND length({ref}) <= 64",
    ]


def _drop_views() -> None:
    for view in ("call_attempts", "stuck_tasks", "agent_daily", "call_facts"):
        op.execute(f"DROP VIEW IF EXISTS {view}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_views()
    op.add_column("tasks", sa.Column("referenced_task_id", sa.String(64), nullable=True))
    op.add_column("tasks", sa.Column("followup_count", sa.Integer, nullable=True))
    op.create_index("ix_tasks_referenced_task_id", "tasks", ["referenced_task_id"])
    for sql in _backfill(dialect):
        op.execute(sql)
    for sql in _views(True, dialect):
        op.execute(sql)
    op.execute(CALL_ATTEMPTS)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_views()
    op.drop_index("ix_tasks_referenced_task_id", table_name="tasks")
    op.drop_column("tasks", "followup_count")
    op.drop_column("tasks", "referenced_task_id")
    for sql in _views(False, dialect):
        op.execute(sql)

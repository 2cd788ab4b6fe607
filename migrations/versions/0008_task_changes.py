"""task change history (task_changes), reassignment and call-conflict counters

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-04 18:00:00

`task_changes` gets one row per change a sync writes (warehouse/history.py). Two counters
join sync_agent_results: `reassigned` (tasks that moved in from another agent) and
`call_conflicts` (tasks kept aside because their call_id is another task's call). The view
`task_status_history` reads task_changes as one row per status a task was seen in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _epoch(column: str, dialect: str) -> str:
    """Seconds since 1970 of a timestamp column, so queries can subtract on both databases."""
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _status_history(dialect: str) -> str:
    # A status starts when the server says it moved (the marker, for new and moved tasks),
    # else when a sync first saw it (the server moved no marker). Rows of other kinds that
    # keep the status (content changes, deletions) start no new status.
    start = "COALESCE(CASE WHEN kind IN ('new', 'moved') THEN marker_after END, observed_at)"
    return f"""
CREATE VIEW task_status_history AS
SELECT task_id, agent_handle, status, valid_from,
       LEAD(valid_from) OVER (PARTITION BY task_id ORDER BY change_id) AS valid_to,
       {_epoch("valid_from", dialect)} AS valid_from_epoch,
       marker_moved, run_id, observed_at
FROM (
    SELECT change_id, task_id, agent_handle, status_after AS status, {start} AS valid_from,
           kind <> 'changed_unmoved' AS marker_moved, run_id, observed_at
    FROM task_changes
    WHERE kind = 'new'
       OR (kind IN ('moved', 'changed_unmoved', 'reassigned', 'restored')
           AND COALESCE(status_before, '') <> COALESCE(status_after, ''))
) statuses
"""


def upgrade() -> None:
    op.create_table(
        "task_changes",
        sa.Column("change_id", RUN_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", RUN_ID),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("agent_handle", sa.String(255), nullable=False),
        sa.Column("agent_before", sa.String(255)),
        sa.Column("observed_at", TIME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status_before", sa.String(64)),
        sa.Column("status_after", sa.String(64)),
        sa.Column("marker_before", TIME),
        sa.Column("marker_after", TIME),
        sa.Column("changed_parts", JSON_DOC),
        sa.PrimaryKeyConstraint("change_id", name="pk_task_changes"),
    )
    op.create_index("ix_task_changes_run_id", "task_changes", ["run_id"])
    op.create_index(
        "ix_task_changes_task_id_observed_at", "task_changes", ["task_id", "observed_at"]
    )
    with op.batch_alter_table("sync_agent_results") as batch:
        for name in ("reassigned", "call_conflicts"):
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.execute(_status_history(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS task_status_history")
    with op.batch_alter_table("sync_agent_results") as batch:
        batch.drop_column("call_conflicts")
        batch.drop_column("reassigned")
    op.drop_index("ix_task_changes_task_id_observed_at", table_name="task_changes")
    op.drop_index("ix_task_changes_run_id", table_name="task_changes")
    op.drop_table("task_changes")

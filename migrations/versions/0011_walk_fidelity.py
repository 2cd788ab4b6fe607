"""walk fidelity: per agent and run, whether the walk was complete, shifts, a count mismatch,
and the deletion counters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00

`walk_complete` is null for an agent that was never walked (skipped) and for rows written
before this revision; the deletion rule only acts on a complete walk (warehouse/deletions.py).
`deleted`, `restored` and `deletes_held` were counted by the sync but not stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("shifts", "deleted", "restored", "deletes_held")


def upgrade() -> None:
    with op.batch_alter_table("sync_agent_results") as batch:
        batch.add_column(sa.Column("walk_complete", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column("count_mismatch", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for name in COUNTERS:
            batch.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
            )


def downgrade() -> None:
    with op.batch_alter_table("sync_agent_results") as batch:
        for name in (*reversed(COUNTERS), "count_mismatch", "walk_complete"):
            batch.drop_column(name)

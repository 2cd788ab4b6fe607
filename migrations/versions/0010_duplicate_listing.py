"""sync_agent_results.duplicate_listing: tasks an agent listed that another agent owns

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:00:00

A task listed under two agents in one run is written once, by its owner (pipeline/ownership.py);
the other agent counts it here instead of rewriting the row under its own handle.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_agent_results",
        sa.Column("duplicate_listing", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_agent_results") as batch:
        batch.drop_column("duplicate_listing")

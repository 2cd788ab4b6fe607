"""adaptive walk: per agent and run, how the walk went (full or shallow), how deep it read,
the deepest page holding a change, why it was full, and the counts the next shallow walk
compares with

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:00:00

All nullable: rows written before this revision were full walks of unknown depth, and a
skipped agent has no walk. `api_count` is the largest `count` the server announced during
the walk; `stored_tasks` the agent's live tasks once the walk ended (pipeline/walk_depth.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("walk", sa.String(16)),
    ("pages_walked", sa.Integer()),
    ("deepest_change_page", sa.Integer()),
    ("full_walk_reason", sa.String(32)),
    ("api_count", sa.Integer()),
    ("stored_tasks", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("sync_agent_results") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_agent_results") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)

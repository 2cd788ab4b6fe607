"""pii_settings (the warehouse's --pii mode) and erasures (`forget`)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00

`pii_settings` holds one row (id 1): the mode the stored rows were written in (keep, hash,
redact), the phone region, and in hash mode a check value of the HMAC key (never the key), so
a sync with another mode or key is refused instead of mixing forms. `erasures` keeps one row
per `forget`: the contact's hash only (HMAC with the PII key, or SHA-256 in keep mode), so a
later sync skips that person's tasks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pii_settings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("key_check", sa.String(64)),
        sa.Column("changed_at", TIME, nullable=False),
    )
    op.create_table(
        "erasures",
        sa.Column("erasure_id", RUN_ID, primary_key=True, autoincrement=True),
        sa.Column("contact_hash", sa.String(64), nullable=False, index=True),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("erased_at", TIME, nullable=False),
        sa.Column("tasks_deleted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("calls_deleted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lines_deleted", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("erasures")
    op.drop_table("pii_settings")

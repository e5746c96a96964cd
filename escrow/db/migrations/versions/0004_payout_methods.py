"""payout methods (P3, P4)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_methods",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("account_masked", sa.String(length=254), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("security_hold_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_methods")),
    )
    with op.batch_alter_table("payout_methods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_methods_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payout_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_methods_user_id"))
    op.drop_table("payout_methods")

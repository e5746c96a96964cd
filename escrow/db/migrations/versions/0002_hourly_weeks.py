"""hourly weeks and time entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:06:23.697127
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hourly_weeks",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("expert_id", sa.String(length=200), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("escrow", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("view", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hourly_weeks")),
    )
    with op.batch_alter_table("hourly_weeks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hourly_weeks_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hourly_weeks_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hourly_weeks_expert_id"), ["expert_id"], unique=False)

    op.create_table(
        "time_entries",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("expert_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
    )
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_entries_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_time_entries_expert_id"), ["expert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("time_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_time_entries_expert_id"))
        batch_op.drop_index(batch_op.f("ix_time_entries_contract_id"))

    op.drop_table("time_entries")
    with op.batch_alter_table("hourly_weeks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hourly_weeks_expert_id"))
        batch_op.drop_index(batch_op.f("ix_hourly_weeks_contract_id"))
        batch_op.drop_index(batch_op.f("ix_hourly_weeks_client_id"))

    op.drop_table("hourly_weeks")

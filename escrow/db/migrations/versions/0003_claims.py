"""claims: the refund requests and disputes on each escrow, by owner

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("owner_workflow_id", sa.String(length=200), nullable=False),
        sa.Column("milestone_id", sa.String(length=200), nullable=True),
        sa.Column("week", sa.String(length=8), nullable=True),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("expert_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_milestone_id"), ["milestone_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_owner_workflow_id"), ["owner_workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_owner_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_claims_milestone_id"))
        batch_op.drop_index(batch_op.f("ix_claims_expert_id"))
        batch_op.drop_index(batch_op.f("ix_claims_contract_id"))
        batch_op.drop_index(batch_op.f("ix_claims_client_id"))

    op.drop_table("claims")

"""audit events name their contract; the sandbox payout provider's memory

A contract's statement finds its manual payments (P2, P5) by this index instead of
reading every payment's events; events written before it are filled in from the
contract id their data already carries. The sandbox payout provider remembers what it
paid outside the worker, as a real provider does, so a worker killed mid-payout pays
once (P4).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_events = sa.table(
    "audit_events",
    sa.column("id", sa.String),
    sa.column("contract_id", sa.String),
    sa.column("data", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_id", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_contract_id"), ["contract_id"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.select(_events.c.id, _events.c.data)).all()
    for event_id, data in rows:
        contract_id = (data or {}).get("contract_id")
        if isinstance(contract_id, str):
            bind.execute(sa.update(_events).where(_events.c.id == event_id).values(contract_id=contract_id))
    op.create_table(
        "sandbox_payouts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=254), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sandbox_payouts")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_payouts")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_contract_id"))
        batch_op.drop_column("contract_id")

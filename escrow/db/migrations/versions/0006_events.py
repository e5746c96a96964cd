"""events feed and webhook endpoints

Every audit event gets a feed position and its public type; events recorded before
this revision are given theirs in the order they were recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from escrow.events import contract_of, event_type

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_audit = sa.table(
    "audit_events",
    sa.column("id", sa.String),
    sa.column("workflow_id", sa.String),
    sa.column("contract_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("actor_id", sa.String),
    sa.column("data", sa.JSON),
    sa.column("at", sa.DateTime),
)
_events = sa.table(
    "events",
    sa.column("id", sa.String),
    sa.column("type", sa.String),
    sa.column("contract_id", sa.String),
    sa.column("txid", sa.BigInteger),
)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", Position, autoincrement=True, nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["audit_events.id"], name=op.f("fk_events_id_audit_events")),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_order", ["txid", "position"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_contract_id"), ["contract_id"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("since_position", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("endpoint_id", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
    )
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_messages_pending", ["endpoint_id", "status", "attempts", "position"], unique=False
        )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", Position, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("webhook_id", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_endpoint_id"), ["endpoint_id"], unique=False)
    bind = op.get_bind()
    recorded = bind.execute(sa.select(_audit).order_by(_audit.c.at, _audit.c.id)).all()
    for row in recorded:
        bind.execute(
            sa.insert(_events).values(
                id=row.id,
                type=event_type(row.kind, row.actor_id, row.data or {}),
                contract_id=contract_of(row.workflow_id, row.contract_id),
                txid=0,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_endpoint_id"))
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_messages_pending")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_contract_id"))
        batch_op.drop_index("ix_events_order")
    op.drop_table("events")

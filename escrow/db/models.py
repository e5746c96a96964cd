"""SQLAlchemy 2.0 typed models. The ledger (accounts, transfers) holds the money; the
rest are read models, audit trail and the notification outbox, all written by activities
in the same transaction as the transfers they describe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = String(200)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC everywhere. PostgreSQL keeps the zone; SQLite drops it, so
    it is put back on the way out rather than by every reader."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


When = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        # L3, as a last line of defence: the ledger refuses an overdraft before this.
        CheckConstraint("balance >= 0 OR name LIKE 'world:%'", name="not_negative"),
    )

    name: Mapped[str] = mapped_column(Id, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    # L2: derived from the business step; the primary key makes a repeat post a no-op.
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    debit_account: Mapped[str] = mapped_column(ForeignKey("accounts.name"), index=True)
    credit_account: Mapped[str] = mapped_column(ForeignKey("accounts.name"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(40))
    available_at: Mapped[datetime | None] = mapped_column(When)
    # A hold is settled by exactly one transfer.
    settles: Mapped[str | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    posted_at: Mapped[datetime] = mapped_column(When)


class ReadModel:
    """A row one workflow rewrites at each step, for the API to read without asking
    Temporal: `version` is the number of the step that wrote it, so that an older step
    never overwrites a newer one."""

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    client_id: Mapped[str] = mapped_column(Id, index=True)
    expert_id: Mapped[str] = mapped_column(Id, index=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(When)


class ViewRow(ReadModel):
    """A workflow's whole view, and the columns the API filters it by."""

    currency: Mapped[str] = mapped_column(String(3))
    view: Mapped[dict[str, Any]] = mapped_column(JSON)


class Contract(ViewRow, Base):
    __tablename__ = "contracts"

    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))


class Milestone(ViewRow, Base):
    __tablename__ = "milestones"

    contract_id: Mapped[str] = mapped_column(Id, index=True)
    status: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(BigInteger)
    escrow: Mapped[int] = mapped_column(BigInteger)


class HourlyWeek(ViewRow, Base):
    """`id` is the week's workflow id, `hourly-week:{contract_id}:{iso_week}`."""

    __tablename__ = "hourly_weeks"

    contract_id: Mapped[str] = mapped_column(Id, index=True)
    week: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(30))
    escrow: Mapped[int] = mapped_column(BigInteger)


class Claim(ReadModel, Base):
    """A refund request or dispute on an escrow, as its owner (a milestone, a billing
    week) last wrote it: lets the API find a claim's owner and parties without asking
    Temporal. `id` is the request's or dispute's (its workflow is `refund:{id}`,
    `dispute:{id}`)."""

    __tablename__ = "claims"

    kind: Mapped[str] = mapped_column(String(20))
    owner_workflow_id: Mapped[str] = mapped_column(Id, index=True)
    # The owner: a milestone, or a billing week of an hourly contract.
    milestone_id: Mapped[str | None] = mapped_column(Id, index=True)
    week: Mapped[str | None] = mapped_column(String(8))
    contract_id: Mapped[str] = mapped_column(Id, index=True)
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)


class TimeEntry(Base):
    """H1: the work journal. The week's workflow decides; this row lets the API find an
    entry's week and lets reports read the journal."""

    __tablename__ = "time_entries"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    contract_id: Mapped[str] = mapped_column(Id, index=True)
    week: Mapped[str] = mapped_column(String(8))
    expert_id: Mapped[str] = mapped_column(Id, index=True)
    started_at: Mapped[datetime] = mapped_column(When)
    minutes: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    memo: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(When)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    milestone_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = mapped_column(When)
    clears_at: Mapped[datetime | None] = mapped_column(When)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(Id, index=True)
    contract_id: Mapped[str | None] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(60))
    actor_id: Mapped[str | None] = mapped_column(Id)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(When)


class OutboxMessage(Base):
    """Each notification's text for its user, written with its step; a mail sender would
    mark `sent_at`. The same step is an event of the feed and of webhooks (`Event`),
    which is how a marketplace hears of it."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(When)
    sent_at: Mapped[datetime | None] = mapped_column(When)


# A feed position: an integer the database counts up (SQLite's rowid, a PostgreSQL
# identity column).
Position = BigInteger().with_variant(Integer, "sqlite")


class Event(Base):
    """An audit event's place in the events feed and its public type (escrow.events),
    written in the step's transaction. `txid` is the PostgreSQL transaction that wrote
    it (0 on SQLite): the feed's order, see escrow/db/events.py."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_order", "txid", "position"),)

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    id: Mapped[str] = mapped_column(ForeignKey("audit_events.id"), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    contract_id: Mapped[str | None] = mapped_column(Id, index=True)


class WebhookEndpoint(Base):
    """Where an operator wants events delivered (Standard Webhooks). It receives the
    events recorded after `since_position`, of `event_types` (None: all)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    since_position: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(When)
    failing_since: Mapped[datetime | None] = mapped_column(When)


class WebhookMessage(Base):
    """An event owed to an endpoint: pending until delivered, or failed when it found
    no answer for 3 days after it was queued. `position` is the event's in the feed."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_pending", "endpoint_id", "status", "attempts", "position"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(Id)
    event_id: Mapped[str] = mapped_column(Id)
    position: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(When)


class WebhookDelivery(Base):
    """One attempt to deliver an event to an endpoint, and what the endpoint answered."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(Id, index=True)
    event_id: Mapped[str] = mapped_column(Id)
    webhook_id: Mapped[str] = mapped_column(Id)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(When)


class PayoutMethod(Base):
    """A user's payout method (P3, P4). Written by the API directly: a method moves no
    money, so it needs no workflow. `account` is never shown in full."""

    __tablename__ = "payout_methods"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(254))
    account_masked: Mapped[str] = mapped_column(String(254))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    added_at: Mapped[datetime] = mapped_column(When)
    security_hold_until: Mapped[datetime] = mapped_column(When)


class SandboxPayout(Base):
    """The sandbox payout provider's memory of what it paid, by idempotency key: as a
    real provider's is, it is outside the worker, so a worker killed after the provider
    paid finds the same payout when its activity runs again (P4, L2)."""

    __tablename__ = "sandbox_payouts"

    key: Mapped[str] = mapped_column(Id, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(When)


class IdempotencyRecord(Base):
    """The API's memory of POSTs by `Idempotency-Key`: HTTP plumbing, not money."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(When)

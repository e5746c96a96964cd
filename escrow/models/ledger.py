"""What one workflow step writes: transfers, read models, audit, notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from escrow.models.contract import ContractView
from escrow.models.hourly import HourlyWeekView
from escrow.models.milestone import Invoice, MilestoneView

__all__ = ["AuditEvent", "Notification", "Step", "TransferSpec"]


class TransferSpec(BaseModel):
    """One double-entry transfer. `id` is derived from the business step (L2)."""

    id: str
    debit: str
    credit: str
    amount: int
    currency: str
    kind: str
    # A hold: the credit is pending until then (L5).
    available_at: datetime | None = None
    # The hold transfer this one settles; a hold settles once.
    settles: str | None = None


class AuditEvent(BaseModel):
    id: str
    workflow_id: str
    # The contract the step belongs to, when it belongs to one: what a contract's
    # statement and a party's reads find its events by.
    contract_id: str | None = None
    kind: str
    actor_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Notification(BaseModel):
    id: str
    user_id: str
    kind: str
    message: str


class Step(BaseModel):
    """Everything one workflow step writes, posted in one database transaction."""

    at: datetime
    transfers: list[TransferSpec] = Field(default_factory=list)
    contract: ContractView | None = None
    milestone: MilestoneView | None = None
    week: HourlyWeekView | None = None
    # The workflow's step number orders read-model writes: an older step never
    # overwrites a newer one.
    version: int = 0
    invoices: list[Invoice] = Field(default_factory=list)
    audit: list[AuditEvent] = Field(default_factory=list)
    notifications: list[Notification] = Field(default_factory=list)

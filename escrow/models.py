"""Models shared by every layer: workflow inputs, commands, views and ledger steps.

Commands carry the acting user so that the workflow, not the API, decides who may do
what; the API only proves who the caller is.
"""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from escrow.policy import Policy


class Role(StrEnum):
    CLIENT = "client"
    EXPERT = "expert"
    OPERATOR = "operator"


class Actor(BaseModel):
    user_id: str
    role: Role


# ---------------------------------------------------------------- contracts


class ContractType(StrEnum):
    FIXED = "fixed"
    HOURLY = "hourly"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class ContractInput(BaseModel):
    contract_id: str
    client_id: str
    expert_id: str
    type: ContractType
    currency: str
    hourly_rate: int | None = None
    policy: Policy
    # Carried across continue-as-new.
    milestone_ids: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    step: int = 0


class ContractView(BaseModel):
    id: str
    client_id: str
    expert_id: str
    type: ContractType
    currency: str
    hourly_rate: int | None
    policy: str
    status: ContractStatus
    created_at: datetime
    milestone_ids: list[str]


class AddMilestone(BaseModel):
    actor: Actor
    title: str
    amount: int
    due_date: date | None = None
    description: str | None = None


# ---------------------------------------------------------------- milestones


class MilestoneStatus(StrEnum):
    PROPOSED = "proposed"  # M8: the expert proposed it; the client has not agreed
    AGREED = "agreed"  # M1: waiting for funding
    FUNDING_PENDING = "funding_pending"  # M2: card not yet authenticated
    IN_PROGRESS = "in_progress"  # funded, the expert works
    SUBMITTED = "submitted"  # M3/M4: release requested, review window open
    PARTIALLY_RELEASED = "partially_released"  # M6: the rest waits in escrow
    COMPLETED = "completed"  # everything released
    DECLINED = "declined"  # M8: the proposal was declined


class DeadlineAction(StrEnum):
    AUTO_RELEASE = "auto_release"


class MilestoneInput(BaseModel):
    milestone_id: str
    contract_id: str
    client_id: str
    expert_id: str
    title: str
    description: str | None = None
    amount: int
    currency: str
    due_date: date | None = None
    proposed_by: Role
    policy: Policy


class Hold(BaseModel):
    """A release sitting in the expert's pending balance until `available_at` (M9, P2)."""

    transfer_id: str
    amount: int
    available_at: datetime
    settled: bool = False


class InvoiceKind(StrEnum):
    PRO_FORMA = "pro_forma"  # M3: made by a release request
    FINAL = "final"  # M9: made on release


class Invoice(BaseModel):
    id: str
    milestone_id: str
    kind: InvoiceKind
    amount: int
    currency: str
    issued_at: datetime
    # C4: the day the money this invoice pays becomes available to the expert.
    clears_at: datetime | None = None


class MilestoneView(BaseModel):
    id: str
    contract_id: str
    client_id: str
    expert_id: str
    title: str
    description: str | None
    due_date: date | None
    currency: str
    policy: str
    proposed_by: Role
    status: MilestoneStatus
    amount: int
    escrow: int = 0
    funded: int = 0
    released: int = 0
    refunded: int = 0
    submitted_at: datetime | None = None
    overdue: bool = False
    revisions: int = 0
    deadline_at: datetime | None = None
    deadline_action: DeadlineAction | None = None
    holds: list[Hold] = Field(default_factory=list)
    invoices: list[Invoice] = Field(default_factory=list)


class PartyCommand(BaseModel):
    actor: Actor


class Fund(PartyCommand):
    card_authenticated: bool = True


class Release(PartyCommand):
    # None releases everything still in escrow.
    amount: int | None = None


class RequestRevision(PartyCommand):
    message: str


class Submit(PartyCommand):
    message: str | None = None


# ---------------------------------------------------------------- ledger steps


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
    # The workflow's step number orders read-model writes: an older step never
    # overwrites a newer one.
    version: int = 0
    invoices: list[Invoice] = Field(default_factory=list)
    audit: list[AuditEvent] = Field(default_factory=list)
    notifications: list[Notification] = Field(default_factory=list)

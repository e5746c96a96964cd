"""Contracts between a client and an expert."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from escrow.models.common import Actor
from escrow.models.milestone import MilestoneSummary, Remainder
from escrow.policy import Policy


class ContractType(StrEnum):
    FIXED = "fixed"
    HOURLY = "hourly"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    # C1: closed by a party; waiting for its escrow to be released or refunded.
    CLOSING = "closing"
    CLOSED = "closed"


class CloseContract(BaseModel):
    """C1: the client says what happens to unreleased escrow; an expert who closes
    always gives it back."""

    actor: Actor
    remainder: Remainder | None = None


class ContractInput(BaseModel):
    contract_id: str
    client_id: str
    expert_id: str
    type: ContractType
    currency: str
    hourly_rate: int | None = None
    policy: Policy
    # Carried across continue-as-new.
    milestones: list[MilestoneSummary] = Field(default_factory=list)
    created_at: datetime | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    closing: CloseContract | None = None
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
    milestones: list[MilestoneSummary] = Field(default_factory=list)
    closed_at: datetime | None = None
    # C2: closed with nothing paid to the expert.
    zero_pay: bool | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def escrow_total(self) -> int:
        return sum(m.escrow for m in self.milestones)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def released_total(self) -> int:
        return sum(m.released for m in self.milestones)

    @property
    def milestone_ids(self) -> list[str]:
        return [m.id for m in self.milestones]


class AddMilestone(BaseModel):
    actor: Actor
    title: str
    amount: int
    due_date: date | None = None
    description: str | None = None


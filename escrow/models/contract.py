"""Contracts between a client and an expert."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from escrow.inputs import Cents, Reference, Text, Title
from escrow.models.common import PartyCommand
from escrow.models.hourly import WeekSummary
from escrow.models.milestone import MilestoneSummary, Remainder
from escrow.policy import Policy

__all__ = [
    "AddMilestone",
    "CloseContract",
    "ContractInput",
    "ContractStatus",
    "ContractType",
    "ContractView",
    "SetPaymentMethod",
]


class ContractType(StrEnum):
    FIXED = "fixed"
    HOURLY = "hourly"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    # H7: an hourly week's charge failed; nothing is logged until it is paid.
    ON_HOLD = "on_hold"
    # C1: closed by a party; waiting for its escrow to be released or refunded.
    CLOSING = "closing"
    CLOSED = "closed"
    # O1: holds escrow and nobody acted on it for too long (Elance).
    DORMANT = "dormant"


class CloseContract(PartyCommand):
    """C1: the client says what happens to unreleased escrow; an expert who closes
    always gives it back."""

    remainder: Remainder | None = None


class Lifecycle(BaseModel):
    """Where the contract is in its life: shown in its view, and carried in its input
    across continue-as-new, one definition for both."""

    closed_at: datetime | None = None
    # C2: closed with nothing paid to the expert.
    zero_pay: bool | None = None
    # O1–O5: the contract's own last O2 activity (its milestones report theirs); the
    # dormant date; whether the expert was told (O3) and the escrow settled (O4).
    last_activity_at: datetime | None = None
    dormant_since: datetime | None = None
    dormant_expert_notified: bool = False
    dormant_settled: bool = False


class ContractInput(Lifecycle):
    contract_id: str
    client_id: str
    expert_id: str
    type: ContractType
    currency: str
    hourly_rate: int | None = None
    weekly_limit_hours: int | None = None
    # The client's card for hourly billing (H2), as the payment gateway knows it.
    payment_method: str | None = None
    policy: Policy
    # Carried across continue-as-new.
    milestones: list[MilestoneSummary] = Field(default_factory=list)
    weeks: list[WeekSummary] = Field(default_factory=list)
    created_at: datetime | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    closing: CloseContract | None = None
    step: int = 0


class ContractView(Lifecycle):
    id: str
    client_id: str
    expert_id: str
    type: ContractType
    currency: str
    hourly_rate: int | None
    weekly_limit_hours: int | None = None
    policy: str
    status: ContractStatus
    created_at: datetime
    milestones: list[MilestoneSummary] = Field(default_factory=list)
    weeks: list[WeekSummary] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def escrow_total(self) -> int:
        return sum(m.escrow for m in self.milestones) + sum(w.escrow for w in self.weeks)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def released_total(self) -> int:
        return sum(m.released for m in self.milestones) + sum(w.released for w in self.weeks)

    @property
    def milestone_ids(self) -> list[str]:
        return [m.id for m in self.milestones]


class AddMilestone(PartyCommand):
    title: Title
    amount: Cents
    due_date: date | None = None
    description: Text | None = None


class SetPaymentMethod(PartyCommand):
    payment_method: Reference

"""Manual payments (P2, P5): a bonus or an expense reimbursement the client pays the
expert of a contract outside any milestone, held until 5 days after the processor
confirms it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from escrow.inputs import Cents, Text
from escrow.policy import Policy


class PaymentKind(StrEnum):
    BONUS = "bonus"
    EXPENSE = "expense"


class PaymentStatus(StrEnum):
    HELD = "held"  # in the expert's pending balance (P2)
    AVAILABLE = "available"  # the hold ended (P5)


class PaymentTerms(BaseModel):
    """What the client asks for: the body of `POST /v1/contracts/{id}/payments`."""

    model_config = ConfigDict(extra="forbid")

    amount: Cents
    kind: PaymentKind
    memo: Text | None = None


class Payment(BaseModel):
    """Who pays whom what, under which contract: the workflow's input and its view alike."""

    contract_id: str
    client_id: str
    expert_id: str
    currency: str
    amount: int
    kind: PaymentKind
    memo: str | None


class ManualPaymentInput(Payment):
    payment_id: str
    policy: Policy


class ManualPaymentView(Payment):
    id: str
    status: PaymentStatus
    confirmed_at: datetime
    available_at: datetime
    transfer_id: str

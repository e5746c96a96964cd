"""Payout methods and payouts (P3, P4)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from escrow.policy import Policy

__all__ = ["PayoutInput", "PayoutMethodKind", "PayoutMethodView", "PayoutSource", "PayoutStatus", "PayoutView"]


class PayoutMethodKind(StrEnum):
    PAYPAL = "paypal"
    PAYONEER = "payoneer"
    WIRE = "wire"


class PayoutMethodView(BaseModel):
    """A method as the API shows it: the account masked, never in full."""

    id: str
    user_id: str
    kind: PayoutMethodKind
    account_masked: str
    country: str
    currency: str
    added_at: datetime
    # P3: no payout through this method before then.
    security_hold_until: datetime


class PayoutSource(StrEnum):
    """Which of the user's balances a payout draws on: an expert withdraws earnings, a
    client the refunds credited to its account balance (R3: "or withdraw it")."""

    EARNINGS = "earnings"
    REFUNDS = "refunds"


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    # Never taken: on hold, or more than was available (its request answered 409).
    REFUSED = "refused"


class PayoutInput(BaseModel):
    payout_id: str
    user_id: str
    method_id: str
    kind: PayoutMethodKind
    # The full account, for the gateway only; never in the view.
    account: str
    account_masked: str
    amount: int
    fee: int
    currency: str
    policy: Policy
    # P3: the method's security hold; the payout's own clock decides against it.
    security_hold_until: datetime
    source: PayoutSource = PayoutSource.EARNINGS
    requested_at: datetime | None = None


class PayoutView(BaseModel):
    id: str
    user_id: str
    method_id: str
    kind: PayoutMethodKind
    account_masked: str
    amount: int
    fee: int
    currency: str
    security_hold_until: datetime
    source: PayoutSource = PayoutSource.EARNINGS
    status: PayoutStatus
    requested_at: datetime
    decided_at: datetime | None = None
    reference: str | None = None
    failure: str | None = None

    # Its user is both of its "parties": api.deps.seen shows it to them and operators.
    @property
    def client_id(self) -> str:
        return self.user_id

    @property
    def expert_id(self) -> str:
        return self.user_id

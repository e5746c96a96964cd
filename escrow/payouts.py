"""The payout gateway behind one small interface, and its sandbox (P4).

As escrow.payments does for charges: the workflow calls `send` through an activity
with the payout's idempotency key, so a retried call never pays twice. The sandbox
behaves like a provider's test mode: an account containing `fail` fails, any other
is paid, always the same way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class PayoutOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"


class PayoutRequest(BaseModel):
    # The provider's idempotency key: the same key never pays twice.
    key: str
    kind: str
    account: str
    amount: int
    currency: str


class PayoutResult(BaseModel):
    outcome: PayoutOutcome
    reference: str
    message: str = ""


class PayoutGateway(Protocol):
    def send(self, request: PayoutRequest) -> PayoutResult: ...


SANDBOX_FAILS = "fail"


class PayoutMemory(Protocol):
    """What a provider remembers by idempotency key: the first answer for a key is
    the answer for it, however often it is asked."""

    def remember(self, request: PayoutRequest, result: PayoutResult) -> PayoutResult: ...


class InMemoryPayouts:
    """A memory that lives as long as its process: for unit tests of the sandbox.
    The worker's is escrow.db.sandbox_payouts.StoredPayouts, which outlives it."""

    def __init__(self) -> None:
        self._sent: dict[str, PayoutResult] = {}

    def remember(self, request: PayoutRequest, result: PayoutResult) -> PayoutResult:
        return self._sent.setdefault(request.key, result)


class SandboxPayoutGateway:
    def __init__(self, memory: PayoutMemory | None = None) -> None:
        self._memory = memory or InMemoryPayouts()

    def send(self, request: PayoutRequest) -> PayoutResult:
        reference = f"sandbox-payout:{request.key}"
        if SANDBOX_FAILS in request.account.lower():
            result = PayoutResult(outcome=PayoutOutcome.FAILED, reference=reference, message="account rejected")
        else:
            result = PayoutResult(outcome=PayoutOutcome.PAID, reference=reference)
        return self._memory.remember(request, result)

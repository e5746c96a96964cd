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


class SandboxPayoutGateway:
    def __init__(self) -> None:
        self._sent: dict[str, PayoutResult] = {}

    def send(self, request: PayoutRequest) -> PayoutResult:
        if request.key in self._sent:
            return self._sent[request.key]
        reference = f"sandbox-payout:{request.key}"
        if SANDBOX_FAILS in request.account.lower():
            result = PayoutResult(outcome=PayoutOutcome.FAILED, reference=reference, message="account rejected")
        else:
            result = PayoutResult(outcome=PayoutOutcome.PAID, reference=reference)
        self._sent[request.key] = result
        return result


PAYOUT_GATEWAYS: dict[str, type[PayoutGateway]] = {"sandbox": SandboxPayoutGateway}


def payout_gateway(name: str) -> PayoutGateway:
    try:
        return PAYOUT_GATEWAYS[name]()
    except KeyError:
        raise ValueError(f"unknown payout gateway {name!r}; known: {', '.join(PAYOUT_GATEWAYS)}") from None

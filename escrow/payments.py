"""The payment gateway behind one small interface, and its sandbox.

The sandbox behaves like a provider's test mode: the card decides the outcome, always
the same way, so tests and demos can walk every branch of H7.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class ChargeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class ChargeRequest(BaseModel):
    # The provider's idempotency key: the same key never charges twice.
    key: str
    customer_id: str
    payment_method: str | None
    amount: int
    currency: str


class ChargeResult(BaseModel):
    outcome: ChargeOutcome
    reference: str
    message: str = ""


class GatewayUnavailable(Exception):
    """The provider could not be reached; the charge may be tried again."""


class PaymentGateway(Protocol):
    def charge(self, request: ChargeRequest) -> ChargeResult: ...


# The sandbox's test cards, after the payment providers' own test numbers.
SANDBOX_SUCCEEDS = "4242424242424242"
SANDBOX_DECLINED = "4000000000000002"
SANDBOX_NETWORK_ERROR = "4000000000000119"


class SandboxGateway:
    def charge(self, request: ChargeRequest) -> ChargeResult:
        reference = f"sandbox:{request.key}"
        if request.payment_method == SANDBOX_NETWORK_ERROR:
            raise GatewayUnavailable("sandbox: network error talking to the card network")
        if request.payment_method == SANDBOX_SUCCEEDS:
            return ChargeResult(outcome=ChargeOutcome.SUCCEEDED, reference=reference)
        reason = "no payment method on file" if not request.payment_method else "card declined"
        return ChargeResult(outcome=ChargeOutcome.DECLINED, reference=reference, message=reason)


GATEWAYS: dict[str, type[PaymentGateway]] = {"sandbox": SandboxGateway}


def gateway(name: str) -> PaymentGateway:
    try:
        return GATEWAYS[name]()
    except KeyError:
        raise ValueError(f"unknown payment gateway {name!r}; known: {', '.join(GATEWAYS)}") from None

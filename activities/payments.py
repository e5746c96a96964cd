"""Charging the client's payment method through the configured gateway (H2, H7).

Only the gateway is called here; the money enters the ledger in the next workflow step,
under a transfer id made from the same idempotency key.
"""

from __future__ import annotations

from temporalio import activity

from escrow.payments import ChargeRequest, ChargeResult, PaymentGateway


class PaymentActivities:
    def __init__(self, gateway: PaymentGateway) -> None:
        self._gateway = gateway

    @activity.defn(name="charge")
    def charge(self, request: ChargeRequest) -> ChargeResult:
        # GatewayUnavailable propagates: Temporal retries it, the key keeps it one charge.
        return self._gateway.charge(request)

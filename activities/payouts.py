"""Sending a payout through the configured payout gateway (P4).

Only the gateway is called here; the money moves in the next workflow step, under
transfer ids made from the payout's workflow id. The payout's id is the gateway's
idempotency key, so a retried or re-run send never pays twice.
"""

from __future__ import annotations

from temporalio import activity

from escrow.payouts import PayoutGateway, PayoutRequest, PayoutResult


class PayoutActivities:
    def __init__(self, gateway: PayoutGateway) -> None:
        self._gateway = gateway

    @activity.defn(name="send_payout")
    def send_payout(self, request: PayoutRequest) -> PayoutResult:
        return self._gateway.send(request)

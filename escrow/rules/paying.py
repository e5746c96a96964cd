"""How money leaves an escrow, for milestones and billing weeks alike: what goes back
to the client's balance, and what goes to the expert under the security hold (L5; M9
for fixed-rate work, H6 for hourly weeks). The owner of the escrow decides the amounts
and writes the result in one step; each claim that money settles is closed with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from escrow import accounts, holds
from escrow.models import Claim, ClaimStatus, Hold, TransferSpec


@dataclass(frozen=True)
class Payment:
    """Out of `escrow`: `to_client` and `to_expert`, with the ids their transfers take."""

    escrow: str
    client_id: str
    expert_id: str
    currency: str
    to_client: int
    to_expert: int
    refund_id: str  # the transfer to the client
    release_id: str  # the transfer to the expert, and the hold it opens
    available_at: datetime  # when the expert's money becomes available
    refund_kind: str = "refund"


@dataclass
class Paid:
    transfers: list[TransferSpec] = field(default_factory=list)
    hold: Hold | None = None


def pay(p: Payment) -> Paid:
    """The transfers of one payment out of escrow, and the hold on the expert's part."""
    paid = Paid()
    if p.to_client:
        paid.transfers.append(
            TransferSpec(
                id=p.refund_id,
                debit=p.escrow,
                credit=accounts.client_balance(p.client_id),
                amount=p.to_client,
                currency=p.currency,
                kind=p.refund_kind,
            )
        )
    if p.to_expert:
        release, paid.hold = holds.hold(p.release_id, p.escrow, p.expert_id, p.to_expert, p.currency, p.available_at)
        paid.transfers.append(release)
    return paid


def settle_claim(claims: list[Claim], claim_id: str, now: datetime, to_client: int) -> list[Claim]:
    """The claims after the one this payment settles, with what it gave the client."""
    return [
        c.model_copy(update={"status": ClaimStatus.SETTLED, "closed_at": now, "amount_to_client": to_client})
        if c.id == claim_id
        else c
        for c in claims
    ]


def with_claims(claims: list[Claim], changed: list[Claim]) -> list[Claim]:
    """`claims` with `changed` in place of those of the same id, and new ones appended."""
    by_id = {c.id: c for c in changed}
    return [by_id.pop(c.id, c) for c in claims] + list(by_id.values())

"""Security holds (L5; M9, P2 for fixed-rate work, H6, P1 for hourly weeks).

Money released to an expert first lands in its pending account with an `available_at`;
at that instant one settling transfer, which names the hold, makes it available. Each
workflow that owns an escrow holds and settles its own releases with these.
"""

from __future__ import annotations

from datetime import datetime

from escrow import accounts
from escrow.models import Hold, TransferSpec


def hold(
    transfer_id: str, escrow: str, expert_id: str, amount: int, currency: str, available_at: datetime
) -> tuple[TransferSpec, Hold]:
    """The release of `amount` from `escrow` into the expert's pending balance."""
    transfer = TransferSpec(
        id=transfer_id,
        debit=escrow,
        credit=accounts.expert_pending(expert_id),
        amount=amount,
        currency=currency,
        kind="release",
        available_at=available_at,
    )
    return transfer, Hold(transfer_id=transfer_id, amount=amount, available_at=available_at)


def settle(holds: list[Hold], due: list[Hold], expert_id: str, currency: str) -> tuple[list[TransferSpec], list[Hold]]:
    """The transfers that make `due` holds available, and `holds` with those settled."""
    transfers = [
        TransferSpec(
            id=f"{h.transfer_id}:settle",
            debit=accounts.expert_pending(expert_id),
            credit=accounts.expert_available(expert_id),
            amount=h.amount,
            currency=currency,
            kind="hold_release",
            settles=h.transfer_id,
        )
        for h in due
    ]
    settled = {h.transfer_id for h in due}
    return transfers, [h.model_copy(update={"settled": True}) if h.transfer_id in settled else h for h in holds]


def claw_back(
    holds: list[Hold], amount: int, escrow: str, expert_id: str, currency: str, transfer_id: str
) -> tuple[list[TransferSpec], list[Hold]]:
    """Bring `amount` of money this escrow released back into it (M10): first from its
    holds still pending, the latest first, so the expert's soonest money stays put;
    the rest from the expert's available balance, which the ledger refuses to overdraw
    (L3). A hold is taken back whole, settling it, and what is left of it is held again
    until the same instant: every hold is still settled once, by its own amount (L5).
    Returns the transfers, in the order they must be posted, and the holds after them."""
    transfers: list[TransferSpec] = []
    after = list(holds)
    left = amount
    for h in sorted((h for h in holds if not h.settled), key=lambda h: h.available_at, reverse=True):
        if left == 0:
            break
        taken = min(left, h.amount)
        left -= taken
        transfers.append(
            TransferSpec(
                id=f"{h.transfer_id}:clawback",
                debit=accounts.expert_pending(expert_id),
                credit=escrow,
                amount=h.amount,
                currency=currency,
                kind="hold_clawback",
                settles=h.transfer_id,
            )
        )
        after = [x.model_copy(update={"settled": True}) if x.transfer_id == h.transfer_id else x for x in after]
        if taken < h.amount:
            again, held = hold(f"{h.transfer_id}:rehold", escrow, expert_id, h.amount - taken, currency, h.available_at)
            transfers.append(again.model_copy(update={"kind": "rehold"}))
            after.append(held)
    if left:
        transfers.append(
            TransferSpec(
                id=transfer_id,
                debit=accounts.expert_available(expert_id),
                credit=escrow,
                amount=left,
                currency=currency,
                kind="clawback",
            )
        )
    return transfers, after

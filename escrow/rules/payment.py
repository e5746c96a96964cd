"""Manual payments (P2, P5): the client pays the expert of a contract a bonus or an
expense reimbursement outside any milestone. The processor confirms the payment as it
is made (like a milestone's funding); the money goes from the card into the expert's
pending balance under a hold, and is available 5 days after the confirmation, on the
weekday P5's table names."""

from __future__ import annotations

from datetime import datetime, timedelta

from escrow import accounts, holds
from escrow.errors import Refusal, refuse
from escrow.models import PartyCommand, Role
from escrow.models.payment import ManualPaymentInput, ManualPaymentView, PaymentStatus
from escrow.rules import Context, Decision, made_from
from escrow.statement import MANUAL_PREFIX

# P5: the weekday the processor confirms on (Monday = 0) -> the weekday the money is
# available on. Every row is 5 calendar days later.
AVAILABLE_ON = {
    0: 5,  # Monday -> Saturday
    1: 6,  # Tuesday -> Sunday
    2: 0,  # Wednesday -> Monday
    3: 1,  # Thursday -> Tuesday
    4: 2,  # Friday -> Wednesday
    5: 3,  # Saturday -> Thursday
    6: 4,  # Sunday -> Friday
}


def available_at(confirmed_at: datetime) -> datetime:
    """P5: when money the processor confirmed at `confirmed_at` becomes available: the
    next day of the table's weekday, at the instant of the confirmation."""
    days = (AVAILABLE_ON[confirmed_at.weekday()] - confirmed_at.weekday()) % 7 or 7
    return confirmed_at + timedelta(days=days)


def transfer_id(workflow_id: str) -> str:
    """The opening step's transfer: the statement finds it by this id (escrow.statement)."""
    return f"{workflow_id}:pay"


def opened(input: ManualPaymentInput, confirmed_at: datetime, workflow_id: str) -> ManualPaymentView:
    return made_from(
        input,
        ManualPaymentView,
        id=input.payment_id,
        status=PaymentStatus.HELD,
        confirmed_at=confirmed_at,
        available_at=available_at(confirmed_at),
        transfer_id=transfer_id(workflow_id),
    )


def paid(v: ManualPaymentView, ctx: Context) -> Decision[ManualPaymentView]:
    """The opening step: from the card (the processor confirmed it) into the expert's
    pending balance, held until `available_at` (P2, P5)."""
    transfer, _ = holds.hold(v.transfer_id, accounts.WORLD_CARD, v.expert_id, v.amount, v.currency, v.available_at)
    transfer = transfer.model_copy(update={"kind": f"{MANUAL_PREFIX}{v.kind.value}"})
    return Decision(view=v, kind="payment.made", data=_data(v), transfers=[transfer])


def settle(v: ManualPaymentView, ctx: Context) -> Decision[ManualPaymentView] | None:
    """At `available_at` the hold ends: the money is the expert's to withdraw."""
    if v.status != PaymentStatus.HELD or ctx.now < v.available_at:
        return None
    hold = holds.hold(v.transfer_id, accounts.WORLD_CARD, v.expert_id, v.amount, v.currency, v.available_at)[1]
    transfers, _ = holds.settle([hold], [hold], v.expert_id, v.currency)
    view = v.model_copy(update={"status": PaymentStatus.AVAILABLE})
    return Decision(view=view, kind="payment.available", data=_data(view), transfers=transfers)


def _data(v: ManualPaymentView) -> dict[str, object]:
    return {
        "payment_id": v.id,
        "contract_id": v.contract_id,
        "amount": v.amount,
        "kind": v.kind.value,
        "transfer_id": v.transfer_id,
    }


def confirm(v: ManualPaymentView, cmd: PartyCommand, ctx: Context) -> Decision[ManualPaymentView] | None:
    """The client's read of the payment it just made, once its opening step is written
    (read-your-writes): nothing changes; only the client asks."""
    if cmd.actor.role != Role.CLIENT or cmd.actor.user_id != v.client_id:
        raise refuse(Refusal.FORBIDDEN, "only the contract's client pays its expert")
    return None

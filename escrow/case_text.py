"""The case as operators read it in the Temporal Web UI and the `temporal` CLI: in words,
what each workflow waits for, who must act, and what it will do on its own and when
("auto-release 2,500.00 USD to expert e-17 on 2026-12-05 00:00 UTC unless the client
acts"). Workflows publish `Case.details()` as their current details, `Case.waiting_on`
as the `WaitingOn` search attribute, and `Case.timer()` as their next timer's summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from escrow.models import (
    ContractInput,
    ContractStatus,
    ContractView,
    DisputeView,
    HourlyWeekView,
    MilestoneStatus,
    MilestoneView,
    PaymentStatus,
    RefundStatus,
    RefundView,
    Role,
    WeekStatus,
)
from escrow.models.dispute import DisputeStatus
from escrow.models.payment import ManualPaymentInput, ManualPaymentView
from escrow.models.payment import PaymentStatus as ManualPaymentStatus
from escrow.models.payout import PayoutInput, PayoutStatus, PayoutView
from escrow.models.review import ReviewsStatus, ReviewsView
from escrow.money import format_cents
from escrow.notices.dispute import details


class WaitingOn(StrEnum):
    """Who must act next: the value of the `WaitingOn` search attribute."""

    CLIENT = "client"
    EXPERT = "expert"
    PARTIES = "parties"  # either party may act
    OPERATOR = "operator"
    GATEWAY = "gateway"  # a card or payout processor
    NOBODY = "nobody"  # settled, or only the clock moves it on


def when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Next:
    """What the workflow does on its own at `at`, unless someone acts first."""

    action: str
    at: datetime
    unless: str | None = None

    def text(self) -> str:
        unless = f" unless {self.unless}" if self.unless else ""
        return f"{self.action} on {when(self.at)}{unless}"


@dataclass(frozen=True)
class Case:
    state: str  # the first line: the state and the money
    waiting_on: WaitingOn
    waiting_for: str = ""  # "the client to release the work or ask for a revision"
    next: Next | None = None

    def details(self) -> str:
        if self.waiting_on is WaitingOn.NOBODY:
            waiting = "Nobody needs to act."
        else:
            waiting = f"Waiting on {self.waiting_for}."
        lines = [self.state, waiting]
        if self.next is not None:
            lines.append(f"Next: {self.next.text()}.")
        return "\n\n".join(lines)

    def timer(self, at: datetime) -> str:
        """The summary of the timer that sleeps until `at`."""
        if self.next is not None and self.next.at == at:
            return self.next.text()
        return f"the next deadline, {when(at)}"


def _money(amount: int, currency: str) -> str:
    return format_cents(amount, currency)


def _holds(holds: list, currency: str, expert_id: str) -> Next | None:
    pending = sorted((h for h in holds if not h.settled), key=lambda h: h.available_at)
    if not pending:
        return None
    first = pending[0]
    return Next(f"make {_money(first.amount, currency)} available to expert {expert_id}", first.available_at)


# ---------------------------------------------------------------------- fixed-rate


def milestone(v: MilestoneView) -> Case:
    state = (
        f"**milestone {v.status}** · escrow {_money(v.escrow, v.currency)} · released {_money(v.released, v.currency)}"
    )
    if v.frozen:
        state += f" · frozen {_money(v.frozen, v.currency)} by open claims"
    client, expert = f"client {v.client_id}", f"expert {v.expert_id}"
    if v.status == MilestoneStatus.PROPOSED:
        return Case(state, WaitingOn.CLIENT, f"{client} to accept or decline the expert's proposal")
    if v.status == MilestoneStatus.AGREED:
        return Case(state, WaitingOn.CLIENT, f"{client} to fund {_money(v.amount, v.currency)}")
    if v.status == MilestoneStatus.FUNDING_PENDING:
        return Case(state, WaitingOn.GATEWAY, "the card's authentication of the funding")
    if v.status == MilestoneStatus.IN_PROGRESS:
        return Case(state, WaitingOn.EXPERT, f"{expert} to submit the work")
    if v.status == MilestoneStatus.SUBMITTED and v.deadline_at is not None:
        auto = Next(
            f"auto-release {_money(v.escrow - v.frozen, v.currency)} to {expert}", v.deadline_at, "the client acts"
        )
        return Case(state, WaitingOn.CLIENT, f"{client} to release the work or ask for a revision", auto)
    if v.status in (MilestoneStatus.SUBMITTED, MilestoneStatus.PARTIALLY_RELEASED) and v.escrow > v.frozen:
        return Case(state, WaitingOn.CLIENT, f"{client} to release the rest", _holds(v.holds, v.currency, v.expert_id))
    if v.frozen:
        return Case(state, WaitingOn.PARTIES, "the refund request or dispute that froze the money")
    return Case(state, WaitingOn.NOBODY, next=_holds(v.holds, v.currency, v.expert_id))


def refund(v: RefundView) -> Case:
    state = f"**refund {v.status}** · {_money(v.amount, v.currency)} of milestone {v.milestone_id}"
    if v.status == RefundStatus.PENDING and v.deadline_at is not None:
        silence = Next(f"{v.deadline_action} the refund", v.deadline_at, f"expert {v.expert_id} answers")
        return Case(state, WaitingOn.EXPERT, f"expert {v.expert_id} to approve or decline", silence)
    if v.status == RefundStatus.AWAITING_OPERATOR and v.deadline_at is not None:
        silence = Next(f"{v.deadline_action} the refund", v.deadline_at, "an operator decides")
        return Case(state, WaitingOn.OPERATOR, "an operator to approve or decline (M10)", silence)
    return Case(state, WaitingOn.NOBODY)


_DISPUTE_WAITS = {
    DisputeStatus.FILED: "respondent",
    DisputeStatus.NEGOTIATION: "claimant",
    DisputeStatus.ARBITRATION_FEE: "unpaid",
}


def dispute(v: DisputeView) -> Case:
    state = f"**dispute {v.status}** · {_money(v.amount, v.currency)} disputed by the {v.claimant}"
    if v.outcome is not None or v.deadline_at is None:
        return Case(state, WaitingOn.NOBODY)
    amount = _money(v.amount, v.currency)
    if v.status == DisputeStatus.FILED:
        lapse = Next(f"give {amount} to the {v.claimant}", v.deadline_at, f"the {v.respondent} answers")
        return Case(state, WaitingOn(v.respondent.value), f"the {v.respondent} to accept or respond", lapse)
    if v.status == DisputeStatus.NEGOTIATION:
        lapse = Next(f"give {amount} to the {v.respondent}", v.deadline_at, "a party pays the arbitration fee")
        return Case(state, WaitingOn.PARTIES, "the parties to settle, or to pay the arbitration fee", lapse)
    if v.status == DisputeStatus.ARBITRATION_FEE:
        payer = v.fees[0].by
        unpaid = Role.EXPERT if payer == Role.CLIENT else Role.CLIENT
        lapse = Next(f"give {amount} to the {payer}", v.deadline_at, f"the {unpaid} pays the fee")
        return Case(state, WaitingOn(unpaid.value), f"the {unpaid} to pay the arbitration fee", lapse)
    remind = Next("remind the operators", v.deadline_at, "they give their verdict")
    return Case(state, WaitingOn.OPERATOR, "an operator's verdict", remind)


def dispute_details(v: DisputeView) -> str:
    """The dispute team's own wording of the case (escrow.notices.dispute), and what the
    dispute does on its own next."""
    nxt = dispute(v).next
    return details(v) + (f"\n\nNext: {nxt.text()}." if nxt else "")


# ---------------------------------------------------------------------- hourly


def week(v: HourlyWeekView) -> Case:
    state = (
        f"**week {v.week} {v.status}** · {v.minutes / 60:.2f} h · invoice {_money(v.invoice_amount, v.currency)}"
        f" · escrow {_money(v.escrow, v.currency)} · payment {v.payment_status}"
    )
    expert, client = f"expert {v.expert_id}", f"client {v.client_id}"
    if v.payment_status == PaymentStatus.FAILING and v.next_charge_at is not None:
        retry = Next(f"charge the card again ({v.failed_charges} failed so far)", v.next_charge_at)
        if v.invoice_review:
            return Case(state, WaitingOn.OPERATOR, "an operator to review the invoice", retry)
        return Case(state, WaitingOn.CLIENT, f"{client} to pay or change the card; the contract is on hold", retry)
    if v.status == WeekStatus.OPEN:
        return Case(state, WaitingOn.EXPERT, f"{expert} to log the week's time", Next("bill the week", v.billed_at))
    if v.status == WeekStatus.EXPERT_REVIEW:
        final = Next("issue the final invoice", v.expert_review_ends_at, "the expert edits the time first")
        return Case(state, WaitingOn.EXPERT, f"{expert} to check the billed time", final)
    if v.status == WeekStatus.CLIENT_REVIEW:
        hold = Next(f"hold {_money(v.escrow - v.frozen, v.currency)} for {expert}", v.client_review_ends_at)
        return Case(state, WaitingOn.CLIENT, f"{client} to review the invoice or dispute hours", hold)
    return Case(state, WaitingOn.NOBODY, next=_holds(v.holds, v.currency, v.expert_id))


def contract(v: ContractView, dormant_at: datetime | None) -> Case:
    flag = " · zero-pay" if v.zero_pay else ""
    state = (
        f"**contract {v.status}**{flag} · {len(v.milestones)} milestones, {len(v.weeks)} weeks"
        f" · escrow {_money(v.escrow_total, v.currency)}"
    )
    dormancy = Next("mark the contract dormant", dormant_at, "a party acts") if dormant_at else None
    if v.status == ContractStatus.ON_HOLD:
        return Case(state, WaitingOn.CLIENT, f"client {v.client_id} to pay the failed week's charge")
    if v.status == ContractStatus.CLOSING:
        return Case(state, WaitingOn.PARTIES, "its milestones and weeks to release or refund the escrow left (C1)")
    if v.status == ContractStatus.DORMANT:
        return Case(state, WaitingOn.PARTIES, "a party to act, or its escrow is settled (O4)")
    if v.status == ContractStatus.ACTIVE:
        return Case(state, WaitingOn.PARTIES, "the parties' work on its milestones and weeks", dormancy)
    return Case(state, WaitingOn.NOBODY)


# ---------------------------------------------------------------------- the rest


def reviews(v: ReviewsView) -> Case:
    posted = ", ".join(f"{r.side} {'published' if r.published_at else 'hidden'}" for r in v.reviews) or "none"
    state = f"**reviews {v.status}** · posted: {posted}"
    if v.status == ReviewsStatus.OPEN:
        close = Next("publish the reviews posted", v.reviews_close_at, "both are posted first")
        return Case(state, WaitingOn.PARTIES, "the parties to post their reviews", close)
    if v.status == ReviewsStatus.REPLIES:
        return Case(state, WaitingOn.PARTIES, "replies", Next("close replies", v.replies_close_at))
    return Case(state, WaitingOn.NOBODY)


def manual_payment(v: ManualPaymentView) -> Case:
    state = f"**{v.kind} {v.status}** · {_money(v.amount, v.currency)}"
    if v.status == ManualPaymentStatus.HELD:
        available = Next(f"make {_money(v.amount, v.currency)} available to expert {v.expert_id}", v.available_at)
        return Case(state, WaitingOn.NOBODY, next=available)
    return Case(state, WaitingOn.NOBODY)


def payout(v: PayoutView) -> Case:
    state = f"**payout {v.status}** · {_money(v.amount, v.currency)} by {v.kind} to {v.account_masked}"
    if v.status == PayoutStatus.PENDING:
        return Case(state, WaitingOn.GATEWAY, f"the {v.kind} gateway to pay it out")
    if v.status in (PayoutStatus.FAILED, PayoutStatus.REFUSED) and v.failure:
        return Case(f"{state}\n\n{v.status.capitalize()}: {v.failure}", WaitingOn.NOBODY)
    return Case(state, WaitingOn.NOBODY)


# ---------------------------------------------------------------- static summaries
# What a top-level workflow is, one line in the Web UI's list, set when the API starts
# it; the workflows a workflow starts get theirs from their parent.


def contract_summary(v: ContractInput) -> str:
    return f"{v.type.value.capitalize()} contract {v.contract_id}: client {v.client_id}, expert {v.expert_id}"


def payment_summary(v: ManualPaymentInput) -> str:
    return (
        f"{v.kind.value.capitalize()} of {format_cents(v.amount, v.currency)} from client {v.client_id} "
        f"to expert {v.expert_id} on contract {v.contract_id}"
    )


def payout_summary(v: PayoutInput) -> str:
    return f"Payout of {format_cents(v.amount, v.currency)} to {v.user_id} by {v.kind.value} {v.account_masked}"

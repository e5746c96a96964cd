"""Disputes (D1–D8): the stages of one dispute as pure decisions. The workflow that
owns the escrow (a milestone, an hourly week) moves the disputed money; the dispute
decides the split, and moves only the arbitration fees (D4, D6).
"""
from __future__ import annotations

from datetime import datetime

from escrow.models import Role
from escrow.models.dispute import STAGE, DisputeDeadlineAction, DisputeInput, DisputeStatus, DisputeView, Resolution
from escrow.policy import FeePolicy, Policy

# Notifications for the dispute team go to this outbox address, not to a person.
OPERATORS = "operators"

PARTIES = (Role.CLIENT, Role.EXPERT)
# D3, D4: offers and mediation stay open until arbitration starts.
SETTLING = (DisputeStatus.NEGOTIATION, DisputeStatus.ARBITRATION_FEE)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "no deadline"


def other(role: Role) -> Role:
    return Role.EXPERT if role == Role.CLIENT else Role.CLIENT


def wins(role: Role) -> DisputeDeadlineAction:
    return DisputeDeadlineAction.CLIENT_WINS if role == Role.CLIENT else DisputeDeadlineAction.EXPERT_WINS


def fee_per_party(policy: Policy, amount: int) -> int:
    """D6: Cad Crowd splits one fee between the parties; Freelancer has each pay it whole."""
    fee = policy.arbitration_fee(amount)
    return fee // 2 if policy.fee_policy == FeePolicy.SPLIT else fee


def stage_fields(input: DisputeInput, status: DisputeStatus, now: datetime, payer: Role | None = None) -> dict:
    """The view fields of a stage entered at `now`: who must act, by when, and what the
    deadline does if they don't."""
    p = input.policy
    claimant, respondent = input.claimant, other(input.claimant)
    if status == DisputeStatus.FILED:
        waiting_on, window, action = respondent.value, p.dispute_response_window, wins(claimant)
    elif status == DisputeStatus.NEGOTIATION:
        # Engine choice: the claimant must carry the claim into arbitration; if nobody
        # pays the fee by the end of negotiation, the claim lapses.
        waiting_on, window, action = claimant.value, p.negotiation_window, wins(respondent)
    elif status == DisputeStatus.ARBITRATION_FEE:
        assert payer is not None
        waiting_on, window, action = other(payer).value, p.fee_payment_window, wins(payer)
    else:
        waiting_on, window, action = Role.OPERATOR.value, p.verdict_due, DisputeDeadlineAction.REMIND_OPERATORS
    return {
        "status": status,
        "stage": STAGE[status],
        "waiting_on": waiting_on,
        "deadline_at": now + window,
        "deadline_action": action.value,
    }


def filed(input: DisputeInput) -> DisputeView:
    """The dispute as it is the moment it is filed: the owner answers this to the
    claimant in the same command that starts the dispute's workflow."""
    now = input.filed_at
    assert now is not None
    return DisputeView(
        id=input.dispute_id,
        owner_workflow_id=input.owner_workflow_id,
        contract_id=input.contract_id,
        client_id=input.client_id,
        expert_id=input.expert_id,
        claimant=input.claimant,
        respondent=other(input.claimant),
        amount=input.amount,
        currency=input.currency,
        reason=input.reason,
        filed_at=now,
        fee_per_party=fee_per_party(input.policy, input.amount),
        **stage_fields(input, DisputeStatus.FILED, now),
    )


def winner_of(amount_to_client: int, amount: int) -> Role | None:
    """The side that gets more than half; None for an even split."""
    if 2 * amount_to_client > amount:
        return Role.CLIENT
    if 2 * amount_to_client < amount:
        return Role.EXPERT
    return None


def fees_refunded(resolution: Resolution, fee_policy: FeePolicy, winner: Role | None) -> set[Role]:
    """D6: whose arbitration fee goes back to them when the case ends this way."""
    if resolution != Resolution.VERDICT:
        # Settled or defaulted before arbitration: nobody's fee bought anything.
        return set(PARTIES)
    if fee_policy == FeePolicy.SPLIT:
        return set()  # Cad Crowd: the arbitration happened; the split fee is spent.
    # Freelancer: the winner's fee comes back; an even split has no loser.
    return set(PARTIES) if winner is None else {winner}

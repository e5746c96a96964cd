"""Disputes (D1–D8): one workflow per dispute, whoever owns the disputed escrow.

The dispute decides a split of the disputed amount; the workflow that owns the escrow
moves it. Amounts are always "to the client"; the expert gets the rest.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from escrow.inputs import CentsToClient, Reference, RequiredText, Text
from escrow.models.common import PartyCommand, Role
from escrow.policy import Policy

__all__ = [
    "AcceptOffer",
    "DisputeInput",
    "DisputeOutcome",
    "DisputeStatus",
    "DisputeView",
    "MakeOffer",
    "Recommend",
    "Resolution",
    "Respond",
    "SubmitEvidence",
    "Verdict",
]


class DisputeStatus(StrEnum):
    FILED = "filed"  # stage 1, D2
    NEGOTIATION = "negotiation"  # stage 2, D3
    ARBITRATION_FEE = "arbitration_fee"  # stage 3, D4
    ARBITRATION = "arbitration"  # stage 4, D5
    RESOLVED = "resolved"


STAGE = {
    DisputeStatus.FILED: 1,
    DisputeStatus.NEGOTIATION: 2,
    DisputeStatus.ARBITRATION_FEE: 3,
    DisputeStatus.ARBITRATION: 4,
}


class DisputeDeadlineAction(StrEnum):
    """What the workflow does when `DisputeView.deadline_at` passes."""

    CLIENT_WINS = "client_wins"  # D7: the whole amount to the client
    EXPERT_WINS = "expert_wins"  # D7: the whole amount to the expert
    REMIND_OPERATORS = "remind_operators"  # D5: a verdict is due; nobody loses


class Resolution(StrEnum):
    ACCEPTED = "accepted"  # the respondent accepted the claim (D2)
    DEFAULT = "default"  # a party missed its deadline (D7)
    OFFER = "offer"  # an offer was accepted (D3)
    RECOMMENDATION = "recommendation"  # both accepted the mediation recommendation (D3)
    VERDICT = "verdict"  # the operators decided (D5)


class DisputeInput(BaseModel):
    dispute_id: str
    # The workflow that owns the disputed money and will move it.
    owner_workflow_id: str
    contract_id: str
    client_id: str
    expert_id: str
    claimant: Role
    amount: int
    currency: str
    reason: str
    policy: Policy
    # When the owner filed it: the dispute's clock and the view it answers start here.
    # None in histories from before it was passed (the child's start is used then).
    filed_at: datetime | None = None


class Offer(BaseModel):
    id: str
    by: Role
    amount_to_client: int
    made_at: datetime
    accepted: bool = False
    # A party's newer offer replaces its earlier one, which can no longer be accepted.
    superseded: bool = False


class Recommendation(BaseModel):
    amount_to_client: int
    posted_at: datetime
    posted_by: str
    accepted_by: list[Role] = Field(default_factory=list)
    rejected_by: list[Role] = Field(default_factory=list)


class FeePayment(BaseModel):
    by: Role
    amount: int
    paid_at: datetime
    transfer_id: str
    refunded: bool = False


class Evidence(BaseModel):
    by: Role
    text: str
    at: datetime


class DisputeOutcome(BaseModel):
    amount_to_client: int
    amount_to_expert: int
    resolution: Resolution
    # The side that got more than half; None for an even split.
    winner: Role | None
    decided_at: datetime


class DisputeView(BaseModel):
    id: str
    owner_workflow_id: str
    contract_id: str
    client_id: str
    expert_id: str
    claimant: Role
    respondent: Role
    amount: int
    currency: str
    reason: str
    status: DisputeStatus
    stage: int | None
    filed_at: datetime
    # Who must act next ("client", "expert", "operator") and by when.
    waiting_on: str | None = None
    deadline_at: datetime | None = None
    deadline_action: str | None = None
    # D6: what each party pays to take the case to arbitration (pay_fee).
    fee_per_party: int = 0
    offers: list[Offer] = Field(default_factory=list)
    recommendation: Recommendation | None = None
    fees: list[FeePayment] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    outcome: DisputeOutcome | None = None


class Respond(PartyCommand):
    message: RequiredText


class MakeOffer(PartyCommand):
    amount_to_client: CentsToClient


class AcceptOffer(PartyCommand):
    offer_id: Reference


class Recommend(PartyCommand):
    amount_to_client: CentsToClient


class SubmitEvidence(PartyCommand):
    text: RequiredText


class Verdict(PartyCommand):
    amount_to_client: CentsToClient
    note: Text | None = None

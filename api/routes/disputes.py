"""Disputes (D1–D8): four stages through arbitration, one workflow per dispute.

Every command is an update of the dispute's workflow carrying the caller; the workflow
decides who may do what in which stage (the respondent answers, either party offers,
an operator recommends and gives the verdict). The workflow that owns the disputed
escrow moves the money when the dispute ends."""

from __future__ import annotations

from typing import Annotated, Any

from api import workflow_calls
from api.deps import visible
from api.routes import Caller, CallerDep, Id, resource_router, state_of
from api.schemas import (
    DisputeBody,
    EvidenceBody,
    OfferBody,
    RecommendationBody,
    RespondBody,
    VerdictBody,
)
from escrow.commands import Dispute as D
from escrow.commands import Milestone, Update
from escrow.models import DisputeStatus, DisputeView

router = resource_router("disputes")
VisibleDispute = Annotated[
    DisputeView, visible("no dispute {dispute_id}", state_of(workflow_calls.dispute), dispute_id=Id)
]


async def _command(caller: Caller, dispute_id: str, update: Update[Any, DisputeView], **fields: Any) -> DisputeView:
    view = await caller.run(workflow_calls.dispute(caller.client, dispute_id), update, **fields)
    if view.status == DisputeStatus.RESOLVED:
        # The dispute decides and ends; its owner pays afterwards. Answer once it has,
        # so this answer and every read after it show the money the command moved.
        await workflow_calls.await_claim(caller.client, view.owner_workflow_id, view.id)
    return view


@router.post(
    "/milestones/{milestone_id}/disputes",
    status_code=201,
    response_model=DisputeView,
    summary="Dispute an amount of the milestone's escrow (D1, M10)",
)
async def open_dispute(milestone_id: Id, body: DisputeBody, caller: CallerDep) -> DisputeView:
    """Either party disputes an unreleased amount, with a reason; the amount is frozen
    while the dispute is open (D1). Within 30 days of a release the client may also
    dispute released money (M10). Answers the new dispute, in stage 1 (D2)."""
    milestone = workflow_calls.milestone(caller.client, milestone_id)
    return await caller.run(milestone, Milestone.open_dispute, amount=body.amount, reason=body.reason)


@router.get("/disputes/{dispute_id}", response_model=DisputeView, summary="A dispute: stage, offers, fees, deadline")
async def read_dispute(dispute: VisibleDispute) -> DisputeView:
    return dispute


@router.post("/disputes/{dispute_id}/accept", response_model=DisputeView, summary="Accept the claim (D2)")
async def accept(dispute_id: Id, caller: CallerDep) -> DisputeView:
    """Stage 1: the respondent gives the claimant the whole disputed amount."""
    return await _command(caller, dispute_id, D.accept)


@router.post("/disputes/{dispute_id}/respond", response_model=DisputeView, summary="Respond to the claim (D2)")
async def respond(dispute_id: Id, body: RespondBody, caller: CallerDep) -> DisputeView:
    """Stage 1: the respondent answers before its deadline (silence loses, D7); the
    dispute moves to negotiation (D3)."""
    return await _command(caller, dispute_id, D.respond, message=body.message)


@router.post("/disputes/{dispute_id}/offers", response_model=DisputeView, summary="Offer a split (D3)")
async def make_offer(dispute_id: Id, body: OfferBody, caller: CallerDep) -> DisputeView:
    """Stages 2–3: a party offers `amount_to_client` (0 to the disputed amount; the
    expert gets the rest). A party's newer offer replaces its older one."""
    return await _command(caller, dispute_id, D.make_offer, amount_to_client=body.amount_to_client)


@router.post(
    "/disputes/{dispute_id}/offers/{offer_id}/accept",
    response_model=DisputeView,
    summary="Accept the other party's offer (D3)",
)
async def accept_offer(dispute_id: Id, offer_id: Id, caller: CallerDep) -> DisputeView:
    """Settles the dispute by the offer's split."""
    return await _command(caller, dispute_id, D.accept_offer, offer_id=offer_id)


@router.post(
    "/disputes/{dispute_id}/recommendation",
    response_model=DisputeView,
    summary="Post a mediation recommendation (operator, D3)",
)
async def recommend(dispute_id: Id, body: RecommendationBody, caller: CallerDep) -> DisputeView:
    """Operators only: a non-binding split; it settles if both parties accept it. A new
    recommendation replaces the old one and its answers."""
    return await _command(caller, dispute_id, D.recommend, amount_to_client=body.amount_to_client)


@router.post(
    "/disputes/{dispute_id}/recommendation/accept",
    response_model=DisputeView,
    summary="Accept the mediation recommendation (D3)",
)
async def accept_recommendation(dispute_id: Id, caller: CallerDep) -> DisputeView:
    return await _command(caller, dispute_id, D.accept_recommendation)


@router.post(
    "/disputes/{dispute_id}/recommendation/reject",
    response_model=DisputeView,
    summary="Reject the mediation recommendation (D3)",
)
async def reject_recommendation(dispute_id: Id, caller: CallerDep) -> DisputeView:
    return await _command(caller, dispute_id, D.reject_recommendation)


@router.post(
    "/disputes/{dispute_id}/pay-fee", response_model=DisputeView, summary="Pay the arbitration fee (D4, D5, D6)"
)
async def pay_fee(dispute_id: Id, caller: CallerDep) -> DisputeView:
    """Refuses to settle: the first payment gives the other side a window to pay too or
    lose (D4); with both fees paid the case goes to arbitration (D5). The fee is the
    view's `fee_per_party`, charged to the party's card (D6)."""
    return await _command(caller, dispute_id, D.pay_fee)


@router.post("/disputes/{dispute_id}/evidence", response_model=DisputeView, summary="Submit evidence (D4)")
async def submit_evidence(dispute_id: Id, body: EvidenceBody, caller: CallerDep) -> DisputeView:
    """Until arbitration starts; the arbitrators decide on it."""
    return await _command(caller, dispute_id, D.submit_evidence, text=body.text)


@router.post("/disputes/{dispute_id}/verdict", response_model=DisputeView, summary="Final verdict (operator, D5)")
async def verdict(dispute_id: Id, body: VerdictBody, caller: CallerDep) -> DisputeView:
    """Operators only, in stage 4: a binding, irreversible split of the disputed amount;
    the arbitration fees are kept or refunded per the fee policy (D6)."""
    return await _command(caller, dispute_id, D.verdict, amount_to_client=body.amount_to_client, note=body.note)

"""Disputes (D1–D8): four stages through arbitration, one workflow per dispute.

Every command is an update of the dispute's workflow carrying the caller; the workflow
decides who may do what in which stage (the respondent answers, either party offers,
an operator recommends and gives the verdict). The workflow that owns the disputed
escrow moves the money when the dispute ends."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Request

from api import workflow_calls
from api.deps import ActorDep, ClientDep, SessionsDep, visible
from api.idempotency import IdempotentRoute, operation_id
from api.openapi import PROBLEMS
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
from escrow.inputs import Reference
from escrow.models import (
    AcceptOffer,
    DisputeStatus,
    DisputeView,
    MakeOffer,
    OpenDispute,
    PartyCommand,
    Recommend,
    Respond,
    SubmitEvidence,
    Verdict,
)

router = APIRouter(tags=["disputes"], route_class=IdempotentRoute, responses=PROBLEMS)
Id = Annotated[Reference, Path()]
C = TypeVar("C", bound=PartyCommand)


async def _dispute(client: ClientDep, sessions: SessionsDep, dispute_id: str) -> DisputeView:
    return await workflow_calls.dispute(client, dispute_id).state()


VisibleDispute = Annotated[DisputeView, visible("no dispute {dispute_id}", _dispute, dispute_id=Id)]


async def _command(
    request: Request, client: ClientDep, dispute_id: str, update: Update[C, DisputeView], command: C
) -> DisputeView:
    view = await workflow_calls.dispute(client, dispute_id).run(update, command, operation_id(request))
    if view.status == DisputeStatus.RESOLVED:
        # The dispute decides and ends; its owner pays afterwards. Answer once it has,
        # so this answer and every read after it show the money the command moved.
        await workflow_calls.await_claim(client, view.owner_workflow_id, view.id)
    return view


@router.post(
    "/milestones/{milestone_id}/disputes",
    status_code=201,
    response_model=DisputeView,
    summary="Dispute an amount of the milestone's escrow (D1, M10)",
)
async def open_dispute(
    milestone_id: Id, body: DisputeBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Either party disputes an unreleased amount, with a reason; the amount is frozen
    while the dispute is open (D1). Within 30 days of a release the client may also
    dispute released money (M10). Answers the new dispute, in stage 1 (D2)."""
    command = OpenDispute(actor=actor, amount=body.amount, reason=body.reason)
    return await workflow_calls.milestone(client, milestone_id).run(
        Milestone.open_dispute, command, operation_id(request)
    )


@router.get("/disputes/{dispute_id}", response_model=DisputeView, summary="A dispute: stage, offers, fees, deadline")
async def read_dispute(dispute: VisibleDispute) -> DisputeView:
    return dispute


@router.post("/disputes/{dispute_id}/accept", response_model=DisputeView, summary="Accept the claim (D2)")
async def accept(dispute_id: Id, actor: ActorDep, client: ClientDep, request: Request) -> DisputeView:
    """Stage 1: the respondent gives the claimant the whole disputed amount."""
    return await _command(request, client, dispute_id, D.accept, PartyCommand(actor=actor))


@router.post("/disputes/{dispute_id}/respond", response_model=DisputeView, summary="Respond to the claim (D2)")
async def respond(
    dispute_id: Id, body: RespondBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Stage 1: the respondent answers before its deadline (silence loses, D7); the
    dispute moves to negotiation (D3)."""
    return await _command(request, client, dispute_id, D.respond, Respond(actor=actor, message=body.message))


@router.post("/disputes/{dispute_id}/offers", response_model=DisputeView, summary="Offer a split (D3)")
async def make_offer(
    dispute_id: Id, body: OfferBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Stages 2–3: a party offers `amount_to_client` (0 to the disputed amount; the
    expert gets the rest). A party's newer offer replaces its older one."""
    command = MakeOffer(actor=actor, amount_to_client=body.amount_to_client)
    return await _command(request, client, dispute_id, D.make_offer, command)


@router.post(
    "/disputes/{dispute_id}/offers/{offer_id}/accept",
    response_model=DisputeView,
    summary="Accept the other party's offer (D3)",
)
async def accept_offer(
    dispute_id: Id, offer_id: Id, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Settles the dispute by the offer's split."""
    return await _command(request, client, dispute_id, D.accept_offer, AcceptOffer(actor=actor, offer_id=offer_id))


@router.post(
    "/disputes/{dispute_id}/recommendation",
    response_model=DisputeView,
    summary="Post a mediation recommendation (operator, D3)",
)
async def recommend(
    dispute_id: Id, body: RecommendationBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Operators only: a non-binding split; it settles if both parties accept it. A new
    recommendation replaces the old one and its answers."""
    command = Recommend(actor=actor, amount_to_client=body.amount_to_client)
    return await _command(request, client, dispute_id, D.recommend, command)


@router.post(
    "/disputes/{dispute_id}/recommendation/accept",
    response_model=DisputeView,
    summary="Accept the mediation recommendation (D3)",
)
async def accept_recommendation(dispute_id: Id, actor: ActorDep, client: ClientDep, request: Request) -> DisputeView:
    return await _command(request, client, dispute_id, D.accept_recommendation, PartyCommand(actor=actor))


@router.post(
    "/disputes/{dispute_id}/recommendation/reject",
    response_model=DisputeView,
    summary="Reject the mediation recommendation (D3)",
)
async def reject_recommendation(dispute_id: Id, actor: ActorDep, client: ClientDep, request: Request) -> DisputeView:
    return await _command(request, client, dispute_id, D.reject_recommendation, PartyCommand(actor=actor))


@router.post(
    "/disputes/{dispute_id}/pay-fee", response_model=DisputeView, summary="Pay the arbitration fee (D4, D5, D6)"
)
async def pay_fee(dispute_id: Id, actor: ActorDep, client: ClientDep, request: Request) -> DisputeView:
    """Refuses to settle: the first payment gives the other side a window to pay too or
    lose (D4); with both fees paid the case goes to arbitration (D5). The fee is the
    view's `fee_per_party`, charged to the party's card (D6)."""
    return await _command(request, client, dispute_id, D.pay_fee, PartyCommand(actor=actor))


@router.post("/disputes/{dispute_id}/evidence", response_model=DisputeView, summary="Submit evidence (D4)")
async def submit_evidence(
    dispute_id: Id, body: EvidenceBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Until arbitration starts; the arbitrators decide on it."""
    return await _command(request, client, dispute_id, D.submit_evidence, SubmitEvidence(actor=actor, text=body.text))


@router.post("/disputes/{dispute_id}/verdict", response_model=DisputeView, summary="Final verdict (operator, D5)")
async def verdict(
    dispute_id: Id, body: VerdictBody, actor: ActorDep, client: ClientDep, request: Request
) -> DisputeView:
    """Operators only, in stage 4: a binding, irreversible split of the disputed amount;
    the arbitration fees are kept or refunded per the fee policy (D6)."""
    command = Verdict(actor=actor, amount_to_client=body.amount_to_client, note=body.note)
    return await _command(request, client, dispute_id, D.verdict, command)

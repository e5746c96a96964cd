"""Refund requests (R1–R4, M10): the client asks on a milestone, the expert answers,
and a declined request may be escalated into a dispute. One workflow per request
decides; the milestone that owns the escrow moves the money."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api import workflow_calls
from api.auth import can_see
from api.deps import ActorDep, ClientDep
from api.errors import not_found
from api.idempotency import IdempotentRoute, operation_id
from api.openapi import PROBLEMS
from api.schemas import AnswerBody, EscalateBody, RefundRequestBody
from escrow import ids
from escrow.inputs import Reference
from escrow.models import (
    Actor,
    DisputeView,
    EscalateRefund,
    RefundAnswer,
    RefundStatus,
    RefundView,
    RequestRefund,
)

router = APIRouter(tags=["refunds"], route_class=IdempotentRoute, responses=PROBLEMS)
Id = Annotated[Reference, Path()]


async def visible_refund(client: ClientDep, refund_id: str, actor: Actor) -> RefundView:
    view = await workflow_calls.refund_state(client, refund_id)
    if not can_see(actor, view.client_id, view.expert_id):
        raise not_found(f"no refund request {refund_id}")
    return view


async def _answer(request: Request, client: ClientDep, refund_id: str, verb: str, command: RefundAnswer) -> RefundView:
    view = await workflow_calls.refund_command(client, refund_id, verb, command, operation_id(request))
    if view.status in (RefundStatus.APPROVED, RefundStatus.DECLINED):
        # The request decides and ends; the milestone pays (or freezes) afterwards.
        # Answer once it has, so this answer and every read after it show the money.
        await workflow_calls.await_claim(client, ids.milestone(view.milestone_id), view.id)
    return view


@router.post(
    "/milestones/{milestone_id}/refund-requests", status_code=201, response_model=RefundView,
    summary="Ask the expert for a refund (R1, M10)",
)
async def request_refund(
    milestone_id: Id, body: RefundRequestBody, actor: ActorDep, client: ClientDep, request: Request
) -> RefundView:
    """The client asks for all or part of the milestone's escrow (R1), naming its latest
    invoice; the expert has 7 days and silence approves (R2). After a release the request
    is on released money and only the expert's yes grants it (M10); between days 181 and
    365 an operator must approve too. Answers the new refund request."""
    command = RequestRefund(actor=actor, amount=body.amount, message=body.message)
    claim = await workflow_calls.milestone_claim(
        client, milestone_id, workflow_calls.REQUEST_REFUND, command, operation_id(request)
    )
    return await workflow_calls.refund_state(client, claim.id)


@router.get("/refund-requests/{refund_id}", response_model=RefundView, summary="A refund request (R1–R4)")
async def read_refund(refund_id: Id, actor: ActorDep, client: ClientDep) -> RefundView:
    return await visible_refund(client, refund_id, actor)


@router.post(
    "/refund-requests/{refund_id}/approve", response_model=RefundView, summary="Approve a refund (R2, R3, M10)"
)
async def approve(
    refund_id: Id, actor: ActorDep, client: ClientDep, request: Request, body: AnswerBody | None = None
) -> RefundView:
    """The expert approves: the amount goes from escrow to the client's balance and, on a
    partial refund, the rest of the escrow to the expert (R3). On released money between
    days 181 and 365 the expert's yes waits for an operator's, sent here as well (M10)."""
    command = RefundAnswer(actor=actor, message=body.message if body else None)
    return await _answer(request, client, refund_id, "approve", command)


@router.post("/refund-requests/{refund_id}/decline", response_model=RefundView, summary="Decline a refund (R2, R4)")
async def decline(
    refund_id: Id, actor: ActorDep, client: ClientDep, request: Request, body: AnswerBody | None = None
) -> RefundView:
    """The expert (or, awaiting an operator, the operator) declines; the client is told
    and may escalate the request into a dispute (R4)."""
    command = RefundAnswer(actor=actor, message=body.message if body else None)
    return await _answer(request, client, refund_id, "decline", command)


@router.post(
    "/refund-requests/{refund_id}/escalate", status_code=201, response_model=DisputeView,
    summary="Escalate a declined refund into a dispute (R4, D8)",
)
async def escalate(
    refund_id: Id, actor: ActorDep, client: ClientDep, request: Request, body: EscalateBody | None = None
) -> DisputeView:
    """The client turns a declined request into a dispute over the same amount, run by
    the dispute workflow (D1–D8). Answers the new dispute."""
    refund = await visible_refund(client, refund_id, actor)
    command = EscalateRefund(actor=actor, refund_id=refund_id, reason=body.reason if body else None)
    claim = await workflow_calls.milestone_claim(
        client, refund.milestone_id, workflow_calls.ESCALATE_REFUND, command, operation_id(request)
    )
    return await workflow_calls.dispute_state(client, claim.id)

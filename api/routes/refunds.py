"""Refund requests (R1–R4, M10): the client asks on a milestone, the expert answers,
and a declined request may be escalated into a dispute. One workflow per request
decides; the milestone that owns the escrow moves the money."""

from __future__ import annotations

from typing import Annotated

from starlette.concurrency import run_in_threadpool

from api import workflow_calls
from api.deps import SessionsDep, seen, visible
from api.routes import Caller, CallerDep, Id, resource_router, state_of
from api.schemas import AnswerBody, EscalateBody, RefundRequestBody
from escrow import ids
from escrow.commands import Milestone, Refund, Update
from escrow.db.views import ClaimRecord, claim
from escrow.models import ClaimKind, DisputeView, RefundAnswer, RefundStatus, RefundView

router = resource_router("refunds")


async def _refund_claim(sessions: SessionsDep, refund_id: str) -> ClaimRecord | None:
    """The request as its milestone wrote it in the read model: its milestone and
    parties, without a round trip to Temporal."""
    found = await run_in_threadpool(claim, sessions, refund_id)
    if found is None or found.kind != ClaimKind.REFUND or found.milestone_id is None:
        return None
    return found


VisibleRefund = Annotated[
    RefundView, visible("no refund request {refund_id}", state_of(workflow_calls.refund), refund_id=Id)
]


async def _answer(
    caller: Caller, refund_id: str, update: Update[RefundAnswer, RefundView], body: AnswerBody | None
) -> RefundView:
    refund = workflow_calls.refund(caller.client, refund_id)
    view = await caller.run(refund, update, message=body.message if body else None)
    if view.status in (RefundStatus.APPROVED, RefundStatus.DECLINED):
        # The request decides and ends; the milestone pays (or freezes) afterwards.
        # Answer once it has, so this answer and every read after it show the money.
        await workflow_calls.await_claim(caller.client, ids.milestone(view.milestone_id), view.id)
    return view


@router.post(
    "/milestones/{milestone_id}/refund-requests",
    status_code=201,
    response_model=RefundView,
    summary="Ask the expert for a refund (R1, M10)",
)
async def request_refund(milestone_id: Id, body: RefundRequestBody, caller: CallerDep) -> RefundView:
    """The client asks for all or part of the milestone's escrow (R1), naming its latest
    invoice; the expert has 7 days and silence approves (R2). After a release the request
    is on released money and only the expert's yes grants it (M10); between days 181 and
    365 an operator must approve too. Answers the new refund request."""
    milestone = workflow_calls.milestone(caller.client, milestone_id)
    return await caller.run(milestone, Milestone.request_refund, amount=body.amount, message=body.message)


@router.get("/refund-requests/{refund_id}", response_model=RefundView, summary="A refund request (R1–R4)")
async def read_refund(refund: VisibleRefund) -> RefundView:
    return refund


@router.post(
    "/refund-requests/{refund_id}/approve", response_model=RefundView, summary="Approve a refund (R2, R3, M10)"
)
async def approve(refund_id: Id, caller: CallerDep, body: AnswerBody | None = None) -> RefundView:
    """The expert approves: the amount goes from escrow to the client's balance and, on a
    partial refund, the rest of the escrow to the expert (R3). On released money between
    days 181 and 365 the expert's yes waits for an operator's, sent here as well (M10)."""
    return await _answer(caller, refund_id, Refund.approve, body)


@router.post("/refund-requests/{refund_id}/decline", response_model=RefundView, summary="Decline a refund (R2, R4)")
async def decline(refund_id: Id, caller: CallerDep, body: AnswerBody | None = None) -> RefundView:
    """The expert (or, awaiting an operator, the operator) declines; the client is told
    and may escalate the request into a dispute (R4)."""
    return await _answer(caller, refund_id, Refund.decline, body)


@router.post(
    "/refund-requests/{refund_id}/escalate",
    status_code=201,
    response_model=DisputeView,
    summary="Escalate a declined refund into a dispute (R4, D8)",
)
async def escalate(
    refund_id: Id, caller: CallerDep, sessions: SessionsDep, body: EscalateBody | None = None
) -> DisputeView:
    """The client turns a declined request into a dispute over the same amount, run by
    the dispute workflow (D1–D8). Answers the new dispute."""
    # Its milestone from the read model: escalating is one round trip to Temporal.
    refund = seen(caller.actor, await _refund_claim(sessions, refund_id), f"no refund request {refund_id}")
    milestone = workflow_calls.milestone(caller.client, str(refund.milestone_id))
    reason = body.reason if body else None
    return await caller.run(milestone, Milestone.escalate_refund, refund_id=refund.id, reason=reason)

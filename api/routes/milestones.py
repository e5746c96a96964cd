"""Milestone commands and reads. Each command is a workflow update carrying the
caller; the milestone workflow decides whether that caller may do it now."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api import workflow_calls
from api.auth import can_see
from api.deps import ActorDep, ClientDep
from api.errors import not_found
from api.idempotency import IdempotentRoute, operation_id
from api.openapi import PROBLEMS
from api.schemas import FundBody, ReleaseBody, RevisionBody, SubmitBody
from escrow.inputs import Reference
from escrow.models import (
    Fund,
    MilestoneView,
    PartyCommand,
    Release,
    RequestRevision,
    Submit,
)

router = APIRouter(prefix="/milestones", tags=["milestones"], route_class=IdempotentRoute, responses=PROBLEMS)
MilestonePath = Annotated[Reference, Path()]


async def _command(
    request: Request, client: ClientDep, milestone_id: str, update: str, command: PartyCommand
) -> MilestoneView:
    return await workflow_calls.milestone_command(client, milestone_id, update, command, operation_id(request))


@router.get("/{milestone_id}", response_model=MilestoneView)
async def read_milestone(milestone_id: MilestonePath, actor: ActorDep, client: ClientDep) -> MilestoneView:
    view = await workflow_calls.milestone_state(client, milestone_id)
    if not can_see(actor, view.client_id, view.expert_id):
        raise not_found(f"no milestone {milestone_id}")
    return view


@router.post("/{milestone_id}/accept", response_model=MilestoneView, summary="Accept a proposed milestone (M8)")
async def accept(milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request) -> MilestoneView:
    return await _command(request, client, milestone_id, "accept", PartyCommand(actor=actor))


@router.post("/{milestone_id}/decline", response_model=MilestoneView, summary="Decline a proposed milestone (M8)")
async def decline(milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request) -> MilestoneView:
    return await _command(request, client, milestone_id, "decline", PartyCommand(actor=actor))


@router.post("/{milestone_id}/fund", response_model=MilestoneView, summary="Fund into escrow (M2)")
async def fund(
    milestone_id: MilestonePath, body: FundBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = Fund(actor=actor, card_authenticated=body.card_authenticated)
    return await _command(request, client, milestone_id, "fund", command)


@router.post(
    "/{milestone_id}/authenticate-funding", response_model=MilestoneView,
    summary="A pending funding's card is authenticated (M2)",
)
async def authenticate_funding(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    return await _command(request, client, milestone_id, "authenticate_funding", PartyCommand(actor=actor))


@router.post("/{milestone_id}/submit", response_model=MilestoneView, summary="Request release; opens review (M3, M4)")
async def submit(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request, body: SubmitBody | None = None
) -> MilestoneView:
    command = Submit(actor=actor, message=body.message if body else None)
    return await _command(request, client, milestone_id, "submit", command)


@router.post("/{milestone_id}/void-submission", response_model=MilestoneView, summary="Void a release request (M3)")
async def void_submission(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    return await _command(request, client, milestone_id, "void_submission", PartyCommand(actor=actor))


@router.post("/{milestone_id}/release", response_model=MilestoneView, summary="Release all or part (M4, M6)")
async def release(
    milestone_id: MilestonePath, body: ReleaseBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = Release(actor=actor, amount=body.amount)
    return await _command(request, client, milestone_id, "release", command)


@router.post("/{milestone_id}/request-revision", response_model=MilestoneView, summary="Ask for revisions (M7)")
async def request_revision(
    milestone_id: MilestonePath, body: RevisionBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = RequestRevision(actor=actor, message=body.message)
    return await _command(request, client, milestone_id, "request_revision", command)

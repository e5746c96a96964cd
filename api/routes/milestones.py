"""Milestone commands and reads. Each command is a workflow update carrying the
caller; the milestone workflow decides whether that caller may do it now."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Request

from api import workflow_calls
from api.deps import ActorDep, ClientDep, SessionsDep, visible
from api.idempotency import IdempotentRoute, operation_id
from api.openapi import PROBLEMS
from api.schemas import FundBody, ReleaseBody, RevisionBody, SubmitBody
from escrow.commands import Milestone as M
from escrow.commands import Update
from escrow.inputs import Reference
from escrow.models import (
    Fund,
    MilestoneView,
    PartyCommand,
    Release,
    RequestRevision,
    Submit,
)

C = TypeVar("C", bound=PartyCommand)
router = APIRouter(prefix="/milestones", tags=["milestones"], route_class=IdempotentRoute, responses=PROBLEMS)
MilestonePath = Annotated[Reference, Path()]


async def _milestone(client: ClientDep, sessions: SessionsDep, milestone_id: str) -> MilestoneView:
    return await workflow_calls.milestone(client, milestone_id).state()


VisibleMilestone = Annotated[
    MilestoneView, visible("no milestone {milestone_id}", _milestone, milestone_id=MilestonePath)
]


async def _command(
    request: Request, client: ClientDep, milestone_id: str, update: Update[C, MilestoneView], command: C
) -> MilestoneView:
    return await workflow_calls.milestone(client, milestone_id).run(update, command, operation_id(request))


@router.get("/{milestone_id}", response_model=MilestoneView)
async def read_milestone(milestone: VisibleMilestone) -> MilestoneView:
    return milestone


@router.post("/{milestone_id}/accept", response_model=MilestoneView, summary="Accept a proposed milestone (M8)")
async def accept(milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request) -> MilestoneView:
    return await _command(request, client, milestone_id, M.accept, PartyCommand(actor=actor))


@router.post("/{milestone_id}/decline", response_model=MilestoneView, summary="Decline a proposed milestone (M8)")
async def decline(milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request) -> MilestoneView:
    return await _command(request, client, milestone_id, M.decline, PartyCommand(actor=actor))


@router.post("/{milestone_id}/fund", response_model=MilestoneView, summary="Fund into escrow (M2)")
async def fund(
    milestone_id: MilestonePath, body: FundBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = Fund(actor=actor, card_authenticated=body.card_authenticated)
    return await _command(request, client, milestone_id, M.fund, command)


@router.post(
    "/{milestone_id}/authenticate-funding",
    response_model=MilestoneView,
    summary="A pending funding's card is authenticated (M2)",
)
async def authenticate_funding(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    return await _command(request, client, milestone_id, M.authenticate_funding, PartyCommand(actor=actor))


@router.post("/{milestone_id}/submit", response_model=MilestoneView, summary="Request release; opens review (M3, M4)")
async def submit(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request, body: SubmitBody | None = None
) -> MilestoneView:
    command = Submit(actor=actor, message=body.message if body else None)
    return await _command(request, client, milestone_id, M.submit, command)


@router.post("/{milestone_id}/void-submission", response_model=MilestoneView, summary="Void a release request (M3)")
async def void_submission(
    milestone_id: MilestonePath, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    return await _command(request, client, milestone_id, M.void_submission, PartyCommand(actor=actor))


@router.post("/{milestone_id}/release", response_model=MilestoneView, summary="Release all or part (M4, M6)")
async def release(
    milestone_id: MilestonePath, body: ReleaseBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = Release(actor=actor, amount=body.amount)
    return await _command(request, client, milestone_id, M.release, command)


@router.post("/{milestone_id}/request-revision", response_model=MilestoneView, summary="Ask for revisions (M7)")
async def request_revision(
    milestone_id: MilestonePath, body: RevisionBody, actor: ActorDep, client: ClientDep, request: Request
) -> MilestoneView:
    command = RequestRevision(actor=actor, message=body.message)
    return await _command(request, client, milestone_id, M.request_revision, command)

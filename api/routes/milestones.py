"""Milestone commands and reads. Each command is a workflow update carrying the
caller; the milestone workflow decides whether that caller may do it now."""

from __future__ import annotations

from typing import Annotated, Any

from api import workflow_calls
from api.deps import visible
from api.routes import Caller, CallerDep, Id, resource_router, state_of
from api.schemas import FundBody, ReleaseBody, RevisionBody, SubmitBody
from escrow.commands import Milestone as M
from escrow.commands import Update
from escrow.models import MilestoneView

router = resource_router("milestones", prefix="/milestones")
VisibleMilestone = Annotated[
    MilestoneView, visible("no milestone {milestone_id}", state_of(workflow_calls.milestone), milestone_id=Id)
]


async def _command(
    caller: Caller, milestone_id: str, update: Update[Any, MilestoneView], **fields: Any
) -> MilestoneView:
    return await caller.run(workflow_calls.milestone(caller.client, milestone_id), update, **fields)


@router.get("/{milestone_id}", response_model=MilestoneView)
async def read_milestone(milestone: VisibleMilestone) -> MilestoneView:
    return milestone


@router.post("/{milestone_id}/accept", response_model=MilestoneView, summary="Accept a proposed milestone (M8)")
async def accept(milestone_id: Id, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.accept)


@router.post("/{milestone_id}/decline", response_model=MilestoneView, summary="Decline a proposed milestone (M8)")
async def decline(milestone_id: Id, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.decline)


@router.post("/{milestone_id}/fund", response_model=MilestoneView, summary="Fund into escrow (M2)")
async def fund(milestone_id: Id, body: FundBody, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.fund, card_authenticated=body.card_authenticated)


@router.post(
    "/{milestone_id}/authenticate-funding",
    response_model=MilestoneView,
    summary="A pending funding's card is authenticated (M2)",
)
async def authenticate_funding(milestone_id: Id, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.authenticate_funding)


@router.post("/{milestone_id}/submit", response_model=MilestoneView, summary="Request release; opens review (M3, M4)")
async def submit(milestone_id: Id, caller: CallerDep, body: SubmitBody | None = None) -> MilestoneView:
    return await _command(caller, milestone_id, M.submit, message=body.message if body else None)


@router.post("/{milestone_id}/void-submission", response_model=MilestoneView, summary="Void a release request (M3)")
async def void_submission(milestone_id: Id, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.void_submission)


@router.post("/{milestone_id}/release", response_model=MilestoneView, summary="Release all or part (M4, M6)")
async def release(milestone_id: Id, body: ReleaseBody, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.release, amount=body.amount)


@router.post("/{milestone_id}/request-revision", response_model=MilestoneView, summary="Ask for revisions (M7)")
async def request_revision(milestone_id: Id, body: RevisionBody, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.request_revision, message=body.message)

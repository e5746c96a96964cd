"""Milestone commands and reads. Each command is a workflow update carrying the
caller; the milestone workflow decides whether that caller may do it now."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel

from api import workflow_calls
from api.deps import visible
from api.routes import Caller, CallerDep, Id, resource_router, state_of
from api.schemas import ChangeBody, FundBody, ReleaseBody, RemainderBody, RevisionBody, SubmitBody
from escrow.commands import Milestone as M
from escrow.commands import Update
from escrow.models import MilestoneChange, MilestoneView

R = TypeVar("R", bound=BaseModel)

router = resource_router("milestones", prefix="/milestones")
VisibleMilestone = Annotated[
    MilestoneView, visible("no milestone {milestone_id}", state_of(workflow_calls.milestone), milestone_id=Id)
]


async def _command(caller: Caller, milestone_id: str, update: Update[Any, R], **fields: Any) -> R:
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


@router.post(
    "/{milestone_id}/apply-remainder",
    status_code=201,
    response_model=MilestoneView,
    summary="Fund a new milestone from the remainder of a partial release (M6)",
)
async def apply_remainder(milestone_id: Id, body: RemainderBody, caller: CallerDep) -> MilestoneView:
    """After a partial release, what escrow still holds (nothing frozen by a claim) moves
    to a new milestone of the same contract, in progress with that amount. Answers the
    new milestone; this one is completed."""
    return await _command(caller, milestone_id, M.apply_remainder, title=body.title, due_date=body.due_date)


@router.post("/{milestone_id}/request-revision", response_model=MilestoneView, summary="Ask for revisions (M7)")
async def request_revision(milestone_id: Id, body: RevisionBody, caller: CallerDep) -> MilestoneView:
    return await _command(caller, milestone_id, M.request_revision, message=body.message)


@router.post(
    "/{milestone_id}/changes",
    status_code=201,
    response_model=MilestoneChange,
    summary="Propose a change to the milestone (M8)",
)
async def propose_change(milestone_id: Id, body: ChangeBody, caller: CallerDep) -> MilestoneChange:
    """Either party proposes a new title, description, due date or a higher amount, or
    to remove a milestone not yet funded; the other party answers. Answers the change,
    `proposed`; the milestone lists its changes in `changes`."""
    return await _command(caller, milestone_id, M.propose_change, **body.model_dump(exclude_unset=True))


@router.post(
    "/{milestone_id}/changes/{change_id}/accept",
    response_model=MilestoneChange,
    summary="Approve a proposed change (M8)",
)
async def accept_change(milestone_id: Id, change_id: Id, caller: CallerDep) -> MilestoneChange:
    """The other party approves: the change applies. An increase is funded by the client
    into the same escrow with `/fund`; a removal cancels the milestone."""
    return await _command(caller, milestone_id, M.accept_change, change_id=change_id)


@router.post(
    "/{milestone_id}/changes/{change_id}/decline",
    response_model=MilestoneChange,
    summary="Decline a proposed change (M8)",
)
async def decline_change(milestone_id: Id, change_id: Id, caller: CallerDep) -> MilestoneChange:
    return await _command(caller, milestone_id, M.decline_change, change_id=change_id)

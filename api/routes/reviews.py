"""Reviews (V1, V2): once a contract closes, each side reviews the other, double-blind;
the client may edit its review once if the expert allows it; the reviewed party may
reply once. One workflow per closed contract holds both reviews (`reviews:{id}`); a
review's id is `{contract_id}.client` or `{contract_id}.expert`, its author's side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, model_validator
from temporalio.client import Client

from api import workflow_calls
from api.auth import can_see
from api.deps import ActorDep, ClientDep
from api.errors import Problem, forbidden, not_found
from api.routes import Caller, CallerDep, Id, resource_router
from api.schemas import Body
from escrow import commands
from escrow.commands import Reviews
from escrow.inputs import Reference, RequiredText
from escrow.models import Actor, ContractStatus, Role
from escrow.models.review import Rating, Review, ReviewSide, ReviewsStatus, ReviewsView, parse_review_id
from escrow.rules import made_from
from escrow.rules import review as rules

router = resource_router("reviews")
ReviewPath = Annotated[
    Reference, Path(description="`{contract_id}.client` (the client's review) or `{contract_id}.expert`")
]


class ReviewBody(Body):
    rating: Rating
    text: RequiredText


class ReplyBody(Body):
    text: RequiredText


class ReviewChange(Body):
    rating: Rating | None = None
    text: RequiredText | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> ReviewChange:
        if self.rating is None and self.text is None:
            raise ValueError("name at least one of rating, text")
        return self


class ContractReviews(BaseModel):
    """A contract's reviews as the caller may see them (V1: double-blind)."""

    contract_id: str
    # None while the contract has no reviews: it is not closed yet (they open when it
    # closes), or it closed before the engine had reviews.
    status: ReviewsStatus | None = None
    closed_at: datetime | None = None
    reviews_close_at: datetime | None = None
    replies_close_at: datetime | None = None
    reviews: list[Review]


def _handle(client: Client, contract_id: str, actor: Actor, what: str) -> workflow_calls.Handle[ReviewsView]:
    """The reviews of a contract, named `what` in problems. If it has none (not closed
    yet), the answer depends on who asks: strangers learn nothing (404), operators may
    not write (403), a party is told the contract is not closed (409)."""

    async def no_reviews() -> None:
        try:
            contract = await workflow_calls.contract(client, contract_id).state()
        except Problem as err:
            if err.status == 404:
                raise not_found(f"no {what}") from err
            raise
        if not can_see(actor, contract.client_id, contract.expert_id):
            raise not_found(f"no {what}")
        if actor.role is Role.OPERATOR:
            raise forbidden("only the parties of the contract review each other")
        if contract.status is not ContractStatus.CLOSED:
            raise Problem(
                409, f"contract {contract_id} is not closed: reviews open when it closes (V1)", slug="conflict"
            )
        raise Problem(409, f"contract {contract_id} closed before reviews existed: it has none", slug="conflict")

    workflow_id = Reviews.workflow_id(contract_id)
    return workflow_calls.Handle(client, commands.Reviews, workflow_id, what, missing=no_reviews)


def _review(review_id: str) -> tuple[str, ReviewSide]:
    parsed = parse_review_id(review_id)
    if parsed is None:
        raise not_found(f"no review {review_id}")
    return parsed


@router.post(
    "/contracts/{contract_id}/reviews",
    status_code=201,
    response_model=Review,
    summary="Review the other side of a closed contract (V1)",
)
async def post_review(contract_id: Id, body: ReviewBody, caller: CallerDep) -> Review:
    """Each party reviews the other once, within 14 days of the contract's close:
    `rating` 1 to 5 and a `text`. Double-blind: the review is published when both sides
    have posted, or when the 14 days end; until then only its author sees it. Answers
    the review."""
    handle = _handle(caller.client, contract_id, caller.actor, f"reviews of contract {contract_id}")
    return await caller.run(handle, Reviews.post, rating=body.rating, text=body.text)


@router.get(
    "/contracts/{contract_id}/reviews",
    response_model=ContractReviews,
    summary="A contract's reviews: the published ones, and the caller's own (V1)",
)
async def read_reviews(contract_id: Id, actor: ActorDep, client: ClientDep) -> ContractReviews:
    """The parties and operators see the published reviews; an author also sees its own
    review before it is published. Before the contract closes there are none."""
    what = f"reviews of contract {contract_id}"
    try:
        view = await workflow_calls.Handle(client, commands.Reviews, Reviews.workflow_id(contract_id), what).state()
    except Problem as err:
        if err.status != 404:
            raise
        # No reviews (yet): the contract says who may know that.
        contract = await workflow_calls.contract(client, contract_id).state()
        if not can_see(actor, contract.client_id, contract.expert_id):
            raise not_found(f"no contract {contract_id}") from err
        return ContractReviews(contract_id=contract_id, reviews=[])
    if not can_see(actor, view.client_id, view.expert_id):
        raise not_found(f"no contract {contract_id}")
    return made_from(view, ContractReviews, reviews=rules.seen_by(view, actor))


def _on(caller: Caller, review_id: str) -> tuple[workflow_calls.Handle[ReviewsView], ReviewSide]:
    """The workflow holding a review, and the review's side; 404 for an id no review has."""
    contract_id, side = _review(review_id)
    return _handle(caller.client, contract_id, caller.actor, f"review {review_id}"), side


@router.post("/reviews/{review_id}/reply", response_model=Review, summary="Reply to a review of you (V2)")
async def reply(review_id: ReviewPath, body: ReplyBody, caller: CallerDep) -> Review:
    """The party reviewed replies once to a published review, within 28 days of the
    contract's close. Answers the review with its reply."""
    handle, side = _on(caller, review_id)
    return await caller.run(handle, Reviews.reply, side=side, text=body.text)


@router.post("/reviews/{review_id}/edit-request", response_model=Review, summary="Ask the expert to allow an edit (V2)")
async def request_edit(review_id: ReviewPath, caller: CallerDep) -> Review:
    """The client asks, once per contract, to edit its published review of the expert,
    until 28 days after the close; the expert has 14 days to allow it."""
    handle, side = _on(caller, review_id)
    return await caller.run(handle, Reviews.request_edit, side=side)


@router.post("/reviews/{review_id}/allow-edit", response_model=Review, summary="Allow the client's edit (V2)")
async def allow_edit(review_id: ReviewPath, caller: CallerDep) -> Review:
    """The expert reviewed allows the edit the client asked for, within 14 days of the
    request; the client then has 14 days to make it, once."""
    handle, side = _on(caller, review_id)
    return await caller.run(handle, Reviews.allow_edit, side=side)


@router.patch("/reviews/{review_id}", response_model=Review, summary="Edit your review, once allowed (V2)")
async def edit(review_id: ReviewPath, body: ReviewChange, caller: CallerDep) -> Review:
    """The client changes its `rating`, its `text` or both, once, after the expert
    allowed it. Answers the edited review."""
    handle, side = _on(caller, review_id)
    return await caller.run(handle, Reviews.edit, side=side, **body.model_dump(exclude_unset=True))

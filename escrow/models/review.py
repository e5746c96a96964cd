"""Reviews (V1, V2): once a contract closes, each side reviews the other, double-blind;
the client may edit its review once if the expert allows it, and the reviewed party may
reply once. One workflow per contract holds both reviews.

A review's id is derived, `{contract_id}.client` (the client's review of the expert) or
`{contract_id}.expert`, so the API finds its workflow without a lookup.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from escrow.inputs import RequiredText
from escrow.models.common import PartyCommand
from escrow.policy import Policy

# V1: a whole number of stars; 4.5, "5" and true are refused.
Rating = Annotated[StrictInt, Field(ge=1, le=5, description="1 to 5 stars")]


class ReviewSide(StrEnum):
    """Whose review: its author's side of the contract."""

    CLIENT = "client"  # the client's review of the expert
    EXPERT = "expert"  # the expert's review of the client


class ReviewsStatus(StrEnum):
    OPEN = "open"  # V1: both sides may post, for 14 days after the close
    REPLIES = "replies"  # posting closed; replies and the client's edit still possible (V2)
    ENDED = "ended"  # no window remains


def review_id(contract_id: str, side: ReviewSide) -> str:
    return f"{contract_id}.{side.value}"


def parse_review_id(value: str) -> tuple[str, ReviewSide] | None:
    """(contract id, side) of a review id; None for one no review can have."""
    contract_id, dot, side = value.rpartition(".")
    if not dot or not contract_id or side not in ReviewSide.__members__.values():
        return None
    return contract_id, ReviewSide(side)


class ReviewInput(BaseModel):
    contract_id: str
    client_id: str
    expert_id: str
    closed_at: datetime
    policy: Policy


class Review(BaseModel):
    id: str
    contract_id: str
    side: ReviewSide
    author_id: str
    subject_id: str  # the party reviewed
    rating: int
    text: str
    posted_at: datetime
    # V1: when both sides have posted, or when the 14 days end.
    published_at: datetime | None = None
    # V2: the client's one edit of its review of the expert: asked, allowed, made.
    edit_requested_at: datetime | None = None
    edit_allow_by: datetime | None = None
    edit_allowed_at: datetime | None = None
    edit_by: datetime | None = None
    edited_at: datetime | None = None
    # V2: the reviewed party's one reply.
    reply: str | None = None
    replied_at: datetime | None = None


class ReviewsView(BaseModel):
    """Both reviews of one contract, published or not: what the workflow holds. Callers
    see it through `escrow.rules.review.seen_by`, never whole."""

    contract_id: str
    client_id: str
    expert_id: str
    status: ReviewsStatus
    closed_at: datetime
    # V1: the last instant to post is just before this; unpublished reviews publish here.
    reviews_close_at: datetime
    # V2: replies (and edit requests) until just before this.
    replies_close_at: datetime
    reviews: list[Review] = Field(default_factory=list)

    def review(self, side: ReviewSide) -> Review | None:
        return next((r for r in self.reviews if r.side == side), None)


class PostReview(PartyCommand):
    """V1: the actor's review of the other side."""

    rating: Rating
    text: RequiredText


class ReviewCommand(PartyCommand):
    """A command on one review: `side` is its author's (the id's suffix)."""

    side: ReviewSide


class ReplyToReview(ReviewCommand):
    text: RequiredText


class EditReview(ReviewCommand):
    rating: Rating | None = None
    text: RequiredText | None = None

"""Reviews (V1, V2): the decisions of one closed contract's two reviews.

V1: each side may review the other once, for 14 days after the close. The reviews are
double-blind: each is published when both have posted, or when the 14 days end.
V2: the client may ask once to edit its review of the expert; the expert has 14 days to
allow it, and the client then edits it once (within `review_edit_window`, the engine's
choice: the sources name no limit). The reviewed party may reply once, within 28 days
of the close. Where the sources are silent the engine chose: an edit is asked for a
published review, while replies are open; a reply answers a published review.

Who may know what: the parties and operators see published reviews, an author its own
unpublished one too. To anyone else a contract's reviews do not exist (NotFound), and a
review not yet published does not exist to the party it reviews.
"""

from __future__ import annotations

from datetime import datetime

from escrow.errors import Refusal, refuse
from escrow.models import Actor, Role
from escrow.models.review import (
    EditReview,
    PostReview,
    ReplyToReview,
    Review,
    ReviewCommand,
    ReviewInput,
    ReviewSide,
    ReviewsStatus,
    ReviewsView,
    review_id,
)
from escrow.notices import Notice, when
from escrow.notices.review import (
    EditAllowed,
    EditRequested,
    ReplyPosted,
    ReviewAwaitsYours,
    ReviewEdited,
    ReviewPublished,
    ReviewsOpen,
)
from escrow.rules import Context, Decision

SIDES = {Role.CLIENT: ReviewSide.CLIENT, Role.EXPERT: ReviewSide.EXPERT}


def opened(input: ReviewInput) -> ReviewsView:
    """The reviews of a contract as they are the moment it closes (C2)."""
    p, at = input.policy, input.closed_at
    return ReviewsView(
        contract_id=input.contract_id,
        client_id=input.client_id,
        expert_id=input.expert_id,
        status=ReviewsStatus.OPEN,
        closed_at=at,
        reviews_close_at=at + p.reviews_window,
        replies_close_at=at + p.review_reply_window,
    )


def started(v: ReviewsView, ctx: Context) -> Decision[ReviewsView]:
    """V1: both sides hear that they may review each other, and until when."""
    notice = ReviewsOpen(to=(v.client_id, v.expert_id), contract_id=v.contract_id, reviews_close_at=v.reviews_close_at)
    return Decision(view=v, kind="reviews.opened", data={"contract_id": v.contract_id}, notices=[notice])


# ---------------------------------------------------------------------- who sees what


def side_of(v: ReviewsView, actor: Actor) -> ReviewSide:
    """The actor's side of the contract. An operator may read but not write reviews;
    anyone else learns nothing of them."""
    if actor.role is Role.OPERATOR:
        raise refuse(Refusal.FORBIDDEN, "only the parties of the contract review each other")
    party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}[actor.role]
    if actor.user_id != party:
        raise refuse(Refusal.NOT_FOUND, f"no reviews of contract {v.contract_id}")
    return SIDES[actor.role]


def seen_by(v: ReviewsView, actor: Actor) -> list[Review]:
    """V1, double-blind: the published reviews to the parties and operators; its author
    also sees its own unpublished one. Nothing to anyone else."""
    if actor.role is Role.OPERATOR:
        return [r for r in v.reviews if r.published_at is not None]
    party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}[actor.role]
    if actor.user_id != party:
        return []
    mine = SIDES[actor.role]
    return [r for r in v.reviews if r.published_at is not None or r.side == mine]


def answered(v: ReviewsView, cmd: PostReview | ReviewCommand) -> Review:
    """The review a command acted on, as it is now: what the command answers."""
    side = cmd.side if isinstance(cmd, ReviewCommand) else SIDES[cmd.actor.role]
    review = v.review(side)
    assert review is not None
    return review


def _known(v: ReviewsView, side: ReviewSide, actor: Actor) -> Review:
    """The review `side` wrote, if the actor may know of it: its author always, the
    other party once it is published."""
    mine = side_of(v, actor)
    review = v.review(side)
    if review is None or (review.published_at is None and side != mine):
        raise refuse(Refusal.NOT_FOUND, f"no review {review_id(v.contract_id, side)}")
    return review


def _replaced(v: ReviewsView, *reviews: Review) -> ReviewsView:
    new = {r.side: r for r in reviews}
    kept = [new.pop(r.side, r) for r in v.reviews]
    return v.model_copy(update={"reviews": [*kept, *new.values()]})


def _open(v: ReviewsView) -> None:
    if v.status is ReviewsStatus.ENDED:
        raise refuse(Refusal.CONFLICT, f"the reviews of contract {v.contract_id} have ended")


def _client_review(v: ReviewsView, cmd: ReviewCommand, by: Role, refusal: str) -> Review:
    """V2 acts only on the client's review of the expert, each step by one side: the
    review, once the actor may know of it, is `by`'s to act on and reviews are open."""
    review = _known(v, cmd.side, cmd.actor)
    if cmd.actor.role is not by or cmd.side is not ReviewSide.CLIENT:
        raise refuse(Refusal.FORBIDDEN, refusal)
    _open(v)
    return review


# ---------------------------------------------------------------------- V1


def post(v: ReviewsView, cmd: PostReview, ctx: Context) -> Decision[ReviewsView]:
    """V1: a side's one review of the other, within 14 days of the close. Published at
    once if the other side has posted too; else when it does, or when the days end."""
    side = side_of(v, cmd.actor)
    if v.review(side) is not None:
        raise refuse(Refusal.CONFLICT, "you have reviewed this contract already: each side reviews once (V1)")
    if v.status is not ReviewsStatus.OPEN or ctx.now >= v.reviews_close_at:
        raise refuse(
            Refusal.CONFLICT,
            f"the time to review this contract ended at {when(v.reviews_close_at)} (V1: 14 days after its close)",
        )
    subject = v.expert_id if side is ReviewSide.CLIENT else v.client_id
    review = Review(
        id=review_id(v.contract_id, side),
        contract_id=v.contract_id,
        side=side,
        author_id=cmd.actor.user_id,
        subject_id=subject,
        rating=cmd.rating,
        text=cmd.text,
        posted_at=ctx.now,
    )
    view = _replaced(v, review)
    if len(view.reviews) == 2:
        return _published(view, view.reviews, "review.posted", cmd.actor, ctx, {"review_id": review.id})
    notice = ReviewAwaitsYours(to=(subject,), contract_id=v.contract_id, reviews_close_at=v.reviews_close_at)
    # The audit says that a review was posted, not what it says: it is not published.
    return Decision(view=view, kind="review.posted", actor=cmd.actor, data={"review_id": review.id}, notices=[notice])


def close_reviews(v: ReviewsView, ctx: Context) -> Decision[ReviewsView] | None:
    """V1: the 14 days end: what was posted is published, and posting closes."""
    if v.status is not ReviewsStatus.OPEN or ctx.now < v.reviews_close_at:
        return None
    view = v.model_copy(update={"status": ReviewsStatus.REPLIES})
    due = [r for r in view.reviews if r.published_at is None]
    return _published(view, due, "reviews.window_closed", None, ctx, {})


def _published(
    v: ReviewsView, due: list[Review], kind: str, actor: Actor | None, ctx: Context, data: dict[str, object]
) -> Decision[ReviewsView]:
    published = [r.model_copy(update={"published_at": ctx.now}) for r in due if r.published_at is None]
    notices: list[Notice] = [
        ReviewPublished(to=(r.subject_id,), review_id=r.id, rating=r.rating, reply_by=v.replies_close_at)
        for r in published
    ]
    data = {**data, "published": [r.id for r in published]}
    return Decision(view=_replaced(v, *published), kind=kind, actor=actor, data=data, notices=notices)


# ---------------------------------------------------------------------- V2


def request_edit(v: ReviewsView, cmd: ReviewCommand, ctx: Context) -> Decision[ReviewsView]:
    """V2: the client asks, once per contract, to edit its published review of the
    expert, while replies are open."""
    review = _client_review(v, cmd, Role.CLIENT, "only the client may ask to edit its review of the expert (V2)")
    if review.published_at is None:
        raise refuse(Refusal.CONFLICT, "your review is not published yet: an edit may be asked for once it is")
    if review.edit_requested_at is not None:
        raise refuse(Refusal.CONFLICT, "an edit of this review was asked for already: once per contract (V2)")
    if ctx.now >= v.replies_close_at:
        raise refuse(Refusal.CONFLICT, f"an edit could be asked for until {when(v.replies_close_at)}")
    allow_by = ctx.now + ctx.policy.review_edit_allow_window
    edited = review.model_copy(update={"edit_requested_at": ctx.now, "edit_allow_by": allow_by})
    notice = EditRequested(to=(review.subject_id,), review_id=review.id, allow_by=allow_by)
    return _decision(_replaced(v, edited), "review.edit_requested", cmd.actor, review, [notice])


def allow_edit(v: ReviewsView, cmd: ReviewCommand, ctx: Context) -> Decision[ReviewsView]:
    """V2: the expert allows the client's edit, within 14 days of its request."""
    review = _client_review(
        v, cmd, Role.EXPERT, "only the expert reviewed may allow the client to edit its review (V2)"
    )
    if review.edit_requested_at is None or review.edit_allow_by is None:
        raise refuse(Refusal.CONFLICT, "the client has not asked to edit this review")
    if review.edit_allowed_at is not None:
        raise refuse(Refusal.CONFLICT, "the edit of this review is allowed already")
    if ctx.now >= review.edit_allow_by:
        raise refuse(Refusal.CONFLICT, f"the 14 days to allow this edit ended at {when(review.edit_allow_by)} (V2)")
    edit_by = ctx.now + ctx.policy.review_edit_window
    allowed = review.model_copy(update={"edit_allowed_at": ctx.now, "edit_by": edit_by})
    notice = EditAllowed(to=(review.author_id,), review_id=review.id, edit_by=edit_by)
    return _decision(_replaced(v, allowed), "review.edit_allowed", cmd.actor, review, [notice])


def edit(v: ReviewsView, cmd: EditReview, ctx: Context) -> Decision[ReviewsView]:
    """V2: the client's one edit, once the expert allowed it."""
    if cmd.rating is None and cmd.text is None:
        raise refuse(Refusal.INVALID, "say what changes: rating, text or both")
    review = _client_review(v, cmd, Role.CLIENT, "only the client edits its review of the expert, once allowed (V2)")
    if review.edit_allowed_at is None or review.edit_by is None:
        raise refuse(Refusal.CONFLICT, "the expert has not allowed an edit of this review (V2)")
    if review.edited_at is not None:
        raise refuse(Refusal.CONFLICT, "this review was edited already: one edit (V2)")
    if ctx.now >= review.edit_by:
        raise refuse(Refusal.CONFLICT, f"the allowed edit could be made until {when(review.edit_by)}")
    changes: dict[str, object] = {"edited_at": ctx.now}
    if cmd.rating is not None:
        changes["rating"] = cmd.rating
    if cmd.text is not None:
        changes["text"] = cmd.text
    edited = review.model_copy(update=changes)
    notice = ReviewEdited(to=(review.subject_id,), review_id=review.id, rating=edited.rating)
    return _decision(_replaced(v, edited), "review.edited", cmd.actor, review, [notice])


def reply(v: ReviewsView, cmd: ReplyToReview, ctx: Context) -> Decision[ReviewsView]:
    """V2: the reviewed party replies once to a published review, within 28 days of the
    contract's close."""
    review = _known(v, cmd.side, cmd.actor)
    if side_of(v, cmd.actor) is review.side:
        raise refuse(Refusal.FORBIDDEN, "only the party reviewed may reply to a review (V2)")
    _open(v)
    if review.reply is not None:
        raise refuse(Refusal.CONFLICT, "this review has its reply already: one reply (V2)")
    if ctx.now >= v.replies_close_at:
        raise refuse(
            Refusal.CONFLICT,
            f"replies were possible until {when(v.replies_close_at)} (V2: 28 days after the contract's close)",
        )
    replied = review.model_copy(update={"reply": cmd.text, "replied_at": ctx.now})
    notice = ReplyPosted(to=(review.author_id,), review_id=review.id)
    return _decision(_replaced(v, replied), "review.replied", cmd.actor, review, [notice])


# ---------------------------------------------------------------------- the end


def ends_at(v: ReviewsView) -> datetime:
    """When no window remains: replies end, and so does any edit waiting to be allowed
    or made."""
    moments = [v.reviews_close_at, v.replies_close_at]
    for r in v.reviews:
        if r.edit_allow_by is not None and r.edit_allowed_at is None:
            moments.append(r.edit_allow_by)
        if r.edit_by is not None and r.edited_at is None:
            moments.append(r.edit_by)
    return max(moments)


def end(v: ReviewsView, ctx: Context) -> Decision[ReviewsView] | None:
    if v.status is not ReviewsStatus.REPLIES or ctx.now < ends_at(v):
        return None
    return Decision(view=v.model_copy(update={"status": ReviewsStatus.ENDED}), kind="reviews.ended")


def _decision(
    view: ReviewsView, kind: str, actor: Actor, review: Review, notices: list[Notice]
) -> Decision[ReviewsView]:
    return Decision(view=view, kind=kind, actor=actor, data={"review_id": review.id}, notices=notices)

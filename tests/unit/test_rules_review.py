"""The reviews' pure decisions (escrow.rules.review): no Temporal, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from escrow.models import Actor, Role
from escrow.models.review import (
    EditReview,
    PostReview,
    ReplyToReview,
    ReviewCommand,
    ReviewInput,
    ReviewSide,
    ReviewsStatus,
    ReviewsView,
    parse_review_id,
    review_id,
)
from escrow.notices import messages
from escrow.policy import preset
from escrow.rules import Context
from escrow.rules import review as rules

POLICY = preset("cadcrowd")
CLOSED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
CLIENT = Actor(user_id="alice", role=Role.CLIENT)
EXPERT = Actor(user_id="bob", role=Role.EXPERT)
STRANGER = Actor(user_id="mallory", role=Role.CLIENT)
OPERATOR = Actor(user_id="op", role=Role.OPERATOR)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def ctx(now: datetime) -> Context:
    return Context(now=now, policy=POLICY, workflow_id="reviews:c1", step=2)


def reviews() -> ReviewsView:
    return rules.opened(
        ReviewInput(contract_id="c1", client_id="alice", expert_id="bob", closed_at=CLOSED, policy=POLICY)
    )


def refused(kind: str, decide, *args) -> str:
    with pytest.raises(ApplicationError) as err:
        decide(*args)
    assert err.value.type == kind, err.value
    return str(err.value)


def post(v: ReviewsView, actor: Actor, at: datetime, rating: int = 4) -> ReviewsView:
    return rules.post(v, PostReview(actor=actor, rating=rating, text="good work"), ctx(at)).view


def both_published() -> ReviewsView:
    return post(post(reviews(), CLIENT, CLOSED + DAY), EXPERT, CLOSED + 2 * DAY, rating=5)


def test_ids_are_derived_and_parsed():
    assert review_id("c1", ReviewSide.CLIENT) == "c1.client"
    assert parse_review_id("c.1.expert") == ("c.1", ReviewSide.EXPERT)
    for malformed in ("c1", "c1.", ".client", "c1.operator", "c1.Client"):
        assert parse_review_id(malformed) is None


def test_the_windows_follow_the_close():
    v = reviews()
    assert (v.status, v.reviews_close_at, v.replies_close_at) == (
        ReviewsStatus.OPEN,
        CLOSED + timedelta(days=14),
        CLOSED + timedelta(days=28),
    )
    opening = rules.started(v, ctx(CLOSED))
    assert set(messages(opening.notices)) == {"alice", "bob"}


@pytest.mark.rules("V1")
def test_v1_a_rating_is_a_whole_number_from_1_to_5():
    for rating in (0, 6, 4.5, "5", True, None):
        with pytest.raises(ValidationError):
            PostReview(actor=CLIENT, rating=rating, text="x")
    with pytest.raises(ValidationError):
        PostReview(actor=CLIENT, rating=3, text="   ")


@pytest.mark.rules("V1")
def test_v1_each_side_posts_once_within_14_days():
    v = reviews()
    last = v.reviews_close_at - SECOND
    decision = rules.post(v, PostReview(actor=CLIENT, rating=5, text="great"), ctx(last))
    review = decision.view.review(ReviewSide.CLIENT)
    assert review is not None and (review.id, review.subject_id, review.published_at) == ("c1.client", "bob", None)
    # Double-blind: the expert is told that it has been reviewed, not how.
    assert "5/5" not in messages(decision.notices)["bob"] and "great" not in str(decision.data)
    again = PostReview(actor=CLIENT, rating=1, text="changed my mind")
    assert "once" in refused("Conflict", rules.post, decision.view, again, ctx(last))

    late = PostReview(actor=EXPERT, rating=3, text="late")
    assert "V1" in refused("Conflict", rules.post, decision.view, late, ctx(v.reviews_close_at))
    refused("NotFound", rules.post, v, PostReview(actor=STRANGER, rating=3, text="x"), ctx(CLOSED))
    refused("Forbidden", rules.post, v, PostReview(actor=OPERATOR, rating=3, text="x"), ctx(CLOSED))


@pytest.mark.rules("V1")
def test_v1_published_when_both_have_posted():
    one = post(reviews(), CLIENT, CLOSED + DAY)
    decision = rules.post(one, PostReview(actor=EXPERT, rating=2, text="slow to pay"), ctx(CLOSED + 2 * DAY))
    assert [r.published_at for r in decision.view.reviews] == [CLOSED + 2 * DAY] * 2
    told = messages(decision.notices)
    assert "4/5" in told["bob"] and "2/5" in told["alice"]
    # The 14 days then only close the posting.
    closing = rules.close_reviews(decision.view, ctx(one.reviews_close_at))
    assert closing is not None and closing.view.status is ReviewsStatus.REPLIES and closing.notices == []


@pytest.mark.rules("V1")
def test_v1_published_when_the_14_days_end():
    one = post(reviews(), EXPERT, CLOSED + DAY)
    assert rules.close_reviews(one, ctx(one.reviews_close_at - SECOND)) is None
    decision = rules.close_reviews(one, ctx(one.reviews_close_at))
    assert decision is not None
    [review] = decision.view.reviews
    assert review.published_at == one.reviews_close_at and decision.view.status is ReviewsStatus.REPLIES
    assert set(messages(decision.notices)) == {"alice"}
    assert rules.close_reviews(decision.view, ctx(one.reviews_close_at)) is None


@pytest.mark.rules("V1")
def test_v1_double_blind_who_sees_what():
    one = post(reviews(), CLIENT, CLOSED + DAY)
    assert [r.id for r in rules.seen_by(one, CLIENT)] == ["c1.client"]
    assert rules.seen_by(one, EXPERT) == rules.seen_by(one, OPERATOR) == rules.seen_by(one, STRANGER) == []
    both = both_published()
    assert len(rules.seen_by(both, EXPERT)) == len(rules.seen_by(both, OPERATOR)) == 2
    assert rules.seen_by(both, STRANGER) == []
    # An unpublished review does not exist to the party it reviews.
    reply = ReplyToReview(actor=EXPERT, side=ReviewSide.CLIENT, text="thanks")
    refused("NotFound", rules.reply, one, reply, ctx(CLOSED + DAY))


@pytest.mark.rules("V2")
def test_v2_the_reviewed_party_replies_once_within_28_days():
    v = both_published()
    reply = ReplyToReview(actor=EXPERT, side=ReviewSide.CLIENT, text="thank you")
    last = v.replies_close_at - SECOND
    decision = rules.reply(v, reply, ctx(last))
    answered = rules.answered(decision.view, reply)
    assert (answered.reply, answered.replied_at) == ("thank you", last)
    assert set(messages(decision.notices)) == {"alice"}
    assert "one reply" in refused("Conflict", rules.reply, decision.view, reply, ctx(last))
    assert "28 days" in refused("Conflict", rules.reply, v, reply, ctx(v.replies_close_at))
    own = ReplyToReview(actor=CLIENT, side=ReviewSide.CLIENT, text="me too")
    refused("Forbidden", rules.reply, v, own, ctx(last))
    refused("Forbidden", rules.reply, v, reply.model_copy(update={"actor": OPERATOR}), ctx(last))
    refused("NotFound", rules.reply, v, reply.model_copy(update={"actor": STRANGER}), ctx(last))


@pytest.mark.rules("V2")
def test_v2_the_client_asks_once_the_expert_allows_within_14_days_the_client_edits_once():
    v = both_published()
    ask = ReviewCommand(actor=CLIENT, side=ReviewSide.CLIENT)
    asked_at = CLOSED + 20 * DAY
    asked = rules.request_edit(v, ask, ctx(asked_at)).view
    review = asked.review(ReviewSide.CLIENT)
    assert review is not None and review.edit_allow_by == asked_at + timedelta(days=14)
    assert "once per contract" in refused("Conflict", rules.request_edit, asked, ask, ctx(asked_at))
    # The expert's review is not the client's to edit, nor the expert's to ask about.
    refused("Forbidden", rules.request_edit, v, ReviewCommand(actor=CLIENT, side=ReviewSide.EXPERT), ctx(asked_at))
    refused("Forbidden", rules.request_edit, v, ReviewCommand(actor=EXPERT, side=ReviewSide.EXPERT), ctx(asked_at))

    allow = ReviewCommand(actor=EXPERT, side=ReviewSide.CLIENT)
    refused("Conflict", rules.allow_edit, v, allow, ctx(asked_at))  # nothing asked
    refused("Forbidden", rules.allow_edit, asked, ask, ctx(asked_at))  # the client can't allow itself
    assert "14 days" in refused("Conflict", rules.allow_edit, asked, allow, ctx(review.edit_allow_by))
    # Allowed on the last second, after replies have ended: the workflow lives on for it.
    allowed_at = review.edit_allow_by - SECOND
    assert allowed_at > v.replies_close_at
    allowed = rules.allow_edit(asked, allow, ctx(allowed_at)).view
    assert rules.ends_at(asked) == review.edit_allow_by
    assert rules.ends_at(allowed) == allowed_at + POLICY.review_edit_window
    refused("Conflict", rules.allow_edit, allowed, allow, ctx(allowed_at))

    change = EditReview(actor=CLIENT, side=ReviewSide.CLIENT, rating=5)
    refused("Conflict", rules.edit, asked, change, ctx(allowed_at))  # not allowed yet
    refused("Invalid", rules.edit, allowed, EditReview(actor=CLIENT, side=ReviewSide.CLIENT), ctx(allowed_at))
    refused("Forbidden", rules.edit, allowed, change.model_copy(update={"actor": EXPERT}), ctx(allowed_at))
    decision = rules.edit(allowed, change, ctx(allowed_at + DAY))
    edited = rules.answered(decision.view, change)
    assert (edited.rating, edited.text, edited.edited_at) == (5, "good work", allowed_at + DAY)
    assert "5/5" in messages(decision.notices)["bob"]
    assert "one edit" in refused("Conflict", rules.edit, decision.view, change, ctx(allowed_at + DAY))
    assert rules.ends_at(decision.view) == v.replies_close_at


@pytest.mark.rules("V2")
def test_v2_an_edit_is_asked_for_a_published_review_while_replies_are_open():
    one = post(reviews(), CLIENT, CLOSED + DAY)
    ask = ReviewCommand(actor=CLIENT, side=ReviewSide.CLIENT)
    assert "not published" in refused("Conflict", rules.request_edit, one, ask, ctx(CLOSED + DAY))
    v = both_published()
    refused("Conflict", rules.request_edit, v, ask, ctx(v.replies_close_at))
    allowed = rules.allow_edit(
        rules.request_edit(v, ask, ctx(CLOSED + 3 * DAY)).view,
        ReviewCommand(actor=EXPERT, side=ReviewSide.CLIENT),
        ctx(CLOSED + 4 * DAY),
    ).view
    change = EditReview(actor=CLIENT, side=ReviewSide.CLIENT, text="better")
    edit_by = CLOSED + 4 * DAY + POLICY.review_edit_window
    refused("Conflict", rules.edit, allowed, change, ctx(edit_by))
    rules.edit(allowed, change, ctx(edit_by - SECOND))


def test_the_reviews_end_once_no_window_remains():
    v = rules.close_reviews(both_published(), ctx(CLOSED + timedelta(days=14)))
    assert v is not None
    assert rules.end(v.view, ctx(v.view.replies_close_at - SECOND)) is None
    ended = rules.end(v.view, ctx(v.view.replies_close_at))
    assert ended is not None and ended.view.status is ReviewsStatus.ENDED
    reply = ReplyToReview(actor=EXPERT, side=ReviewSide.CLIENT, text="late")
    refused("Conflict", rules.reply, ended.view, reply, ctx(v.view.replies_close_at))

"""Reviews of a closed contract (V1, V2) on the time-skipping server: the 14 days to
review, double-blind publication, the 28 days to reply and the client's one edit, each
run at the edges of its schedule."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from escrow import ids
from escrow.db.models import AuditEvent, OutboxMessage
from escrow.models import Actor, CloseContract, ContractStatus, Role
from escrow.models.review import (
    EditReview,
    PostReview,
    ReplyToReview,
    ReviewCommand,
    ReviewInput,
    ReviewSide,
    ReviewsStatus,
    ReviewsView,
)
from escrow.policy import preset
from tests.support import at, eventually, finished, open_contract, refusal, refused_or_closed
from workflows.contract import ContractWorkflow as CW
from workflows.review import ReviewWorkflow as RW

pytestmark = pytest.mark.usefixtures("worker")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


class Closed:
    """The reviews of a contract that closed at `closed_at`, between fresh parties."""

    def __init__(self, env: WorkflowEnvironment, client: Client, closed_at: datetime) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.env, self.contract_id, self.closed_at = env, f"c-{suffix}", closed_at
        self.client = Actor(user_id=f"client-{suffix}", role=Role.CLIENT)
        self.expert = Actor(user_id=f"expert-{suffix}", role=Role.EXPERT)
        self.handle: WorkflowHandle = client.get_workflow_handle(ids.reviews(self.contract_id), result_type=ReviewsView)

    @property
    def reviews_close_at(self) -> datetime:
        return self.closed_at + timedelta(days=14)

    @property
    def replies_close_at(self) -> datetime:
        return self.closed_at + timedelta(days=28)

    async def until(self, moment: datetime) -> None:
        now = await self.env.get_current_time()
        assert moment >= now, f"the clock is already past {moment}"
        await self.env.sleep(moment - now)

    async def view(self) -> ReviewsView:
        return await self.handle.query(RW.state)

    def post(self, actor: Actor, rating: int = 4, text: str = "good work"):
        return self.handle.execute_update(RW.post, PostReview(actor=actor, rating=rating, text=text))

    def on(self, update, actor: Actor, side: ReviewSide = ReviewSide.CLIENT, **fields):
        command = {RW.reply: ReplyToReview, RW.edit: EditReview}.get(update, ReviewCommand)
        return self.handle.execute_update(update, command(actor=actor, side=side, **fields))


async def closed(env: WorkflowEnvironment, client: Client, task_queue: str) -> Closed:
    """Reviews opened as a contract closes now, started the way its contract starts them."""
    deal = Closed(env, client, await env.get_current_time())
    await client.start_workflow(
        RW.run,
        ReviewInput(
            contract_id=deal.contract_id,
            client_id=deal.client.user_id,
            expert_id=deal.expert.user_id,
            closed_at=deal.closed_at,
            policy=preset("cadcrowd"),
        ),
        id=ids.reviews(deal.contract_id),
        task_queue=task_queue,
    )
    return deal


def told(sessions, user_id: str) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage.message).where(OutboxMessage.user_id == user_id).order_by(OutboxMessage.id)
            )
        )


@pytest.mark.rules("V1")
async def test_v1_a_review_until_14_days_minus_a_second_published_at_14_days(env, client, task_queue, sessions):
    deal = await closed(env, client, task_queue)
    await deal.until(deal.reviews_close_at - SECOND)
    review = await deal.post(deal.client, rating=5, text="on time, clean drawings")
    assert (review.id, review.subject_id, review.published_at) == (
        f"{deal.contract_id}.client",
        deal.expert.user_id,
        None,
    )
    # Double-blind: the expert is told it was reviewed, not what the review says.
    assert not any("5/5" in m or "clean drawings" in m for m in told(sessions, deal.expert.user_id))

    await deal.until(deal.reviews_close_at)
    err = await refusal(deal.post(deal.expert, rating=3))
    assert err.type == "Conflict" and "V1" in str(err)

    async def published():
        view = await deal.view()
        return view if view.status is ReviewsStatus.REPLIES else None

    view = await eventually(published, "the 14 days to end")
    [only] = view.reviews
    assert at(only.published_at, deal.reviews_close_at) and only.rating == 5
    assert any("5/5" in m for m in told(sessions, deal.expert.user_id))


@pytest.mark.rules("V1")
async def test_v1_both_posted_are_published_at_once_and_each_side_posts_once(env, client, task_queue, sessions):
    deal = await closed(env, client, task_queue)
    await deal.until(deal.closed_at + 3 * DAY)
    first = await deal.post(deal.expert, rating=4, text="paid promptly")
    assert first.published_at is None
    err = await refusal(deal.post(deal.expert, rating=1))
    assert err.type == "Conflict" and "once" in str(err)
    stranger = Actor(user_id="mallory", role=Role.CLIENT)
    assert (await refusal(deal.post(stranger))).type == "NotFound"
    operator = Actor(user_id="op-1", role=Role.OPERATOR)
    assert (await refusal(deal.post(operator))).type == "Forbidden"
    # A rating outside 1..5 or not a whole number never reaches the rules.
    for rating in (0, 6):
        assert (
            await refusal(
                deal.handle.execute_update("post", {"actor": deal.client.model_dump(), "rating": rating, "text": "x"})
            )
        ).type == "Invalid"

    second = await deal.post(deal.client, rating=2, text="late")
    now = second.posted_at
    assert second.published_at == now
    view = await deal.view()
    assert [r.published_at for r in view.reviews] == [now, now] and view.status is ReviewsStatus.OPEN
    with sessions() as session:
        kinds = session.scalars(
            select(AuditEvent.kind)
            .where(AuditEvent.workflow_id == ids.reviews(deal.contract_id))
            .order_by(AuditEvent.at)
        ).all()
    assert kinds == ["reviews.opened", "review.posted", "review.posted"]


@pytest.mark.rules("V2")
async def test_v2_a_reply_until_28_days_minus_a_second_then_the_reviews_end(env, client, task_queue, sessions):
    deal = await closed(env, client, task_queue)
    await deal.post(deal.client, rating=3)
    await deal.post(deal.expert, rating=4)
    err = await refusal(deal.on(RW.reply, deal.client, ReviewSide.CLIENT, text="my own"))
    assert err.type == "Forbidden"

    await deal.until(deal.replies_close_at - SECOND)
    replied = await deal.on(RW.reply, deal.expert, ReviewSide.CLIENT, text="thank you")
    assert (replied.reply, replied.id) == ("thank you", f"{deal.contract_id}.client")
    err = await refusal(deal.on(RW.reply, deal.expert, ReviewSide.CLIENT, text="and again"))
    assert err.type == "Conflict" and "one reply" in str(err)
    assert any("replied" in m for m in told(sessions, deal.client.user_id))

    await deal.until(deal.replies_close_at)
    late = deal.on(RW.reply, deal.client, ReviewSide.EXPERT, text="too late")
    assert await refused_or_closed(late) in ("refused", "closed")
    view = await finished(env, deal.handle)
    assert view.status is ReviewsStatus.ENDED
    assert [r.reply for r in view.reviews] == ["thank you", None]


@pytest.mark.rules("V2")
async def test_v2_edit_asked_allowed_within_14_days_then_made_once(env, client, task_queue, sessions):
    deal = await closed(env, client, task_queue)
    await deal.post(deal.client, rating=2, text="missed the deadline")
    await deal.post(deal.expert, rating=5)
    await deal.until(deal.closed_at + 20 * DAY)
    asked = await deal.on(RW.request_edit, deal.client)
    allow_by = asked.edit_allow_by
    assert allow_by is not None and allow_by == asked.edit_requested_at + timedelta(days=14)
    assert (await refusal(deal.on(RW.request_edit, deal.client))).type == "Conflict"  # once per contract
    assert (await refusal(deal.on(RW.allow_edit, deal.client))).type == "Forbidden"
    assert any("edit" in m for m in told(sessions, deal.expert.user_id))

    # Past the 28 days the workflow waits for the edit it was asked to allow.
    await deal.until(allow_by - SECOND)
    assert (await deal.view()).status is ReviewsStatus.REPLIES
    allowed = await deal.on(RW.allow_edit, deal.expert)
    assert allowed.edit_allowed_at is not None and allowed.edit_by is not None
    err = await refusal(deal.on(RW.reply, deal.expert, ReviewSide.CLIENT, text="after the 28 days"))
    assert err.type == "Conflict" and "28 days" in str(err)

    await deal.until(allow_by + DAY)
    edited = await deal.on(RW.edit, deal.client, rating=4)
    assert (edited.rating, edited.text, edited.edited_at is not None) == (4, "missed the deadline", True)
    assert any("4/5" in m for m in told(sessions, deal.expert.user_id))
    # With the edit made no window remains: the reviews end.
    view = await finished(env, deal.handle)
    assert view.status is ReviewsStatus.ENDED and view.review(ReviewSide.CLIENT).rating == 4


@pytest.mark.rules("V2")
async def test_v2_an_edit_not_allowed_within_14_days_lapses(env, client, task_queue):
    deal = await closed(env, client, task_queue)
    await deal.post(deal.client, rating=2)
    await deal.post(deal.expert, rating=5)
    await deal.until(deal.closed_at + 27 * DAY)
    asked = await deal.on(RW.request_edit, deal.client)
    assert asked.edit_allow_by is not None
    await deal.until(asked.edit_allow_by)
    assert await refused_or_closed(deal.on(RW.allow_edit, deal.expert)) in ("refused", "closed")
    view = await finished(env, deal.handle)
    assert view.status is ReviewsStatus.ENDED and view.review(ReviewSide.CLIENT).edited_at is None


@pytest.mark.rules("C2", "V1")
async def test_the_contract_that_closes_opens_its_reviews(env, client, task_queue):
    deal = await open_contract(client, task_queue)
    view = await deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor))
    assert view.status is ContractStatus.CLOSED and view.closed_at is not None
    reviews = client.get_workflow_handle(ids.reviews(deal.contract_id), result_type=ReviewsView)
    opened = await reviews.query(RW.state)
    assert (opened.status, opened.closed_at, opened.client_id, opened.expert_id) == (
        ReviewsStatus.OPEN,
        view.closed_at,
        deal.client_actor.user_id,
        deal.expert_actor.user_id,
    )
    posted = await reviews.execute_update(RW.post, PostReview(actor=deal.expert_actor, rating=5, text="paid on time"))
    assert posted.subject_id == deal.client_actor.user_id
    # The contract has ended; its reviews live on, on their own, until no window remains.
    assert (await finished(env, deal.contract))["status"] == ContractStatus.CLOSED
    assert (await finished(env, reviews)).status is ReviewsStatus.ENDED

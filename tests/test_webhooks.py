"""Webhooks (Standard Webhooks) from what the engine did on its own: each event reaches
a receiver on 127.0.0.1 with a signature the `standardwebhooks` verifier accepts, is
retried with the same `webhook-id` until the receiver recovers, and a receiver that
never answers holds up no money."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

import cli
from escrow.db import events, webhooks
from escrow.db.models import WebhookEndpoint, WebhookMessage
from escrow.models import MilestoneStatus, OpenDispute, Release, RequestRefund, Submit
from escrow.models.dispute import DisputeOutcome
from escrow.models.refund import RefundView
from escrow.webhooks import EndpointStatus, MessageStatus, NewEndpoint, message_id
from tests.support import eventually, finished, funded
from tests.webhook_support import Endpoints, Received, Receiver, delivering, receiving
from workflows.milestone import MilestoneWorkflow as MW


@pytest.fixture
async def delivery(client, sessions, task_queue) -> AsyncIterator[None]:
    async with delivering(client, sessions, task_queue):
        yield


@pytest.fixture
def endpoints(sessions) -> Iterator[Endpoints]:
    registered = Endpoints(sessions)
    yield registered
    registered.remove()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def verified(endpoint: NewEndpoint, request: Received) -> dict:
    """The payload, if the standard verifier accepts the request's signature."""
    return Webhook(endpoint.secret).verify(request.body, request.headers)


def in_feed(sessions, user_id: str, event_type: str) -> list[events.Event]:
    with sessions() as session:
        return [e for e in events.page(session, None, 500, user_id=user_id).events if e.type == event_type]


@pytest.mark.rules("M4")
@pytest.mark.usefixtures("delivery")
async def test_an_auto_release_is_in_the_feed_and_reaches_the_webhook_signed(
    client, task_queue, sessions, env, endpoints, receiver
):
    endpoint = endpoints.register(receiver.url, ["milestone.auto_released"])
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    final = await finished(env, milestone)
    assert final.status == MilestoneStatus.COMPLETED

    [event] = in_feed(sessions, deal.client_actor.user_id, "milestone.auto_released")
    assert event.subject == {"type": "milestone", "id": final.id, "contract_id": deal.contract_id}
    [request] = await receiver.got(1)
    payload = verified(endpoint, request)
    assert payload == event.model_dump(mode="json")
    assert request.headers["webhook-id"] == event.id


@pytest.mark.rules("R2")
@pytest.mark.usefixtures("delivery")
async def test_a_refund_approved_by_silence_is_in_the_feed_and_reaches_the_webhook(
    client, task_queue, sessions, env, endpoints, receiver
):
    endpoint = endpoints.register(receiver.url, ["refund.approved_by_silence"])
    deal, milestone = await funded(client, task_queue, 40_000)
    claim = await milestone.execute_update(
        MW.request_refund, RequestRefund(actor=deal.client_actor, amount=40_000, message="not what we agreed")
    )
    await finished(env, client.get_workflow_handle(f"refund:{claim.id}", result_type=RefundView))

    [event] = in_feed(sessions, deal.expert_actor.user_id, "refund.approved_by_silence")
    assert event.subject == {"type": "refund", "id": claim.id, "contract_id": deal.contract_id}
    [request] = await receiver.got(1)
    assert verified(endpoint, request)["id"] == event.id


@pytest.mark.rules("D7", "D2")
@pytest.mark.usefixtures("delivery")
async def test_a_dispute_lost_by_silence_is_in_the_feed_and_reaches_the_webhook(
    client, task_queue, sessions, env, endpoints, receiver
):
    endpoint = endpoints.register(receiver.url, ["dispute.lost_by_silence"])
    deal, milestone = await funded(client, task_queue, 40_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    claim = await milestone.execute_update(
        MW.open_dispute, OpenDispute(actor=deal.client_actor, amount=10_000, reason="late delivery")
    )
    await finished(env, client.get_workflow_handle(f"dispute:{claim.id}", result_type=DisputeOutcome))

    [event] = in_feed(sessions, deal.client_actor.user_id, "dispute.lost_by_silence")
    assert event.data["winner"] == "client" and event.subject["contract_id"] == deal.contract_id
    [request] = await receiver.got(1)
    assert verified(endpoint, request)["type"] == "dispute.lost_by_silence"


@pytest.mark.usefixtures("delivery")
async def test_a_receiver_that_fails_three_times_gets_the_event_when_it_recovers(
    client, task_queue, sessions, env, endpoints, receiver
):
    receiver.answers = [500, 500, 500]
    endpoint = endpoints.register(receiver.url, ["milestone.funded"])
    await funded(client, task_queue, 30_000)
    [first] = await receiver.got(1)
    event_id = first.headers["webhook-id"]

    requests = await receiver.got(4, env, timedelta(seconds=5))
    assert [r.headers["webhook-id"] for r in requests] == [event_id] * 4
    assert verified(endpoint, requests[-1])["type"] == "milestone.funded"
    with sessions() as session:
        attempts = webhooks.recent_attempts(session, endpoint.id)
        message = session.get(WebhookMessage, message_id(endpoint.id, event_id))
    assert [(a.attempt, a.status_code) for a in reversed(attempts)] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    assert {a.webhook_id for a in attempts} == {event_id}
    assert (message.status, message.attempts) == (MessageStatus.DELIVERED, 4)


@pytest.mark.usefixtures("delivery")
async def test_an_endpoint_that_never_answers_for_3_days_is_marked_failing(
    client, task_queue, sessions, env, endpoints, receiver
):
    receiver.answers = [503] * 1000
    owed = ["contract.created", "contract.milestone_added", "milestone.created", "milestone.funded"]
    endpoint = endpoints.register(receiver.url, owed)
    await funded(client, task_queue, 30_000)
    await receiver.got(1)

    async def failing() -> WebhookEndpoint | None:
        await env.sleep(timedelta(hours=6))
        with sessions() as session:
            row = session.get(WebhookEndpoint, endpoint.id)
            return row if row.status == EndpointStatus.FAILING else None

    row = await eventually(failing, "the endpoint to be marked failing", seconds=60)
    assert row.failing_since is not None
    with sessions() as session:
        attempts = webhooks.recent_attempts(session, endpoint.id)
        messages = session.scalars(select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id)).all()
    assert len(messages) == len(owed) and {m.status for m in messages} == {MessageStatus.FAILED}
    # One attempt per round, rounds backing off from 5 s to 6 h apart: a dead endpoint
    # costs a few dozen attempts in 3 days however many events it is owed, and every
    # event had its turn.
    assert {a.status_code for a in attempts} == {503}
    assert len(owed) <= len(attempts) <= 30
    assert {a.event_id for a in attempts} == {m.event_id for m in messages}


@pytest.mark.rules("M4")
@pytest.mark.usefixtures("delivery")
async def test_a_receiver_that_never_answers_does_not_delay_a_release(
    client, task_queue, sessions, endpoints, receiver
):
    receiver.hang.set()
    endpoints.register(receiver.url)
    deal, milestone = await funded(client, task_queue, 30_000)
    await receiver.got(1)  # the funding's event is held by the receiver, unanswered

    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_000))
    assert view.status == MilestoneStatus.COMPLETED and view.released == 30_000
    assert receiver.held >= 1 and not receiver.released.is_set()
    assert in_feed(sessions, deal.client_actor.user_id, "milestone.released")


@pytest.mark.usefixtures("delivery")
async def test_an_operator_resends_an_event_with_the_same_webhook_id(
    client, task_queue, sessions, env, endpoints, receiver, db_url, monkeypatch
):
    endpoint = endpoints.register(receiver.url, ["milestone.funded"])
    await funded(client, task_queue, 30_000)
    [first] = await receiver.got(1)
    event_id = first.headers["webhook-id"]

    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("ESCROW_TASK_QUEUE", task_queue)
    argv = ["--database-url", db_url, "events", "resend", event_id, "--endpoint", endpoint.id]
    assert await asyncio.to_thread(cli.main, argv) == 0

    [_, again] = await receiver.got(2)
    assert again.headers["webhook-id"] == event_id and verified(endpoint, again)["id"] == event_id
    unknown = ["--database-url", db_url, "events", "resend", "no-such-event"]
    assert await asyncio.to_thread(cli.main, unknown) == 1

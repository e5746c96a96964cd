"""Payouts on the payout's own clock (P3, P4, L5): the method's security hold ends to
the second on the time-skipping server, a refused payout ends at once and moves
nothing, and wires are measured at the 2,500.00 edge by the API's tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from escrow import accounts, ids
from escrow.errors import Refusal
from escrow.models import Actor, PartyCommand, PayoutInput, PayoutMethodKind, PayoutStatus, PayoutView, Role
from escrow.policy import preset
from escrow.rules import payout as rules
from tests.support import balance, credit, refusal
from workflows.payout import PayoutWorkflow

pytestmark = pytest.mark.usefixtures("worker")
POLICY = preset("cadcrowd")
AMOUNT = 12_000


def _payout(user: str, hold_until) -> PayoutInput:
    return PayoutInput(
        payout_id=uuid.uuid4().hex,
        user_id=user,
        method_id="m1",
        kind=PayoutMethodKind.PAYPAL,
        account="me@example.com",
        account_masked="m***@example.com",
        amount=AMOUNT,
        fee=0,
        currency="USD",
        policy=POLICY,
        security_hold_until=hold_until,
    )


async def _ask(client: Client, task_queue: str, payout: PayoutInput):
    handle = await client.start_workflow(
        PayoutWorkflow.run, payout, id=ids.payout(payout.payout_id), task_queue=task_queue
    )
    command = PartyCommand(actor=Actor(user_id=payout.user_id, role=Role.EXPERT))
    return handle, handle.execute_update(PayoutWorkflow.reserve, command)


@pytest.mark.rules("P3", "L5")
async def test_p3_the_method_hold_ends_to_the_second_on_the_payouts_clock(
    env: WorkflowEnvironment, client: Client, task_queue: str, sessions
) -> None:
    user = f"expert-{uuid.uuid4().hex[:10]}"
    credit(sessions, accounts.expert_available(user), AMOUNT)
    added = await env.get_current_time()
    hold_until = rules.security_hold_until(added, POLICY)
    assert hold_until == added + timedelta(days=3)

    await env.sleep(timedelta(days=3) - timedelta(seconds=1))
    early, reserving = await _ask(client, task_queue, _payout(user, hold_until))
    refused = await refusal(reserving)
    assert refused.type == Refusal.CONFLICT
    assert f"{hold_until:%Y-%m-%d %H:%M:%S} UTC" in refused.message
    # Refused, the payout ends at once, saying why; nothing left the balance.
    ended: PayoutView = await early.result()
    assert (ended.status, ended.failure) == (PayoutStatus.REFUSED, refused.message)
    assert balance(sessions, accounts.expert_available(user)) == AMOUNT

    await env.sleep(timedelta(seconds=1))
    on_time, reserving = await _ask(client, task_queue, _payout(user, hold_until))
    assert (await reserving).status == PayoutStatus.PENDING
    paid: PayoutView = await on_time.result()
    assert paid.status == PayoutStatus.PAID
    assert balance(sessions, accounts.expert_available(user)) == 0


@pytest.mark.rules("L5")
async def test_l5_a_payout_of_more_than_is_available_is_refused_and_says_so(client: Client, task_queue: str, sessions):
    user = f"expert-{uuid.uuid4().hex[:10]}"
    credit(sessions, accounts.expert_available(user), AMOUNT - 1)
    handle, reserving = await _ask(client, task_queue, _payout(user, hold_until=datetime(2000, 1, 1, tzinfo=UTC)))
    refused = await refusal(reserving)
    assert refused.type == Refusal.INSUFFICIENT_FUNDS and "(L5)" in refused.message
    ended: PayoutView = await handle.result()
    assert (ended.status, ended.failure) == (PayoutStatus.REFUSED, refused.message)
    assert balance(sessions, accounts.expert_available(user)) == AMOUNT - 1

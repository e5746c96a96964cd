"""M10: claims on money already released. One claim at a time on any money: a refund
of released money, open or paid, leaves only the rest to dispute; a refund or dispute
reaches the money still on hold; every refund counts in `refunded`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrow import accounts
from escrow.models import (
    AwaitClaim,
    ClaimStatus,
    DisputeOutcome,
    EscalateRefund,
    Fund,
    OpenDispute,
    RefundAnswer,
    Release,
)
from tests.support import balance, eventually, finished, funded, refusal
from tests.test_refund import ask, claim_status, sleep_until
from workflows.milestone import MilestoneWorkflow as MW
from workflows.refund import RefundRequestWorkflow as RW

pytestmark = pytest.mark.usefixtures("worker")


async def released(client, task_queue, amount=50_000):
    deal, milestone = await funded(client, task_queue, amount)
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=amount))
    return deal, milestone, view


def dispute(deal, amount, reason="defects found after release"):
    return OpenDispute(actor=deal.client_actor, amount=amount, reason=reason)


@pytest.mark.rules("M10", "L4")
async def test_m10_a_refunded_part_cannot_be_disputed_again(client, task_queue, sessions, env):
    """Release 500.00, the expert refunds 200.00, then the client disputes the full
    500.00: once this was accepted and won by silence, leaving the client 700.00."""
    deal, milestone, view = await released(client, task_queue)
    await sleep_until(env, deal, milestone, view.paid_at + timedelta(days=6))
    claim, refund = await ask(deal, milestone, 20_000)
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    after = await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert (after.funded, after.released, after.refunded, after.escrow) == (50_000, 30_000, 20_000, 0)

    err = await refusal(milestone.execute_update(MW.open_dispute, dispute(deal, 50_000)))
    assert err.type == "Conflict" and "300.00" in str(err)
    await milestone.execute_update(MW.open_dispute, dispute(deal, 30_000))
    # Nothing the client could win is more than the 500.00 it paid.
    view = await deal.state(milestone)
    assert view.refunded + view.escrow == 50_000
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 0


@pytest.mark.rules("M10", "D1", "L3")
async def test_m10_an_open_refund_of_released_money_holds_it_against_a_dispute(client, task_queue, sessions, env):
    """Two milestones of one expert: a refund request and a dispute of the same released
    money would, once both are paid, take the other milestone's earnings too."""
    deal, first, view = await released(client, task_queue)
    second = await deal.add_milestone(50_000)
    await second.execute_update(MW.fund, Fund(actor=deal.client_actor))
    await second.execute_update(MW.release, Release(actor=deal.client_actor, amount=50_000))
    await sleep_until(env, deal, first, view.paid_at + timedelta(days=6))
    expert = deal.expert_actor.user_id
    assert balance(sessions, accounts.expert_available(expert)) == 100_000

    claim, refund = await ask(deal, first, 50_000)
    err = await refusal(first.execute_update(MW.open_dispute, dispute(deal, 50_000)))
    assert err.type == "Conflict"
    err = await refusal(first.execute_update(MW.open_dispute, dispute(deal, 1)))
    assert err.type == "Conflict"
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    await claim_status(deal, first, claim.id, ClaimStatus.SETTLED)
    # The second milestone's 500.00 is still the expert's.
    assert balance(sessions, accounts.expert_available(expert)) == 50_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 50_000


@pytest.mark.rules("M10", "R4", "M9", "L5")
async def test_m10_escalating_inside_the_hold_reaches_the_pending_money(client, task_queue, sessions, env):
    """A declined refund of released money escalates while the release is still in
    its 5-day hold: the disputed part comes back from the hold, the rest stays on hold
    until the same instant."""
    deal, milestone, view = await released(client, task_queue)
    expert = deal.expert_actor.user_id
    hold = view.holds[0]
    claim, refund = await ask(deal, milestone, 20_000)
    await refund.execute_update(RW.decline, RefundAnswer(actor=deal.expert_actor, message="it was delivered"))
    await claim_status(deal, milestone, claim.id, ClaimStatus.DECLINED)
    opened = await milestone.execute_update(
        MW.escalate_refund, EscalateRefund(actor=deal.client_actor, refund_id=claim.id)
    )

    view = await deal.state(milestone)
    assert (view.escrow, view.frozen, view.released, view.refunded) == (20_000, 20_000, 30_000, 0)
    assert balance(sessions, accounts.expert_pending(expert)) == 30_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 20_000
    pending = [h for h in view.holds if not h.settled]
    assert [(h.amount, h.available_at) for h in pending] == [(30_000, hold.available_at)]

    # The hold ends as it would have; the rest becomes available then, not before.
    await sleep_until(env, deal, milestone, hold.available_at - timedelta(hours=1))
    assert balance(sessions, accounts.expert_available(expert)) == 0
    # The expert stays silent in stage 1: the client wins the disputed 200.00 (D2).
    dispute_handle = client.get_workflow_handle(f"dispute:{opened.id}", result_type=DisputeOutcome)
    await finished(env, dispute_handle)
    view = await eventually(lambda: _settled(deal, milestone, opened.id), "the dispute's outcome to be paid")
    assert (view.funded, view.released, view.refunded, view.escrow) == (50_000, 30_000, 20_000, 0)
    await sleep_until(env, deal, milestone, hold.available_at + timedelta(hours=1))
    await eventually(lambda: _available(sessions, expert, 30_000), "the re-held 300.00 to become available")
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 20_000


@pytest.mark.rules("M10", "L3")
async def test_m10_a_refund_of_released_money_is_paid_from_the_hold(client, task_queue, sessions, env):
    """Approved inside the hold, the refund is paid from the pending money (it used to be
    marked unpaid because the available balance was still empty)."""
    deal, milestone, view = await released(client, task_queue)
    claim, refund = await ask(deal, milestone, 15_000)
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    after = await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED, ClaimStatus.UNPAID)
    assert after.claim(claim.id).status == ClaimStatus.SETTLED
    assert (after.released, after.refunded) == (35_000, 15_000)
    assert balance(sessions, accounts.expert_pending(deal.expert_actor.user_id)) == 35_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 15_000


@pytest.mark.rules("M10")
async def test_await_claim_answers_once_the_outcome_is_paid(client, task_queue, env):
    deal, milestone, view = await released(client, task_queue)
    claim, refund = await ask(deal, milestone, 10_000)
    err = await refusal(milestone.execute_update(MW.await_claim, _wait("no-such-claim")))
    assert err.type == "NotFound"
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    view = await milestone.execute_update(MW.await_claim, _wait(claim.id))
    assert view.claim(claim.id).status == ClaimStatus.SETTLED and view.refunded == 10_000


def _wait(claim_id):
    return AwaitClaim(claim_id=claim_id)


async def _settled(deal, milestone, claim_id):
    view = await deal.state(milestone)
    claim = view.claim(claim_id)
    return view if claim and claim.status == ClaimStatus.SETTLED else None


async def _available(sessions, expert, amount):
    return balance(sessions, accounts.expert_available(expert)) == amount

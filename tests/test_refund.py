"""Refund requests before release (R1–R5) and after it (M10), with the money checked in
the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from escrow import accounts
from escrow.db.models import OutboxMessage
from escrow.models import (
    Actor,
    ClaimStatus,
    MilestoneStatus,
    OpenDispute,
    RefundAnswer,
    RefundPhase,
    RefundStatus,
    RefundView,
    Release,
    RequestRefund,
    Role,
    Submit,
)
from tests.support import (
    at,
    balance,
    eventually,
    finished,
    funded,
    refusal,
    refused_or_closed,
)
from workflows.milestone import MilestoneWorkflow as MW
from workflows.refund import RefundRequestWorkflow as RW

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = Actor(user_id="op-1", role=Role.OPERATOR)


async def ask(deal, milestone, amount, message="not what we agreed"):
    claim: RefundView = await milestone.execute_update(
        MW.request_refund, RequestRefund(actor=deal.client_actor, amount=amount, message=message)
    )
    return claim, deal.client.get_workflow_handle(f"refund:{claim.id}", result_type=RefundView)


async def claim_status(deal, milestone, claim_id, *statuses):
    async def check():
        view = await deal.state(milestone)
        claim = view.claim(claim_id)
        return view if claim and claim.status in statuses else None

    return await eventually(check, f"claim {claim_id} to become {statuses}")


@pytest.mark.rules("R1", "R2", "R3", "R5", "L4")
async def test_r3_approved_full_refund_goes_to_the_clients_balance(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    claim, refund = await ask(deal, milestone, 50_000)
    request = await refund.query(RW.state)
    assert request.phase == RefundPhase.ESCROW and request.invoice_id  # R1: names the latest invoice
    assert request.deadline_at == request.requested_at + timedelta(days=7)
    assert (await deal.state(milestone)).frozen == 50_000

    answered = await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    assert answered.status == RefundStatus.APPROVED
    view = await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert (view.status, view.escrow, view.refunded, view.released) == (MilestoneStatus.COMPLETED, 0, 50_000, 0)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 50_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 0
    assert view.escrow == view.funded - view.released - view.refunded


@pytest.mark.rules("R3", "M9")
async def test_r3_partial_refund_pays_the_rest_to_the_expert(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 50_000)
    claim, refund = await ask(deal, milestone, 20_000)
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    view = await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert (view.refunded, view.released, view.escrow) == (20_000, 30_000, 0)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 20_000
    assert balance(sessions, accounts.expert_pending(deal.expert_actor.user_id)) == 30_000
    assert view.holds[0].amount == 30_000


@pytest.mark.rules("R2")
async def test_r2_silence_for_7_days_approves(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 40_000)
    claim, refund = await ask(deal, milestone, 40_000)
    decided = await finished(env, refund)
    assert decided.status == RefundStatus.APPROVED and decided.decided_by == "deadline"
    assert at(decided.decided_at, decided.requested_at + timedelta(days=7))
    await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 40_000


@pytest.mark.rules("R2")
async def test_r2_an_answer_after_7_days_is_refused(client, task_queue, env):
    deal, milestone = await funded(client, task_queue, 40_000)
    _, refund = await ask(deal, milestone, 10_000)
    await env.sleep(timedelta(days=7, minutes=1))
    await refused_or_closed(refund.execute_update(RW.decline, RefundAnswer(actor=deal.expert_actor)))
    assert (await finished(env, refund)).status == RefundStatus.APPROVED


@pytest.mark.rules("R4", "D1")
async def test_r4_decline_notifies_the_client_and_keeps_the_money_frozen_until_escalation_ends(
    client, task_queue, sessions, env
):
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    claim, refund = await ask(deal, milestone, 50_000)
    await refund.execute_update(RW.decline, RefundAnswer(actor=deal.expert_actor, message="work delivered"))
    view = await claim_status(deal, milestone, claim.id, ClaimStatus.DECLINED)
    assert view.frozen == 50_000 and view.claim(claim.id).escalate_until
    with sessions() as session:
        kinds = session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.user_id == deal.client_actor.user_id)
        ).all()
    assert "refund.declined" in kinds
    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=1)))
    assert err.type == "Conflict" and "frozen" in str(err)

    # Nobody escalates: the money is free again and, the review window having passed
    # meanwhile, auto-releases at once (M4).
    await env.sleep(timedelta(days=15))
    view = await claim_status(deal, milestone, claim.id, ClaimStatus.CLOSED)
    assert view.status == MilestoneStatus.COMPLETED and view.released == 50_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 0


@pytest.mark.rules("R1")
async def test_r1_refund_refusals(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 30_000)
    outsider = Actor(user_id="another-client", role=Role.CLIENT)
    cases = [
        (RequestRefund(actor=outsider, amount=1_000), "Forbidden"),
        (RequestRefund(actor=deal.expert_actor, amount=1_000), "Forbidden"),
        (RequestRefund(actor=deal.client_actor, amount=30_001), "Conflict"),
    ]
    for command, kind in cases:
        assert (await refusal(milestone.execute_update(MW.request_refund, command))).type == kind, command
    zero = {"actor": deal.client_actor.model_dump(mode="json"), "amount": 0}
    assert (await refusal(milestone.execute_update("request_refund", zero))).type == "Invalid"
    claim, refund = await ask(deal, milestone, 10_000)
    again = RequestRefund(actor=deal.client_actor, amount=5_000)
    assert (await refusal(milestone.execute_update(MW.request_refund, again))).type == "Conflict"
    assert (await refusal(refund.execute_update(RW.approve, RefundAnswer(actor=deal.client_actor)))).type == "Forbidden"
    # The one claim on the milestone is the request it answered, still open.
    (only,) = (await deal.state(milestone)).claims
    assert (only.id, only.kind, only.amount, only.status) == (claim.id, "refund", claim.amount, ClaimStatus.OPEN)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 0


async def paid(client, task_queue, amount=50_000):
    """A milestone released in full; returns the time the invoice was paid."""
    deal, milestone = await funded(client, task_queue, amount)
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=amount))
    return deal, milestone, view.paid_at


async def sleep_until(env, deal, milestone, moment):
    """Move the test server's clock to `moment`, as the milestone sees it."""
    await env.sleep(moment - await env.get_current_time())


@pytest.mark.rules("M10", "D1")
@pytest.mark.parametrize("day, allowed", [(30, True), (31, False)])
async def test_m10_dispute_on_released_money_only_for_30_days(client, task_queue, sessions, env, day, allowed):
    deal, milestone, paid_at = await paid(client, task_queue)
    await sleep_until(env, deal, milestone, paid_at + timedelta(days=day - 1, hours=23 if allowed else 1))
    command = OpenDispute(actor=deal.client_actor, amount=10_000, reason="defects found")
    if not allowed:
        err = await refusal(milestone.execute_update(MW.open_dispute, command))
        assert err.type == "Conflict" and "30 days" in str(err)
        return
    claim = await milestone.execute_update(MW.open_dispute, command)
    view = await deal.state(milestone)
    # The disputed money comes back from the expert into escrow, where it is frozen.
    assert (view.escrow, view.frozen, view.released) == (10_000, 10_000, 40_000)
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 10_000
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 40_000
    assert view.claim(claim.id).kind == "dispute"


@pytest.mark.rules("M10")
@pytest.mark.parametrize(
    "elapsed, phase_needs_operator",
    [
        (timedelta(days=179, hours=23), False),  # day 180: the expert's discretion
        (timedelta(days=180, hours=1), True),  # day 181: and an operator's
        (timedelta(days=364, hours=23), True),  # day 365
    ],
)
async def test_m10_refund_windows_after_release(client, task_queue, env, elapsed, phase_needs_operator):
    deal, milestone, paid_at = await paid(client, task_queue)
    await sleep_until(env, deal, milestone, paid_at + elapsed)
    _, refund = await ask(deal, milestone, 5_000)
    request = await refund.query(RW.state)
    assert request.phase == RefundPhase.AFTER_RELEASE
    assert request.needs_operator is phase_needs_operator


@pytest.mark.rules("M10")
async def test_m10_nothing_after_365_days(client, task_queue, env):
    deal, milestone, paid_at = await paid(client, task_queue)
    await sleep_until(env, deal, milestone, paid_at + timedelta(days=365, hours=1))
    # Past day 365 the milestone's workflow has ended: nothing can be asked of it.
    late = RequestRefund(actor=deal.client_actor, amount=5_000)
    await refused_or_closed(milestone.execute_update(MW.request_refund, late))
    assert (await finished(env, milestone)).status == MilestoneStatus.COMPLETED


@pytest.mark.rules("M10", "L3")
async def test_m10_refund_after_release_comes_from_the_experts_balance(client, task_queue, sessions, env):
    deal, milestone, paid_at = await paid(client, task_queue, 50_000)
    expert = deal.expert_actor.user_id
    await sleep_until(env, deal, milestone, paid_at + timedelta(days=10))
    assert balance(sessions, accounts.expert_available(expert)) == 50_000
    claim, refund = await ask(deal, milestone, 15_000)
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    view = await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert view.claim(claim.id).amount_to_client == 15_000
    assert balance(sessions, accounts.expert_available(expert)) == 35_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 15_000
    # Released money is the expert's: silence declines a later request.
    claim2, refund2 = await ask(deal, milestone, 1_000)
    assert (await finished(env, refund2)).status == RefundStatus.DECLINED


@pytest.mark.rules("M10")
async def test_m10_days_181_to_365_need_an_operator(client, task_queue, sessions, env):
    deal, milestone, paid_at = await paid(client, task_queue, 50_000)
    await sleep_until(env, deal, milestone, paid_at + timedelta(days=200))
    claim, refund = await ask(deal, milestone, 5_000)
    view = await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    assert view.status == RefundStatus.AWAITING_OPERATOR
    assert (await refusal(refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor)))).type == "Forbidden"
    await refund.execute_update(RW.approve, RefundAnswer(actor=OPERATOR))
    await claim_status(deal, milestone, claim.id, ClaimStatus.SETTLED)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 5_000

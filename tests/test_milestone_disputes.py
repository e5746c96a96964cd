"""Disputes on a milestone's escrow: the frozen amount, the usable rest, and the owner
paying out whatever the dispute decides (D1, D7, D8, R4), checked in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrow import accounts
from escrow.models import (
    AcceptOffer,
    Actor,
    ClaimStatus,
    DisputeView,
    EscalateRefund,
    MakeOffer,
    MilestoneStatus,
    OpenDispute,
    PartyCommand,
    RefundAnswer,
    Release,
    RequestRefund,
    Respond,
    Role,
    Submit,
    Verdict,
)
from tests.support import balance, eventually, funded, refusal
from workflows.dispute import DisputeWorkflow as DW
from workflows.milestone import MilestoneWorkflow as MW
from workflows.refund import RefundRequestWorkflow as RW

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = Actor(user_id="op-7", role=Role.OPERATOR)


async def settled(deal, milestone, claim_id):
    async def check():
        view = await deal.state(milestone)
        claim = view.claim(claim_id)
        return view if claim and claim.status == ClaimStatus.SETTLED else None

    return await eventually(check, f"dispute {claim_id} to be paid out")


@pytest.mark.rules("D1", "D2", "D7", "L3")
async def test_d1_disputed_amount_is_frozen_and_the_rest_stays_usable(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    claim = await milestone.execute_update(
        MW.open_dispute, OpenDispute(actor=deal.client_actor, amount=20_000, reason="half the drawings missing")
    )
    view = await deal.state(milestone)
    assert view.frozen == 20_000

    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_001)))
    assert err.type == "Conflict" and "frozen" in str(err)
    again = OpenDispute(actor=deal.expert_actor, amount=30_001, reason="same money")
    assert (await refusal(milestone.execute_update(MW.open_dispute, again))).type == "Conflict"
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_000))
    assert (view.escrow, view.frozen) == (20_000, 20_000)

    # D2, D7: the expert never answers within 3 days; the client wins the frozen amount.
    await env.sleep(timedelta(days=3, minutes=1))
    view = await settled(deal, milestone, claim.id)
    assert view.status == MilestoneStatus.COMPLETED and view.refunded == 20_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 20_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 0
    assert view.escrow == view.funded - view.released - view.refunded


@pytest.mark.rules("D1", "M4")
async def test_d1_auto_release_skips_the_frozen_amount_and_pays_it_when_the_dispute_ends(
    client, task_queue, sessions, env
):
    deal, milestone = await funded(client, task_queue, 40_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    claim = await milestone.execute_update(
        MW.open_dispute, OpenDispute(actor=deal.client_actor, amount=10_000, reason="late delivery")
    )
    dispute = client.get_workflow_handle(f"dispute:{claim.id}", result_type=DisputeView)
    await dispute.execute_update(DW.respond, Respond(actor=deal.expert_actor, message="delivered on time"))

    await env.sleep(timedelta(days=14, minutes=1))
    view = await deal.state(milestone)
    assert (view.released, view.escrow, view.frozen) == (30_000, 10_000, 10_000)  # M4 paid only the free part

    # D3: the parties settle on a 50/50 split.
    offer = await dispute.execute_update(DW.make_offer, MakeOffer(actor=deal.expert_actor, amount_to_client=5_000))
    await dispute.execute_update(DW.accept_offer, AcceptOffer(actor=deal.client_actor, offer_id=offer.offers[-1].id))
    view = await settled(deal, milestone, claim.id)
    assert (view.released, view.refunded, view.escrow) == (35_000, 5_000, 0)
    assert (
        balance(sessions, accounts.expert_pending(deal.expert_actor.user_id))
        + balance(sessions, accounts.expert_available(deal.expert_actor.user_id))
        == 35_000
    )


@pytest.mark.rules("R4", "D8", "D5")
async def test_r4_declined_refund_escalates_into_a_dispute_decided_by_verdict(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 30_000)
    refund_claim = await milestone.execute_update(
        MW.request_refund, RequestRefund(actor=deal.client_actor, amount=30_000, message="cancelled")
    )
    refund = client.get_workflow_handle(f"refund:{refund_claim.id}")
    await refund.execute_update(RW.decline, RefundAnswer(actor=deal.expert_actor, message="work was done"))

    async def declined():
        view = await deal.state(milestone)
        return view.claim(refund_claim.id).status == ClaimStatus.DECLINED

    await eventually(declined, "the decline to reach the milestone")
    dispute_claim = await milestone.execute_update(
        MW.escalate_refund, EscalateRefund(actor=deal.client_actor, refund_id=refund_claim.id)
    )
    view = await deal.state(milestone)
    assert view.claim(refund_claim.id).status == ClaimStatus.ESCALATED and view.frozen == 30_000
    dispute = client.get_workflow_handle(f"dispute:{dispute_claim.id}", result_type=DisputeView)
    await dispute.execute_update(DW.respond, Respond(actor=deal.expert_actor, message="see deliverables"))
    for party in (deal.client_actor, deal.expert_actor):
        await dispute.execute_update(DW.pay_fee, PartyCommand(actor=party))
    await dispute.execute_update(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=12_000, note="partly delivered"))

    view = await settled(deal, milestone, dispute_claim.id)
    assert (view.refunded, view.released, view.escrow) == (12_000, 18_000, 0)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 12_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 0

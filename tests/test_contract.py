"""Closing a fixed-rate contract (C1) and flagging zero-pay contracts (C2)."""

from __future__ import annotations

import pytest

from escrow import accounts
from escrow.models import (
    CloseContract,
    ContractStatus,
    ContractView,
    Fund,
    MilestoneStatus,
    Release,
    Remainder,
)
from tests.support import balance, eventually, finished, funded, open_contract, refusal
from workflows.contract import ContractWorkflow as CW
from workflows.milestone import MilestoneWorkflow as MW

pytestmark = pytest.mark.usefixtures("worker")


async def closed(deal) -> ContractView:
    async def check():
        view = await deal.contract.query(CW.state)
        return view if view.status == ContractStatus.CLOSED else None

    return await eventually(check, "the contract to close")


@pytest.mark.rules("C1", "C2")
async def test_c1_client_closes_releasing_the_rest(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 40_000)
    await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=10_000))
    unfunded = await deal.add_milestone(9_000, title="Later")
    view = await deal.contract.execute_update(
        CW.close, CloseContract(actor=deal.client_actor, remainder=Remainder.RELEASE)
    )
    assert view.status in (ContractStatus.CLOSING, ContractStatus.CLOSED)
    view = await closed(deal)
    assert view.zero_pay is False and view.escrow_total == 0 and view.released_total == 40_000
    assert (await deal.state(unfunded)).status == MilestoneStatus.CANCELLED
    assert balance(sessions, accounts.expert_pending(deal.expert_actor.user_id)) == 40_000
    err = await refusal(deal.add_milestone(5_000))
    assert err.type == "Conflict"


@pytest.mark.rules("C1", "C2", "R2")
async def test_c1_client_closes_by_refund_request_and_c2_flags_zero_pay(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 30_000)
    await deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor, remainder=Remainder.REFUND))

    async def refund_claim():
        return (await deal.state(milestone)).claims

    [claim] = await eventually(refund_claim, "the refund request")
    refund = client.get_workflow_handle(f"refund:{claim.id}")
    await finished(env, refund)  # the expert stays silent: R2 approves on day 7
    view = await closed(deal)
    assert view.zero_pay is True
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 30_000


@pytest.mark.rules("C1", "C2")
async def test_c1_expert_who_closes_gives_the_escrow_back(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 25_000)
    err = await refusal(
        deal.contract.execute_update(CW.close, CloseContract(actor=deal.expert_actor, remainder=Remainder.RELEASE))
    )
    assert err.type == "Forbidden"
    await deal.contract.execute_update(CW.close, CloseContract(actor=deal.expert_actor))
    view = await closed(deal)
    assert view.zero_pay is True
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 25_000
    assert (await deal.state(milestone)).refunded == 25_000


@pytest.mark.rules("C1")
async def test_c1_close_refusals(client, task_queue, env):
    deal, _ = await funded(client, task_queue, 25_000)
    err = await refusal(deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor)))
    assert err.type == "Invalid"  # the client must say what happens to the escrow
    stranger = deal.client_actor.model_copy(update={"user_id": "not-a-party"})
    err = await refusal(
        deal.contract.execute_update(CW.close, CloseContract(actor=stranger, remainder=Remainder.RELEASE))
    )
    assert err.type == "Forbidden"
    await deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor, remainder=Remainder.RELEASE))
    await closed(deal)
    err = await refusal(
        deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor, remainder=Remainder.RELEASE))
    )
    assert err.type == "Conflict"


async def test_contract_lists_its_milestones_money(client, task_queue):
    deal = await open_contract(client, task_queue)
    first = await deal.add_milestone(30_000)
    await deal.add_milestone(20_000, title="Second")
    await first.execute_update(MW.fund, Fund(actor=deal.client_actor))

    async def funded_shown():
        view = await deal.contract.query(CW.state)
        return view if view.escrow_total == 30_000 else None

    view = await eventually(funded_shown, "the contract to see the funding")
    assert [m.status for m in view.milestones] == [MilestoneStatus.IN_PROGRESS, MilestoneStatus.AGREED]

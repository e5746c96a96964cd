"""M6 on the time-skipping server: the remainder of a partial release funds a new
milestone of the same contract, moved escrow to escrow by the milestone that held it."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from escrow import accounts, ids
from escrow.db.models import Transfer
from escrow.models import (
    ApplyRemainder,
    CloseContract,
    ContractStatus,
    ContractView,
    MilestoneStatus,
    MilestoneView,
    Release,
    Remainder,
    Submit,
)
from tests.support import balance, eventually, funded, refusal
from workflows.contract import ContractWorkflow
from workflows.milestone import MilestoneWorkflow as MW

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("M6", "L4")
async def test_m6_the_remainder_funds_a_new_milestone_in_one_escrow_transfer(client, task_queue, sessions, env):
    deal, old = await funded(client, task_queue, 60_000)
    await old.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    # Only after a partial release; only the client.
    early = await refusal(old.execute_update(MW.apply_remainder, ApplyRemainder(actor=deal.client_actor, title="Next")))
    assert early.type == "Conflict"
    await old.execute_update(MW.release, Release(actor=deal.client_actor, amount=25_000))
    by_expert = await refusal(
        old.execute_update(MW.apply_remainder, ApplyRemainder(actor=deal.expert_actor, title="Next"))
    )
    assert by_expert.type == "Forbidden"

    new = await old.execute_update(
        MW.apply_remainder, ApplyRemainder(actor=deal.client_actor, title="Phase two", due_date=date(2026, 12, 1))
    )
    assert isinstance(new, MilestoneView)
    assert (new.status, new.amount, new.escrow, new.funded, new.funded_from) == (
        MilestoneStatus.IN_PROGRESS,
        35_000,
        35_000,
        35_000,
        (await deal.state(old)).id,
    )
    assert (new.contract_id, new.title, new.due_date) == (deal.contract_id, "Phase two", date(2026, 12, 1))

    first = await deal.state(old)
    assert (first.status, first.escrow, first.released, first.applied, first.applied_to) == (
        MilestoneStatus.COMPLETED,
        0,
        25_000,
        35_000,
        new.id,
    )
    second = client.get_workflow_handle(ids.milestone(new.id), result_type=MilestoneView)
    assert await deal.state(second) == new
    assert balance(sessions, accounts.milestone_escrow(first.id)) == 0
    assert balance(sessions, accounts.milestone_escrow(new.id)) == 35_000
    # Escrow to escrow: never through the client's balance.
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 0
    with sessions() as session:
        into_new = session.scalars(
            select(Transfer).where(Transfer.credit_account == accounts.milestone_escrow(new.id))
        ).all()
    [moved] = into_new
    assert (moved.debit_account, moved.amount, moved.kind) == (accounts.milestone_escrow(first.id), 35_000, "remainder")

    # The contract lists both; the old one is settled, the new one holds the money.
    async def listed() -> bool:
        contract = await deal.contract.query(ContractWorkflow.state)
        return {m.id: (m.settled, m.escrow) for m in contract.milestones} == {
            first.id: (True, 0),
            new.id: (False, 35_000),
        }

    await eventually(listed, "the contract to list the new milestone")

    # The new milestone runs as any funded one.
    await second.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    done = await second.execute_update(MW.release, Release(actor=deal.client_actor, amount=35_000))
    assert (done.status, done.escrow, done.released) == (MilestoneStatus.COMPLETED, 0, 35_000)
    assert done.funded == done.released + done.refunded + done.escrow

    await env.sleep(timedelta(days=6))
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 60_000
    # Nothing left to apply on the old milestone.
    again = await refusal(old.execute_update(MW.apply_remainder, ApplyRemainder(actor=deal.client_actor, title="x")))
    assert again.type == "Conflict"


@pytest.mark.rules("M6", "C1", "C2")
async def test_m6_a_remainder_applied_while_the_contract_closes_is_released_too(client, task_queue, sessions, env):
    """The client applies the remainder and closes the contract at once: whichever goes
    first, the contract closes once all the money has moved, none of it left in escrow."""
    deal, old = await funded(client, task_queue, 60_000)
    await old.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    await old.execute_update(MW.release, Release(actor=deal.client_actor, amount=25_000))

    async def apply() -> MilestoneView | str:
        try:
            return await old.execute_update(MW.apply_remainder, ApplyRemainder(actor=deal.client_actor, title="Next"))
        except WorkflowUpdateFailedError as err:
            return str(err.cause)

    close = deal.contract.execute_update(
        ContractWorkflow.close, CloseContract(actor=deal.client_actor, remainder=Remainder.RELEASE)
    )
    applied, _ = await asyncio.gather(apply(), close)

    async def closed() -> ContractView | None:
        view = await deal.contract.query(ContractWorkflow.state)
        return view if view.status == ContractStatus.CLOSED else None

    contract = await eventually(closed, "the contract to close")
    assert all(m.escrow == 0 and m.settled for m in contract.milestones), contract.milestones
    if isinstance(applied, MilestoneView):
        assert applied.id in {m.id for m in contract.milestones}
        assert balance(sessions, accounts.milestone_escrow(applied.id)) == 0
    assert sum(m.released for m in contract.milestones) == 60_000
    assert balance(sessions, accounts.milestone_escrow((await deal.state(old)).id)) == 0

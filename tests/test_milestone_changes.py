"""M8 milestone changes on the time-skipping server: proposed by one party, answered by
the other, never expiring; an approved increase funded into the same escrow, with the
money checked in the database; a removal by agreement of a milestone not yet funded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from escrow import accounts
from escrow.db.models import Transfer
from escrow.models import (
    AnswerChange,
    ChangeStatus,
    Fund,
    InvoiceKind,
    MilestoneStatus,
    ProposeChange,
    Submit,
)
from tests.support import at, balance, finished, funded, open_contract, refusal
from workflows.milestone import MilestoneWorkflow as MW

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("M8", "M2", "M4", "C4", "L4")
async def test_m8_an_approved_increase_is_funded_into_the_same_escrow(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 50_000)
    err = await refusal(
        milestone.execute_update(MW.propose_change, ProposeChange(actor=deal.expert_actor, amount=40_000))
    )
    assert err.type == "Conflict" and "only grow" in str(err)
    change = await milestone.execute_update(MW.propose_change, ProposeChange(actor=deal.expert_actor, amount=80_000))
    assert (change.status, change.proposed_by, change.amount) == (ChangeStatus.PROPOSED, "expert", 80_000)
    answer = AnswerChange(actor=deal.expert_actor, change_id=change.id)
    assert (await refusal(milestone.execute_update(MW.accept_change, answer))).type == "Forbidden"

    # Proposals do not expire.
    await env.sleep(timedelta(days=90))
    accepted = await milestone.execute_update(
        MW.accept_change, AnswerChange(actor=deal.client_actor, change_id=change.id)
    )
    assert accepted.status == ChangeStatus.ACCEPTED
    view = await deal.state(milestone)
    assert (view.amount, view.escrow, view.funded, view.status) == (80_000, 50_000, 50_000, MilestoneStatus.IN_PROGRESS)

    view = await milestone.execute_update(MW.fund, Fund(actor=deal.client_actor))
    assert (view.amount, view.escrow, view.funded, view.status) == (80_000, 80_000, 80_000, MilestoneStatus.IN_PROGRESS)
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 80_000
    with sessions() as session:
        funds = session.scalars(
            select(Transfer).where(
                Transfer.credit_account == accounts.milestone_escrow(view.id), Transfer.kind == "fund"
            )
        ).all()
    wf = f"milestone:{view.id}"
    assert sorted((t.id, t.amount) for t in funds)[0] == (f"{wf}:fund", 50_000)
    [top_up] = [t for t in funds if t.id != f"{wf}:fund"]
    assert top_up.id.startswith(f"{wf}:fund:") and top_up.amount == 30_000
    # Funded in full: nothing more to fund.
    assert (await refusal(milestone.execute_update(MW.fund, Fund(actor=deal.client_actor)))).type == "Conflict"

    submitted = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    [pro_forma] = submitted.invoices
    assert pro_forma.amount == 80_000
    assert pro_forma.clears_at == submitted.deadline_at + timedelta(days=5)  # C4
    final = await finished(env, milestone)
    assert (final.status, final.released, final.escrow) == (MilestoneStatus.COMPLETED, 80_000, 0)
    [invoice] = [i for i in final.invoices if i.kind == InvoiceKind.FINAL]
    assert at(invoice.clears_at, pro_forma.clears_at)  # C4: as the pro-forma foretold
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 80_000


@pytest.mark.rules("M8")
async def test_m8_a_milestone_not_yet_funded_is_removed_by_agreement(client, task_queue, env):
    deal, started = await funded(client, task_queue, 50_000)
    err = await refusal(started.execute_update(MW.propose_change, ProposeChange(actor=deal.client_actor, remove=True)))
    assert err.type == "Conflict" and "not yet funded" in str(err)

    future = await deal.add_milestone(30_000, title="Phase 2")
    change = await future.execute_update(MW.propose_change, ProposeChange(actor=deal.client_actor, remove=True))
    declined = await future.execute_update(
        MW.decline_change, AnswerChange(actor=deal.expert_actor, change_id=change.id)
    )
    assert declined.status == ChangeStatus.DECLINED
    assert (await deal.state(future)).status == MilestoneStatus.AGREED
    again = await future.execute_update(MW.propose_change, ProposeChange(actor=deal.client_actor, remove=True))
    await future.execute_update(MW.accept_change, AnswerChange(actor=deal.expert_actor, change_id=again.id))
    final = await finished(env, future)
    assert final.status == MilestoneStatus.CANCELLED
    assert [c.status for c in final.changes] == [ChangeStatus.DECLINED, ChangeStatus.ACCEPTED]


@pytest.mark.rules("M8")
async def test_m8_title_description_and_due_date_change_by_agreement(client, task_queue):
    deal = await open_contract(client, task_queue)
    milestone = await deal.add_milestone(30_000, title="Logo")
    change = await milestone.execute_update(
        MW.propose_change, ProposeChange(actor=deal.client_actor, title="Logo and icons", description="both")
    )
    await milestone.execute_update(MW.accept_change, AnswerChange(actor=deal.expert_actor, change_id=change.id))
    view = await deal.state(milestone)
    assert (view.title, view.description, view.amount) == ("Logo and icons", "both", 30_000)
    err = await refusal(
        milestone.execute_update(MW.accept_change, AnswerChange(actor=deal.expert_actor, change_id=change.id))
    )
    assert err.type == "Conflict"

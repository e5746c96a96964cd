"""Manual payments (P2, P5): held in the expert's pending balance, available at the
instant P5's table names, with the money checked in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from escrow import accounts, ids
from escrow.db.models import Transfer
from escrow.db.statement import contract_statement
from escrow.models import ContractView, PartyCommand
from escrow.models.payment import ManualPaymentInput, ManualPaymentView, PaymentKind, PaymentStatus
from escrow.policy import preset
from escrow.rules.payment import available_at
from escrow.statement import LineKind
from tests.support import at, balance, open_contract, refusal
from workflows.contract import ContractWorkflow
from workflows.payment import ManualPaymentWorkflow as PW

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("P2", "P5")
async def test_p5_a_manual_payment_is_held_then_available_at_its_instant(client, task_queue, sessions):
    deal = await open_contract(client, task_queue)
    expert = deal.expert_actor.user_id
    handle = await client.start_workflow(
        PW.run,
        ManualPaymentInput(
            payment_id=f"p-{deal.contract_id}",
            contract_id=deal.contract_id,
            client_id=deal.client_actor.user_id,
            expert_id=expert,
            currency="USD",
            amount=25_000,
            kind=PaymentKind.BONUS,
            memo="great work",
            policy=preset("cadcrowd"),
        ),
        id=ids.payment(f"p-{deal.contract_id}"),
        task_queue=task_queue,
    )
    error = await refusal(handle.execute_update(PW.confirm, PartyCommand(actor=deal.expert_actor)))
    assert error.type == "Forbidden" or "client" in error.message
    view: ManualPaymentView = await handle.execute_update(PW.confirm, PartyCommand(actor=deal.client_actor))
    assert view.status == PaymentStatus.HELD
    assert view.available_at == available_at(view.confirmed_at) == view.confirmed_at + timedelta(days=5)
    assert balance(sessions, accounts.expert_pending(expert)) == 25_000
    assert balance(sessions, accounts.expert_available(expert)) == 0

    done: ManualPaymentView = await handle.result()
    assert done.status == PaymentStatus.AVAILABLE
    assert balance(sessions, accounts.expert_pending(expert)) == 0
    assert balance(sessions, accounts.expert_available(expert)) == 25_000

    contract: ContractView = await deal.contract.query(ContractWorkflow.state)
    statement = contract_statement(sessions, contract)
    paid = next(line for line in statement.lines if line.kind == LineKind.MANUAL_PAYMENT)
    assert (paid.amount, paid.payment_kind, paid.payment_id) == (25_000, "bonus", view.id)
    assert paid.clears_at == view.available_at
    cleared = next(line for line in statement.lines if line.kind == LineKind.CLEARED)
    assert cleared.payment_id == view.id
    assert view.available_at <= cleared.at < view.available_at + timedelta(minutes=1)
    assert statement.reconciled


# P5's table: confirmed on (the weekday) → available on.
P5_TABLE = {
    "Monday": "Saturday",
    "Tuesday": "Sunday",
    "Wednesday": "Monday",
    "Thursday": "Tuesday",
    "Friday": "Wednesday",
    "Saturday": "Thursday",
    "Sunday": "Friday",
}


@pytest.mark.rules("P2", "P5")
async def test_p5_each_weekday_of_the_table_on_the_workflows_clock(env, client, task_queue, sessions):
    """One payment confirmed on each of seven days in a row; each becomes available
    on its table's weekday, not a second before its instant."""
    deal = await open_contract(client, task_queue)
    payments = []
    for day in range(7):
        handle = await client.start_workflow(
            PW.run,
            ManualPaymentInput(
                payment_id=f"p{day}-{deal.contract_id}",
                contract_id=deal.contract_id,
                client_id=deal.client_actor.user_id,
                expert_id=deal.expert_actor.user_id,
                currency="USD",
                amount=1_000 + day,
                kind=PaymentKind.EXPENSE,
                memo=f"receipts of day {day}",
                policy=preset("cadcrowd"),
            ),
            id=ids.payment(f"p{day}-{deal.contract_id}"),
            task_queue=task_queue,
        )
        view: ManualPaymentView = await handle.execute_update(PW.confirm, PartyCommand(actor=deal.client_actor))
        payments.append((handle, view))
        await env.sleep(timedelta(days=1))
    assert sorted(P5_TABLE[v.confirmed_at.strftime("%A")] for _, v in payments) == sorted(P5_TABLE.values())

    for handle, view in payments:
        assert view.available_at.strftime("%A") == P5_TABLE[view.confirmed_at.strftime("%A")]
        assert view.available_at - view.confirmed_at == timedelta(days=5)
        now = await env.get_current_time()
        if now < view.available_at - timedelta(seconds=1):
            await env.sleep(view.available_at - timedelta(seconds=1) - now)
            assert (await handle.query(PW.state)).status == PaymentStatus.HELD
        done: ManualPaymentView = await handle.result()
        assert done.status == PaymentStatus.AVAILABLE
        with sessions() as session:
            settled = session.scalars(select(Transfer.posted_at).where(Transfer.settles == view.transfer_id)).all()
        assert len(settled) == 1 and at(settled[0], view.available_at)

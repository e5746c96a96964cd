"""P4, L2, L5: a payout whose worker loses its work at the worst moments pays once.

Two losses, on an in-process worker of its own task queue: the gateway pays, but the
activity's completion is lost (the attempt fails as a killed worker's would, and
Temporal retries it: the payout's key makes the provider answer the same payout); and
the step that pays the money out commits, but its completion is lost the same way
(the retried step finds its transfers posted and adds nothing). tests/test_crash_recovery.py
kills a real worker process right after the provider paid.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities.steps import StepActivities
from escrow import accounts, ids
from escrow.db import ledger
from escrow.db.models import Transfer
from escrow.models import (
    Actor,
    PartyCommand,
    PayoutInput,
    PayoutMethodKind,
    PayoutStatus,
    PayoutView,
    Role,
    Step,
)
from escrow.payouts import PayoutRequest, PayoutResult, SandboxPayoutGateway
from escrow.policy import preset
from tests.support import credit
from worker import build_worker
from workflows.payout import PayoutWorkflow

AMOUNT = 70_000
WAIT = 20.0


class LosesFirstAnswer(SandboxPayoutGateway):
    """Pays, then loses the answer of its first call, as a worker killed right after
    the provider accepted the payout would."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def send(self, request: PayoutRequest) -> PayoutResult:
        result = super().send(request)
        self.calls.append(request.key)
        if len(self.calls) == 1:
            raise RuntimeError("the worker died before reporting the payout")
        return result


@pytest.mark.rules("P4", "L2", "L5")
async def test_a_payout_whose_worker_loses_its_work_pays_once(client: Client, sessions: sessionmaker[Session]):
    user = f"expert-{uuid.uuid4().hex[:10]}"
    payout_id = uuid.uuid4().hex
    credit(sessions, accounts.expert_available(user), AMOUNT)
    lost: list[str] = []

    def lose_the_paid_step_once(step: Step) -> None:
        if any(t.kind == "payout.paid" for t in step.transfers) and not lost:
            lost.append(step.transfers[0].id)
            raise RuntimeError("the worker died after the payout step committed")

    gateway = LosesFirstAnswer()
    task_queue = f"payout-{uuid.uuid4().hex[:8]}"
    steps = StepActivities(sessions, after_commit=lose_the_paid_step_once)
    async with build_worker(client, sessions, task_queue, activities=steps, payout_gateway=gateway):
        start = PayoutInput(
            payout_id=payout_id,
            user_id=user,
            method_id="m1",
            kind=PayoutMethodKind.PAYPAL,
            account="me@example.com",
            account_masked="m***@example.com",
            amount=AMOUNT,
            fee=0,
            currency="USD",
            policy=preset("cadcrowd"),
            security_hold_until=datetime.now(UTC) - timedelta(days=1),
        )
        handle = await client.start_workflow(PayoutWorkflow.run, start, id=ids.payout(payout_id), task_queue=task_queue)
        reserved = await asyncio.wait_for(
            handle.execute_update(PayoutWorkflow.reserve, PartyCommand(actor=Actor(user_id=user, role=Role.EXPERT))),
            WAIT,
        )
        assert reserved.status == PayoutStatus.PENDING
        done: PayoutView = await asyncio.wait_for(handle.result(), WAIT)

    assert done.status == PayoutStatus.PAID
    assert lost and gateway.calls == [ids.payout(payout_id)] * 2  # sent again under the same key
    held = accounts.payout(user, payout_id)
    with sessions() as session:
        moved = session.scalars(
            select(Transfer.kind).where(or_(Transfer.debit_account == held, Transfer.credit_account == held))
        ).all()
        assert sorted(moved) == ["payout.paid", "payout.reserve"]
        assert ledger.balance(session, held) == 0
        assert ledger.balance(session, accounts.expert_available(user)) == 0
        paid_out = session.scalar(
            select(func.count()).where(
                Transfer.credit_account == accounts.WORLD_PAYOUTS, Transfer.debit_account == held
            )
        )
        assert paid_out == 1

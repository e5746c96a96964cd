"""Re-record the workflow histories that tests/test_replay.py replays.

    .venv/bin/python -m tests.histories.record

Runs each main path of the engine with the real worker on a time-skipping server and
a throwaway SQLite ledger, then writes the history of every workflow it touched as
`tests/histories/<path>.<WorkflowType>.json`. Re-record only when a change is meant to
be incompatible with running workflows AND none can still be running (see the README,
"Changing workflow code safely"): a replay failure is otherwise the test doing its job.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from escrow import ids
from escrow.calendar import BillingWeek, iso_week
from escrow.db.engine import make_sessionmaker
from escrow.models import (
    Actor,
    CloseContract,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    EntryKind,
    HourlyWeekView,
    LogTime,
    OpenDispute,
    PartyCommand,
    PaymentStatus,
    PayoutInput,
    PayoutMethodKind,
    Remainder,
    RequestRefund,
    Respond,
    Role,
    SetPaymentMethod,
    Submit,
    Verdict,
)
from escrow.models.payment import ManualPaymentInput, PaymentKind
from escrow.payments import SANDBOX_DECLINED, SANDBOX_SUCCEEDS
from escrow.policy import preset
from tests.conftest import TASK_QUEUE, fresh_database, start_test_server
from tests.support import eventually, finished, funded
from worker import build_worker
from workflows.contract import ContractWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.hourly_week import HourlyWeekWorkflow
from workflows.milestone import MilestoneWorkflow
from workflows.payment import ManualPaymentWorkflow
from workflows.payout import PayoutWorkflow

HERE = Path(__file__).parent
OPERATOR = Actor(user_id="op-1", role=Role.OPERATOR)

Path_ = Callable[[WorkflowEnvironment], Awaitable[list[WorkflowHandle]]]


async def ended(env: WorkflowEnvironment, time: timedelta, *handles: WorkflowHandle) -> None:
    """Move the clock on by `time`, then wait until the `handles` have completed. Not
    `result()`: the workflows of a path wait on one another, and it could skip a year."""
    await env.sleep(time)

    async def completed() -> bool:
        for handle in handles:
            history = await env.client.get_workflow_handle(handle.id).fetch_history()
            if history.events[-1].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                return False
        return True

    await eventually(completed, "the path's workflows to complete")


async def milestone_auto_release(env: WorkflowEnvironment) -> list[WorkflowHandle]:
    """M4, M9: submitted, auto-released after the review window, held, then available;
    the expert pays part of it out (P4, L5)."""
    deal, milestone = await funded(env.client, TASK_QUEUE, 50_000)
    await milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=deal.expert_actor))
    await finished(env, milestone)
    payout_id = f"po-{deal.contract_id}"
    payout = await env.client.start_workflow(
        PayoutWorkflow.run,
        PayoutInput(
            payout_id=payout_id,
            user_id=deal.expert_actor.user_id,
            method_id="m1",
            kind=PayoutMethodKind.PAYPAL,
            account="me@example.com",
            account_masked="m***@example.com",
            amount=20_000,
            fee=0,
            currency="USD",
            policy=preset("cadcrowd"),
            security_hold_until=datetime(2000, 1, 1, tzinfo=UTC),
        ),
        id=ids.payout(payout_id),
        task_queue=TASK_QUEUE,
    )
    await payout.execute_update(PayoutWorkflow.reserve, PartyCommand(actor=deal.expert_actor))
    await payout.result()
    return [deal.contract, milestone, payout]


async def refund_silence_approved(env: WorkflowEnvironment) -> list[WorkflowHandle]:
    """R1, R2, R3: the client asks for a refund; the expert stays silent for 7 days."""
    deal, milestone = await funded(env.client, TASK_QUEUE, 40_000)
    claim = await milestone.execute_update(
        MilestoneWorkflow.request_refund,
        RequestRefund(actor=deal.client_actor, amount=40_000, message="not what we agreed"),
    )
    refund = env.client.get_workflow_handle(ids.refund(claim.id))
    await finished(env, refund)
    await finished(env, milestone)
    return [milestone, refund]


async def dispute_to_verdict(env: WorkflowEnvironment) -> list[WorkflowHandle]:
    """D1–D5: a dispute on a submitted milestone, answered, both fees paid, decided."""
    deal, milestone = await funded(env.client, TASK_QUEUE, 30_000)
    await milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=deal.expert_actor))
    claim = await milestone.execute_update(
        MilestoneWorkflow.open_dispute, OpenDispute(actor=deal.client_actor, amount=30_000, reason="half missing")
    )
    dispute = env.client.get_workflow_handle(ids.dispute(claim.id))
    await dispute.execute_update(DisputeWorkflow.respond, Respond(actor=deal.expert_actor, message="all there"))
    await dispute.execute_update(DisputeWorkflow.pay_fee, PartyCommand(actor=deal.client_actor))
    await dispute.execute_update(DisputeWorkflow.pay_fee, PartyCommand(actor=deal.expert_actor))
    await dispute.execute_update(DisputeWorkflow.verdict, Verdict(actor=OPERATOR, amount_to_client=10_000))
    await dispute.result()
    await finished(env, milestone)
    return [milestone, dispute]


async def hourly_failed_charge(env: WorkflowEnvironment) -> list[WorkflowHandle]:
    """H1–H3, H6, H7: a week billed on a declined card, the contract on hold, a new
    card charged, the week paid out."""
    now = await env.get_current_time()
    week = BillingWeek.of(iso_week(now + timedelta(days=7)))
    contract_id = f"h-{week.week}"
    client = Actor(user_id="client-h", role=Role.CLIENT)
    expert = Actor(user_id="expert-h", role=Role.EXPERT)
    await env.sleep(week.starts_at + timedelta(seconds=1) - now)
    contract = await env.client.start_workflow(
        ContractWorkflow.run,
        ContractInput(
            contract_id=contract_id,
            client_id=client.user_id,
            expert_id=expert.user_id,
            type=ContractType.HOURLY,
            currency="USD",
            hourly_rate=6_000,
            payment_method=SANDBOX_DECLINED,
            policy=preset("cadcrowd"),
        ),
        id=ids.contract(contract_id),
        task_queue=TASK_QUEUE,
    )
    handle = env.client.get_workflow_handle(ids.week(contract_id, week.week), result_type=HourlyWeekView)

    async def week_view(check: Callable[[HourlyWeekView], bool]) -> HourlyWeekView | None:
        try:
            view = await handle.query(HourlyWeekWorkflow.state)
        except Exception:  # not started yet
            return None
        return view if check(view) else None

    await eventually(lambda: week_view(lambda v: True), "the week to open")
    await env.sleep(timedelta(hours=9))
    await handle.execute_update(
        HourlyWeekWorkflow.log_time,
        LogTime(actor=expert, started_at=week.starts_at + timedelta(hours=1), minutes=60, kind=EntryKind.MANUAL),
    )
    now = await env.get_current_time()
    await env.sleep(week.billed_at + timedelta(seconds=1) - now)
    await eventually(lambda: week_view(lambda v: v.payment_status == PaymentStatus.FAILING), "the declined charge")

    async def on_hold() -> bool:
        view: ContractView = await contract.query(ContractWorkflow.state)
        return view.status == ContractStatus.ON_HOLD

    await eventually(on_hold, "the contract on hold")
    await contract.execute_update(
        ContractWorkflow.set_payment_method, SetPaymentMethod(actor=client, payment_method=SANDBOX_SUCCEEDS)
    )
    await eventually(lambda: week_view(lambda v: v.payment_status == PaymentStatus.PAID), "the charge on the new card")
    await contract.execute_update(ContractWorkflow.close, CloseContract(actor=client, remainder=Remainder.RELEASE))
    # The week bills what was logged, runs its review and hold, and pays the expert.
    await finished(env, handle)
    return [contract, handle]


async def contract_closed(env: WorkflowEnvironment) -> list[WorkflowHandle]:
    """C1, C2, V1, P2, P5: a bonus paid by hand, then the client closes the contract,
    releasing the rest; the reviews open."""
    deal, milestone = await funded(env.client, TASK_QUEUE, 40_000)
    payment_id = f"p-{deal.contract_id}"
    payment = await env.client.start_workflow(
        ManualPaymentWorkflow.run,
        ManualPaymentInput(
            payment_id=payment_id,
            contract_id=deal.contract_id,
            client_id=deal.client_actor.user_id,
            expert_id=deal.expert_actor.user_id,
            currency="USD",
            amount=2_500,
            kind=PaymentKind.BONUS,
            memo="thanks",
            policy=preset("cadcrowd"),
        ),
        id=ids.payment(payment_id),
        task_queue=TASK_QUEUE,
    )
    await payment.execute_update(ManualPaymentWorkflow.confirm, PartyCommand(actor=deal.client_actor))
    await deal.contract.execute_update(
        ContractWorkflow.close, CloseContract(actor=deal.client_actor, remainder=Remainder.RELEASE)
    )
    reviews = env.client.get_workflow_handle(ids.reviews(deal.contract_id))
    # Reviews end 28 days after the close; the milestone and the contract stay open for
    # refunds and disputes after release (M10), so their histories stop there.
    await ended(env, timedelta(days=30), payment, reviews)
    return [deal.contract, milestone, payment, reviews]


PATHS: dict[str, Path_] = {
    path.__name__: path
    for path in (
        milestone_auto_release,
        refund_silence_approved,
        dispute_to_verdict,
        hourly_failed_charge,
        contract_closed,
    )
}


async def write(client: Client, name: str, handles: list[WorkflowHandle]) -> list[Path]:
    written = []
    for handle in handles:
        history = await client.get_workflow_handle(handle.id).fetch_history()
        kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
        target = HERE / f"{name}.{kind}.json"
        target.write_text(json.dumps(history.to_json_dict(), separators=(",", ":")))
        written.append(target)
    return written


async def record() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = fresh_database(f"sqlite:///{tmp}/ledger.db")
        sessions = make_sessionmaker(engine)
        for name, path in PATHS.items():
            # One server per path: each path moves the clock as far as it needs.
            env = await start_test_server()
            try:
                async with build_worker(env.client, sessions, TASK_QUEUE):
                    handles = await path(env)
                for target in await write(env.client, name, handles):
                    print(f"{target.relative_to(HERE.parent.parent)}  {target.stat().st_size // 1024} KiB")
            finally:
                await env.shutdown()
        engine.dispose()
    print(f"recorded at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    asyncio.run(record())

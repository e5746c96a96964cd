"""L2, M9, P4: a worker killed between the ledger write and the workflow's next step; the
retried activity finds the money already moved and moves it no second time. And a
worker killed after the payout provider paid: the retried send is told of that payout.

The milestone runs on a worker in a subprocess (tests/crashing_worker.py) that calls
`os._exit(137)` right after the release step commits: the money moved, but Temporal never
hears that the activity finished. A fresh in-process worker then gets the retry.

What makes Temporal retry: in production, the lost attempt's start-to-close timeout.
The time-skipping test server keeps its clock locked while an activity is open, so that
timeout passes in real time (10 s, `POST_STEP_TIMEOUT`); the `timeout` case waits for it and runs only with
ESCROW_SLOW_TESTS=1. The default `attempt-failed` case does what the timeout would, at
once: it reports the lost attempt as failed (retryably), and Temporal retries it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from escrow import accounts, ids
from escrow.db import ledger
from escrow.db.models import AuditEvent, Invoice, Milestone, OutboxMessage, SandboxPayout, Transfer
from escrow.models import (
    Actor,
    Fund,
    InvoiceKind,
    MilestoneStatus,
    MilestoneView,
    PartyCommand,
    PayoutInput,
    PayoutMethodKind,
    PayoutStatus,
    PayoutView,
    Release,
    Role,
    Submit,
)
from escrow.policy import preset
from tests.support import Deal, credit, open_contract
from worker import build_worker
from workflows.milestone import MilestoneWorkflow
from workflows.payout import PayoutWorkflow

CRASHING_WORKER = Path(__file__).with_name("crashing_worker.py")
CRASH_STATUS = 137
AMOUNT = 80_000
WAIT = 20.0  # seconds of real time any one step may take, generously


@pytest.fixture
async def crashing_worker(
    request: pytest.FixtureRequest, env: WorkflowEnvironment, db_url: str, engine: object
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A worker subprocess on a task queue of its own (so the session worker never
    takes these tasks), on the migrated test database, that dies at the moment the
    test names (indirect parameter; `release` by default); yields (task queue, process)."""
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CRASHING_WORKER),
        env.client.service_client.config.target_host,
        env.client.namespace,
        db_url,
        task_queue,
        getattr(request, "param", "release"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)  # type: ignore[union-attr]
        assert line.strip() == b"polling", (line + await _output(process)).decode()
        yield task_queue, process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _output(process: asyncio.subprocess.Process) -> bytes:
    try:
        return await asyncio.wait_for(process.stdout.read(), 5)  # type: ignore[union-attr]
    except TimeoutError:
        return b""


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), seconds)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _terminate(*handles: WorkflowHandle) -> None:
    """Leave nothing running on a task queue that no worker will poll again: a task
    scheduled there later would hold the test server's clock for every later test.
    The contract first, so that the milestone's end schedules no task for it."""
    for handle in handles:
        try:
            await handle.terminate(reason="end of test")
        except RPCError:
            pass  # already closed


async def _story(handle: WorkflowHandle) -> str:
    """The workflow's last events and pending activities, for a failure message."""
    history = await handle.fetch_history()
    description = await handle.describe()
    events = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events[-12:]]
    pending = [(a.activity_id, a.state, a.attempt) for a in description.raw_description.pending_activities]
    return f"last events: {events}\npending activities: {pending}"


def _escrow_side(sessions: sessionmaker[Session], milestone_id: str) -> tuple[list[tuple[str, str, int]], int, int]:
    """(transfers touching the milestone's escrow, escrow in the read model, escrow
    account balance)."""
    escrow = accounts.milestone_escrow(milestone_id)
    with sessions() as session:
        transfers = session.scalars(
            select(Transfer)
            .where(or_(Transfer.debit_account == escrow, Transfer.credit_account == escrow))
            .order_by(Transfer.posted_at, Transfer.id)
        )
        rows = [(t.id, t.kind, t.amount) for t in transfers]
        read_model = session.get(Milestone, milestone_id)
        assert read_model is not None
        return rows, read_model.escrow, ledger.balance(session, escrow)


def _expert_side(sessions: sessionmaker[Session], expert: str) -> tuple[int, int]:
    with sessions() as session:
        return ledger.balance(session, accounts.expert_pending(expert)), ledger.balance(
            session, accounts.expert_available(expert)
        )


@pytest.mark.rules("L2", "L4", "M9")
@pytest.mark.parametrize(
    "recovery",
    [
        "attempt-failed",
        pytest.param(
            "timeout",
            marks=pytest.mark.skipif(
                not os.environ.get("ESCROW_SLOW_TESTS"),
                reason="waits the activity's start-to-close timeout in real time; set ESCROW_SLOW_TESTS=1",
            ),
        ),
    ],
)
async def test_a_worker_killed_after_the_release_commits_moves_the_money_once(
    recovery: str,
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    crashing_worker: tuple[str, asyncio.subprocess.Process],
) -> None:
    task_queue, process = crashing_worker
    deal: Deal = await open_contract(client, task_queue)
    milestone = await asyncio.wait_for(deal.add_milestone(amount=AMOUNT), WAIT)
    try:
        await _crash_and_recover(recovery, env, client, sessions, deal, milestone, process)
    finally:
        await _terminate(deal.contract, milestone)


async def _crash_and_recover(
    recovery: str,
    env: WorkflowEnvironment,
    client: Client,
    sessions: sessionmaker[Session],
    deal: Deal,
    milestone: WorkflowHandle,
    process: asyncio.subprocess.Process,
) -> None:
    expert = deal.expert_actor.user_id
    # Funding and submission run on the doomed worker like any other step.
    await asyncio.wait_for(milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=deal.client_actor)), WAIT)
    await asyncio.wait_for(milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=deal.expert_actor)), WAIT)
    milestone_id = (await deal.state(milestone)).id
    fund_id, release_id = f"{milestone.id}:fund", f"{milestone.id}:release:1"

    # The client releases; the worker commits the release step, then dies. The update
    # was accepted, so its result stays pending until some worker finishes the step.
    update = await asyncio.wait_for(
        milestone.start_update(
            MilestoneWorkflow.release,
            Release(actor=deal.client_actor, amount=AMOUNT),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        ),
        WAIT,
    )
    assert await asyncio.wait_for(process.wait(), WAIT) == CRASH_STATUS, (await _output(process)).decode()
    assert f"crashing after {release_id}".encode() in await _output(process)

    # The money moved, in one transaction with the read model...
    assert _escrow_side(sessions, milestone_id) == ([(fund_id, "fund", AMOUNT), (release_id, "release", AMOUNT)], 0, 0)
    assert _expert_side(sessions, expert) == (AMOUNT, 0)
    # ... but Temporal has not heard of it: the step is an activity still in flight.
    # (No query here: no worker is left to answer one.)
    description = await asyncio.wait_for(milestone.describe(), WAIT)
    [in_flight] = description.raw_description.pending_activities
    assert (in_flight.activity_type.name, in_flight.attempt) == ("post_step", 1)
    history = await asyncio.wait_for(milestone.fetch_history(), WAIT)
    [scheduled] = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_id == in_flight.activity_id
    ]
    start_to_close = scheduled.start_to_close_timeout.ToTimedelta()

    # A healthy worker takes over, and the step's activity runs again on it.
    async with build_worker(client, sessions, deal.task_queue):
        if recovery == "attempt-failed":
            await client.get_async_activity_handle(
                workflow_id=milestone.id, run_id=description.run_id, activity_id=in_flight.activity_id
            ).fail(ApplicationError("the worker running this attempt was killed"))
        patience = WAIT + (start_to_close.total_seconds() if recovery == "timeout" else 0)
        try:
            released: MilestoneView = await asyncio.wait_for(update.result(), patience)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # (wait_for's cancellation surfaces as the latter)
            raise AssertionError(f"the release never completed:\n{await _story(milestone)}") from None

        assert (released.status, released.escrow, released.released) == (MilestoneStatus.COMPLETED, 0, AMOUNT)
        assert [(h.transfer_id, h.amount, h.settled) for h in released.holds] == [(release_id, AMOUNT, False)]
        history = await milestone.fetch_history()
        attempts = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
        assert attempts[-1].activity_task_started_event_attributes.attempt == 2

        # The retry found every row of the step already written and added nothing.
        assert _escrow_side(sessions, milestone_id) == (
            [(fund_id, "fund", AMOUNT), (release_id, "release", AMOUNT)],
            0,
            0,
        )
        assert _expert_side(sessions, expert) == (AMOUNT, 0)
        with sessions() as session:
            shown = ledger.user_balance(session, expert)
            assert [(p["transfer_id"], p["amount"]) for p in shown["pending"]] == [(release_id, AMOUNT)]
            assert shown["available"] == 0

            def count(*where: object) -> int | None:
                return session.scalar(select(func.count()).where(*where))  # type: ignore[arg-type]

            assert count(Transfer.credit_account == accounts.expert_pending(expert)) == 1
            assert count(Invoice.milestone_id == milestone_id, Invoice.kind == InvoiceKind.FINAL.value) == 1
            assert count(AuditEvent.workflow_id == milestone.id, AuditEvent.kind == "milestone.released") == 1
            assert count(OutboxMessage.user_id == expert, OutboxMessage.kind == "milestone.released") == 1

        # M9: five days on, the hold settles, once, into the available balance.
        await asyncio.wait_for(env.sleep(timedelta(days=5, minutes=1)), WAIT)

        async def settled() -> bool:
            return all(h.settled for h in (await deal.state(milestone)).holds)

        await _until(settled, "the security hold to settle")
        assert _expert_side(sessions, expert) == (0, AMOUNT)
        with sessions() as session:
            assert ledger.unsettled_holds(session, accounts.expert_pending(expert)) == []
            assert session.scalar(select(func.count()).where(Transfer.settles == release_id)) == 1


@pytest.mark.rules("P4", "L2", "L5")
@pytest.mark.parametrize("crashing_worker", ["payout"], indirect=True)
async def test_a_worker_killed_after_the_provider_paid_pays_out_once(
    client: Client, sessions: sessionmaker[Session], crashing_worker: tuple[str, asyncio.subprocess.Process]
) -> None:
    task_queue, process = crashing_worker
    user, payout_id = f"expert-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    credit(sessions, accounts.expert_available(user), AMOUNT)
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
        security_hold_until=datetime(2000, 1, 1, tzinfo=UTC),
    )
    handle = await client.start_workflow(PayoutWorkflow.run, start, id=ids.payout(payout_id), task_queue=task_queue)
    try:
        expert = PartyCommand(actor=Actor(user_id=user, role=Role.EXPERT))
        reserved = await asyncio.wait_for(handle.execute_update(PayoutWorkflow.reserve, expert), WAIT)
        assert reserved.status == PayoutStatus.PENDING

        # The provider pays and remembers it; the worker dies before Temporal hears.
        assert await asyncio.wait_for(process.wait(), WAIT) == CRASH_STATUS, (await _output(process)).decode()
        assert f"crashing after sending {handle.id}".encode() in await _output(process)
        held = accounts.payout(user, payout_id)
        with sessions() as session:
            assert ledger.balance(session, held) == AMOUNT  # reserved, not yet paid out
            assert session.scalar(select(func.count()).where(SandboxPayout.key.contains(payout_id))) == 1
        description = await asyncio.wait_for(handle.describe(), WAIT)
        [in_flight] = description.raw_description.pending_activities
        assert (in_flight.activity_type.name, in_flight.attempt) == ("send_payout", 1)

        # A healthy worker takes the retry; the provider, asked under the same key,
        # answers with the first payout and pays nothing more.
        async with build_worker(client, sessions, task_queue):
            await client.get_async_activity_handle(
                workflow_id=handle.id, run_id=description.run_id, activity_id=in_flight.activity_id
            ).fail(ApplicationError("the worker running this attempt was killed"))
            done: PayoutView = await asyncio.wait_for(handle.result(), WAIT)

        assert (done.status, done.reference) == (PayoutStatus.PAID, f"sandbox-payout:{handle.id}")
        with sessions() as session:
            assert session.scalar(select(func.count()).where(SandboxPayout.key.contains(payout_id))) == 1
            paid_out = session.scalars(
                select(Transfer.amount).where(
                    Transfer.credit_account == accounts.WORLD_PAYOUTS, Transfer.debit_account == held
                )
            ).all()
            assert paid_out == [AMOUNT]
            assert ledger.balance(session, held) == 0
            assert ledger.balance(session, accounts.expert_available(user)) == 0
    finally:
        await _terminate(handle)

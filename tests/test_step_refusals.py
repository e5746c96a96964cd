"""A step the database or the ledger can never accept is refused at once (`Invalid`,
non-retryable): retried, it would hold its workflow's command turn for good, and every
later command and timer would wait behind it. A database that is down is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps import StepActivities
from escrow import accounts
from escrow.db import ledger
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.models import Transfer
from escrow.models import (
    AwaitClaim,
    MilestoneStatus,
    Notification,
    RefundAnswer,
    Release,
    RequestRefund,
    Step,
    Submit,
    TransferSpec,
)
from tests.support import balance, funded, refusal
from workflows.milestone import MilestoneWorkflow as MW
from workflows.refund import RefundRequestWorkflow as RW

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def transfer(transfer_id: str, amount: int = 100, debit: str = accounts.WORLD_CARD) -> TransferSpec:
    credit = accounts.client_balance("v-steps")
    return TransferSpec(id=transfer_id, debit=debit, credit=credit, amount=amount, currency="USD", kind="test")


def post(sessions, step: Step) -> None:
    ActivityEnvironment().run(StepActivities(sessions).post_step, step)


def refused(sessions, step: Step) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        post(sessions, step)
    return raised.value


@pytest.mark.rules("L2")
def test_a_transfer_id_reused_with_other_terms_is_refused_not_retried(sessions):
    post(sessions, Step(at=NOW, transfers=[transfer("v-steps:conflict")]))
    err = refused(sessions, Step(at=NOW, transfers=[transfer("v-steps:conflict", amount=200)]))
    assert (err.type, err.non_retryable) == ("Invalid", True)


def test_a_transfer_the_ledger_refuses_is_refused_not_retried(sessions):
    err = refused(
        sessions, Step(at=NOW, transfers=[transfer("v-steps:self", debit=accounts.client_balance("v-steps"))])
    )
    assert (err.type, err.non_retryable) == ("Invalid", True)


@pytest.mark.rules("L3")
def test_insufficient_funds_keeps_its_own_kind(sessions):
    err = refused(
        sessions, Step(at=NOW, transfers=[transfer("v-steps:overdraw", debit=accounts.client_balance("v-poor"))])
    )
    assert (err.type, err.non_retryable) == ("InsufficientFunds", True)


@pytest.mark.parametrize(
    "notification",
    [
        pytest.param(Notification(id="v-steps:nul", user_id="v", kind="test", message="a\x00b"), id="nul"),
        pytest.param(Notification(id="v-steps:long", user_id="v" * 201, kind="test", message="m"), id="too-long"),
    ],
)
def test_data_postgresql_refuses_is_refused_not_retried(sessions, db_url, notification):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite stores NUL and over-long strings; only PostgreSQL refuses them")
    err = refused(sessions, Step(at=NOW, transfers=[transfer(f"{notification.id}:t")], notifications=[notification]))
    assert (err.type, err.non_retryable) == ("Invalid", True)
    with sessions() as session:
        assert session.get(Transfer, f"{notification.id}:t") is None


def test_a_database_that_is_down_is_retried():
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(OperationalError):
        post(make_sessionmaker(engine), Step(at=NOW, transfers=[transfer("v-steps:down")]))
    engine.dispose()


async def test_a_step_the_ledger_refuses_fails_its_update_and_the_workflow_takes_the_next(
    client, task_queue, worker, sessions
):
    deal, milestone = await funded(client, task_queue, 50_000)
    escrow = accounts.milestone_escrow((await deal.state(milestone)).id)
    # The expert's pending account holds another currency: the release's transfer can
    # never be posted, however often it is tried.
    pending = accounts.expert_pending(deal.expert_actor.user_id)
    foreign = TransferSpec(
        id=f"{milestone.id}:foreign", debit="world:foreign", credit=pending, amount=1, currency="EUR", kind="test"
    )
    with sessions.begin() as session:
        ledger.post(session, foreign, NOW)

    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=10_000)))
    assert (err.type, err.non_retryable) == ("Invalid", True)
    assert balance(sessions, escrow) == 50_000 and (await deal.state(milestone)).released == 0

    view = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    assert view.status == MilestoneStatus.SUBMITTED and view.escrow == 50_000


@pytest.mark.rules("M4", "L3")
async def test_a_timers_step_the_ledger_refuses_leaves_the_workflow_taking_commands(
    client, task_queue, worker, sessions, env
):
    """The review window's auto-release can never be posted: the workflow that owns the
    escrow must neither fail (the money would have no owner) nor retry in a loop; it
    waits, and the next command settles the escrow another way."""
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    pending = accounts.expert_pending(deal.expert_actor.user_id)
    foreign = TransferSpec(
        id=f"{milestone.id}:foreign", debit="world:foreign", credit=pending, amount=1, currency="EUR", kind="test"
    )
    with sessions.begin() as session:
        ledger.post(session, foreign, NOW)

    await env.sleep(timedelta(days=15))
    view = await deal.state(milestone)
    assert (view.status, view.escrow, view.released) == (MilestoneStatus.SUBMITTED, 50_000, 0)
    assert (await milestone.describe()).status == WorkflowExecutionStatus.RUNNING

    # A full refund moves nothing to the expert, so it can be written.
    claim = await milestone.execute_update(MW.request_refund, RequestRefund(actor=deal.client_actor, amount=50_000))
    refund = client.get_workflow_handle(f"refund:{claim.id}")
    await refund.execute_update(RW.approve, RefundAnswer(actor=deal.expert_actor))
    view = await milestone.execute_update(MW.await_claim, AwaitClaim(claim_id=claim.id))
    assert (view.escrow, view.refunded, view.released) == (0, 50_000, 0)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 50_000

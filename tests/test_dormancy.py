"""Dormant escrow (O1–O5) on the time-skipping server: the contract's own clock, at its
edges (day 60, +7, +14), a release request 29 or 30 days old at the settlement, an
activity on day 59, reactivation; and two years of weekly activity under Temporal's
history limits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from escrow import accounts
from escrow.db.models import OutboxMessage
from escrow.models import (
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    Fund,
    MilestoneStatus,
    Release,
    Submit,
)
from escrow.payments import SANDBOX_SUCCEEDS
from escrow.policy import Policy, preset
from tests.support import Deal, balance, eventually, open_contract
from workflows.contract import ContractWorkflow as CW
from workflows.milestone import MilestoneWorkflow as MW

pytestmark = pytest.mark.usefixtures("worker")

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
ELANCE = preset("elance")


async def start(client: Client, task_queue: str, policy: Policy = ELANCE) -> Deal:
    return await open_contract(client, task_queue, policy)


async def funded_milestone(deal: Deal, amount: int = 30_000, title: str = "Logo") -> WorkflowHandle:
    milestone = await deal.add_milestone(amount, title=title)
    await milestone.execute_update(MW.fund, Fund(actor=deal.client_actor))
    return milestone


async def until(env: WorkflowEnvironment, moment: datetime) -> None:
    now = await env.get_current_time()
    assert moment >= now, f"the clock is already past {moment}"
    await env.sleep(moment - now)


async def contract(deal: Deal, check, what: str) -> ContractView:
    async def probe():
        view = await deal.contract.query(CW.state)
        return view if check(view) else None

    return await eventually(probe, what)


async def last_activity(deal: Deal, milestone: WorkflowHandle) -> datetime:
    """When the milestone's last activity was reported to the contract."""
    view = await deal.state(milestone)
    assert view.last_activity_at is not None
    shown = await contract(
        deal,
        lambda v: any(m.id == view.id and m.last_activity_at == view.last_activity_at for m in v.milestones),
        "the contract to hear of the activity",
    )
    assert shown.status == ContractStatus.ACTIVE
    return view.last_activity_at


def told(sessions, user: str, kind: str) -> list[str]:
    with sessions() as session:
        rows = select(OutboxMessage.message).where(OutboxMessage.user_id == user, OutboxMessage.kind == kind)
        return list(session.scalars(rows).all())


@pytest.mark.rules("O1", "O3", "O4")
async def test_o1_o3_o4_dormant_on_day_60_expert_told_on_67_refunded_on_74(env, client, task_queue, sessions):
    deal = await start(client, task_queue)
    milestone = await funded_milestone(deal)
    funded_at = await last_activity(deal, milestone)
    dormant_at = funded_at + 60 * DAY

    await until(env, dormant_at - MINUTE)
    assert (await deal.contract.query(CW.state)).status == ContractStatus.ACTIVE
    await until(env, dormant_at + MINUTE)
    view = await contract(deal, lambda v: v.status == ContractStatus.DORMANT, "the contract to go dormant")
    assert view.dormant_since == dormant_at
    assert told(sessions, deal.client_actor.user_id, "contract.dormant")

    await until(env, dormant_at + 7 * DAY - MINUTE)
    assert not told(sessions, deal.expert_actor.user_id, "contract.dormant_expert_notified")
    await until(env, dormant_at + 7 * DAY + MINUTE)
    await eventually(
        lambda: _async(told(sessions, deal.expert_actor.user_id, "contract.dormant_expert_notified")),
        "the expert to be told",
    )

    await until(env, dormant_at + 14 * DAY - MINUTE)
    assert (await deal.state(milestone)).escrow == 30_000
    await until(env, dormant_at + 14 * DAY + MINUTE)

    async def refunded():
        v = await deal.state(milestone)
        return v if v.refunded == 30_000 else None

    view_m = await eventually(refunded, "the escrow to go back to the client")
    assert view_m.escrow == 0 and view_m.released == 0
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 30_000
    view = await contract(deal, lambda v: v.escrow_total == 0, "the contract to see the refund")
    assert view.status == ContractStatus.DORMANT and view.dormant_settled


async def _async(value):
    return value


@pytest.mark.rules("O4")
async def test_o4_release_requests_30_days_old_paid_at_once_29_days_old_a_day_later(env, client, task_queue, sessions):
    # A policy whose settlement falls 29 days after the last activity, and whose review
    # window (M4) would not release either request first: the edge of O4 in one case.
    policy = ELANCE.model_copy(update={"dormant_after": timedelta(days=15), "review_window": timedelta(days=90)})
    deal = await start(client, task_queue, policy)
    older = await funded_milestone(deal, title="Older")
    younger = await funded_milestone(deal, title="Younger")
    await older.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    first = await last_activity(deal, older)
    await until(env, first + DAY)
    await younger.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    second = await last_activity(deal, younger)
    settles_at = second + 15 * DAY + 14 * DAY  # the older request is then 30 days old, the younger 29

    await until(env, settles_at + MINUTE)

    async def released(handle):
        v = await deal.state(handle)
        return v if v.released == 30_000 else None

    await eventually(lambda: released(older), "the 30-day-old request to be released at once")
    young = await deal.state(younger)
    assert young.escrow == 30_000 and young.status == MilestoneStatus.SUBMITTED
    assert young.deadline_at == second + 30 * DAY
    await until(env, second + 30 * DAY + MINUTE)
    view = await eventually(lambda: released(younger), "the younger request to be released when 30 days old")
    assert view.refunded == 0
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 0


@pytest.mark.rules("O2")
async def test_o2_activity_on_day_59_resets_the_clock(env, client, task_queue):
    deal = await start(client, task_queue)
    milestone = await funded_milestone(deal)
    funded_at = await last_activity(deal, milestone)

    await until(env, funded_at + 59 * DAY)
    second = await funded_milestone(deal, 5_000, title="More")  # a change of terms and a funding
    again = await last_activity(deal, second)

    await until(env, funded_at + 60 * DAY + MINUTE)
    assert (await deal.contract.query(CW.state)).status == ContractStatus.ACTIVE
    await until(env, again + 60 * DAY - MINUTE)
    assert (await deal.contract.query(CW.state)).status == ContractStatus.ACTIVE
    await until(env, again + 60 * DAY + MINUTE)
    view = await contract(deal, lambda v: v.status == ContractStatus.DORMANT, "the contract to go dormant")
    assert view.dormant_since == again + 60 * DAY


@pytest.mark.rules("O5")
async def test_o5_a_release_reactivates_and_nothing_is_settled(env, client, task_queue, sessions):
    deal = await start(client, task_queue)
    milestone = await funded_milestone(deal)
    funded_at = await last_activity(deal, milestone)
    dormant_at = funded_at + 60 * DAY
    await until(env, dormant_at + 3 * DAY)
    await contract(deal, lambda v: v.status == ContractStatus.DORMANT, "the contract to go dormant")

    # A release request during dormancy does not reactivate (O3, O4)...
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    await last_activity_if_dormant(deal, milestone)
    # ...a release does (O5).
    await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=10_000))
    view = await contract(deal, lambda v: v.status == ContractStatus.ACTIVE, "the contract to be active again")
    assert view.dormant_since is None

    await until(env, dormant_at + 14 * DAY + MINUTE)
    m = await deal.state(milestone)
    assert m.refunded == 0 and m.escrow == 20_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 0


async def last_activity_if_dormant(deal: Deal, milestone: WorkflowHandle) -> None:
    view = await deal.state(milestone)
    shown = await contract(
        deal,
        lambda v: any(m.id == view.id and m.last_activity_at == view.last_activity_at for m in v.milestones),
        "the contract to hear of the release request",
    )
    assert shown.status == ContractStatus.DORMANT


@pytest.mark.rules("O1")
async def test_o1_no_dormancy_under_cadcrowd(env, client, task_queue):
    deal = await start(client, task_queue, preset("cadcrowd"))
    milestone = await funded_milestone(deal)
    funded_at = await last_activity(deal, milestone)
    await until(env, funded_at + 80 * DAY)
    view = await deal.contract.query(CW.state)
    assert view.status == ContractStatus.ACTIVE and view.escrow_total == 30_000


@pytest.mark.rules("O2", "H1")
async def test_two_years_of_weekly_activity_stay_under_the_history_limits(env, client, task_queue):
    """An hourly contract opens a week every Monday (its natural weekly activity) for two
    years and never goes dormant. Its run stays far from Temporal's history limits
    (a warning at 10,240 events, termination at 51,200): about 37 events a week. A
    real server suggests continue-as-new from 4,096 events, and the contract then
    continues as new carrying its dormancy clock (the test server never suggests it)."""
    from escrow.calendar import BillingWeek, iso_week

    suffix = uuid.uuid4().hex[:10]
    now = await env.get_current_time()
    first = BillingWeek.of(iso_week(now + timedelta(days=7)))
    await until(env, first.starts_at + timedelta(seconds=1))
    workflow_id = f"contract:h-{suffix}"
    await client.start_workflow(
        CW.run,
        ContractInput(
            contract_id=f"h-{suffix}",
            client_id=f"client-{suffix}",
            expert_id=f"expert-{suffix}",
            type=ContractType.HOURLY,
            currency="USD",
            hourly_rate=6_000,
            payment_method=SANDBOX_SUCCEEDS,
            policy=ELANCE,
        ),
        id=workflow_id,
        task_queue=task_queue,
    )
    handle = client.get_workflow_handle(workflow_id, result_type=ContractView)
    longest, runs = 0, set()
    for week in range(1, 105):
        await until(env, first.starts_at + week * 7 * DAY + timedelta(hours=1))
        view = await contract(
            Deal(client, task_queue, f"h-{suffix}", None, None),  # type: ignore[arg-type]
            lambda v, n=week: len(v.weeks) == n + 1,
            f"week {week} to open",
        )
        assert view.status == ContractStatus.ACTIVE
        described = await handle.describe()
        runs.add(described.run_id)
        longest = max(longest, described.raw_description.workflow_execution_info.history_length)
    print(f"two years: {len(view.weeks)} weeks, {len(runs)} runs, longest history {longest} events")
    assert longest < 10_240

"""Hourly contracts: whole billing weeks at their edges on the time-skipping server.

Each test starts its contract in a week that lies ahead of the test server's clock,
then moves the clock to the exact instants of that week (escrow.calendar).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateStage
from temporalio.service import RPCError, RPCStatusCode

from escrow import accounts
from escrow.calendar import BillingWeek, iso_week
from escrow.db.models import OutboxMessage
from escrow.db.models import TimeEntry as TimeEntryRow
from escrow.models import (
    Actor,
    AwaitClaim,
    ClaimStatus,
    CloseContract,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    DeleteTime,
    DisputeHours,
    EditTime,
    EntryKind,
    HourlyWeekView,
    LogTime,
    PaymentStatus,
    Role,
    SetPaymentMethod,
    WeekStatus,
)
from escrow.payments import SANDBOX_DECLINED, SANDBOX_SUCCEEDS
from escrow.policy import preset
from tests.support import balance, eventually, finished, refusal, refused_or_closed
from workflows.contract import ContractWorkflow as CW
from workflows.hourly_week import HourlyWeekWorkflow as HW

pytestmark = pytest.mark.usefixtures("worker")

RATE = 6_000  # USD 60.00 an hour: a minute is a dollar
EVIDENCE = {"screenshots": 6, "activity": 0.8}


class Hourly:
    """An hourly contract that started in `first` week, driven from the test."""

    def __init__(self, env, client, task_queue, first: BillingWeek, card: str):
        suffix = uuid.uuid4().hex[:10]
        self.env, self.client, self.task_queue, self.first, self.card = env, client, task_queue, first, card
        self.id = f"h-{suffix}"
        self.client_actor = Actor(user_id=f"client-{suffix}", role=Role.CLIENT)
        self.expert_actor = Actor(user_id=f"expert-{suffix}", role=Role.EXPERT)

    @property
    def contract(self):
        return self.client.get_workflow_handle(f"contract:{self.id}", result_type=ContractView)

    def week(self, cal: BillingWeek):
        return self.client.get_workflow_handle(f"hourly-week:{self.id}:{cal.week}", result_type=HourlyWeekView)

    async def view(self, cal: BillingWeek) -> HourlyWeekView:
        return await self.week(cal).query(HW.state)

    async def log(
        self, cal: BillingWeek, started_at: datetime, minutes: int = 60, kind=EntryKind.TRACKED, evidence=True
    ):
        return await self.week(cal).execute_update(
            HW.log_time,
            LogTime(
                actor=self.expert_actor,
                started_at=started_at,
                minutes=minutes,
                kind=kind,
                evidence=EVIDENCE if kind == EntryKind.TRACKED and evidence else None,
            ),
        )

    async def until(self, moment: datetime) -> None:
        """Move the server's clock to `moment` (never backwards)."""
        now = await self.env.get_current_time()
        assert moment >= now, f"the clock is already past {moment}"
        await self.env.sleep(moment - now)

    async def shows(self, cal: BillingWeek, check, what: str) -> HourlyWeekView:
        async def probe():
            try:
                view = await self.view(cal)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                return None  # the contract has not started that week yet
            return view if check(view) else None

        return await eventually(probe, what)


async def hourly(env, client, task_queue, card=SANDBOX_SUCCEEDS, limit_hours=None, week: str | None = None) -> Hourly:
    """Start an hourly contract one second into a week ahead of the clock."""
    now = await env.get_current_time()
    first = BillingWeek.of(week or iso_week(now + timedelta(days=7)))
    deal = Hourly(env, client, task_queue, first, card)
    await deal.until(first.starts_at + timedelta(seconds=1))
    await client.start_workflow(
        CW.run,
        ContractInput(
            contract_id=deal.id,
            client_id=deal.client_actor.user_id,
            expert_id=deal.expert_actor.user_id,
            type=ContractType.HOURLY,
            currency="USD",
            hourly_rate=RATE,
            weekly_limit_hours=limit_hours,
            payment_method=card,
            policy=preset("cadcrowd"),
        ),
        id=f"contract:{deal.id}",
        task_queue=task_queue,
    )
    await deal.shows(first, lambda v: v.status == WeekStatus.OPEN, "the first week to open by itself")
    return deal


@pytest.mark.rules("H1")
async def test_h1_entries_land_in_the_week_their_work_started(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue)
    week, following = deal.first, deal.first.next()
    sunday_last_second = week.billed_at - timedelta(seconds=1)
    await deal.until(week.billed_at + timedelta(minutes=5))
    await deal.shows(
        following, lambda v: v.status == WeekStatus.OPEN, "the next week to start by itself (Monday 00:00)"
    )

    late = await deal.log(week, sunday_last_second, minutes=1)
    err = await refusal(deal.log(week, week.billed_at, minutes=1))
    assert err.type == "Invalid"  # Monday 00:00:00 belongs to the next week
    early = await deal.log(following, following.starts_at, minutes=1)
    assert [e.id for e in (await deal.view(week)).entries] == [late.id]
    assert [e.id for e in (await deal.view(following)).entries] == [early.id]
    with sessions() as session:
        rows = dict(
            session.execute(select(TimeEntryRow.id, TimeEntryRow.week).where(TimeEntryRow.contract_id == deal.id)).all()
        )
    assert rows == {late.id: week.week, early.id: following.week}


@pytest.mark.rules("H1")
async def test_h1_bad_entries_are_refused(env, client, task_queue):
    deal = await hourly(env, client, task_queue, limit_hours=10)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=2))
    start = week.starts_at + timedelta(hours=9)
    await deal.log(week, start, minutes=120)
    now = await env.get_current_time()
    cases = [
        (LogTime(actor=deal.expert_actor, started_at=now, minutes=30, kind=EntryKind.MANUAL), "Invalid"),  # future
        (
            LogTime(
                actor=deal.expert_actor, started_at=start + timedelta(minutes=60), minutes=30, kind=EntryKind.MANUAL
            ),
            "Conflict",
        ),  # overlap
        # Unbuilt, as the Temporal UI or CLI could send them: the command's model refuses them.
        (
            LogTime.model_construct(
                actor=deal.expert_actor, started_at=start, minutes=7 * 24 * 60 + 1, kind=EntryKind.MANUAL
            ),
            "Invalid",
        ),  # longer than a week
        (
            LogTime.model_construct(
                actor=deal.expert_actor, started_at=start + timedelta(hours=3), minutes=0, kind=EntryKind.MANUAL
            ),
            "Invalid",
        ),
        (
            LogTime(actor=deal.client_actor, started_at=start + timedelta(hours=3), minutes=30, kind=EntryKind.MANUAL),
            "Forbidden",
        ),
        (
            LogTime(
                actor=deal.expert_actor, started_at=start + timedelta(hours=24), minutes=9 * 60, kind=EntryKind.MANUAL
            ),
            "Conflict",
        ),  # limit
    ]
    for command, kind in cases:
        assert (await refusal(deal.week(week).execute_update(HW.log_time, command))).type == kind, command
    assert (await deal.view(week)).minutes == 120


@pytest.mark.rules("H2", "H3")
async def test_h2_h3_billed_monday_0000_and_edits_stop_at_1200(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=3))
    first = await deal.log(week, week.starts_at + timedelta(hours=10), minutes=120)
    second = await deal.log(week, week.starts_at + timedelta(days=1, hours=10), minutes=60)

    await deal.until(week.billed_at + timedelta(seconds=1))
    billed = await deal.shows(week, lambda v: v.payment_status == PaymentStatus.PAID, "the Monday 00:00 charge")
    assert billed.status == WeekStatus.EXPERT_REVIEW and billed.charged == 180 * 100
    escrow = accounts.week_escrow(deal.id, week.week)
    assert balance(sessions, escrow) == 18_000

    await deal.until(week.expert_review_ends_at - timedelta(minutes=1))  # Monday 11:59
    await deal.week(week).execute_update(
        HW.edit_time, EditTime(actor=deal.expert_actor, entry_id=first.id, minutes=150)
    )
    await deal.week(week).execute_update(HW.delete_time, DeleteTime(actor=deal.expert_actor, entry_id=second.id))
    assert (await deal.view(week)).invoice_amount == 15_000

    await deal.until(week.expert_review_ends_at)  # Monday 12:00
    late = EditTime(actor=deal.expert_actor, entry_id=first.id, minutes=10)
    err = await refusal(deal.week(week).execute_update(HW.edit_time, late))
    assert err.type == "Conflict" and "12:00" in str(err)
    # H3: the invoice followed the edits; the overcharge went back to the client.
    view = await deal.shows(week, lambda v: v.status == WeekStatus.CLIENT_REVIEW, "the client review")
    assert (view.charged, view.escrow) == (15_000, 15_000)
    assert balance(sessions, escrow) == 15_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 3_000


@pytest.mark.rules("H4", "H5", "D8", "D2")
async def test_h4_h5_client_disputes_tracked_hours_until_friday_235959(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=2))
    tracked = await deal.log(week, week.starts_at + timedelta(hours=9), minutes=60)
    other = await deal.log(week, week.starts_at + timedelta(hours=11), minutes=30)
    manual = await deal.log(week, week.starts_at + timedelta(hours=13), minutes=45, kind=EntryKind.MANUAL)

    await deal.until(week.expert_review_ends_at - timedelta(seconds=1))
    too_early = DisputeHours(actor=deal.client_actor, entry_ids=[tracked.id], reason="idle screenshots")
    assert (await refusal(deal.week(week).execute_update(HW.dispute_hours, too_early))).type == "Conflict"

    friday_last_second = week.client_review_ends_at - timedelta(seconds=1)
    await deal.until(friday_last_second)
    by_expert = DisputeHours(actor=deal.expert_actor, entry_ids=[tracked.id], reason="x")
    assert (await refusal(deal.week(week).execute_update(HW.dispute_hours, by_expert))).type == "Forbidden"
    uncovered = DisputeHours(actor=deal.client_actor, entry_ids=[manual.id], reason="never happened")
    err = await refusal(deal.week(week).execute_update(HW.dispute_hours, uncovered))
    assert err.type == "Conflict" and "H5" in str(err)
    dispute = await deal.week(week).execute_update(HW.dispute_hours, too_early)  # the dispute as filed
    assert dispute.amount == 6_000

    await deal.until(week.client_review_ends_at)  # Saturday 00:00
    late = DisputeHours(actor=deal.client_actor, entry_ids=[other.id], reason="too late")
    assert (await refusal(deal.week(week).execute_update(HW.dispute_hours, late))).type == "Conflict"

    # D2: the expert never answers the dispute; the client is reimbursed for the hour.
    def resolved(v):
        return v.claims and v.claims[0].status == "settled"

    await deal.until(week.client_review_ends_at + timedelta(days=4))
    view = await deal.shows(week, resolved, "the dispute to be paid out")
    assert view.refunded == 6_000
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 6_000


@pytest.mark.rules("H1", "H5", "D8")
async def test_tracked_time_without_evidence_is_covered_and_await_claim_shows_its_payout(
    env, client, task_queue, sessions
):
    deal = await hourly(env, client, task_queue)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=2))
    shown = await deal.log(week, week.starts_at + timedelta(hours=9), minutes=60)
    bare = await deal.log(week, week.starts_at + timedelta(hours=11), minutes=30, evidence=False)
    await deal.log(week, week.starts_at + timedelta(hours=13), minutes=15, kind=EntryKind.MANUAL)
    view = await deal.view(week)
    assert {e.id: e.has_evidence for e in view.entries if e.kind == EntryKind.TRACKED} == {
        shown.id: True,
        bare.id: False,
    }
    assert (view.minutes, view.tracked_minutes, view.tracked_minutes_without_evidence) == (105, 90, 30)

    await deal.until(week.expert_review_ends_at + timedelta(minutes=1))
    await deal.shows(week, lambda v: v.status == WeekStatus.CLIENT_REVIEW, "the client review")
    unknown = await refusal(deal.week(week).execute_update(HW.await_claim, AwaitClaim(claim_id="no-such-claim")))
    assert unknown.type == "NotFound"
    # H5: tracked time is covered, evidence or not; its absence is the client's case.
    dispute = await deal.week(week).execute_update(
        HW.dispute_hours, DisputeHours(actor=deal.client_actor, entry_ids=[bare.id], reason="no screenshots at all")
    )
    waiting = await deal.week(week).start_update(
        HW.await_claim, AwaitClaim(claim_id=dispute.id), wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    # The expert stays silent past the dispute's first deadline (D2): the client wins.
    await deal.until(week.expert_review_ends_at + timedelta(days=4))
    paid = await waiting.result()
    assert [(c.id, c.status) for c in paid.claims] == [(dispute.id, ClaimStatus.SETTLED)]
    assert (paid.refunded, paid.escrow) == (3_000, 7_500)
    assert balance(sessions, accounts.client_balance(deal.client_actor.user_id)) == 3_000


@pytest.mark.rules("H6", "P1", "L5")
async def test_h6_funds_available_exactly_wednesday_0000(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=1))
    await deal.log(week, week.starts_at + timedelta(hours=8), minutes=90)
    expert = deal.expert_actor.user_id

    await deal.until(week.client_review_ends_at + timedelta(seconds=1))
    held = await deal.shows(week, lambda v: v.holds, "the security hold")
    assert held.holds[0].available_at == week.available_at
    assert week.available_at.weekday() == 2 and week.available_at.hour == 0  # a Wednesday, 00:00
    assert week.available_at - week.starts_at == timedelta(days=16)  # day 17 counting Monday as day 1
    assert balance(sessions, accounts.expert_pending(expert)) == 9_000

    await deal.until(week.available_at - timedelta(seconds=1))
    assert balance(sessions, accounts.expert_available(expert)) == 0
    await deal.until(week.available_at)
    await deal.shows(week, lambda v: v.holds[0].settled, "the funds to become available")
    assert balance(sessions, accounts.expert_available(expert)) == 9_000
    assert balance(sessions, accounts.week_escrow(deal.id, week.week)) == 0


@pytest.mark.rules("H1", "H2", "H6")
async def test_weeks_across_the_iso_year_boundary(env, client, task_queue, sessions):
    now = await env.get_current_time()
    year = now.year if now < datetime(now.year, 12, 20, tzinfo=UTC) else now.year + 1
    last = BillingWeek.of(iso_week(datetime(year, 12, 28, tzinfo=UTC)))  # Dec 28 is always in the last ISO week
    deal = await hourly(env, client, task_queue, week=last.week)
    first_of_next = last.next()
    assert first_of_next.week == f"{year + 1}-W01"
    await deal.until(last.billed_at + timedelta(hours=2))
    await deal.log(last, datetime(year, 12, 31, 23, 0, tzinfo=UTC), minutes=60)
    await deal.log(first_of_next, first_of_next.starts_at, minutes=60)
    await deal.until(first_of_next.available_at)
    for cal in (last, first_of_next):
        await deal.shows(cal, lambda v: v.holds and v.holds[0].settled, f"{cal.week} paid out")
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 12_000


@pytest.mark.rules("H7")
async def test_h7_declined_charge_retried_daily_holds_the_contract_then_reactivates(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue, card=SANDBOX_DECLINED)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=1))
    await deal.log(week, week.starts_at + timedelta(hours=9), minutes=60)

    await deal.until(week.billed_at + timedelta(seconds=1))
    failing = await deal.shows(week, lambda v: v.payment_status == PaymentStatus.FAILING, "the declined charge")
    assert failing.failed_charges == 1 and not failing.invoice_review
    assert failing.next_charge_at == failing.billed_at + timedelta(days=1) or failing.next_charge_at > failing.billed_at

    async def on_hold():
        view = await deal.contract.query(CW.state)
        return view if view.status == ContractStatus.ON_HOLD else None

    await eventually(on_hold, "the contract to go on hold")
    following = week.next()
    blocked = LogTime(actor=deal.expert_actor, started_at=following.starts_at, minutes=5, kind=EntryKind.MANUAL)
    err = await refusal(deal.week(following).execute_update(HW.log_time, blocked))
    assert err.type == "Conflict" and "on hold" in str(err)

    await deal.until(failing.next_charge_at + timedelta(days=1, seconds=1))  # two more daily retries
    review = await deal.shows(week, lambda v: v.failed_charges == 3, "three failed charges")
    assert review.invoice_review
    with sessions() as session:
        operators = session.scalars(select(OutboxMessage.message).where(OutboxMessage.user_id == "operators")).all()
    assert any(week.week in m and deal.id in m for m in operators)

    await deal.contract.execute_update(
        CW.set_payment_method, SetPaymentMethod(actor=deal.client_actor, payment_method=SANDBOX_SUCCEEDS)
    )
    paid = await deal.shows(week, lambda v: v.payment_status == PaymentStatus.PAID, "the charge on the new card")
    assert paid.charged == 6_000
    assert balance(sessions, accounts.week_escrow(deal.id, week.week)) == 6_000

    async def active():
        view = await deal.contract.query(CW.state)
        return view if view.status == ContractStatus.ACTIVE else None

    await eventually(active, "the contract to be re-activated at once")
    await deal.week(following).execute_update(HW.log_time, blocked)


@pytest.mark.rules("H1", "C1")
async def test_ending_the_contract_finishes_its_weeks(env, client, task_queue, sessions):
    deal = await hourly(env, client, task_queue)
    week = deal.first
    await deal.until(week.starts_at + timedelta(days=2))
    await deal.log(week, week.starts_at + timedelta(hours=9), minutes=30)
    await deal.contract.execute_update(CW.close, CloseContract(actor=deal.client_actor))
    after = LogTime(
        actor=deal.expert_actor, started_at=week.starts_at + timedelta(days=1), minutes=5, kind=EntryKind.MANUAL
    )
    await refused_or_closed(deal.week(week).execute_update(HW.log_time, after))

    # The contract ends when its last week has paid out (H6); no week starts after it.
    view = await finished(env, deal.contract)
    assert view.status == ContractStatus.CLOSED
    assert [w.week for w in view.weeks] == [week.week]  # no week started after the end
    assert view.zero_pay is False
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 3_000

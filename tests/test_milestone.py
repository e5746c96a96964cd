"""MilestoneWorkflow on the time-skipping server: every fixed-rate milestone rule, with
the money checked in the database, not only in the workflow's state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from escrow import accounts
from escrow import search_attributes as sa
from escrow.db import ledger
from escrow.db.models import Invoice, OutboxMessage, Transfer
from escrow.models import (
    Actor,
    Fund,
    InvoiceKind,
    MilestoneStatus,
    PartyCommand,
    Release,
    RequestRevision,
    Role,
    Submit,
)
from tests.support import at, balance, finished, funded, open_contract, refusal
from workflows.milestone import MilestoneWorkflow as MW

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("M1")
async def test_m1_minimum_amount_is_25_dollars(client, task_queue):
    deal = await open_contract(client, task_queue)
    err = await refusal(deal.add_milestone(2_499))
    assert err.type == "Invalid" and "25.00" in str(err)
    milestone = await deal.add_milestone(2_500)
    assert (await deal.state(milestone)).status == MilestoneStatus.AGREED


@pytest.mark.rules("M1")
async def test_m1_only_parties_add_milestones(client, task_queue):
    deal = await open_contract(client, task_queue)
    stranger = Actor(user_id="someone-else", role=Role.CLIENT)
    err = await refusal(deal.add_milestone(5_000, by=stranger))
    assert err.type == "Forbidden"


@pytest.mark.rules("M8")
async def test_m8_expert_proposal_needs_the_clients_agreement(client, task_queue, env):
    deal = await open_contract(client, task_queue)
    proposal = await deal.add_milestone(10_000, by=deal.expert_actor)
    assert (await deal.state(proposal)).status == MilestoneStatus.PROPOSED
    assert (await refusal(proposal.execute_update(MW.fund, Fund(actor=deal.client_actor)))).type == "Conflict"
    assert (
        await refusal(proposal.execute_update(MW.accept, PartyCommand(actor=deal.expert_actor)))
    ).type == "Forbidden"
    view = await proposal.execute_update(MW.accept, PartyCommand(actor=deal.client_actor))
    assert view.status == MilestoneStatus.AGREED

    declined = await deal.add_milestone(10_000, by=deal.expert_actor)
    await declined.execute_update(MW.decline, PartyCommand(actor=deal.client_actor))
    assert (await finished(env, declined)).status == MilestoneStatus.DECLINED


@pytest.mark.rules("M2", "L4")
async def test_m2_unauthenticated_card_is_pending_and_cannot_be_released(client, task_queue, sessions):
    deal = await open_contract(client, task_queue)
    milestone = await deal.add_milestone(30_000)
    view = await milestone.execute_update(MW.fund, Fund(actor=deal.client_actor, card_authenticated=False))
    assert view.status == MilestoneStatus.FUNDING_PENDING and view.escrow == 0
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 0

    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_000)))
    assert err.type == "Conflict" and "authenticated" in str(err)
    assert (await refusal(milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor)))).type == "Conflict"

    view = await milestone.execute_update(MW.authenticate_funding, PartyCommand(actor=deal.client_actor))
    assert view.status == MilestoneStatus.IN_PROGRESS and view.escrow == view.funded == 30_000
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 30_000


@pytest.mark.rules("M2")
async def test_m2_funding_twice_is_refused(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 40_000)
    assert (await refusal(milestone.execute_update(MW.fund, Fund(actor=deal.client_actor)))).type == "Conflict"
    view = await deal.state(milestone)
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 40_000


@pytest.mark.rules("M3")
async def test_m3_submission_makes_a_pro_forma_invoice_and_can_be_voided(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue)
    assert (await refusal(milestone.execute_update(MW.submit, Submit(actor=deal.client_actor)))).type == "Forbidden"
    view = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor, message="v1 attached"))
    assert view.status == MilestoneStatus.SUBMITTED
    [invoice] = view.invoices
    assert invoice.kind == InvoiceKind.PRO_FORMA and invoice.amount == 50_000
    with sessions() as session:
        assert session.get(Invoice, invoice.id) is not None

    view = await milestone.execute_update(MW.void_submission, PartyCommand(actor=deal.expert_actor))
    assert view.status == MilestoneStatus.IN_PROGRESS and view.deadline_at is None
    err = await refusal(milestone.execute_update(MW.void_submission, PartyCommand(actor=deal.expert_actor)))
    assert err.type == "Conflict"


@pytest.mark.rules("M4", "M9", "L5", "P2")
async def test_m4_review_window_auto_releases_after_14_days_then_5_day_hold(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 50_000)
    submitted = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    assert submitted.deadline_at == submitted.submitted_at + timedelta(days=14)
    assert submitted.deadline_action == "auto_release"

    final = await finished(env, milestone)
    assert final.status == MilestoneStatus.COMPLETED and final.escrow == 0 and final.released == 50_000
    [invoice] = [i for i in final.invoices if i.kind == InvoiceKind.FINAL]
    assert at(invoice.issued_at, submitted.deadline_at)
    [hold] = final.holds
    assert hold.available_at == invoice.issued_at + timedelta(days=5) and hold.settled
    assert invoice.clears_at == hold.available_at  # C4
    assert balance(sessions, accounts.milestone_escrow(final.id)) == 0
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 50_000
    assert balance(sessions, accounts.expert_pending(deal.expert_actor.user_id)) == 0


@pytest.mark.rules("M4")
async def test_m4_client_release_before_the_deadline_wins_over_auto_release(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    await env.sleep(timedelta(days=13, hours=23))
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=50_000))
    assert view.status == MilestoneStatus.COMPLETED
    final = await finished(env, milestone)
    assert final.released == 50_000 and len(final.holds) == 1
    with sessions() as session:
        releases = session.scalars(
            select(Transfer).where(Transfer.debit_account == accounts.milestone_escrow(final.id))
        ).all()
    assert [t.amount for t in releases] == [50_000]


@pytest.mark.rules("M5", "M4")
async def test_m5_elance_marks_overdue_on_day_15_and_releases_on_day_30(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 80_000, policy="elance")
    submitted = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    assert submitted.deadline_at == submitted.submitted_at + timedelta(days=30)

    await env.sleep(timedelta(days=14, hours=23, minutes=59))
    assert not (await deal.state(milestone)).overdue
    await env.sleep(timedelta(minutes=2))
    assert (await deal.state(milestone)).overdue

    final = await finished(env, milestone)
    [invoice] = [i for i in final.invoices if i.kind == InvoiceKind.FINAL]
    assert at(invoice.issued_at, submitted.deadline_at)
    with sessions() as session:
        sent = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.kind).where(OutboxMessage.id.like(f"milestone:{final.id}:%"))
        ).all()
    for user in (deal.client_actor.user_id, deal.expert_actor.user_id):
        assert (user, "milestone.overdue") in sent
        assert sum(1 for u, k in sent if u == user and k == "milestone.reminder") == 3


@pytest.mark.rules("M6", "L4")
async def test_m6_partial_release_leaves_the_rest_in_escrow_without_auto_release(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 60_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=25_000))
    assert view.status == MilestoneStatus.PARTIALLY_RELEASED
    assert (view.escrow, view.released, view.deadline_at) == (35_000, 25_000, None)

    await env.sleep(timedelta(days=40))
    view = await deal.state(milestone)
    assert view.escrow == 35_000 and view.status == MilestoneStatus.PARTIALLY_RELEASED
    assert balance(sessions, accounts.milestone_escrow(view.id)) == 35_000
    # L4: escrow = funded - released - refunded
    assert view.escrow == view.funded - view.released - view.refunded

    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=35_000))
    assert view.status == MilestoneStatus.COMPLETED and view.released == 60_000
    await finished(env, milestone)
    assert balance(sessions, accounts.expert_available(deal.expert_actor.user_id)) == 60_000


@pytest.mark.rules("M7", "M4")
async def test_m7_revision_reopens_and_the_next_submission_gets_a_fresh_window(client, task_queue, env):
    deal, milestone = await funded(client, task_queue)
    first = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    blank = {"actor": deal.client_actor.model_dump(mode="json"), "message": " "}
    err = await refusal(milestone.execute_update("request_revision", blank))
    assert err.type == "Invalid"
    view = await milestone.execute_update(
        MW.request_revision, RequestRevision(actor=deal.client_actor, message="darker blue")
    )
    assert view.status == MilestoneStatus.IN_PROGRESS and view.revisions == 1 and view.deadline_at is None

    # The old deadline passes with nothing released: the window closed with the revision.
    await env.sleep(timedelta(days=15))
    assert (await deal.state(milestone)).escrow == 50_000

    second = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    assert second.submitted_at > first.deadline_at
    assert second.deadline_at == second.submitted_at + timedelta(days=14)
    final = await finished(env, milestone)
    [released] = [i.issued_at for i in final.invoices if i.kind == InvoiceKind.FINAL]
    assert at(released, second.deadline_at)


@pytest.mark.rules("M9", "L5", "P2")
async def test_m9_release_is_pending_for_5_days_then_available(client, task_queue, sessions, env):
    deal, milestone = await funded(client, task_queue, 30_000)
    expert = deal.expert_actor.user_id
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=10_000))
    [hold] = view.holds
    [final_invoice] = view.invoices
    assert final_invoice.kind == InvoiceKind.FINAL and final_invoice.clears_at == hold.available_at
    with sessions() as session:
        shown = ledger.user_balance(session, expert)
    assert shown["available"] == 0
    assert [p["amount"] for p in shown["pending"]] == [10_000]

    await env.sleep(timedelta(days=4, hours=23))
    assert balance(sessions, accounts.expert_pending(expert)) == 10_000
    await env.sleep(timedelta(hours=2))
    assert (await deal.state(milestone)).holds[0].settled
    assert balance(sessions, accounts.expert_available(expert)) == 10_000
    assert balance(sessions, accounts.expert_pending(expert)) == 0


@pytest.mark.rules("L3", "M4")
async def test_release_refusals_change_nothing(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 30_000)
    mid = (await deal.state(milestone)).id
    cases = [
        (Release(actor=deal.client_actor, amount=30_001), "Conflict"),
        (Release(actor=deal.expert_actor, amount=100), "Forbidden"),
        (Release(actor=Actor(user_id=deal.client_actor.user_id, role=Role.OPERATOR), amount=100), "Forbidden"),
        (Release(actor=Actor(user_id="intruder", role=Role.CLIENT), amount=100), "Forbidden"),
    ]
    for command, kind in cases:
        assert (await refusal(milestone.execute_update(MW.release, command))).type == kind, command
    # What the Web UI or CLI could send: refused by the command's model, before the workflow.
    actor = deal.client_actor.model_dump(mode="json")
    for amount in (0, -5, None, "100", 100.0, True):
        raw = {"actor": actor, "amount": amount}
        assert (await refusal(milestone.execute_update("release", raw))).type == "Invalid", raw
    assert balance(sessions, accounts.milestone_escrow(mid)) == 30_000
    assert (await deal.state(milestone)).released == 0

    await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_000))
    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=1)))
    assert err.type == "Conflict"


async def test_release_before_funding_is_refused(client, task_queue):
    deal = await open_contract(client, task_queue)
    milestone = await deal.add_milestone(10_000)
    err = await refusal(milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=10_000)))
    assert err.type == "Conflict" and "agreed" in str(err)


async def test_operators_find_milestones_by_search_attributes(client, task_queue):
    deal, milestone = await funded(client, task_queue, 45_000)
    view = await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    described = await milestone.describe()
    attrs = described.typed_search_attributes
    assert attrs.get(sa.CONTRACT_ID) == deal.contract_id
    assert attrs.get(sa.CLIENT_ID) == deal.client_actor.user_id
    assert attrs.get(sa.EXPERT_ID) == deal.expert_actor.user_id
    assert attrs.get(sa.ESCROW_STATE) == "submitted"
    assert attrs.get(sa.AMOUNT_CENTS) == 45_000
    assert attrs.get(sa.DEADLINE_AT) == view.deadline_at
    assert "Logo" in (await described.static_summary() or "")

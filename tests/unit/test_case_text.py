"""The case in words for the Web UI (escrow.case_text): who must act, what the workflow
does on its own and when, and the timer summary that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from escrow import case_text
from escrow.case_text import WaitingOn
from escrow.models import (
    ContractInput,
    ContractType,
    MilestoneInput,
    MilestoneStatus,
    PaymentStatus,
    PayoutInput,
    PayoutMethodKind,
    RefundInput,
    RefundPhase,
    Role,
    WeekStatus,
)
from escrow.models.hourly import HourlyWeekInput
from escrow.models.milestone import Hold
from escrow.notices.dispute import details
from escrow.policy import preset
from escrow.rules import hourly, refund
from escrow.rules.dispute import filed
from escrow.rules.milestone import initial_view
from tests.unit.test_rules_dispute import dispute_input

AT = datetime(2026, 12, 5, tzinfo=UTC)


def milestone(**update):
    view = initial_view(
        MilestoneInput(
            milestone_id="m-1",
            contract_id="c-1",
            client_id="c-9",
            expert_id="e-17",
            title="Logo",
            amount=250_000,
            currency="USD",
            proposed_by=Role.CLIENT,
            policy=preset("cadcrowd"),
        )
    )
    return view.model_copy(update=update)


def test_a_submitted_milestone_says_when_it_auto_releases_unless_the_client_acts():
    case = case_text.milestone(
        milestone(status=MilestoneStatus.SUBMITTED, escrow=250_000, funded=250_000, deadline_at=AT)
    )
    assert case.waiting_on is WaitingOn.CLIENT
    assert "auto-release USD 2,500.00 to expert e-17 on 2026-12-05 00:00 UTC unless the client acts" in case.details()
    assert "Waiting on client c-9 to release the work or ask for a revision." in case.details()
    assert case.timer(AT) == "auto-release USD 2,500.00 to expert e-17 on 2026-12-05 00:00 UTC unless the client acts"


def test_a_timer_for_another_instant_says_only_when():
    case = case_text.milestone(milestone(status=MilestoneStatus.SUBMITTED, escrow=1, deadline_at=AT))
    assert case.timer(AT + timedelta(days=1)) == "the next deadline, 2026-12-06 00:00 UTC"


def test_who_must_act_on_a_milestone_follows_its_status():
    assert case_text.milestone(milestone()).waiting_on is WaitingOn.CLIENT  # to fund
    assert case_text.milestone(milestone(status=MilestoneStatus.IN_PROGRESS)).waiting_on is WaitingOn.EXPERT
    assert case_text.milestone(milestone(status=MilestoneStatus.FUNDING_PENDING)).waiting_on is WaitingOn.GATEWAY
    held = case_text.milestone(
        milestone(status=MilestoneStatus.COMPLETED, holds=[Hold(transfer_id="t", amount=250_000, available_at=AT)])
    )
    assert held.waiting_on is WaitingOn.NOBODY
    assert "Nobody needs to act." in held.details()
    assert "Next: make USD 2,500.00 available to expert e-17 on 2026-12-05 00:00 UTC." in held.details()


def test_a_refund_says_what_silence_does():
    view = refund.opened(
        RefundInput(
            refund_id="r-1",
            milestone_id="m-1",
            contract_id="c-1",
            client_id="c-9",
            expert_id="e-17",
            amount=10_000,
            currency="USD",
            phase=RefundPhase.ESCROW,
            needs_operator=False,
            message=None,
            invoice_id="inv-1",
            policy=preset("cadcrowd"),
            requested_at=AT,
        )
    )
    case = case_text.refund(view)
    assert case.waiting_on is WaitingOn.EXPERT
    assert f"Next: approve the refund on {view.deadline_at:%Y-%m-%d %H:%M} UTC unless expert e-17 answers." in (
        case.details()
    )


def test_a_dispute_waits_on_the_respondent_then_the_operators():
    view = filed(dispute_input())
    case = case_text.dispute(view)
    assert case.waiting_on is WaitingOn.EXPERT
    assert case.next is not None and case.next.text().startswith("give USD 300.00 to the client on ")
    verdict = case_text.dispute(view.model_copy(update={"status": "arbitration"}))
    assert verdict.waiting_on is WaitingOn.OPERATOR and "an operator's verdict" in verdict.details()


def test_a_week_whose_charge_fails_waits_on_the_client_then_an_operator():
    week = hourly.opened(
        HourlyWeekInput(
            contract_id="h-1",
            client_id="c-9",
            expert_id="e-17",
            week="2026-W49",
            currency="USD",
            hourly_rate=6_000,
            policy=preset("cadcrowd"),
        )
    )
    assert case_text.week(week).waiting_on is WaitingOn.EXPERT
    failing = week.model_copy(
        update={
            "status": WeekStatus.EXPERT_REVIEW,
            "payment_status": PaymentStatus.FAILING,
            "failed_charges": 1,
            "next_charge_at": AT,
        }
    )
    assert case_text.week(failing).waiting_on is WaitingOn.CLIENT
    review = case_text.week(failing.model_copy(update={"invoice_review": True}))
    assert review.waiting_on is WaitingOn.OPERATOR
    assert "Next: charge the card again (1 failed so far) on 2026-12-05 00:00 UTC." in review.details()


def test_a_disputes_details_keep_the_dispute_teams_words_and_add_what_comes_next():
    view = filed(dispute_input())
    text = case_text.dispute_details(view)
    assert text.startswith(details(view))
    assert text.endswith(
        f"Next: give USD 300.00 to the client on {view.deadline_at:%Y-%m-%d %H:%M} UTC unless the expert answers."
    )


def test_what_the_api_starts_says_what_it_is_in_one_line():
    policy = preset("cadcrowd")
    contract = ContractInput(
        contract_id="c-1", client_id="alice", expert_id="bob", type=ContractType.FIXED, currency="USD", policy=policy
    )
    assert case_text.contract_summary(contract) == "Fixed contract c-1: client alice, expert bob"
    payout = PayoutInput(
        payout_id="p-1",
        user_id="bob",
        method_id="m-1",
        kind=PayoutMethodKind.PAYPAL,
        account="bob@example.com",
        account_masked="b***@example.com",
        amount=30_000,
        fee=0,
        currency="USD",
        policy=policy,
        security_hold_until=datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert case_text.payout_summary(payout) == "Payout of USD 300.00 to bob by paypal b***@example.com"
    assert "bob@example.com" not in case_text.payout_summary(payout)  # the Web UI never shows the account

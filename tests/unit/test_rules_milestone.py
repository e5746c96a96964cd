"""The milestone's pure decisions (escrow.rules.milestone): no Temporal, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.models import (
    Actor,
    AnswerChange,
    ChangeStatus,
    Claim,
    ClaimKind,
    ClaimStatus,
    CloseMilestone,
    DeadlineAction,
    DisputeOutcome,
    EscalateRefund,
    Fund,
    Hold,
    Invoice,
    InvoiceKind,
    MilestoneInput,
    MilestoneStatus,
    MilestoneView,
    OpenDispute,
    PartyCommand,
    ProposeChange,
    RefundPhase,
    RefundStatus,
    Release,
    Remainder,
    RequestRefund,
    RequestRevision,
    Resolution,
    Role,
    Submit,
)
from escrow.notices import messages
from escrow.policy import Policy, preset
from escrow.rules import Context
from escrow.rules import dispute as dispute_rules
from escrow.rules import milestone as rules
from escrow.rules import refund as refund_rules
from escrow.rules.milestone import Timer

CADCROWD = preset("cadcrowd")
ELANCE = preset("elance")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WF = "milestone:m1"
CLIENT = Actor(user_id="alice", role=Role.CLIENT)
EXPERT = Actor(user_id="bob", role=Role.EXPERT)
STRANGER = Actor(user_id="mallory", role=Role.CLIENT)


def ctx(now: datetime = NOW, step: int = 7, policy: Policy = CADCROWD) -> Context:
    return Context(now=now, policy=policy, workflow_id=WF, step=step)


def milestone_input(proposed_by: Role = Role.CLIENT, policy: Policy = CADCROWD) -> MilestoneInput:
    return MilestoneInput(
        milestone_id="m1",
        contract_id="c1",
        client_id="alice",
        expert_id="bob",
        title="Drawings",
        amount=50_000,
        currency="USD",
        proposed_by=proposed_by,
        policy=policy,
    )


def milestone(**update: object) -> MilestoneView:
    return rules.initial_view(milestone_input()).model_copy(update=update)


def funded(**update: object) -> MilestoneView:
    return milestone(status=MilestoneStatus.IN_PROGRESS, escrow=50_000, funded=50_000).model_copy(update=update)


def submitted(at: datetime = NOW, policy: Policy = CADCROWD, **update: object) -> MilestoneView:
    return rules.submit(funded(**update), Submit(actor=EXPERT), ctx(at, step=3, policy=policy)).view


def final(amount: int, at: datetime, n: int = 1) -> Invoice:
    return Invoice(
        id=f"{WF}:invoice:final:{n}",
        milestone_id="m1",
        kind=InvoiceKind.FINAL,
        amount=amount,
        currency="USD",
        issued_at=at,
    )


def released(at: datetime = NOW, hold_settled: bool = True) -> MilestoneView:
    """All 500.00 released at `at`; the hold settled unless told otherwise."""
    hold = Hold(transfer_id=f"{WF}:release:1", amount=50_000, available_at=at + timedelta(days=5), settled=hold_settled)
    return milestone(
        status=MilestoneStatus.COMPLETED, funded=50_000, released=50_000, invoices=[final(50_000, at)], holds=[hold]
    )


def claim(id: str = "r1", kind: ClaimKind = ClaimKind.REFUND, amount: int = 10_000, **update: object) -> Claim:
    return Claim(id=id, kind=kind, amount=amount, opened_at=NOW).model_copy(update=update)


def refused(kind: str, fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as err:
        fn(*args)
    assert err.value.type == kind
    return err.value.message


def text(decision, user: str) -> str:  # type: ignore[no-untyped-def]
    return messages(decision.notices)[user]


# ------------------------------------------------------------------ M1, M8 agreement


@pytest.mark.rules("M1", "M8")
def test_initial_view_a_clients_milestone_is_agreed_an_experts_is_proposed():
    assert rules.initial_view(milestone_input(Role.CLIENT)).status == MilestoneStatus.AGREED
    view = rules.initial_view(milestone_input(Role.EXPERT))
    assert (view.status, view.amount, view.escrow, view.policy) == (MilestoneStatus.PROPOSED, 50_000, 0, "cadcrowd")
    decision = rules.created(view, ctx())
    assert (decision.kind, decision.view, decision.transfers) == ("milestone.created", view, [])


@pytest.mark.rules("M8")
def test_accept_and_decline_answer_the_other_partys_proposal():
    proposal = rules.initial_view(milestone_input(Role.EXPERT))
    decision = rules.accept(proposal, PartyCommand(actor=CLIENT), ctx())
    assert (decision.view.status, decision.kind, decision.actor) == (
        MilestoneStatus.AGREED,
        "milestone.accepted",
        CLIENT,
    )
    decision = rules.decline(proposal, PartyCommand(actor=CLIENT), ctx())
    assert (decision.view.status, decision.kind) == (MilestoneStatus.DECLINED, "milestone.declined")
    assert (
        refused("Forbidden", rules.accept, proposal, PartyCommand(actor=EXPERT), ctx()) == "only the client may do this"
    )
    refused("Forbidden", rules.decline, proposal, PartyCommand(actor=STRANGER), ctx())
    msg = refused("Conflict", rules.accept, milestone(proposed_by=Role.CLIENT), PartyCommand(actor=EXPERT), ctx())
    assert msg == "milestone is agreed, not a proposal"


def test_require_party_refuses_strangers_and_the_wrong_role():
    v = milestone()
    rules.require_party(v, CLIENT, Role.CLIENT)
    msg = refused("Forbidden", rules.require_party, v, STRANGER, Role.CLIENT)
    assert msg == "only the parties of this contract may act on its milestones"
    assert refused("Forbidden", rules.require_party, v, EXPERT, Role.CLIENT) == "only the client may do this"


# ------------------------------------------------------------------ M2 funding


@pytest.mark.rules("M2")
def test_fund_credits_the_escrow_from_the_card_once_authenticated():
    decision = rules.fund(milestone(), Fund(actor=CLIENT), ctx())
    (transfer,) = decision.transfers
    assert (transfer.id, transfer.debit, transfer.credit, transfer.amount, transfer.kind) == (
        f"{WF}:fund",
        accounts.WORLD_CARD,
        accounts.milestone_escrow("m1"),
        50_000,
        "fund",
    )
    assert (decision.view.status, decision.view.escrow, decision.view.funded) == (
        MilestoneStatus.IN_PROGRESS,
        50_000,
        50_000,
    )
    assert decision.kind == "milestone.funded"


@pytest.mark.rules("M2")
def test_fund_waits_for_card_authentication():
    pending = rules.fund(milestone(), Fund(actor=CLIENT, card_authenticated=False), ctx())
    assert (pending.view.status, pending.kind, pending.transfers) == (
        MilestoneStatus.FUNDING_PENDING,
        "milestone.funding_pending",
        [],
    )
    decision = rules.authenticate_funding(pending.view, PartyCommand(actor=CLIENT), ctx())
    assert [t.id for t in decision.transfers] == [f"{WF}:fund"]
    assert decision.view.status == MilestoneStatus.IN_PROGRESS
    msg = refused("Conflict", rules.authenticate_funding, milestone(), PartyCommand(actor=CLIENT), ctx())
    assert msg == "no funding is waiting for card authentication; milestone is agreed"
    refused("Forbidden", rules.fund, milestone(), Fund(actor=EXPERT), ctx())
    msg = refused("Conflict", rules.fund, funded(), Fund(actor=CLIENT), ctx())
    assert msg == "only an agreed, unfunded milestone can be funded; it is in_progress"
    rules.check_fund(milestone(), Fund(actor=CLIENT), ctx())
    rules.check_authenticate(pending.view, PartyCommand(actor=CLIENT), ctx())


# ------------------------------------------------------------------ M3, M4, M7 review


@pytest.mark.rules("M3", "M4")
def test_submit_opens_the_review_window_with_a_pro_forma_invoice():
    decision = rules.submit(funded(), Submit(actor=EXPERT, message="done"), ctx(step=4))
    v = decision.view
    assert (v.status, v.submitted_at, v.deadline_at, v.deadline_action) == (
        MilestoneStatus.SUBMITTED,
        NOW,
        NOW + timedelta(days=14),
        DeadlineAction.AUTO_RELEASE,
    )
    (invoice,) = decision.invoices
    assert (invoice.id, invoice.kind, invoice.amount) == (f"{WF}:invoice:4", InvoiceKind.PRO_FORMA, 50_000)
    assert v.invoices == [invoice]
    assert (decision.kind, decision.data) == ("milestone.submitted", {"message": "done"})
    assert messages(decision.notices) == {
        "alice": "'Drawings' was submitted for review; it releases USD 500.00 automatically on 2026-03-16 09:00 UTC "
        "unless you release, ask for revisions, a refund or dispute."
    }


@pytest.mark.rules("M3")
def test_submit_needs_the_funded_milestone_and_its_expert():
    assert refused("Conflict", rules.submit, milestone(), Submit(actor=EXPERT), ctx()).endswith("it is not funded yet")
    assert refused("Conflict", rules.check_submit, submitted(), Submit(actor=EXPERT), ctx()).endswith("it is submitted")
    refused("Forbidden", rules.submit, funded(), Submit(actor=CLIENT), ctx())


@pytest.mark.rules("M3", "M7")
def test_void_and_revision_reopen_the_work():
    v = submitted()
    voided = rules.void_submission(v, PartyCommand(actor=EXPERT), ctx())
    assert (voided.view.status, voided.view.deadline_at, voided.view.submitted_at, voided.kind) == (
        MilestoneStatus.IN_PROGRESS,
        None,
        None,
        "milestone.submission_voided",
    )
    revised = rules.request_revision(v, RequestRevision(actor=CLIENT, message="wrong scale"), ctx())
    assert (revised.view.status, revised.view.revisions, v.revisions) == (MilestoneStatus.IN_PROGRESS, 1, 0)
    assert text(revised, "bob") == "The client asked for revisions of 'Drawings': wrong scale"
    assert revised.data == {"message": "wrong scale"}
    refused("Forbidden", rules.void_submission, v, PartyCommand(actor=CLIENT), ctx())
    refused("Forbidden", rules.request_revision, v, RequestRevision(actor=EXPERT, message="x"), ctx())
    late = ctx(NOW + timedelta(days=14))
    assert refused("Conflict", rules.check_void, v, PartyCommand(actor=EXPERT), late) == "the review window has ended"
    msg = refused("Conflict", rules.check_revision, funded(), RequestRevision(actor=CLIENT, message="x"), ctx())
    assert msg == "no release request is open; milestone is in_progress"
    rules.require_review_open(v, ctx())


# ------------------------------------------------------------------ M4, M6, M9 paying


@pytest.mark.rules("M6", "M9", "L5")
def test_release_of_part_holds_it_and_invoices_it():
    decision = rules.release(funded(), Release(actor=CLIENT, amount=20_000), ctx(step=5))
    (transfer,) = decision.transfers
    available = NOW + timedelta(days=5)
    assert (transfer.id, transfer.credit, transfer.amount, transfer.available_at) == (
        f"{WF}:release:1",
        accounts.expert_pending("bob"),
        20_000,
        available,
    )
    v = decision.view
    assert (v.status, v.escrow, v.released) == (MilestoneStatus.PARTIALLY_RELEASED, 30_000, 20_000)
    assert [(h.transfer_id, h.amount, h.available_at) for h in v.holds] == [(f"{WF}:release:1", 20_000, available)]
    (invoice,) = decision.invoices
    assert (invoice.id, invoice.kind, invoice.amount, invoice.clears_at) == (
        f"{WF}:invoice:final:1",
        InvoiceKind.FINAL,
        20_000,
        available,
    )
    assert messages(decision.notices) == {
        "bob": "USD 200.00 for 'Drawings' was released to you; available on 2026-03-07 09:00 UTC.",
        "alice": "USD 200.00 for 'Drawings' was released to the expert.",
    }
    assert (decision.kind, decision.data) == ("milestone.released", {"to_client": 0, "to_expert": 20_000})
    # The second release is the second final invoice.
    second = rules.release(v, Release(actor=CLIENT, amount=30_000), ctx(step=6))
    assert [t.id for t in second.transfers] == [f"{WF}:release:2"]
    assert (second.view.status, second.view.escrow, second.view.deadline_at) == (MilestoneStatus.COMPLETED, 0, None)


@pytest.mark.rules("M6", "D1")
def test_release_refusals():
    frozen = funded(claims=[claim(kind=ClaimKind.DISPUTE, amount=20_000)])
    msg = refused("Conflict", rules.release, frozen, Release(actor=CLIENT, amount=30_001), ctx())
    assert (
        msg
        == "cannot release USD 300.01: escrow holds USD 300.00 that can move (USD 200.00 is frozen by an open refund request or dispute)"
    )
    assert rules.check_release(frozen, Release(actor=CLIENT, amount=30_000), ctx()) == 30_000
    pending = milestone(status=MilestoneStatus.FUNDING_PENDING)
    assert "not authenticated yet" in refused(
        "Conflict", rules.release, pending, Release(actor=CLIENT, amount=1), ctx()
    )
    assert (
        refused("Conflict", rules.release, milestone(), Release(actor=CLIENT, amount=1), ctx())
        == "nothing to release: milestone is agreed"
    )
    refused("Forbidden", rules.release, funded(), Release(actor=EXPERT, amount=1), ctx())


@pytest.mark.rules("R3", "L4")
def test_paid_out_to_the_client_by_step_or_by_the_claim_it_settles():
    decision = rules.paid_out(funded(), ctx(step=9), 50_000, 0, EXPERT, "milestone.refunded_on_close")
    (transfer,) = decision.transfers
    assert (transfer.id, transfer.credit, transfer.kind) == (
        f"{WF}:refund:9",
        accounts.client_balance("alice"),
        "refund",
    )
    assert (decision.view.status, decision.view.refunded, decision.invoices) == (MilestoneStatus.COMPLETED, 50_000, [])
    assert messages(decision.notices) == {"alice": "USD 500.00 of 'Drawings' was refunded to your balance."}
    v = funded(claims=[claim("d1", ClaimKind.DISPUTE, 50_000)])
    decision = rules.paid_out(v, ctx(step=9), 30_000, 20_000, None, "milestone.dispute_resolved", settle="d1")
    assert [t.id for t in decision.transfers] == [f"{WF}:refund:d1", f"{WF}:release:1"]
    (settled,) = decision.view.claims
    assert (settled.status, settled.closed_at, settled.amount_to_client) == (ClaimStatus.SETTLED, NOW, 30_000)
    assert (decision.view.escrow, decision.view.released, decision.view.refunded) == (0, 20_000, 30_000)


@pytest.mark.rules("M4", "D1")
def test_auto_release_at_the_deadline_skips_frozen_money():
    v = submitted(claims=[claim(kind=ClaimKind.DISPUTE, amount=10_000)])
    assert rules.auto_release(v, ctx(NOW + timedelta(days=14) - timedelta(seconds=1))) is None
    decision = rules.auto_release(v, ctx(NOW + timedelta(days=14)))
    assert decision is not None and decision.kind == "milestone.auto_released" and decision.actor is None
    assert [(t.id, t.amount) for t in decision.transfers] == [(f"{WF}:release:1", 40_000)]
    # Money still frozen: the review stays open until the claim lets it go.
    assert (decision.view.status, decision.view.escrow, decision.view.deadline_at) == (
        MilestoneStatus.SUBMITTED,
        10_000,
        v.deadline_at,
    )
    assert rules.auto_release(decision.view, ctx(NOW + timedelta(days=15))) is None
    assert rules.auto_release(funded(), ctx(NOW + timedelta(days=30))) is None


# ------------------------------------------------------------------ R1–R4, M10 refunds


@pytest.mark.rules("R1")
def test_check_refund_of_escrow():
    v = funded()
    assert rules.check_refund(v, RequestRefund(actor=CLIENT, amount=50_000), ctx()) == (RefundPhase.ESCROW, False)
    assert (
        refused("Conflict", rules.check_refund, v, RequestRefund(actor=CLIENT, amount=50_001), ctx())
        == "escrow holds USD 500.00 that a refund can take"
    )
    refused("Forbidden", rules.check_refund, v, RequestRefund(actor=EXPERT, amount=1), ctx())
    assert (
        refused("Conflict", rules.check_refund, milestone(), RequestRefund(actor=CLIENT, amount=1), ctx())
        == "nothing to refund: milestone is agreed"
    )
    waiting = funded(claims=[claim()])
    msg = refused("Conflict", rules.check_refund, waiting, RequestRefund(actor=CLIENT, amount=1), ctx())
    assert msg == "a refund request on this milestone is already waiting for an answer"
    frozen = funded(claims=[claim(kind=ClaimKind.DISPUTE, amount=50_000)])
    msg = refused("Conflict", rules.check_refund, frozen, RequestRefund(actor=CLIENT, amount=1), ctx())
    assert msg == "the escrow is frozen by an open refund request or dispute"


@pytest.mark.rules("M10")
@pytest.mark.parametrize(
    "age, answer",
    [
        (timedelta(days=179, hours=23), (RefundPhase.AFTER_RELEASE, False)),
        (timedelta(days=180), (RefundPhase.AFTER_RELEASE, True)),
        (timedelta(days=364, hours=23), (RefundPhase.AFTER_RELEASE, True)),
        (timedelta(days=365), None),
    ],
)
def test_check_refund_of_released_money(age, answer):
    v = released()
    command = RequestRefund(actor=CLIENT, amount=5_000)
    if answer is None:
        assert (
            refused("Conflict", rules.check_refund, v, command, ctx(NOW + age))
            == "refunds end 365 days after the invoice is paid (M10)"
        )
    else:
        assert rules.check_refund(v, command, ctx(NOW + age)) == answer
    held = v.model_copy(
        update={"claims": [claim("r0", amount=40_000, after_release=True, status=ClaimStatus.DECLINED)]}
    )
    msg = refused(
        "Conflict", rules.check_refund, held, RequestRefund(actor=CLIENT, amount=10_001), ctx(NOW + timedelta(days=6))
    )
    assert msg == "at most USD 100.00 of the released money can be refunded"


@pytest.mark.rules("R1", "M10")
def test_refund_requested_answers_the_same_request_the_child_starts_with():
    v = submitted()
    request = rules.refund_input(v, "r1", 20_000, "late", RefundPhase.ESCROW, False, ctx())
    assert (request.invoice_id, request.requested_at, request.milestone_id, request.policy) == (
        f"{WF}:invoice:3",
        NOW,
        "m1",
        CADCROWD,
    )
    opened = refund_rules.opened(request)
    assert (opened.id, opened.status, opened.deadline_at) == ("r1", RefundStatus.PENDING, NOW + timedelta(days=7))
    decision = rules.refund_requested(v, CLIENT, request, ctx())
    (new,) = decision.view.claims
    assert (new.id, new.kind, new.amount, new.after_release, new.opened_at) == (
        "r1",
        ClaimKind.REFUND,
        20_000,
        False,
        NOW,
    )
    assert decision.view.frozen == 20_000
    assert (decision.kind, decision.data) == (
        "milestone.refund_requested",
        {"refund_id": "r1", "amount": 20_000, "phase": "escrow"},
    )
    after = rules.refund_input(released(), "r2", 5_000, None, RefundPhase.AFTER_RELEASE, True, ctx())
    assert rules.refund_requested(released(), CLIENT, after, ctx()).view.claims[0].after_release


@pytest.mark.rules("R3")
def test_refund_decided_approved_on_escrow_pays_the_rest_to_the_expert():
    v = funded(claims=[claim("r1", amount=20_000)])
    outcome = refund_rules.opened(rules.refund_input(v, "r1", 20_000, None, RefundPhase.ESCROW, False, ctx()))
    approved = outcome.model_copy(update={"status": RefundStatus.APPROVED})
    decision = rules.refund_decided(v, "r1", approved, ctx(step=8))
    assert [(t.id, t.amount) for t in decision.transfers] == [(f"{WF}:refund:r1", 20_000), (f"{WF}:release:1", 30_000)]
    assert (decision.kind, decision.view.status, decision.view.refunded, decision.view.released) == (
        "milestone.refund_approved",
        MilestoneStatus.COMPLETED,
        20_000,
        30_000,
    )
    assert decision.view.claims[0].status == ClaimStatus.SETTLED


@pytest.mark.rules("M10", "L3")
def test_refund_decided_approved_on_released_money_claws_it_back():
    v = released(hold_settled=False).model_copy(update={"claims": [claim("r1", amount=20_000, after_release=True)]})
    outcome = refund_rules.opened(rules.refund_input(v, "r1", 20_000, None, RefundPhase.AFTER_RELEASE, False, ctx()))
    decision = rules.refund_decided(v, "r1", outcome.model_copy(update={"status": RefundStatus.APPROVED}), ctx())
    assert [(t.id, t.kind, t.amount) for t in decision.transfers] == [
        (f"{WF}:release:1:clawback", "hold_clawback", 50_000),
        (f"{WF}:release:1:rehold", "rehold", 30_000),
        (f"{WF}:refund:r1", "refund_after_release", 20_000),
    ]
    assert (decision.view.released, decision.view.refunded, decision.view.claims[0].status) == (
        30_000,
        20_000,
        ClaimStatus.SETTLED,
    )
    unpaid = rules.refund_unpaid(v, "r1", ctx())
    assert (unpaid.kind, unpaid.transfers, unpaid.view.claims[0].status, unpaid.view.released) == (
        "milestone.refund_unpaid",
        [],
        ClaimStatus.UNPAID,
        50_000,
    )
    assert messages(unpaid.notices) == {
        "alice": "The approved refund of USD 200.00 could not be paid: the expert's available balance is short.",
        "bob": "The refund of USD 200.00 you approved could not be paid from your available balance.",
    }


@pytest.mark.rules("R4", "M10")
def test_refund_decided_declined_may_be_escalated_for_a_while():
    v = funded(claims=[claim("r1")])
    outcome = refund_rules.opened(rules.refund_input(v, "r1", 10_000, None, RefundPhase.ESCROW, False, ctx()))
    declined = outcome.model_copy(update={"status": RefundStatus.DECLINED})
    decision = rules.refund_decided(v, "r1", declined, ctx())
    assert (decision.kind, decision.data, decision.transfers) == ("milestone.refund_declined", {"refund_id": "r1"}, [])
    c = decision.view.claims[0]
    assert (c.status, c.escalate_until, decision.view.frozen) == (ClaimStatus.DECLINED, NOW + timedelta(days=7), 10_000)
    # M10: a decline on released money can be escalated only within the dispute window.
    after = released(NOW - timedelta(days=27)).model_copy(update={"claims": [claim("r1", after_release=True)]})
    decision = rules.refund_decided(after, "r1", declined, ctx())
    assert decision.view.claims[0].escalate_until == NOW + timedelta(days=3)
    gone = rules.refund_decided(after, "r1", declined, ctx(NOW + timedelta(days=3)))
    assert (gone.kind, gone.data, gone.view.claims[0].status) == (
        "milestone.refund_declined",
        {"claims": ["r1"]},
        ClaimStatus.CLOSED,
    )


@pytest.mark.rules("R4")
def test_close_lapsed_frees_what_a_declined_refund_froze():
    v = funded(claims=[claim("r1", status=ClaimStatus.DECLINED, escalate_until=NOW + timedelta(days=7))])
    assert rules.close_lapsed(v, ctx(NOW + timedelta(days=6))) is None
    decision = rules.close_lapsed(v, ctx(NOW + timedelta(days=7)))
    assert decision is not None
    c = decision.view.claims[0]
    assert (c.status, c.escalate_until, c.closed_at, decision.view.frozen) == (
        ClaimStatus.CLOSED,
        None,
        NOW + timedelta(days=7),
        0,
    )
    assert (decision.kind, decision.data) == ("milestone.refund_not_escalated", {"claims": ["r1"]})


# ------------------------------------------------------------------ D1, R4 disputes


@pytest.mark.rules("D1")
def test_check_dispute_of_escrow_and_of_released_money():
    assert rules.check_dispute(funded(), OpenDispute(actor=EXPERT, amount=50_000, reason="x"), ctx()) is False
    msg = refused(
        "Conflict", rules.check_dispute, funded(), OpenDispute(actor=CLIENT, amount=50_001, reason="x"), ctx()
    )
    assert msg == "only USD 500.00 of the escrow is unreleased and not already in dispute (D1)"
    assert (
        refused("Conflict", rules.check_dispute, milestone(), OpenDispute(actor=CLIENT, amount=1, reason="x"), ctx())
        == "nothing to dispute: milestone is agreed"
    )
    refused("Forbidden", rules.check_dispute, funded(), OpenDispute(actor=STRANGER, amount=1, reason="x"), ctx())
    # M10: released money, by the client, within 30 days.
    assert (
        rules.check_dispute(
            released(), OpenDispute(actor=CLIENT, amount=10_000, reason="x"), ctx(NOW + timedelta(days=29))
        )
        is True
    )
    msg = refused("Conflict", rules.check_dispute, released(), OpenDispute(actor=EXPERT, amount=1, reason="x"), ctx())
    assert msg == "nothing in escrow is free to dispute (D1)"
    msg = refused(
        "Conflict",
        rules.check_dispute,
        released(),
        OpenDispute(actor=CLIENT, amount=1, reason="x"),
        ctx(NOW + timedelta(days=30)),
    )
    assert msg == "a dispute on released money is possible only 30 days after payment (M10)"


@pytest.mark.rules("M10")
def test_check_dispute_after_release_counts_what_claims_hold():
    v = released().model_copy(
        update={"claims": [claim("r1", amount=20_000, after_release=True, status=ClaimStatus.DECLINED)]}
    )
    rules.check_dispute_after_release(v, 30_000, ctx())
    msg = refused("Conflict", rules.check_dispute_after_release, v, 30_001, ctx())
    assert (
        msg
        == "at most USD 300.00 of the released money can be disputed: the rest was refunded or is claimed by an open refund request"
    )
    # The escalated request hands its own hold to the dispute.
    rules.check_dispute_after_release(v, 50_000, ctx(), v.claims[0])


@pytest.mark.rules("R4")
def test_check_escalate():
    declined = claim("r1", status=ClaimStatus.DECLINED, escalate_until=NOW + timedelta(days=7))
    v = funded(claims=[declined])
    assert rules.check_escalate(v, EscalateRefund(actor=CLIENT, refund_id="r1"), ctx()) == declined
    assert (
        refused("NotFound", rules.check_escalate, v, EscalateRefund(actor=CLIENT, refund_id="nope"), ctx())
        == "no such refund request on this milestone"
    )
    refused("Forbidden", rules.check_escalate, v, EscalateRefund(actor=EXPERT, refund_id="r1"), ctx())
    msg = refused(
        "Conflict", rules.check_escalate, v, EscalateRefund(actor=CLIENT, refund_id="r1"), ctx(NOW + timedelta(days=7))
    )
    assert msg == "the time to escalate this refund request has passed"
    opened = funded(claims=[claim("r1")])
    assert "escalate once it is declined" in refused(
        "Conflict", rules.check_escalate, opened, EscalateRefund(actor=CLIENT, refund_id="r1"), ctx()
    )
    closed = funded(claims=[claim("r1", status=ClaimStatus.CLOSED)])
    msg = refused("Conflict", rules.check_escalate, closed, EscalateRefund(actor=CLIENT, refund_id="r1"), ctx())
    assert msg == "only a declined refund request can be escalated; this one is closed"


@pytest.mark.rules("D1")
def test_dispute_opened_on_escrow_freezes_it_and_answers_the_filed_dispute():
    v = funded()
    filing = rules.dispute_input(v, "d1", Role.CLIENT, 20_000, "missing drawings", ctx())
    assert (filing.owner_workflow_id, filing.filed_at, filing.claimant) == (WF, NOW, Role.CLIENT)
    view = dispute_rules.filed(filing)
    assert (view.id, view.amount, view.respondent, view.filed_at) == ("d1", 20_000, Role.EXPERT, NOW)
    decision = rules.dispute_opened(v, CLIENT, "d1", 20_000, False, ctx())
    assert (decision.transfers, decision.view.escrow, decision.view.frozen) == ([], 50_000, 20_000)
    assert (decision.kind, decision.data) == ("milestone.dispute_opened", {"dispute_id": "d1", "amount": 20_000})


@pytest.mark.rules("M10", "R4", "L3")
def test_dispute_opened_on_released_money_brings_it_back_into_escrow():
    declined = claim("r1", amount=20_000, after_release=True, status=ClaimStatus.DECLINED)
    v = released().model_copy(update={"claims": [declined]})
    decision = rules.dispute_opened(v, CLIENT, "d1", 20_000, True, ctx(), escalated=declined)
    (transfer,) = decision.transfers
    assert (transfer.id, transfer.debit, transfer.credit, transfer.kind) == (
        f"{WF}:clawback:d1",
        accounts.expert_available("bob"),
        accounts.milestone_escrow("m1"),
        "clawback",
    )
    escalated, dispute = decision.view.claims
    assert (escalated.status, escalated.escalated_to, escalated.closed_at) == (ClaimStatus.ESCALATED, "d1", NOW)
    assert (dispute.kind, dispute.after_release) == (ClaimKind.DISPUTE, False)
    assert (decision.view.escrow, decision.view.released, decision.view.frozen) == (20_000, 30_000, 20_000)


@pytest.mark.rules("D1")
def test_dispute_resolved_pays_the_split():
    v = funded(claims=[claim("d1", ClaimKind.DISPUTE, 10_000)], escrow=10_000, released=40_000)
    outcome = DisputeOutcome(
        amount_to_client=4_000, amount_to_expert=6_000, resolution=Resolution.OFFER, winner=Role.EXPERT, decided_at=NOW
    )
    decision = rules.dispute_resolved(v, "d1", outcome, ctx())
    assert [(t.id, t.amount) for t in decision.transfers] == [(f"{WF}:refund:d1", 4_000), (f"{WF}:release:1", 6_000)]
    assert (decision.kind, decision.view.status, decision.view.claims[0].amount_to_client) == (
        "milestone.dispute_resolved",
        MilestoneStatus.COMPLETED,
        4_000,
    )


# ------------------------------------------------------------------ C1 closing


@pytest.mark.rules("C1")
def test_close():
    cancelled = rules.close(milestone(), CloseMilestone(actor=CLIENT, remainder=Remainder.REFUND), ctx())
    assert cancelled is not None and (cancelled.view.status, cancelled.kind) == (
        MilestoneStatus.CANCELLED,
        "milestone.cancelled",
    )
    assert rules.refund_on_close(milestone(), CloseMilestone(actor=CLIENT, remainder=Remainder.REFUND)) == 0
    release = rules.close(funded(), CloseMilestone(actor=CLIENT, remainder=Remainder.RELEASE), ctx(step=4))
    assert release is not None and release.kind == "milestone.released_on_close"
    assert [t.id for t in release.transfers] == [f"{WF}:release:1"]
    back = rules.close(funded(), CloseMilestone(actor=EXPERT, remainder=Remainder.REFUND), ctx(step=4))
    assert back is not None and back.kind == "milestone.refunded_on_close"
    assert [t.id for t in back.transfers] == [f"{WF}:refund:4"]
    # The client's money comes back by refund request, unless one is already open.
    command = CloseMilestone(actor=CLIENT, remainder=Remainder.REFUND)
    assert rules.close(funded(), command, ctx()) is None
    assert rules.refund_on_close(funded(), command) == 50_000
    assert rules.refund_on_close(funded(claims=[claim("r1")]), command) == 0
    assert rules.refund_on_close(funded(), CloseMilestone(actor=EXPERT, remainder=Remainder.REFUND)) == 0
    frozen = funded(claims=[claim("d1", ClaimKind.DISPUTE, 50_000)])
    assert rules.close(frozen, CloseMilestone(actor=CLIENT, remainder=Remainder.RELEASE), ctx()) is None
    assert rules.refund_on_close(frozen, command) == 0


@pytest.mark.rules("C1", "C2")
def test_summary_tells_the_contract_whether_the_money_is_settled():
    assert rules.summary(milestone()).settled is False
    assert rules.summary(milestone(status=MilestoneStatus.DECLINED)).settled is True
    assert rules.summary(funded()).settled is False
    done = rules.summary(released(), finished=True)
    assert (done.settled, done.finished, done.released, done.escrow) == (True, True, 50_000, 0)
    assert (
        rules.summary(
            released().model_copy(update={"escrow": 10_000, "claims": [claim("d1", ClaimKind.DISPUTE)]})
        ).settled
        is False
    )


# ------------------------------------------------------------------ deadlines


@pytest.mark.rules("M5")
def test_elance_marks_overdue_then_reminds():
    v = submitted(policy=ELANCE)
    deadline = NOW + timedelta(days=30)
    assert v.deadline_at == deadline
    at = {timer: sorted(t for t, kind in rules.timers(v, ELANCE, set()) if kind == timer) for timer in Timer}
    assert at[Timer.AUTO_RELEASE] == [deadline]
    assert at[Timer.REMIND] == sorted(
        [
            NOW + timedelta(days=15),
            deadline - timedelta(days=7),
            deadline - timedelta(days=3),
            deadline - timedelta(days=1),
        ]
    )
    assert rules.remind(v, ctx(NOW + timedelta(days=14), policy=ELANCE), set()) is None

    overdue = rules.remind(v, ctx(NOW + timedelta(days=15), policy=ELANCE), set())
    assert overdue is not None and (overdue.kind, overdue.view.overdue) == ("milestone.overdue", True)
    assert messages(overdue.notices) == {
        "alice": "The release request for 'Drawings' is overdue; it auto-releases on 2026-04-01 09:00 UTC.",
        "bob": "The release request for 'Drawings' is overdue; it auto-releases on 2026-04-01 09:00 UTC.",
    }
    v = overdue.view
    seven = ctx(deadline - timedelta(days=7), policy=ELANCE)
    assert rules.reminders_due(v, seven, set()) == {timedelta(days=7)}
    reminder = rules.remind(v, seven, set())
    assert reminder is not None and reminder.kind == "milestone.reminder" and reminder.view == v
    assert (
        text(reminder, "alice")
        == text(reminder, "bob")
        == "Reminder: 'Drawings' auto-releases on 2026-04-01 09:00 UTC."
    )
    assert rules.remind(v, seven, {timedelta(days=7)}) is None
    assert [t for t, kind in rules.timers(v, ELANCE, {timedelta(days=7)}) if kind == Timer.REMIND] == [
        deadline - timedelta(days=3),
        deadline - timedelta(days=1),
    ]
    # Past the deadline nothing more is said: the auto-release speaks.
    assert rules.reminders_due(v, ctx(deadline, policy=ELANCE), set()) == set()
    assert rules.remind(v, ctx(deadline, policy=ELANCE), set()) is None


@pytest.mark.rules("M5")
def test_overdue_and_reminder_due_together_send_the_reminder():
    v = submitted(policy=ELANCE)
    late = ctx(NOW + timedelta(days=29, hours=12), policy=ELANCE)
    assert rules.reminders_due(v, late, set()) == {timedelta(days=7), timedelta(days=3), timedelta(days=1)}
    decision = rules.remind(v, late, set())
    assert decision is not None and (decision.kind, decision.view.overdue) == ("milestone.overdue", True)
    assert text(decision, "alice") == "Reminder: 'Drawings' auto-releases on 2026-04-01 09:00 UTC."


@pytest.mark.rules("M9", "L5")
def test_settle_holds_when_they_end():
    v = released(hold_settled=False)
    assert rules.timers(v, CADCROWD, set()) == [
        (NOW + timedelta(days=5), Timer.SETTLE),
        (NOW + timedelta(days=365), Timer.END),
    ]
    assert rules.settle_holds(v, ctx(NOW + timedelta(days=4))) is None
    decision = rules.settle_holds(v, ctx(NOW + timedelta(days=5)))
    assert decision is not None
    (transfer,) = decision.transfers
    assert (transfer.id, transfer.debit, transfer.credit, transfer.settles) == (
        f"{WF}:release:1:settle",
        accounts.expert_pending("bob"),
        accounts.expert_available("bob"),
        f"{WF}:release:1",
    )
    assert (decision.kind, decision.data, decision.view.holds[0].settled) == (
        "milestone.hold_released",
        {"amount": 50_000},
        True,
    )


@pytest.mark.rules("R4", "M4")
def test_timers_list_lapses_and_the_auto_release_only_of_free_money():
    until = NOW + timedelta(days=7)
    v = submitted(claims=[claim("r1", amount=50_000, status=ClaimStatus.DECLINED, escalate_until=until)])
    assert rules.timers(v, CADCROWD, set()) == [(until, Timer.LAPSE)]
    assert rules.timers(funded(), CADCROWD, set()) == []


@pytest.mark.rules("M10")
def test_finished_a_year_after_the_last_payment_with_everything_closed():
    v = released()
    assert not rules.finished(v, ctx(NOW + timedelta(days=364)))
    assert rules.finished(v, ctx(NOW + timedelta(days=365)))
    assert not rules.finished(released(hold_settled=False), ctx(NOW + timedelta(days=400)))
    declined = v.model_copy(update={"claims": [claim("r1", after_release=True, status=ClaimStatus.DECLINED)]})
    assert not rules.finished(declined, ctx(NOW + timedelta(days=400)))
    assert rules.finished(milestone(status=MilestoneStatus.CANCELLED), ctx())
    assert rules.finished(milestone(status=MilestoneStatus.COMPLETED), ctx())  # refunded whole: nothing was paid
    assert not rules.finished(funded(), ctx(NOW + timedelta(days=400)))


# ------------------------------------------------------------------ M8 changes, C4


def _change(v: MilestoneView, by: Actor = CLIENT, step: int = 9, **fields: object):  # type: ignore[no-untyped-def]
    return rules.propose_change(v, ProposeChange(actor=by, **fields), ctx(step=step))  # type: ignore[arg-type]


@pytest.mark.rules("M8")
def test_either_party_proposes_a_change_the_other_answers():
    proposed = _change(funded(), EXPERT, title="Drawings, v2", due_date=date(2026, 4, 1))
    (change,) = proposed.view.changes
    assert (change.id, change.status, change.proposed_by, change.title, change.due_date, change.amount) == (
        "change-9",
        ChangeStatus.PROPOSED,
        Role.EXPERT,
        "Drawings, v2",
        date(2026, 4, 1),
        None,
    )
    assert proposed.kind == "milestone.change_proposed"
    assert text(proposed, "alice") == "The expert proposed a change to 'Drawings'; approve or decline it."
    answer = AnswerChange(actor=CLIENT, change_id="change-9")
    # The proposer can't answer its own; strangers can't either; an unknown change is 404.
    assert refused(
        "Forbidden", rules.accept_change, proposed.view, AnswerChange(actor=EXPERT, change_id="change-9"), ctx()
    ) == ("a proposed change is answered by the other party (M8)")
    refused("Forbidden", rules.decline_change, proposed.view, AnswerChange(actor=STRANGER, change_id="change-9"), ctx())
    refused("NotFound", rules.accept_change, proposed.view, AnswerChange(actor=CLIENT, change_id="change-1"), ctx())
    # Proposals never expire: a year later it is still open to an answer.
    accepted = rules.accept_change(proposed.view, answer, ctx(NOW + timedelta(days=365)))
    v = accepted.view
    assert (v.title, v.due_date, v.amount, v.status) == (
        "Drawings, v2",
        date(2026, 4, 1),
        50_000,
        MilestoneStatus.IN_PROGRESS,
    )
    assert (v.changes[0].status, v.changes[0].decided_at) == (ChangeStatus.ACCEPTED, NOW + timedelta(days=365))
    assert text(accepted, "bob") == "Your proposed change to 'Drawings' was approved."
    assert refused("Conflict", rules.decline_change, v, answer, ctx()) == "this change was already accepted"
    declined = rules.decline_change(_change(funded(), EXPERT, description="more").view, answer, ctx())
    assert (declined.view.changes[0].status, declined.view.description) == (ChangeStatus.DECLINED, None)
    assert text(declined, "bob") == "Your proposed change to 'Drawings' was declined."


@pytest.mark.rules("M8")
def test_an_amount_only_grows_and_the_client_funds_the_difference_into_the_same_escrow():
    assert refused("Conflict", rules.propose_change, funded(), ProposeChange(actor=CLIENT, amount=50_000), ctx()) == (
        "a milestone's amount may only grow (M8): it is USD 500.00"
    )
    refused("Conflict", rules.propose_change, funded(), ProposeChange(actor=CLIENT, amount=40_000), ctx())
    proposed = _change(funded(), EXPERT, amount=80_000).view
    # Another increase accepted meanwhile: the smaller one no longer grows it.
    bigger = _change(proposed, EXPERT, step=10, amount=90_000).view
    raised = rules.accept_change(bigger, AnswerChange(actor=CLIENT, change_id="change-10"), ctx()).view
    refused("Conflict", rules.check_accept_change, raised, AnswerChange(actor=CLIENT, change_id="change-9"), ctx())
    v = rules.accept_change(proposed, AnswerChange(actor=CLIENT, change_id="change-9"), ctx()).view
    assert (v.amount, v.escrow, v.funded) == (80_000, 50_000, 50_000)
    msg = refused("Conflict", rules.fund, v, Fund(actor=CLIENT, card_authenticated=False), ctx())
    assert msg == "funding an approved increase needs an authenticated card (M2, M8)"
    refused("Forbidden", rules.fund, v, Fund(actor=EXPERT), ctx())
    topped = rules.fund(v, Fund(actor=CLIENT), ctx(step=12))
    (transfer,) = topped.transfers
    assert (transfer.id, transfer.amount, transfer.credit) == (f"{WF}:fund:12", 30_000, accounts.milestone_escrow("m1"))
    assert (topped.view.status, topped.view.escrow, topped.view.funded) == (MilestoneStatus.IN_PROGRESS, 80_000, 80_000)
    # Funded in full: nothing more to fund.
    refused("Conflict", rules.fund, topped.view, Fund(actor=CLIENT), ctx())
    # Under review the top-up joins the escrow the review releases; the status stays.
    under_review = submitted().model_copy(update={"amount": 60_000})
    assert (rules.fund(under_review, Fund(actor=CLIENT), ctx()).view.status) == MilestoneStatus.SUBMITTED
    # Before the first funding an accepted increase is simply the amount to fund.
    agreed = rules.accept_change(
        _change(milestone(), EXPERT, amount=70_000).view, AnswerChange(actor=CLIENT, change_id="change-9"), ctx()
    ).view
    assert [(t.id, t.amount) for t in rules.fund(agreed, Fund(actor=CLIENT), ctx()).transfers] == [
        (f"{WF}:fund", 70_000)
    ]


@pytest.mark.rules("M8")
def test_only_a_milestone_not_yet_funded_can_be_removed_by_agreement():
    assert refused("Conflict", rules.propose_change, funded(), ProposeChange(actor=CLIENT, remove=True), ctx()) == (
        "only a milestone not yet funded can be removed (M8); it is in_progress"
    )
    proposed = _change(milestone(), EXPERT, remove=True).view
    removed = rules.accept_change(proposed, AnswerChange(actor=CLIENT, change_id="change-9"), ctx()).view
    assert removed.status == MilestoneStatus.CANCELLED
    assert rules.finished(removed, ctx())
    # Funded after the proposal: the removal can no longer be accepted.
    funded_since = proposed.model_copy(
        update={"status": MilestoneStatus.IN_PROGRESS, "escrow": 50_000, "funded": 50_000}
    )
    refused("Conflict", rules.accept_change, funded_since, AnswerChange(actor=CLIENT, change_id="change-9"), ctx())
    assert refused("Conflict", rules.propose_change, removed, ProposeChange(actor=CLIENT, title="x"), ctx()) == (
        "milestone is cancelled: it can no longer be changed (M8)"
    )
    refused("Forbidden", rules.propose_change, funded(), ProposeChange(actor=STRANGER, title="x"), ctx())


@pytest.mark.rules("M8")
def test_a_change_command_is_one_kind_of_change():
    with pytest.raises(ValidationError, match="remove changes nothing else"):
        ProposeChange(actor=CLIENT, remove=True, title="x")
    with pytest.raises(ValidationError, match="a change needs"):
        ProposeChange(actor=CLIENT)


@pytest.mark.rules("C4")
def test_a_pro_forma_invoice_clears_when_the_auto_release_hold_ends():
    for policy in (CADCROWD, ELANCE):
        (invoice,) = submitted(policy=policy).invoices
        assert invoice.clears_at == NOW + policy.review_window + policy.fixed_release_hold
    assert submitted().invoices[0].clears_at == NOW + timedelta(days=14 + 5)

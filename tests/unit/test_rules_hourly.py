"""A billing week's rules (H1–H7, P1) as pure decisions: no Temporal, no database, no clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.calendar import BillingWeek
from escrow.errors import Refusal
from escrow.models import Actor, Claim, ClaimKind, ClaimStatus, DisputeOutcome, Hold, Role
from escrow.models.dispute import DisputeStatus, Resolution
from escrow.models.hourly import (
    DeleteTime,
    DisputeHours,
    EditTime,
    EntryKind,
    HourlyWeekInput,
    HourlyWeekView,
    InvoiceReviewAction,
    LogTime,
    PaymentStatus,
    ReviewInvoice,
    TimeEntry,
    WeekStatus,
)
from escrow.notices import OPERATORS, messages
from escrow.payments import ChargeOutcome, ChargeRequest, ChargeResult
from escrow.policy import preset
from escrow.rules import dispute as disputes
from escrow.rules import hourly as rules
from escrow.rules.hourly import WeekContext

CAL = BillingWeek.of("2030-W10")  # Monday 2030-03-04 00:00 UTC
WF = f"hourly-week:c1:{CAL.week}"
RATE = 6_000  # USD 60.00 an hour: a minute is a dollar
CLIENT = Actor(user_id="client-1", role=Role.CLIENT)
EXPERT = Actor(user_id="expert-1", role=Role.EXPERT)
ESCROW = accounts.week_escrow("c1", CAL.week)
POLICY = preset("cadcrowd")


def week(limit_minutes: int | None = None) -> HourlyWeekView:
    return rules.opened(
        HourlyWeekInput(
            contract_id="c1",
            client_id=CLIENT.user_id,
            expert_id=EXPERT.user_id,
            week=CAL.week,
            hourly_rate=RATE,
            currency="USD",
            weekly_limit_minutes=limit_minutes,
            payment_method="card",
            policy=POLICY,
        )
    )


def ctx(now: datetime, step: int = 5, on_hold: bool = False) -> WeekContext:
    return WeekContext(now=now, policy=POLICY, workflow_id=WF, step=step, on_hold=on_hold)


def entry(
    id: str, hours_in: float, minutes: int, kind: EntryKind = EntryKind.TRACKED, disputed: bool = False
) -> TimeEntry:
    return TimeEntry(
        id=id, started_at=CAL.starts_at + timedelta(hours=hours_in), minutes=minutes, kind=kind, disputed=disputed
    )


def logged(*entries: TimeEntry, **update) -> HourlyWeekView:
    return week().model_copy(update={"entries": list(entries), **update})


def refused(kind: Refusal, fn, *args) -> str:
    with pytest.raises(ApplicationError) as err:
        fn(*args)
    assert err.value.type == kind.value, err.value.message
    return err.value.message


MIDWEEK = CAL.starts_at + timedelta(days=3)
IN_REVIEW = CAL.expert_review_ends_at + timedelta(hours=1)  # the client's review (H4)


def paid_week(*entries: TimeEntry, **update) -> HourlyWeekView:
    """A week billed and paid for its entries, in the client's review."""
    v = logged(*entries)
    return v.model_copy(
        update={
            "status": WeekStatus.CLIENT_REVIEW,
            "charged": v.invoice_amount,
            "escrow": v.invoice_amount,
            "payment_status": PaymentStatus.PAID,
            **update,
        }
    )


# ---------------------------------------------------------------------- opening


@pytest.mark.rules("H1", "H2", "H3", "H4", "H6")
def test_a_week_opens_with_the_calendars_instants():
    v = week()
    assert v.id == WF and v.status == WeekStatus.OPEN
    assert (v.starts_at, v.billed_at, v.expert_review_ends_at, v.client_review_ends_at, v.available_at) == (
        CAL.starts_at,
        CAL.billed_at,
        CAL.expert_review_ends_at,
        CAL.client_review_ends_at,
        CAL.available_at,
    )
    assert (v.deadline_at, v.deadline_action) == (CAL.billed_at, "bill_client")
    d = rules.started(v, ctx(CAL.starts_at, step=1))
    assert (d.kind, d.view, d.transfers, d.notices) == ("week.opened", v, [], [])


# ---------------------------------------------------------------------- H1, H3 time entries


@pytest.mark.rules("H1")
def test_the_expert_logs_an_entry_of_the_week():
    cmd = LogTime(
        actor=EXPERT, started_at=CAL.starts_at + timedelta(hours=9), minutes=90, kind=EntryKind.TRACKED, memo="cad"
    )
    d = rules.log_time(week(), cmd, ctx(MIDWEEK), f"{CAL.week}-abc")
    assert [(e.id, e.minutes, e.memo) for e in d.view.entries] == [(f"{CAL.week}-abc", 90, "cad")]
    assert (d.kind, d.actor, d.data) == ("week.time_logged", EXPERT, {"entry_id": f"{CAL.week}-abc", "minutes": 90})
    assert d.view.invoice_amount == 9_000 and d.transfers == []


@pytest.mark.rules("H1")
def test_entries_belong_to_the_week_their_work_started():
    v = week()
    at = ctx(CAL.billed_at + timedelta(hours=1))
    rules.check_span(v, CAL.billed_at - timedelta(seconds=1), 1, None, at)  # Sunday 23:59:59
    message = refused(Refusal.INVALID, rules.check_span, v, CAL.billed_at, 1, None, at)
    assert "(H1)" in message and "Sun 2030-03-10 23:59:59 UTC" in message
    refused(Refusal.INVALID, rules.check_span, v, CAL.starts_at - timedelta(seconds=1), 1, None, at)


@pytest.mark.rules("H1")
def test_bad_spans_are_refused():
    v = logged(entry("a", 9, 120), weekly_limit_minutes=600)
    at = ctx(MIDWEEK)
    start = CAL.starts_at + timedelta(hours=20)
    assert refused(Refusal.INVALID, rules.check_span, v, start, 0, None, at) == "an entry lasts at least one minute"
    assert (
        refused(Refusal.INVALID, rules.check_span, v, start, 7 * 24 * 60 + 1, None, at)
        == "an entry cannot be longer than the week"
    )
    assert (
        refused(Refusal.INVALID, rules.check_span, v, MIDWEEK - timedelta(minutes=5), 6, None, at)
        == "time cannot be logged in the future"
    )
    assert (
        refused(Refusal.CONFLICT, rules.check_span, v, CAL.starts_at + timedelta(hours=10), 30, None, at)
        == "the entry overlaps entry a"
    )
    message = refused(Refusal.CONFLICT, rules.check_span, v, start, 481, None, at)
    assert message == "the contract's weekly limit is 10 hours; this entry would make 10.02"
    rules.check_span(v, start, 480, None, at)  # exactly the limit
    ended = v.model_copy(update={"contract_ended_at": start + timedelta(minutes=30)})
    assert (
        refused(Refusal.CONFLICT, rules.check_span, ended, start, 31, None, at) == "the contract ended before this time"
    )


@pytest.mark.rules("H1", "H3", "H7")
def test_only_the_expert_edits_while_the_contract_runs_until_monday_1200():
    v = week()
    assert (
        refused(Refusal.FORBIDDEN, rules.check_editable, v, CLIENT, ctx(MIDWEEK))
        == "only the contract's expert logs and edits time"
    )
    other = Actor(user_id="expert-2", role=Role.EXPERT)
    refused(Refusal.FORBIDDEN, rules.check_editable, v, other, ctx(MIDWEEK))
    message = refused(Refusal.CONFLICT, rules.check_editable, v, EXPERT, ctx(MIDWEEK, on_hold=True))
    assert message == "the contract is on hold until the client's payment succeeds (H7)"
    ended = v.model_copy(update={"contract_ended_at": MIDWEEK})
    assert refused(Refusal.CONFLICT, rules.check_editable, ended, EXPERT, ctx(MIDWEEK)) == "the contract has ended"
    rules.check_editable(v, EXPERT, ctx(CAL.expert_review_ends_at - timedelta(seconds=1)))
    message = refused(Refusal.CONFLICT, rules.check_editable, v, EXPERT, ctx(CAL.expert_review_ends_at))
    assert message == f"week {CAL.week}'s entries could be changed until Mon 2030-03-11 12:00:00 UTC (H3)"


@pytest.mark.rules("H1")
def test_check_log_refuses_what_log_time_refuses():
    cmd = LogTime(actor=CLIENT, started_at=CAL.starts_at, minutes=5, kind=EntryKind.MANUAL)
    refused(Refusal.FORBIDDEN, rules.check_log, week(), cmd, ctx(MIDWEEK))
    refused(Refusal.FORBIDDEN, rules.log_time, week(), cmd, ctx(MIDWEEK), "x")


@pytest.mark.rules("H3")
def test_the_expert_edits_an_entry_and_the_invoice_follows():
    v = logged(entry("a", 9, 120), entry("b", 12, 60), weekly_limit_minutes=240)
    monday_1159 = ctx(CAL.expert_review_ends_at - timedelta(minutes=1))
    # The edited entry neither overlaps itself nor counts twice against the limit.
    assert rules.edit_time(v, EditTime(actor=EXPERT, entry_id="a", minutes=180), monday_1159).view.minutes == 240
    refused(
        Refusal.CONFLICT, rules.edit_time, v, EditTime(actor=EXPERT, entry_id="a", minutes=181), monday_1159
    )  # limit
    d = rules.edit_time(v, EditTime(actor=EXPERT, entry_id="a", minutes=150, memo="call"), monday_1159)
    assert [(e.id, e.minutes, e.memo) for e in d.view.entries] == [("a", 150, "call"), ("b", 60, None)]
    assert (d.kind, d.data, d.view.invoice_amount) == ("week.time_edited", {"entry_id": "a", "minutes": 150}, 21_000)
    moved = rules.edit_time(
        v, EditTime(actor=EXPERT, entry_id="b", started_at=CAL.starts_at + timedelta(days=1)), monday_1159
    )
    assert moved.view.entry("b").started_at == CAL.starts_at + timedelta(days=1) and moved.view.entry("b").minutes == 60
    assert rules.check_edit(v, EditTime(actor=EXPERT, entry_id="b"), monday_1159).id == "b"
    message = refused(Refusal.NOT_FOUND, rules.check_edit, v, EditTime(actor=EXPERT, entry_id="zz"), monday_1159)
    assert message == f"no time entry zz in week {CAL.week}"
    refused(
        Refusal.CONFLICT,
        rules.edit_time,
        v,
        EditTime(actor=EXPERT, entry_id="a", minutes=10),
        ctx(CAL.expert_review_ends_at),
    )


@pytest.mark.rules("H3")
def test_the_expert_deletes_an_entry():
    v = logged(entry("a", 9, 120), entry("b", 12, 60))
    d = rules.delete_time(v, DeleteTime(actor=EXPERT, entry_id="b"), ctx(MIDWEEK))
    assert [e.id for e in d.view.entries] == ["a"] and (d.kind, d.data) == ("week.time_deleted", {"entry_id": "b"})
    refused(Refusal.NOT_FOUND, rules.delete_time, v, DeleteTime(actor=EXPERT, entry_id="zz"), ctx(MIDWEEK))
    refused(Refusal.FORBIDDEN, rules.delete_time, v, DeleteTime(actor=CLIENT, entry_id="a"), ctx(MIDWEEK))
    assert rules.entry(v, "a").minutes == 120


# ---------------------------------------------------------------------- H4, H5 disputes


@pytest.mark.rules("H4", "H5", "D8")
def test_the_client_disputes_tracked_hours_and_files_the_dispute():
    v = paid_week(entry("a", 9, 60), entry("b", 11, 30), entry("m", 13, 45, EntryKind.MANUAL))
    cmd = DisputeHours(actor=CLIENT, entry_ids=["b", "a"], reason="idle screenshots")
    d, filing = rules.dispute_hours(v, cmd, ctx(IN_REVIEW), "d1")
    assert d.view.claims == [Claim(id="d1", kind=ClaimKind.DISPUTE, amount=9_000, opened_at=IN_REVIEW)]
    assert d.view.frozen == 9_000 and [e.disputed for e in d.view.entries] == [True, True, False]
    assert (d.kind, d.actor, d.data) == ("week.hours_disputed", CLIENT, {"dispute_id": "d1", "entries": ["a", "b"]})
    assert d.transfers == []
    assert (filing.dispute_id, filing.owner_workflow_id, filing.claimant, filing.amount, filing.filed_at) == (
        "d1",
        WF,
        Role.CLIENT,
        9_000,
        IN_REVIEW,
    )
    assert (filing.reason, filing.policy, filing.currency) == ("idle screenshots", POLICY, "USD")
    # The command's answer: the dispute as it is filed, at the same instant.
    filed = disputes.filed(filing)
    assert (filed.id, filed.status, filed.filed_at, filed.amount) == ("d1", DisputeStatus.FILED, IN_REVIEW, 9_000)


@pytest.mark.rules("H4", "H5")
def test_a_dispute_freezes_no_more_than_the_escrow_not_yet_frozen():
    v = paid_week(entry("a", 9, 60), entry("b", 11, 30), escrow=5_000)
    d, filing = rules.dispute_hours(v, DisputeHours(actor=CLIENT, entry_ids=["a"], reason="idle"), ctx(IN_REVIEW), "d1")
    assert filing.amount == 5_000
    message = refused(
        Refusal.CONFLICT,
        rules.check_dispute,
        d.view,
        DisputeHours(actor=CLIENT, entry_ids=["b"], reason="x"),
        ctx(IN_REVIEW),
    )
    assert message == "this week's invoice is not paid into escrow; there is nothing to dispute"


@pytest.mark.rules("H4", "H5")
def test_disputes_the_week_refuses():
    v = paid_week(entry("a", 9, 60), entry("m", 13, 45, EntryKind.MANUAL), entry("x", 15, 10, disputed=True))

    def cmd(*ids: str, actor: Actor = CLIENT, reason: str = "idle") -> DisputeHours:
        return DisputeHours.model_construct(actor=actor, entry_ids=list(ids), reason=reason)

    assert (
        refused(Refusal.FORBIDDEN, rules.check_dispute, v, cmd("a", actor=EXPERT), ctx(IN_REVIEW))
        == "only the contract's client disputes hours (H4)"
    )
    for too_early_or_late in (CAL.expert_review_ends_at - timedelta(seconds=1), CAL.client_review_ends_at):
        message = refused(Refusal.CONFLICT, rules.check_dispute, v, cmd("a"), ctx(too_early_or_late))
        assert message == (
            f"week {CAL.week}'s hours can be disputed from Mon 2030-03-11 12:00:00 UTC until Fri 2030-03-15 23:59:59 UTC (H4)"
        )
    assert rules.check_dispute(v, cmd("a"), ctx(CAL.expert_review_ends_at))[0].id == "a"
    assert rules.check_dispute(v, cmd("a"), ctx(CAL.client_review_ends_at - timedelta(seconds=1)))[0].id == "a"
    assert (
        refused(Refusal.INVALID, rules.check_dispute, v, cmd("a", reason="  "), ctx(IN_REVIEW))
        == "a dispute needs a reason"
    )
    assert (
        refused(Refusal.INVALID, rules.check_dispute, v, cmd("a", "a"), ctx(IN_REVIEW))
        == "name each disputed entry once"
    )
    refused(Refusal.INVALID, rules.check_dispute, v, cmd(), ctx(IN_REVIEW))
    refused(Refusal.NOT_FOUND, rules.check_dispute, v, cmd("zz"), ctx(IN_REVIEW))
    message = refused(Refusal.CONFLICT, rules.check_dispute, v, cmd("m"), ctx(IN_REVIEW))
    assert message == "entry m is manual time, which billing security does not cover (H5)"
    assert refused(Refusal.CONFLICT, rules.check_dispute, v, cmd("x"), ctx(IN_REVIEW)) == "entry x is already disputed"
    failing = v.model_copy(update={"payment_status": PaymentStatus.FAILING})
    refused(Refusal.CONFLICT, rules.check_dispute, failing, cmd("a"), ctx(IN_REVIEW))


@pytest.mark.rules("H5", "H6", "D8")
def test_a_resolved_dispute_pays_its_split_and_settles_its_claim():
    v = paid_week(entry("a", 9, 60), entry("b", 11, 30))
    v, _ = rules.dispute_hours(v, DisputeHours(actor=CLIENT, entry_ids=["a"], reason="idle"), ctx(IN_REVIEW), "d1")
    v = v.view
    at = CAL.client_review_ends_at + timedelta(days=2)
    outcome = DisputeOutcome(
        amount_to_client=4_000, amount_to_expert=2_000, resolution=Resolution.OFFER, winner=Role.CLIENT, decided_at=at
    )
    d = rules.dispute_resolved(v, "d1", outcome, ctx(at, step=9))
    assert [(t.id, t.debit, t.credit, t.amount, t.kind) for t in d.transfers] == [
        (f"{WF}:refund:9", ESCROW, accounts.client_balance(CLIENT.user_id), 4_000, "refund"),
        (f"{WF}:release:9", ESCROW, accounts.expert_pending(EXPERT.user_id), 2_000, "release"),
    ]
    assert d.view.holds == [Hold(transfer_id=f"{WF}:release:9", amount=2_000, available_at=CAL.available_at)]
    assert [(c.status, c.closed_at, c.amount_to_client) for c in d.view.claims] == [(ClaimStatus.SETTLED, at, 4_000)]
    assert (d.view.escrow, d.view.refunded, d.view.released, d.view.charged, d.view.frozen) == (
        3_000,
        4_000,
        2_000,
        9_000,
        0,
    )
    assert (d.kind, d.data) == ("week.dispute_resolved", {"to_client": 4_000, "to_expert": 2_000})


# ---------------------------------------------------------------------- the week's stages


@pytest.mark.rules("H2", "H3", "H4", "H6", "H7")
def test_the_weeks_deadlines_follow_its_stage():
    v = logged(entry("a", 9, 60))
    assert rules.deadlines(v) == [(CAL.billed_at, "bill")]
    assert rules.deadlines(v.model_copy(update={"status": WeekStatus.EXPERT_REVIEW})) == [
        (CAL.expert_review_ends_at, "finalise")
    ]
    retry_at = CAL.billed_at + timedelta(days=1)
    failing = v.model_copy(
        update={"status": WeekStatus.CLIENT_REVIEW, "payment_status": PaymentStatus.FAILING, "next_charge_at": retry_at}
    )
    assert rules.deadlines(failing) == [(CAL.client_review_ends_at, "hold"), (retry_at, "retry")]
    held = paid_week(entry("a", 9, 60), status=WeekStatus.HOLD)
    assert rules.deadlines(held) == [(CAL.client_review_ends_at, "pay")]
    hold = Hold(transfer_id="t", amount=6_000, available_at=CAL.available_at)
    paid_out = held.model_copy(update={"escrow": 0, "released": 6_000, "holds": [hold]})
    assert rules.deadlines(paid_out) == [(CAL.available_at, "settle"), (CAL.client_review_ends_at, "complete")]
    done = paid_out.model_copy(
        update={"status": WeekStatus.COMPLETED, "holds": [hold.model_copy(update={"settled": True})]}
    )
    assert rules.deadlines(done) == []


@pytest.mark.rules("H2")
def test_h2_billed_on_the_monday_0000_after_the_week():
    v = logged(entry("a", 9, 120), entry("b", 30, 60))
    assert rules.bill(v, ctx(CAL.billed_at - timedelta(seconds=1))) is None
    d = rules.bill(v, ctx(CAL.billed_at))
    assert (d.view.status, d.view.deadline_at, d.view.deadline_action, d.kind) == (
        WeekStatus.EXPERT_REVIEW,
        CAL.expert_review_ends_at,
        "finalise_invoice",
        "week.billed",
    )
    assert d.view.invoice_amount == 18_000 and d.transfers == []  # the workflow then charges it
    assert rules.bill(d.view, ctx(CAL.billed_at)) is None  # once


@pytest.mark.rules("H3")
def test_h3_true_up_charges_what_the_edits_added():
    v = logged(
        entry("a", 9, 150),
        status=WeekStatus.EXPERT_REVIEW,
        charged=12_000,
        escrow=12_000,
        payment_status=PaymentStatus.PAID,
    )
    assert rules.true_up_charge(v) == 3_000
    assert rules.return_overcharge(v, ctx(CAL.expert_review_ends_at)) is None
    failing = v.model_copy(update={"payment_status": PaymentStatus.FAILING})
    assert rules.true_up_charge(failing) == 0  # the next retry charges the final amount


@pytest.mark.rules("H3")
def test_h3_true_up_returns_what_the_edits_took_off():
    v = logged(
        entry("a", 9, 150),
        status=WeekStatus.EXPERT_REVIEW,
        charged=18_000,
        escrow=18_000,
        payment_status=PaymentStatus.PAID,
    )
    assert rules.true_up_charge(v) == 0
    d = rules.return_overcharge(v, ctx(CAL.expert_review_ends_at, step=7))
    assert [(t.id, t.debit, t.credit, t.amount, t.kind) for t in d.transfers] == [
        (f"{WF}:refund:7", ESCROW, accounts.client_balance(CLIENT.user_id), 3_000, "refund")
    ]
    # The overcharge lowers what was charged; it is not a refund.
    assert (d.view.charged, d.view.escrow, d.view.refunded, d.view.holds) == (15_000, 15_000, 0, [])
    assert (d.kind, d.data) == ("week.overcharge_returned", {"to_client": 3_000, "to_expert": 0})
    assert (
        rules.return_overcharge(
            v.model_copy(update={"payment_status": PaymentStatus.FAILING}), ctx(CAL.expert_review_ends_at)
        )
        is None
    )


@pytest.mark.rules("H3", "H4")
def test_after_monday_1200_the_client_reviews_or_an_empty_week_is_done():
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW, charged=6_000, escrow=6_000)
    assert rules.finalise(v, ctx(CAL.expert_review_ends_at - timedelta(seconds=1))) is None
    d = rules.finalise(v, ctx(CAL.expert_review_ends_at))
    assert (d.view.status, d.view.deadline_at, d.view.deadline_action, d.kind) == (
        WeekStatus.CLIENT_REVIEW,
        CAL.client_review_ends_at,
        "start_security_hold",
        "week.client_review",
    )
    empty = logged(status=WeekStatus.EXPERT_REVIEW)
    d = rules.finalise(empty, ctx(CAL.expert_review_ends_at))
    assert (d.view.status, d.view.deadline_at, d.kind) == (WeekStatus.COMPLETED, None, "week.completed")
    assert rules.finished(d.view)
    assert rules.finalise(logged(), ctx(CAL.expert_review_ends_at)) is None  # not billed yet


@pytest.mark.rules("H4", "H6")
def test_saturday_0000_the_money_enters_the_security_hold():
    v = paid_week(entry("a", 9, 60))
    assert rules.security_hold(v, ctx(CAL.client_review_ends_at - timedelta(seconds=1))) is None
    d = rules.security_hold(v, ctx(CAL.client_review_ends_at))
    assert (d.view.status, d.view.deadline_at, d.view.deadline_action, d.kind) == (
        WeekStatus.HOLD,
        None,
        None,
        "week.security_hold",
    )


@pytest.mark.rules("H6", "P1", "L5")
def test_h6_the_expert_is_paid_into_a_hold_until_wednesday_0000():
    v = paid_week(entry("a", 9, 90), status=WeekStatus.HOLD)
    assert (
        rules.pay_expert(v.model_copy(update={"status": WeekStatus.CLIENT_REVIEW}), ctx(CAL.client_review_ends_at))
        is None
    )
    d = rules.pay_expert(v, ctx(CAL.client_review_ends_at, step=4))
    assert [(t.id, t.credit, t.amount, t.available_at) for t in d.transfers] == [
        (f"{WF}:release:4", accounts.expert_pending(EXPERT.user_id), 9_000, CAL.available_at)
    ]
    assert CAL.available_at.weekday() == 2 and CAL.available_at - CAL.starts_at == timedelta(days=16)
    assert (d.view.escrow, d.view.released, d.kind) == (0, 9_000, "week.held_for_expert")
    # Paid late (a charge recovered after the Wednesday): available at once.
    late = CAL.available_at + timedelta(days=2)
    assert rules.pay_expert(v, ctx(late)).view.holds[0].available_at == late
    # What a dispute holds stays in escrow.
    disputed = v.model_copy(
        update={"claims": [Claim(id="d1", kind=ClaimKind.DISPUTE, amount=3_000, opened_at=IN_REVIEW)]}
    )
    assert rules.pay_expert(disputed, ctx(CAL.client_review_ends_at)).view.escrow == 3_000
    assert rules.pay_expert(disputed.model_copy(update={"escrow": 3_000}), ctx(CAL.client_review_ends_at)) is None


@pytest.mark.rules("H6", "P1", "L5")
def test_holds_become_available_at_their_instant():
    early = Hold(transfer_id="t1", amount=6_000, available_at=CAL.available_at)
    later = Hold(transfer_id="t2", amount=1_000, available_at=CAL.available_at + timedelta(days=1))
    v = paid_week(status=WeekStatus.HOLD, holds=[early, later], escrow=0)
    assert rules.settle(v, ctx(CAL.available_at - timedelta(seconds=1))) is None
    d = rules.settle(v, ctx(CAL.available_at))
    assert [(t.id, t.amount, t.settles, t.kind) for t in d.transfers] == [("t1:settle", 6_000, "t1", "hold_release")]
    assert [h.settled for h in d.view.holds] == [True, False]
    assert (d.kind, messages(d.notices)) == (
        "week.funds_available",
        {EXPERT.user_id: f"USD 60.00 of week {CAL.week} is available."},
    )


@pytest.mark.rules("H6", "H7")
def test_the_week_completes_once_paid_out_and_finishes_once_settled():
    hold = Hold(transfer_id="t1", amount=6_000, available_at=CAL.available_at)
    v = paid_week(entry("a", 9, 60), status=WeekStatus.HOLD, escrow=0, released=6_000, holds=[hold])
    assert rules.completes(v)
    d = rules.complete(v, ctx(CAL.client_review_ends_at))
    assert (d.view.status, d.kind) == (WeekStatus.COMPLETED, "week.completed")
    assert not rules.finished(d.view)  # its hold is not settled yet
    assert rules.finished(d.view.model_copy(update={"holds": [hold.model_copy(update={"settled": True})]}))
    assert (
        rules.complete(v.model_copy(update={"payment_status": PaymentStatus.FAILING}), ctx(CAL.client_review_ends_at))
        is None
    )
    assert rules.complete(v.model_copy(update={"escrow": 1}), ctx(CAL.client_review_ends_at)) is None
    open_claim = Claim(id="d1", kind=ClaimKind.DISPUTE, amount=0, opened_at=IN_REVIEW)
    assert not rules.finished(d.view.model_copy(update={"holds": [], "claims": [open_claim]}))
    s = rules.summary(d.view, finished=True)
    assert (s.week, s.status, s.escrow, s.released, s.payment_status, s.finished) == (
        CAL.week,
        WeekStatus.COMPLETED,
        0,
        6_000,
        PaymentStatus.PAID,
        True,
    )


# ---------------------------------------------------------------------- H2, H7 charging


def request(amount: int, number: int = 1) -> ChargeRequest:
    return ChargeRequest(
        key=f"{WF}:charge:{number}", customer_id=CLIENT.user_id, payment_method="card", amount=amount, currency="USD"
    )


@pytest.mark.rules("H2")
def test_a_charge_is_keyed_by_its_number():
    v = logged(entry("a", 9, 60))
    assert rules.charge(v, 6_000, 2, "card", ctx(CAL.billed_at)) == request(6_000, 2)
    assert rules.charge(v, 0, 2, "card", ctx(CAL.billed_at)) is None
    assert rules.charge(v, -5, 2, "card", ctx(CAL.billed_at)) is None


@pytest.mark.rules("H2")
def test_h2_a_charge_that_succeeds_pays_into_the_weeks_escrow():
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW)
    ok = ChargeResult(outcome=ChargeOutcome.SUCCEEDED, reference="r")
    d = rules.charged(v, request(6_000), ok, ctx(CAL.billed_at))
    assert [(t.id, t.debit, t.credit, t.amount, t.kind) for t in d.transfers] == [
        (f"{WF}:charge:1", accounts.WORLD_CARD, ESCROW, 6_000, "hourly_charge")
    ]
    assert (d.view.charged, d.view.escrow, d.view.payment_status, d.kind) == (
        6_000,
        6_000,
        PaymentStatus.PAID,
        "week.charged",
    )
    assert messages(d.notices) == {CLIENT.user_id: f"You were charged USD 60.00 for week {CAL.week}."}


@pytest.mark.rules("H7")
def test_h7_a_declined_charge_is_retried_in_a_day_and_puts_the_contract_on_hold():
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW)
    declined = ChargeResult(outcome=ChargeOutcome.DECLINED, reference="r", message="card declined")
    d = rules.charged(v, request(6_000), declined, ctx(CAL.billed_at))
    retry_at = CAL.billed_at + timedelta(days=1)
    assert (d.view.payment_status, d.view.failed_charges, d.view.next_charge_at, d.view.invoice_review) == (
        PaymentStatus.FAILING,
        1,
        retry_at,
        False,
    )
    assert d.transfers == [] and (d.kind, d.data) == (
        "week.charge_failed",
        {"amount": 6_000, "message": "card declined"},
    )
    assert messages(d.notices) == {
        CLIENT.user_id: f"Charging USD 60.00 for week {CAL.week} failed (card declined). Your account is suspended and the "
        "contract on hold until it is paid; we try again on Tue 2030-03-12 00:00:00 UTC.",
        EXPERT.user_id: f"The client's payment for week {CAL.week} failed; the contract is on hold.",
    }
    # The daily retry charges what the invoice still lacks, once due.
    assert rules.deadlines(d.view)[-1] == (retry_at, "retry")
    assert rules.retry_charge(d.view, ctx(retry_at - timedelta(seconds=1))) == 0
    assert rules.retry_charge(d.view, ctx(retry_at)) == 6_000
    assert rules.retry_charge(v, ctx(retry_at)) == 0  # not failing


@pytest.mark.rules("H7")
def test_h7_after_n_failed_charges_an_operator_reviews_the_invoice_once():
    assert POLICY.failed_charges_before_review == 3
    declined = ChargeResult(outcome=ChargeOutcome.DECLINED, reference="r", message="card declined")
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW)
    now = CAL.billed_at
    for n in (1, 2):
        v = rules.charged(v, request(6_000, n), declined, ctx(now)).view
        assert not v.invoice_review
    third = rules.charged(v, request(6_000, 3), declined, ctx(now))
    assert third.view.invoice_review and third.view.failed_charges == 3
    told = messages(third.notices)
    assert told[OPERATORS] == f"Invoice review: week {CAL.week} of contract c1 failed 3 charges (H7)."
    fourth = rules.charged(third.view, request(6_000, 4), declined, ctx(now))
    assert fourth.view.invoice_review and OPERATORS not in messages(fourth.notices)  # told once
    # The card that finally works: the charge recovers and the review is over.
    ok = ChargeResult(outcome=ChargeOutcome.SUCCEEDED, reference="r")
    recovered = rules.charged(fourth.view, request(6_000, 5), ok, ctx(now))
    assert (
        recovered.kind,
        recovered.view.payment_status,
        recovered.view.next_charge_at,
        recovered.view.invoice_review,
    ) == (
        "week.charge_recovered",
        PaymentStatus.PAID,
        None,
        False,
    )
    assert recovered.transfers[0].id == f"{WF}:charge:5"


@pytest.mark.rules("H7")
def test_h7_an_unreachable_gateway_is_a_failed_charge_and_a_new_card_is_tried_at_once():
    r = request(6_000, 3)
    result = rules.unreachable(r)
    assert (result.outcome, result.reference, result.message) == (
        ChargeOutcome.DECLINED,
        r.key,
        "payment provider unreachable",
    )
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW)
    failing = rules.charged(v, r, result, ctx(CAL.billed_at)).view
    now = CAL.billed_at + timedelta(hours=3)
    assert rules.retry_now(failing, ctx(now)).next_charge_at == now
    assert rules.retry_now(v, ctx(now)) == v  # nothing failing: nothing to retry


@pytest.mark.rules("H5", "L5")
def test_paid_moves_only_what_it_names():
    v = paid_week(entry("a", 9, 60))
    d = rules.paid(v, ctx(IN_REVIEW, step=3), 0, 0, "week.nothing")
    assert d.transfers == [] and d.view.escrow == 6_000 and d.view.holds == []
    d = rules.paid(v, ctx(IN_REVIEW, step=3), 1_000, 0, "week.refunded")
    assert (d.view.refunded, d.view.charged, d.view.escrow) == (1_000, 6_000, 5_000)


@pytest.mark.rules("H7")
def test_h7_the_operator_decides_an_invoice_under_review():
    declined = ChargeResult(outcome=ChargeOutcome.DECLINED, reference="r", message="card declined")
    v = logged(entry("a", 9, 60), status=WeekStatus.EXPERT_REVIEW)
    operator = Actor(user_id="op-1", role=Role.OPERATOR)
    now = CAL.billed_at + timedelta(days=2)
    early = rules.charged(v, request(6_000), declined, ctx(CAL.billed_at)).view
    no_review = refusal(lambda: rules.review_invoice(early, review(operator, "close"), ctx(now)))
    assert no_review.type == Refusal.CONFLICT and "3 failed charges" in no_review.message
    v = early
    for n in (2, 3):
        v = rules.charged(v, request(6_000, n), declined, ctx(CAL.billed_at)).view
    assert v.invoice_review
    by_client = refusal(lambda: rules.review_invoice(v, review(CLIENT, "retry_now"), ctx(now)))
    assert by_client.type == Refusal.FORBIDDEN

    retry = rules.review_invoice(v, review(operator, "retry_now"), ctx(now))
    assert (retry.kind, retry.view.next_charge_at, retry.view.invoice_review) == (
        "week.invoice_retry_ordered",
        now,
        True,
    )
    assert retry.data == {"action": "retry_now", "note": "client called support"} and retry.actor == operator
    assert rules.retry_charge(retry.view, ctx(now)) == 6_000  # due at once
    closed = rules.review_invoice(v, review(operator, "close"), ctx(now))
    assert (closed.kind, closed.view.invoice_review, closed.view.next_charge_at) == (
        "week.invoice_review_closed",
        False,
        v.next_charge_at,  # the daily retries go on
    )


def review(actor: Actor, action: str) -> ReviewInvoice:
    return ReviewInvoice(actor=actor, action=InvoiceReviewAction(action), note="client called support")


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value

"""Hourly billing weeks (H1–H7, P1): the decisions of one week and the escrow it owns.

The week's stages end at the calendar's instants (escrow.calendar):

    Monday 00:00 after the week   bill the client for every logged minute (H2)
    Monday 12:00                  the expert's edits stop; the invoice is final (H3)
    Saturday 00:00                the client's disputes stop (H4); the money enters the
                                  security hold (H6)
    Wednesday 00:00               the money is available to the expert (H6, P1)

A declined charge is retried daily; while it fails the contract is on hold (H7). The
charge itself is the workflow's (an activity); what its result means is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from escrow import accounts, holds, ids
from escrow.calendar import WEEK, BillingWeek
from escrow.errors import Refusal, refuse
from escrow.models import Actor, Claim, ClaimKind, ClaimStatus, DisputeInput, DisputeOutcome, Role, TransferSpec
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
    WeekSummary,
    value_of,
)
from escrow.notices import OPERATORS, Notice
from escrow.notices.hourly import Charged, ChargeFailed, ClientPaymentFailed, FundsAvailable, InvoiceReview, when
from escrow.payments import ChargeOutcome, ChargeRequest, ChargeResult
from escrow.rules import Context, Decision, made_from
from escrow.rules import dispute as disputes
from escrow.rules.paying import Payment, pay, settle_claim

Week = Decision[HourlyWeekView]


@dataclass(frozen=True)
class WeekContext(Context):
    """What a week's decision may know besides its view: whether the contract is on
    hold (H7), which the contract signals."""

    on_hold: bool = False


def opened(input: HourlyWeekInput) -> HourlyWeekView:
    """The week as it opens (H1): its instants, nothing logged."""
    cal = BillingWeek.of(input.week)
    return made_from(
        input,
        HourlyWeekView,
        id=ids.week(input.contract_id, input.week),
        status=WeekStatus.OPEN,
        starts_at=cal.starts_at,
        billed_at=cal.billed_at,
        expert_review_ends_at=cal.expert_review_ends_at,
        client_review_ends_at=cal.client_review_ends_at,
        available_at=cal.available_at,
        deadline_at=cal.billed_at,
        deadline_action="bill_client",
    )


def started(v: HourlyWeekView, ctx: Context) -> Week:
    return Decision(view=v, kind="week.opened")


# ---------------------------------------------------------------------- H1, H3 time entries


def check_editable(v: HourlyWeekView, actor: Actor, ctx: WeekContext) -> None:
    """Only the expert changes entries, while the contract runs and is not on hold
    (H7), until Monday 12:00 after the week (H3)."""
    if actor.role != Role.EXPERT or actor.user_id != v.expert_id:
        raise refuse(Refusal.FORBIDDEN, "only the contract's expert logs and edits time")
    if v.contract_ended_at is not None and ctx.now >= v.contract_ended_at:
        raise refuse(Refusal.CONFLICT, "the contract has ended")
    if ctx.on_hold:
        raise refuse(Refusal.CONFLICT, "the contract is on hold until the client's payment succeeds (H7)")
    if ctx.now >= v.expert_review_ends_at:
        raise refuse(
            Refusal.CONFLICT,
            f"week {v.week}'s entries could be changed until {when(v.expert_review_ends_at)} (H3)",
        )


def check_span(v: HourlyWeekView, started_at: datetime, minutes: int, ignore: str | None, ctx: Context) -> None:
    """An entry of this week (H1), in the past, within the contract, overlapping no
    other entry and within the weekly limit; `ignore` is the entry being edited."""
    if minutes <= 0:
        raise refuse(Refusal.INVALID, "an entry lasts at least one minute")
    if minutes > WEEK // timedelta(minutes=1):
        raise refuse(Refusal.INVALID, "an entry cannot be longer than the week")
    ends_at = started_at + timedelta(minutes=minutes)
    # H1: an entry belongs to the week in which its work started.
    if not v.starts_at <= started_at < v.billed_at:
        raise refuse(
            Refusal.INVALID,
            f"an entry of week {v.week} starts from {when(v.starts_at)} until {when(v.billed_at - timedelta(seconds=1))} (H1)",
        )
    if ends_at > ctx.now:
        raise refuse(Refusal.INVALID, "time cannot be logged in the future")
    if v.contract_ended_at is not None and ends_at > v.contract_ended_at:
        raise refuse(Refusal.CONFLICT, "the contract ended before this time")
    for other in v.entries:
        if other.id != ignore and other.started_at < ends_at and started_at < other.ends_at:
            raise refuse(Refusal.CONFLICT, f"the entry overlaps entry {other.id}")
    limit = v.weekly_limit_minutes
    if limit is not None:
        total = sum(e.minutes for e in v.entries if e.id != ignore) + minutes
        if total > limit:
            raise refuse(
                Refusal.CONFLICT,
                f"the contract's weekly limit is {limit // 60} hours; this entry would make {total / 60:.2f}",
            )


def entry(v: HourlyWeekView, entry_id: str) -> TimeEntry:
    found = v.entry(entry_id)
    if found is None:
        raise refuse(Refusal.NOT_FOUND, f"no time entry {entry_id} in week {v.week}")
    return found


def check_log(v: HourlyWeekView, cmd: LogTime, ctx: WeekContext) -> None:
    # Evidence is optional (API.md): tracked time without it stays tracked, covered
    # by billing security (H5), and the week's view says which entries lack it.
    check_editable(v, cmd.actor, ctx)
    check_span(v, cmd.started_at, cmd.minutes, None, ctx)


def log_time(v: HourlyWeekView, cmd: LogTime, ctx: WeekContext, entry_id: str) -> Week:
    """H1: the entry `entry_id` (the workflow draws it at random) joins the week."""
    check_log(v, cmd, ctx)
    new = TimeEntry(
        id=entry_id, started_at=cmd.started_at, minutes=cmd.minutes, kind=cmd.kind, memo=cmd.memo, evidence=cmd.evidence
    )
    view = v.model_copy(update={"entries": [*v.entries, new]})
    return Decision(
        view=view, kind="week.time_logged", actor=cmd.actor, data={"entry_id": new.id, "minutes": new.minutes}
    )


def check_edit(v: HourlyWeekView, cmd: EditTime, ctx: WeekContext) -> TimeEntry:
    check_editable(v, cmd.actor, ctx)
    found = entry(v, cmd.entry_id)
    check_span(
        v, cmd.started_at or found.started_at, found.minutes if cmd.minutes is None else cmd.minutes, found.id, ctx
    )
    return found


def edit_time(v: HourlyWeekView, cmd: EditTime, ctx: WeekContext) -> Week:
    """H3: the expert corrects an entry; the invoice follows."""
    found = check_edit(v, cmd, ctx)
    edited = found.model_copy(
        update={
            "started_at": cmd.started_at or found.started_at,
            "minutes": cmd.minutes if cmd.minutes is not None else found.minutes,
            "memo": cmd.memo if cmd.memo is not None else found.memo,
        }
    )
    view = v.model_copy(update={"entries": [edited if e.id == found.id else e for e in v.entries]})
    return Decision(
        view=view, kind="week.time_edited", actor=cmd.actor, data={"entry_id": found.id, "minutes": edited.minutes}
    )


def delete_time(v: HourlyWeekView, cmd: DeleteTime, ctx: WeekContext) -> Week:
    check_editable(v, cmd.actor, ctx)
    found = entry(v, cmd.entry_id)
    view = v.model_copy(update={"entries": [e for e in v.entries if e.id != found.id]})
    return Decision(view=view, kind="week.time_deleted", actor=cmd.actor, data={"entry_id": found.id})


# ---------------------------------------------------------------------- H4, H5 disputes


def check_dispute(v: HourlyWeekView, cmd: DisputeHours, ctx: Context) -> list[TimeEntry]:
    """H4: the client disputes during its review; H5: tracked time only, paid into escrow."""
    if cmd.actor.role != Role.CLIENT or cmd.actor.user_id != v.client_id:
        raise refuse(Refusal.FORBIDDEN, "only the contract's client disputes hours (H4)")
    if not (v.expert_review_ends_at <= ctx.now < v.client_review_ends_at):
        raise refuse(
            Refusal.CONFLICT,
            f"week {v.week}'s hours can be disputed from {when(v.expert_review_ends_at)} "
            f"until {when(v.client_review_ends_at - timedelta(seconds=1))} (H4)",
        )
    if not cmd.reason.strip():
        raise refuse(Refusal.INVALID, "a dispute needs a reason")
    if not cmd.entry_ids or len(set(cmd.entry_ids)) != len(cmd.entry_ids):
        raise refuse(Refusal.INVALID, "name each disputed entry once")
    entries = [entry(v, i) for i in cmd.entry_ids]
    for e in entries:
        if e.kind != EntryKind.TRACKED:
            raise refuse(Refusal.CONFLICT, f"entry {e.id} is manual time, which billing security does not cover (H5)")
        if e.disputed:
            raise refuse(Refusal.CONFLICT, f"entry {e.id} is already disputed")
    if v.payment_status != PaymentStatus.PAID or v.escrow - v.frozen <= 0:
        raise refuse(Refusal.CONFLICT, "this week's invoice is not paid into escrow; there is nothing to dispute")
    return entries


def dispute_hours(v: HourlyWeekView, cmd: DisputeHours, ctx: Context, dispute_id: str) -> tuple[Week, DisputeInput]:
    """H4, H5: the entries' value in escrow is frozen under a claim, and the dispute
    `dispute_id` (the workflow draws it at random) is filed with the input it starts with."""
    entries = check_dispute(v, cmd, ctx)
    amount = min(value_of(sum(e.minutes for e in entries), v.hourly_rate), v.escrow - v.frozen)
    claim = Claim(id=dispute_id, kind=ClaimKind.DISPUTE, amount=amount, opened_at=ctx.now)
    disputed = {e.id for e in entries}
    view = v.model_copy(
        update={
            "claims": [*v.claims, claim],
            "entries": [e.model_copy(update={"disputed": True}) if e.id in disputed else e for e in v.entries],
        }
    )
    filing = disputes.filing_input(v, dispute_id, Role.CLIENT, amount, cmd.reason, ctx)
    data = {"dispute_id": dispute_id, "entries": sorted(disputed)}
    return Decision(view=view, kind="week.hours_disputed", actor=cmd.actor, data=data), filing


def dispute_resolved(v: HourlyWeekView, dispute_id: str, outcome: DisputeOutcome, ctx: Context) -> Week:
    """H5: a successful dispute reimburses the client for the failing hours."""
    return paid(
        v,
        ctx,
        outcome.amount_to_client,
        outcome.amount_to_expert,
        "week.dispute_resolved",
        settles=(dispute_id, outcome.amount_to_client),
    )


# ---------------------------------------------------------------------- the week's stages


def deadlines(v: HourlyWeekView) -> list[tuple[datetime, str]]:
    """What the week waits for and from when (the earliest due is done first; those due
    at the same instant in this order): its stage's end (`bill`, `finalise`, `hold`), a charge's retry (`retry`, H7),
    paying the expert what no dispute holds (`pay`), holds becoming available
    (`settle`), and its completion (`complete`). The last three are due from the
    instant the week entered its hold."""
    out: list[tuple[datetime, str]] = []
    stage = {
        WeekStatus.OPEN: (v.billed_at, "bill"),
        WeekStatus.EXPERT_REVIEW: (v.expert_review_ends_at, "finalise"),
        WeekStatus.CLIENT_REVIEW: (v.client_review_ends_at, "hold"),
    }.get(v.status)
    if stage:
        out.append(stage)
    if v.payment_status == PaymentStatus.FAILING and v.next_charge_at:
        out.append((v.next_charge_at, "retry"))
    if v.status == WeekStatus.HOLD and v.escrow > v.frozen:
        out.append((v.client_review_ends_at, "pay"))
    pending = [h.available_at for h in v.holds if not h.settled]
    if pending:
        out.append((min(pending), "settle"))
    if completes(v):
        out.append((v.client_review_ends_at, "complete"))
    return out


def _advance(v: HourlyWeekView, status: WeekStatus, deadline: datetime | None, action: str | None, kind: str) -> Week:
    return Decision(
        view=v.model_copy(update={"status": status, "deadline_at": deadline, "deadline_action": action}), kind=kind
    )


def bill(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H2: on the Monday 00:00 after the week the invoice is issued; the workflow then
    charges `v.invoice_amount`, and the expert may still edit until 12:00 (H3)."""
    if v.status != WeekStatus.OPEN or ctx.now < v.billed_at:
        return None
    return _advance(v, WeekStatus.EXPERT_REVIEW, v.expert_review_ends_at, "finalise_invoice", "week.billed")


def true_up_charge(v: HourlyWeekView) -> int:
    """H3: at Monday 12:00, what the client still owes on the final invoice (charged
    then); none while a charge is failing, as the next retry charges the final amount."""
    if v.payment_status == PaymentStatus.FAILING:
        return 0
    return max(v.invoice_amount - v.charged, 0)


def return_overcharge(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H3: what the client paid beyond the final invoice goes back to its balance."""
    if v.payment_status == PaymentStatus.FAILING or v.charged <= v.invoice_amount:
        return None
    return paid(v, ctx, v.charged - v.invoice_amount, 0, "week.overcharge_returned", counts_as_refund=False)


def finalise(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H3, H4: after the true-up, the client reviews the final invoice; a week with
    nothing logged is done."""
    if v.status != WeekStatus.EXPERT_REVIEW or ctx.now < v.expert_review_ends_at:
        return None
    if v.invoice_amount == 0 and v.charged == 0:
        # Nothing was logged: nothing to review, hold or pay.
        return _advance(v, WeekStatus.COMPLETED, None, None, "week.completed")
    return _advance(v, WeekStatus.CLIENT_REVIEW, v.client_review_ends_at, "start_security_hold", "week.client_review")


def security_hold(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H4, H6: on Saturday 00:00 the client's disputes stop and the money is held."""
    if v.status != WeekStatus.CLIENT_REVIEW or ctx.now < v.client_review_ends_at:
        return None
    return _advance(v, WeekStatus.HOLD, None, None, "week.security_hold")


def pay_expert(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H6: in the hold, what no dispute holds goes to the expert, available on the Wednesday."""
    if v.status != WeekStatus.HOLD or v.escrow <= v.frozen:
        return None
    return paid(v, ctx, 0, v.escrow - v.frozen, "week.held_for_expert")


def settle(v: HourlyWeekView, ctx: Context) -> Week | None:
    """H6, P1: each hold whose instant has come becomes available to the expert."""
    due = [h for h in v.holds if not h.settled and h.available_at <= ctx.now]
    if not due:
        return None
    transfers, after = holds.settle(v.holds, due, v.expert_id, v.currency)
    notice = FundsAvailable(to=(v.expert_id,), amount=sum(h.amount for h in due), currency=v.currency, week=v.week)
    return Decision(
        view=v.model_copy(update={"holds": after}), kind="week.funds_available", transfers=transfers, notices=[notice]
    )


def completes(v: HourlyWeekView) -> bool:
    """In the hold, with its escrow paid out, no charge failing and no dispute open."""
    return v.status == WeekStatus.HOLD and v.escrow == 0 and v.payment_status != PaymentStatus.FAILING and not v.frozen


def complete(v: HourlyWeekView, ctx: Context) -> Week | None:
    if not completes(v):
        return None
    return Decision(view=v.model_copy(update={"status": WeekStatus.COMPLETED}), kind="week.completed")


def finished(v: HourlyWeekView) -> bool:
    """The workflow ends: completed, every hold settled, no dispute open."""
    return (
        v.status == WeekStatus.COMPLETED
        and all(h.settled for h in v.holds)
        and not any(c.status == ClaimStatus.OPEN for c in v.claims)
    )


def summary(v: HourlyWeekView, finished: bool = False) -> WeekSummary:
    """What the week tells its contract."""
    return made_from(v, WeekSummary, finished=finished)


# ---------------------------------------------------------------------- H2, H7 charging


def retry_charge(v: HourlyWeekView, ctx: Context) -> int:
    """H7: the daily retry of a failing charge, for what the invoice still lacks."""
    if v.payment_status != PaymentStatus.FAILING or v.next_charge_at is None or ctx.now < v.next_charge_at:
        return 0
    return v.invoice_amount - v.charged


def retry_now(v: HourlyWeekView, ctx: Context) -> HourlyWeekView:
    """H7: a new payment method is tried at once."""
    if v.payment_status != PaymentStatus.FAILING:
        return v
    return v.model_copy(update={"next_charge_at": ctx.now})


def review_invoice(v: HourlyWeekView, cmd: ReviewInvoice, ctx: Context) -> Week:
    """H7: the operator's invoice review, opened by repeated failed charges, decides:
    charge again now, or close the review and let the daily retries go on."""
    if cmd.actor.role != Role.OPERATOR:
        raise refuse(Refusal.FORBIDDEN, "only an operator reviews an invoice (H7)")
    if not v.invoice_review:
        raise refuse(
            Refusal.CONFLICT,
            f"week {v.week} has no invoice under review; one opens after "
            f"{ctx.policy.failed_charges_before_review} failed charges (H7)",
        )
    if cmd.action == InvoiceReviewAction.RETRY_NOW:
        view, kind = retry_now(v, ctx), "week.invoice_retry_ordered"
    else:
        view, kind = v.model_copy(update={"invoice_review": False}), "week.invoice_review_closed"
    return Decision(view=view, kind=kind, actor=cmd.actor, data={"action": cmd.action.value, "note": cmd.note})


def charge(
    v: HourlyWeekView, amount: int, number: int, payment_method: str | None, ctx: Context
) -> ChargeRequest | None:
    """The week's `number`th charge of `amount` to the client's card; none for nothing.
    Its key makes the provider charge it once, however often it is tried."""
    if amount <= 0:
        return None
    return ChargeRequest(
        key=ctx.id("charge", number),
        customer_id=v.client_id,
        payment_method=payment_method,
        amount=amount,
        currency=v.currency,
    )


def unreachable(request: ChargeRequest) -> ChargeResult:
    """H7: a gateway that stays unreachable counts as one failed charge."""
    return ChargeResult(outcome=ChargeOutcome.DECLINED, reference=request.key, message="payment provider unreachable")


def charged(v: HourlyWeekView, request: ChargeRequest, result: ChargeResult, ctx: Context) -> Week:
    """H2, H7: a charge that succeeded pays into the week's escrow; one that failed puts
    the contract on hold and is retried in a day, and after enough failures an
    operator reviews the invoice."""
    amount = request.amount
    if result.outcome == ChargeOutcome.SUCCEEDED:
        view = v.model_copy(
            update={
                "charged": v.charged + amount,
                "escrow": v.escrow + amount,
                "payment_status": PaymentStatus.PAID,
                "next_charge_at": None,
                "invoice_review": False,
            }
        )
        transfer = TransferSpec(
            id=request.key,
            debit=accounts.WORLD_CARD,
            credit=accounts.week_escrow(v.contract_id, v.week),
            amount=amount,
            currency=v.currency,
            kind="hourly_charge",
        )
        kind = "week.charge_recovered" if v.payment_status == PaymentStatus.FAILING else "week.charged"
        notice = Charged(to=(v.client_id,), amount=amount, currency=v.currency, week=v.week)
        return Decision(view=view, kind=kind, transfers=[transfer], notices=[notice])
    failures = v.failed_charges + 1
    review = failures >= ctx.policy.failed_charges_before_review
    retry_at = ctx.now + ctx.policy.charge_retry_interval
    view = v.model_copy(
        update={
            "payment_status": PaymentStatus.FAILING,
            "failed_charges": failures,
            "next_charge_at": retry_at,
            "invoice_review": review,
        }
    )
    notices: list[Notice] = [
        ChargeFailed(
            to=(v.client_id,),
            amount=amount,
            currency=v.currency,
            week=v.week,
            message=result.message,
            retry_at=retry_at,
        ),
        ClientPaymentFailed(to=(v.expert_id,), week=v.week),
    ]
    if review and not v.invoice_review:
        notices.append(InvoiceReview(to=(OPERATORS,), week=v.week, contract_id=v.contract_id, failures=failures))
    return Decision(
        view=view, kind="week.charge_failed", data={"amount": amount, "message": result.message}, notices=notices
    )


# ---------------------------------------------------------------------- money


def paid(
    v: HourlyWeekView,
    ctx: Context,
    to_client: int,
    to_expert: int,
    kind: str,
    counts_as_refund: bool = True,
    settles: tuple[str, int] | None = None,
) -> Week:
    """Money out of the week's escrow (escrow.rules.paying): `to_client` to the client's
    balance, `to_expert` held until the week's Wednesday (H6); `settles` names the
    dispute this pays and what it gave the client. An overcharge returned
    (`counts_as_refund=False`) lowers what was charged instead of counting as refunded."""
    payment = pay(
        Payment(
            escrow=accounts.week_escrow(v.contract_id, v.week),
            client_id=v.client_id,
            expert_id=v.expert_id,
            currency=v.currency,
            to_client=to_client,
            to_expert=to_expert,
            refund_id=ctx.id("refund", ctx.step),
            release_id=ctx.id("release", ctx.step),
            available_at=max(v.available_at, ctx.now),
        )
    )
    claims = settle_claim(v.claims, settles[0], ctx.now, settles[1]) if settles else list(v.claims)
    view = v.model_copy(
        update={
            "escrow": v.escrow - to_client - to_expert,
            "charged": v.charged if counts_as_refund else v.charged - to_client,
            "refunded": v.refunded + (to_client if counts_as_refund else 0),
            "released": v.released + to_expert,
            "holds": [*v.holds, payment.hold] if payment.hold else list(v.holds),
            "claims": claims,
        }
    )
    return Decision(
        view=view, kind=kind, transfers=payment.transfers, data={"to_client": to_client, "to_expert": to_expert}
    )

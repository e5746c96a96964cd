"""Contracts (M1, M8, H1, H7, C1, C2, O1–O5): the decisions of one contract between a client
and an expert. The contract moves no money: its milestones and billing weeks own their
escrow and report it here as summaries.

A fixed-rate contract agrees milestones (M1, M8); an hourly one opens a billing week
every Monday 00:00 (H1) and is on hold while a week's charge fails (H7). Closing (C1)
asks every child to release or refund what it holds; the contract is closed once all of
it has moved, flagged zero-pay when the expert got nothing (C2).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from escrow.calendar import BillingWeek, iso_week
from escrow.errors import Refusal, refuse
from escrow.models import (
    Actor,
    AddMilestone,
    CloseContract,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    MilestoneInput,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    PaymentStatus,
    Remainder,
    Role,
    SetPaymentMethod,
    WeekStatus,
    WeekSummary,
)
from escrow.models.hourly import HourlyWeekInput
from escrow.models.review import ReviewInput
from escrow.money import format_cents
from escrow.notices.contract import (
    ClientReactivated,
    ClientSuspended,
    ContractDormant,
    DormantExpertNotice,
    DormantSettled,
)
from escrow.policy import Policy
from escrow.rules import Context, Decision, made_from

BILLED = (ContractStatus.ACTIVE, ContractStatus.ON_HOLD)


def opened(input: ContractInput, now: datetime) -> ContractView:
    """The contract as its workflow starts (or goes on after continue-as-new)."""
    return made_from(
        input, ContractView, id=input.contract_id, policy=input.policy.name, created_at=input.created_at or now
    )


def created(v: ContractView, ctx: Context) -> Decision[ContractView]:
    return Decision(view=v, kind="contract.created")


def require_party(v: ContractView, actor: Actor) -> None:
    party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(actor.role)
    if party != actor.user_id:
        raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may do this")


def billing(v: ContractView) -> bool:
    """An hourly contract bills weekly until it closes (on hold included, H7)."""
    return v.type == ContractType.HOURLY and v.status in BILLED


def done(v: ContractView) -> bool:
    """Closed, and every child has ended: nothing will report here any more."""
    return (
        v.status == ContractStatus.CLOSED and all(m.finished for m in v.milestones) and all(w.finished for w in v.weeks)
    )


# ---------------------------------------------------------------------- M1, M8


def check_add_milestone(v: ContractView, cmd: AddMilestone, ctx: Context) -> None:
    require_party(v, cmd.actor)
    if v.status not in (ContractStatus.ACTIVE, ContractStatus.DORMANT):
        raise refuse(Refusal.CONFLICT, f"contract is {v.status}")
    if v.type != ContractType.FIXED:
        raise refuse(Refusal.CONFLICT, "hourly contracts bill by the week, not by milestone")
    if not cmd.title.strip():
        raise refuse(Refusal.INVALID, "a milestone needs a title")
    minimum = ctx.policy.min_milestone
    if cmd.amount < minimum:
        raise refuse(
            Refusal.INVALID,
            f"a milestone is at least {format_cents(minimum, v.currency)} (M1); got {format_cents(cmd.amount, v.currency)}",
        )


def new_milestone(v: ContractView, cmd: AddMilestone, milestone_id: str, ctx: Context) -> MilestoneInput:
    """The milestone's workflow input: proposed by whoever adds it (M1 client, M8 expert)."""
    return MilestoneInput(
        milestone_id=milestone_id,
        contract_id=v.id,
        client_id=v.client_id,
        expert_id=v.expert_id,
        title=cmd.title.strip(),
        description=cmd.description,
        amount=cmd.amount,
        currency=v.currency,
        due_date=cmd.due_date,
        proposed_by=cmd.actor.role,
        policy=ctx.policy,
    )


def milestone_added(v: ContractView, cmd: AddMilestone, first: MilestoneView, ctx: Context) -> Decision[ContractView]:
    """The contract lists the new milestone, as it is before its first step."""
    summary = MilestoneSummary(id=first.id, status=first.status, escrow=0, released=0, refunded=0, settled=False)
    # O2, O5: a change of terms is activity, and returns a dormant contract to active.
    view = _awake(v, ctx).model_copy(update={"milestones": [*v.milestones, summary]})
    return Decision(view=view, kind="contract.milestone_added", actor=cmd.actor, data={"milestone_id": first.id})


def unlisted(v: ContractView, summary: MilestoneSummary) -> list[MilestoneSummary]:
    """M6: milestones a report names that the contract does not list: the one reporting
    (funded from a remainder, it was never added here), or the one its remainder funds,
    as it opens, unsettled. Its own reports then replace what is listed."""
    listed = {m.id for m in v.milestones}
    out = []
    if summary.id not in listed and not summary.finished:
        out.append(summary)
    if summary.applied_to is not None and summary.applied_to not in listed | {summary.id}:
        out.append(
            MilestoneSummary(
                id=summary.applied_to,
                status=MilestoneStatus.IN_PROGRESS,
                escrow=summary.applied,
                released=0,
                refunded=0,
                settled=False,
            )
        )
    return out


def with_milestone(v: ContractView, summary: MilestoneSummary) -> ContractView:
    """A milestone reported its money."""
    if any(m.id == summary.id for m in v.milestones):
        return v.model_copy(update={"milestones": [summary if m.id == summary.id else m for m in v.milestones]})
    return v.model_copy(update={"milestones": [*v.milestones, summary]})


# ---------------------------------------------------------------------- H1, H7


def next_week_at(v: ContractView, now: datetime) -> datetime | None:
    """H1: when the next billing week opens: the current one's start if it is not open
    yet (due at once), else the Monday 00:00 after it."""
    if not billing(v):
        return None
    week = BillingWeek.of(iso_week(now))
    return week.billed_at if any(w.week == week.week for w in v.weeks) else week.starts_at


def week_opened(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """H1: the week `ctx.now` falls in starts, unless it has already."""
    week = iso_week(ctx.now)
    if not billing(v) or any(w.week == week for w in v.weeks):
        return None
    summary = WeekSummary(week=week, status=WeekStatus.OPEN, escrow=0, released=0, payment_status=PaymentStatus.NOT_DUE)
    # O2: a week's timesheet is the contract's activity.
    view = v.model_copy(update={"weeks": [*v.weeks, summary], "last_activity_at": ctx.now})
    return Decision(view=view, kind="contract.week_opened", data={"week": week})


def new_week(v: ContractView, payment_method: str | None, ctx: Context) -> HourlyWeekInput:
    """The workflow input of the week `ctx.now` falls in."""
    assert v.hourly_rate is not None
    limit = v.weekly_limit_hours
    return HourlyWeekInput(
        contract_id=v.id,
        client_id=v.client_id,
        expert_id=v.expert_id,
        week=iso_week(ctx.now),
        hourly_rate=v.hourly_rate,
        currency=v.currency,
        weekly_limit_minutes=None if limit is None else limit * 60,
        payment_method=payment_method,
        policy=ctx.policy,
    )


def with_week(v: ContractView, summary: WeekSummary) -> ContractView:
    """A billing week reported its money and its charge."""
    return v.model_copy(update={"weeks": [summary if w.week == summary.week else w for w in v.weeks]})


def hold(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """H7: a failing charge suspends the client and holds the contract; paying lifts
    both at once."""
    failing = any(w.payment_status == PaymentStatus.FAILING for w in v.weeks)
    if failing and v.status == ContractStatus.ACTIVE:
        status, kind, notice = ContractStatus.ON_HOLD, "contract.on_hold", ClientSuspended(to=(v.client_id,))
    elif not failing and v.status == ContractStatus.ON_HOLD:
        status, kind, notice = ContractStatus.ACTIVE, "contract.reactivated", ClientReactivated(to=(v.client_id,))
    else:
        return None
    on_hold = status == ContractStatus.ON_HOLD
    return Decision(
        view=v.model_copy(update={"status": status}), kind=kind, data={"client_suspended": on_hold}, notices=[notice]
    )


def check_payment_method(v: ContractView, cmd: SetPaymentMethod, ctx: Context) -> None:
    if cmd.actor.role != Role.CLIENT or cmd.actor.user_id != v.client_id:
        raise refuse(Refusal.FORBIDDEN, "only the client sets the contract's payment method")
    if not cmd.payment_method.strip():
        raise refuse(Refusal.INVALID, "a payment method is required")
    if not billing(v):
        raise refuse(Refusal.CONFLICT, "only an active hourly contract is billed to a card")


def payment_method_set(v: ContractView, cmd: SetPaymentMethod, ctx: Context) -> Decision[ContractView]:
    """H7: the client's new card; its open weeks try it (the workflow tells them)."""
    check_payment_method(v, cmd, ctx)
    return Decision(view=v, kind="contract.payment_method_changed", actor=cmd.actor)


# ---------------------------------------------------------------------- C1, C2


def check_close(v: ContractView, cmd: CloseContract, ctx: Context) -> Remainder:
    """C1: what happens to unreleased escrow: the client says; an expert gives it back."""
    require_party(v, cmd.actor)
    if v.status not in (*BILLED, ContractStatus.DORMANT):
        raise refuse(Refusal.CONFLICT, f"contract is already {v.status}")
    if cmd.actor.role == Role.EXPERT:
        if cmd.remainder == Remainder.RELEASE:
            raise refuse(Refusal.FORBIDDEN, "an expert cannot release escrow to itself")
        return Remainder.REFUND
    if cmd.remainder is None and any(m.escrow for m in v.milestones):
        raise refuse(Refusal.INVALID, "say whether the unreleased escrow is released or refunded: remainder")
    return cmd.remainder or Remainder.RELEASE


def closing(v: ContractView, cmd: CloseContract, ctx: Context) -> Decision[ContractView]:
    """C1: closing until every child has moved its money."""
    remainder = check_close(v, cmd, ctx)
    # O5: a cancellation request ends dormancy too.
    view = v.model_copy(update={"status": ContractStatus.CLOSING, "last_activity_at": ctx.now})
    return Decision(view=view, kind="contract.closing", actor=cmd.actor, data={"remainder": remainder.value})


def closed(v: ContractView, actor: Actor | None, ctx: Context) -> Decision[ContractView] | None:
    """C1, C2: closed once every milestone is settled and every week completed; zero-pay
    when the expert got nothing. `actor` is who closed it."""
    if v.status != ContractStatus.CLOSING or not all(m.settled for m in v.milestones):
        return None
    if not all(w.status == WeekStatus.COMPLETED for w in v.weeks):
        return None
    zero_pay = v.released_total == 0
    view = v.model_copy(update={"status": ContractStatus.CLOSED, "closed_at": ctx.now, "zero_pay": zero_pay})
    return Decision(view=view, kind="contract.closed", actor=actor, data={"zero_pay": zero_pay})


def reviews(v: ContractView, ctx: Context) -> ReviewInput:
    """V1: the reviews a closed contract opens, from the instant it closed."""
    assert v.closed_at is not None
    return ReviewInput(
        contract_id=v.id, client_id=v.client_id, expert_id=v.expert_id, closed_at=v.closed_at, policy=ctx.policy
    )


# ---------------------------------------------------------------------- O1–O5 dormancy


def _day(d: date | None) -> datetime | None:
    return None if d is None else datetime.combine(d, time(), tzinfo=UTC)


def dormancy_clock(v: ContractView) -> datetime:
    """O1, O2: what the 60 days run from: the latest milestone date or activity (the
    contract's own, its milestones'), the contract's start if there is none."""
    moments = [v.created_at, v.last_activity_at]
    for m in v.milestones:
        moments += [_day(m.due_date), m.last_activity_at]
    return max(m for m in moments if m is not None)


def dormant_at(v: ContractView, policy: Policy) -> datetime | None:
    """O1: when an active contract holding escrow becomes dormant, under a policy that
    has dormancy."""
    if policy.dormant_after is None or v.status != ContractStatus.ACTIVE or v.escrow_total <= 0:
        return None
    return dormancy_clock(v) + policy.dormant_after


def dormancy_deadlines(v: ContractView, policy: Policy) -> list[tuple[datetime, str]]:
    """O1, O3, O4: the instants of this contract's dormancy, and what falls due then."""
    at = dormant_at(v, policy)
    if at is not None:
        return [(at, "dormant")]
    since = v.dormant_since
    if v.status != ContractStatus.DORMANT or since is None:
        return []
    out = []
    if not v.dormant_expert_notified:
        out.append((since + policy.dormant_expert_notice, "notify_expert"))
    if not v.dormant_settled:
        out.append((since + policy.dormant_settlement, "settle"))
    return out


def went_dormant(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """O1: no activity for 60 days after the last milestone date: dormant from then;
    the client is told."""
    at = dormant_at(v, ctx.policy)
    if at is None or ctx.now < at:
        return None
    update = {
        "status": ContractStatus.DORMANT,
        "dormant_since": at,
        "dormant_expert_notified": False,
        "dormant_settled": False,
    }
    settles_at = at + ctx.policy.dormant_settlement
    return Decision(
        view=v.model_copy(update=update),
        kind="contract.dormant",
        data={"dormant_since": at.isoformat()},
        notices=[ContractDormant(to=(v.client_id,), settles_at=settles_at)],
    )


def expert_warned(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """O3: a week after the dormant date the expert is told of the coming settlement."""
    since = v.dormant_since
    if v.status != ContractStatus.DORMANT or since is None or v.dormant_expert_notified:
        return None
    if ctx.now < since + ctx.policy.dormant_expert_notice:
        return None
    settles_at = since + ctx.policy.dormant_settlement
    return Decision(
        view=v.model_copy(update={"dormant_expert_notified": True}),
        kind="contract.dormant_expert_notified",
        notices=[DormantExpertNotice(to=(v.expert_id,), settles_at=settles_at)],
    )


def dormant_settling(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """O4: two weeks after the dormant date the escrow is settled; the contract asks
    each milestone (`to_settle`), whose own rule releases or refunds."""
    since = v.dormant_since
    if v.status != ContractStatus.DORMANT or since is None or v.dormant_settled:
        return None
    if ctx.now < since + ctx.policy.dormant_settlement:
        return None
    return Decision(
        view=v.model_copy(update={"dormant_settled": True}),
        kind="contract.dormant_settled",
        notices=[DormantSettled(to=(v.client_id, v.expert_id))],
    )


def to_settle(v: ContractView) -> list[str]:
    """O4: the milestones asked to settle their dormant escrow."""
    return [m.id for m in v.milestones if not m.finished and m.escrow > 0]


def _awake(v: ContractView, ctx: Context) -> ContractView:
    """O2, O5: a party acted; a dormant contract is active again, its clock restarted."""
    update: dict[str, object] = {"last_activity_at": ctx.now}
    if v.status == ContractStatus.DORMANT:
        update |= {
            "status": ContractStatus.ACTIVE,
            "dormant_since": None,
            "dormant_expert_notified": False,
            "dormant_settled": False,
        }
    return v.model_copy(update=update)


def reactivated(v: ContractView, ctx: Context) -> Decision[ContractView] | None:
    """O5: a milestone reported a change of terms or a release since the dormant date."""
    since = v.dormant_since
    if v.status != ContractStatus.DORMANT or since is None:
        return None
    if not any(m.last_reactivation_at and m.last_reactivation_at >= since for m in v.milestones):
        return None
    return Decision(view=_awake(v, ctx), kind="contract.active_again")

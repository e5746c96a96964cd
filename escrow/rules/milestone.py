"""Fixed-rate milestones (M1–M10, L5, and the money side of R3, D1, C1) as pure
decisions. The milestone owns `escrow:milestone:{id}`: every way money leaves it is
decided here and paid by `escrow.rules.paying.pay`. Refund requests and disputes decide
in their own workflows; their outcome is paid here.

Transfer ids are part of the money's identity and never change: `{wf}:fund`,
`{wf}:release:{n}` (the n-th final invoice), `{wf}:refund:{claim}` when a claim is
settled, else `{wf}:refund:{step}`, `{wf}:clawback:{claim}`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import StrEnum

from escrow import accounts, holds
from escrow.errors import Refusal, refuse
from escrow.models import (
    Actor,
    AnswerChange,
    ApplyRemainder,
    ChangeStatus,
    Claim,
    ClaimKind,
    ClaimStatus,
    CloseMilestone,
    DeadlineAction,
    DisputeInput,
    DisputeOutcome,
    EscalateRefund,
    Fund,
    Invoice,
    InvoiceKind,
    MilestoneChange,
    MilestoneInput,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    OpenDispute,
    PartyCommand,
    ProposeChange,
    RefundInput,
    RefundPhase,
    RefundStatus,
    RefundView,
    Release,
    Remainder,
    RequestRefund,
    RequestRevision,
    Role,
    Submit,
    TransferSpec,
)
from escrow.money import format_cents
from escrow.notices import Notice
from escrow.notices.milestone import (
    ChangeAnswered,
    ChangeProposed,
    Overdue,
    RefundedToYou,
    RefundUnpaid,
    ReleasedToExpert,
    ReleasedToYou,
    Reminder,
    RevisionRequested,
    Submitted,
)
from escrow.policy import Policy
from escrow.rules import Context, Decision, made_from, parties
from escrow.rules import dispute as disputes
from escrow.rules.paying import Payment, pay, settle_claim, with_claims

UNFUNDED = (MilestoneStatus.PROPOSED, MilestoneStatus.AGREED, MilestoneStatus.FUNDING_PENDING)
RELEASABLE = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, MilestoneStatus.PARTIALLY_RELEASED)
ENDED = (MilestoneStatus.DECLINED, MilestoneStatus.CANCELLED)
# A claim that may still take its money: open, or declined and not yet escalated (R4).
LIVE = (ClaimStatus.OPEN, ClaimStatus.DECLINED)


def initial_view(input: MilestoneInput) -> MilestoneView:
    if input.funded_from is not None:
        # M6: funded from another milestone's remainder, which that milestone moved here.
        funded = {"status": MilestoneStatus.IN_PROGRESS, "escrow": input.amount, "funded": input.amount}
    else:
        # M1: a client's milestone is agreed; an expert's is a proposal (M8).
        funded = {"status": MilestoneStatus.PROPOSED if input.proposed_by == Role.EXPERT else MilestoneStatus.AGREED}
    return made_from(input, MilestoneView, id=input.milestone_id, policy=input.policy.name, **funded)


def created(v: MilestoneView, ctx: Context) -> Decision[MilestoneView]:
    """The opening step. A milestone funded from a remainder (M6) records the money it
    received; the transfer was the other milestone's step, so none is posted here."""
    if v.funded_from is None:
        return Decision(view=v, kind="milestone.created")
    return Decision(view=v, kind="milestone.created", data={"funded_from": v.funded_from, "amount": v.escrow})


def summary(v: MilestoneView, finished: bool = False) -> MilestoneSummary:
    """What the contract is told after every change of this milestone's money (C1, C2)."""
    settled = v.status in ENDED or (v.status not in UNFUNDED and v.escrow == 0 and v.frozen == 0)
    return made_from(v, MilestoneSummary, settled=settled, finished=finished)


# -------------------------------------------------------------------- checks


def require_party(v: MilestoneView, actor: Actor, role: Role) -> None:
    party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(actor.role)
    if party != actor.user_id:
        raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may act on its milestones")
    if actor.role != role:
        raise refuse(Refusal.FORBIDDEN, f"only the {role} may do this")


def require_review_open(v: MilestoneView, ctx: Context) -> None:
    if v.status != MilestoneStatus.SUBMITTED:
        raise refuse(Refusal.CONFLICT, f"no release request is open; milestone is {v.status}")
    if v.deadline_at and ctx.now >= v.deadline_at:
        raise refuse(Refusal.CONFLICT, "the review window has ended")


# -------------------------------------------------------------------- M8 agreement


def check_answer_proposal(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.CLIENT if v.proposed_by == Role.EXPERT else Role.EXPERT)
    if v.status != MilestoneStatus.PROPOSED:
        raise refuse(Refusal.CONFLICT, f"milestone is {v.status}, not a proposal")


def accept(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> Decision[MilestoneView]:
    check_answer_proposal(v, cmd, ctx)
    return Decision(
        view=v.model_copy(update={"status": MilestoneStatus.AGREED}), kind="milestone.accepted", actor=cmd.actor
    )


def decline(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> Decision[MilestoneView]:
    check_answer_proposal(v, cmd, ctx)
    return Decision(
        view=v.model_copy(update={"status": MilestoneStatus.DECLINED}), kind="milestone.declined", actor=cmd.actor
    )


# -------------------------------------------------------------------- M8 changes

# A change is proposed to an active milestone: not declined, cancelled or paid out.
UNCHANGEABLE = (*ENDED, MilestoneStatus.COMPLETED)


def check_propose_change(v: MilestoneView, cmd: ProposeChange, ctx: Context) -> None:
    require_party(v, cmd.actor, cmd.actor.role)
    _require_applicable(v, cmd.amount, cmd.remove)


def _require_applicable(v: MilestoneView, amount: int | None, remove: bool) -> None:
    """What the milestone's state allows of a change, when proposed and again when accepted."""
    if v.status in UNCHANGEABLE:
        raise refuse(Refusal.CONFLICT, f"milestone is {v.status}: it can no longer be changed (M8)")
    if amount is not None and amount <= v.amount:
        raise refuse(
            Refusal.CONFLICT,
            f"a milestone's amount may only grow (M8): it is {format_cents(v.amount, v.currency)}",
        )
    if remove and v.status not in UNFUNDED:
        raise refuse(Refusal.CONFLICT, f"only a milestone not yet funded can be removed (M8); it is {v.status}")


def propose_change(v: MilestoneView, cmd: ProposeChange, ctx: Context) -> Decision[MilestoneView]:
    """M8: either party proposes; the other answers. Proposals do not expire."""
    check_propose_change(v, cmd, ctx)
    change = MilestoneChange(
        id=f"change-{ctx.step}",
        proposed_by=cmd.actor.role,
        proposed_at=ctx.now,
        title=cmd.title,
        description=cmd.description,
        due_date=cmd.due_date,
        amount=cmd.amount,
        remove=cmd.remove,
    )
    other = v.expert_id if cmd.actor.role == Role.CLIENT else v.client_id
    return Decision(
        view=v.model_copy(update={"changes": [*v.changes, change]}),
        kind="milestone.change_proposed",
        actor=cmd.actor,
        data={"change": change.model_dump(mode="json")},
        notices=[ChangeProposed(to=(other,), title=v.title, proposer=str(cmd.actor.role))],
    )


def check_answer_change(v: MilestoneView, cmd: AnswerChange, ctx: Context) -> MilestoneChange:
    require_party(v, cmd.actor, cmd.actor.role)
    change = next((c for c in v.changes if c.id == cmd.change_id), None)
    if change is None:
        raise refuse(Refusal.NOT_FOUND, f"no change {cmd.change_id} of this milestone")
    if change.proposed_by == cmd.actor.role:
        raise refuse(Refusal.FORBIDDEN, "a proposed change is answered by the other party (M8)")
    if change.status != ChangeStatus.PROPOSED:
        raise refuse(Refusal.CONFLICT, f"this change was already {change.status}")
    return change


def check_accept_change(v: MilestoneView, cmd: AnswerChange, ctx: Context) -> MilestoneChange:
    change = check_answer_change(v, cmd, ctx)
    _require_applicable(v, change.amount, change.remove)
    return change


def accept_change(v: MilestoneView, cmd: AnswerChange, ctx: Context) -> Decision[MilestoneView]:
    """M8: the change applies. A higher amount is funded into the same escrow by the
    client (`fund`); a removal cancels the milestone."""
    change = check_accept_change(v, cmd, ctx)
    update: dict[str, object] = {
        name: value
        for name in ("title", "description", "due_date", "amount")
        if (value := getattr(change, name)) is not None
    }
    if change.remove:
        update["status"] = MilestoneStatus.CANCELLED
    decided = change.model_copy(update={"status": ChangeStatus.ACCEPTED, "decided_at": ctx.now})
    update["changes"] = [decided if c.id == change.id else c for c in v.changes]
    return _answered(v, v.model_copy(update=update), decided, cmd, "milestone.change_accepted")


def decline_change(v: MilestoneView, cmd: AnswerChange, ctx: Context) -> Decision[MilestoneView]:
    change = check_answer_change(v, cmd, ctx)
    decided = change.model_copy(update={"status": ChangeStatus.DECLINED, "decided_at": ctx.now})
    view = v.model_copy(update={"changes": [decided if c.id == change.id else c for c in v.changes]})
    return _answered(v, view, decided, cmd, "milestone.change_declined")


def _answered(
    v: MilestoneView, view: MilestoneView, change: MilestoneChange, cmd: AnswerChange, kind: str
) -> Decision[MilestoneView]:
    """The proposer is told, naming the milestone by the title it had."""
    proposer = v.client_id if change.proposed_by == Role.CLIENT else v.expert_id
    accepted = change.status == ChangeStatus.ACCEPTED
    return Decision(
        view=view,
        kind=kind,
        actor=cmd.actor,
        data={"change_id": change.id},
        notices=[ChangeAnswered(to=(proposer,), title=v.title, accepted=accepted)],
    )


def change_of(v: MilestoneView, change_id: str) -> MilestoneChange:
    return next(c for c in v.changes if c.id == change_id)


def changed(v: MilestoneView, cmd: ProposeChange | AnswerChange) -> MilestoneChange:
    """The change a command acted on, as it is now: what the command answers (M8)."""
    return change_of(v, cmd.change_id) if isinstance(cmd, AnswerChange) else v.changes[-1]


# -------------------------------------------------------------------- M2 funding

# M8: a funded milestone whose amount grew takes the difference into the same escrow.
TOPPABLE = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, MilestoneStatus.PARTIALLY_RELEASED)


def check_fund(v: MilestoneView, cmd: Fund, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status == MilestoneStatus.AGREED:
        return
    if v.status in TOPPABLE and v.amount > v.funded:
        if not cmd.card_authenticated:
            raise refuse(Refusal.CONFLICT, "funding an approved increase needs an authenticated card (M2, M8)")
        return
    raise refuse(Refusal.CONFLICT, f"only an agreed, unfunded milestone can be funded; it is {v.status}")


def fund(v: MilestoneView, cmd: Fund, ctx: Context) -> Decision[MilestoneView]:
    check_fund(v, cmd, ctx)
    if cmd.card_authenticated:
        return _credit_escrow(v, cmd.actor, ctx)
    view = v.model_copy(update={"status": MilestoneStatus.FUNDING_PENDING})
    return Decision(view=view, kind="milestone.funding_pending", actor=cmd.actor)


def check_authenticate(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status != MilestoneStatus.FUNDING_PENDING:
        raise refuse(Refusal.CONFLICT, f"no funding is waiting for card authentication; milestone is {v.status}")


def authenticate_funding(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> Decision[MilestoneView]:
    check_authenticate(v, cmd, ctx)
    return _credit_escrow(v, cmd.actor, ctx)


def _credit_escrow(v: MilestoneView, actor: Actor, ctx: Context) -> Decision[MilestoneView]:
    # M8: after an approved increase, only the difference; each funding its own transfer.
    amount = v.amount - v.funded
    transfer = TransferSpec(
        id=ctx.id("fund") if v.funded == 0 else ctx.id("fund", ctx.step),
        debit=accounts.WORLD_CARD,
        credit=accounts.milestone_escrow(v.id),
        amount=amount,
        currency=v.currency,
        kind="fund",
    )
    status = MilestoneStatus.IN_PROGRESS if v.status in UNFUNDED else v.status
    view = v.model_copy(update={"status": status, "escrow": v.escrow + amount, "funded": v.funded + amount})
    return Decision(view=view, kind="milestone.funded", actor=actor, transfers=[transfer])


# -------------------------------------------------------------------- M3 submission, M7 revisions


def check_submit(v: MilestoneView, cmd: Submit, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.EXPERT)
    if v.status != MilestoneStatus.IN_PROGRESS:
        reason = "it is not funded yet" if v.status in UNFUNDED else f"it is {v.status}"
        raise refuse(Refusal.CONFLICT, f"cannot submit work for this milestone: {reason}")


def submit(v: MilestoneView, cmd: Submit, ctx: Context) -> Decision[MilestoneView]:
    """M3: a release request, with its pro-forma invoice; M4: the review window opens."""
    check_submit(v, cmd, ctx)
    deadline = ctx.now + ctx.policy.review_window
    invoice = Invoice(
        id=ctx.id("invoice", ctx.step),
        milestone_id=v.id,
        kind=InvoiceKind.PRO_FORMA,
        amount=v.escrow,
        currency=v.currency,
        issued_at=ctx.now,
        # C4: what the money clears at if nobody acts: auto-release, then the M9 hold.
        clears_at=deadline + ctx.policy.fixed_release_hold,
    )
    view = v.model_copy(
        update={
            "status": MilestoneStatus.SUBMITTED,
            "submitted_at": ctx.now,
            "deadline_at": deadline,
            "deadline_action": DeadlineAction.AUTO_RELEASE,
            "overdue": False,
            "invoices": [*v.invoices, invoice],
        }
    )
    notice = Submitted(to=(v.client_id,), title=v.title, amount=v.escrow, currency=v.currency, deadline_at=deadline)
    return Decision(
        view=view,
        kind="milestone.submitted",
        actor=cmd.actor,
        data={"message": cmd.message},
        invoices=[invoice],
        notices=[notice],
    )


def check_void(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.EXPERT)
    require_review_open(v, ctx)


def void_submission(v: MilestoneView, cmd: PartyCommand, ctx: Context) -> Decision[MilestoneView]:
    check_void(v, cmd, ctx)
    return Decision(view=_reopened(v), kind="milestone.submission_voided", actor=cmd.actor)


def check_revision(v: MilestoneView, cmd: RequestRevision, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.CLIENT)
    require_review_open(v, ctx)


def request_revision(v: MilestoneView, cmd: RequestRevision, ctx: Context) -> Decision[MilestoneView]:
    check_revision(v, cmd, ctx)
    view = _reopened(v)
    view.revisions += 1
    return Decision(
        view=view,
        kind="milestone.revision_requested",
        actor=cmd.actor,
        data={"message": cmd.message},
        notices=[RevisionRequested(to=(v.expert_id,), title=v.title, message=cmd.message)],
    )


def _reopened(v: MilestoneView) -> MilestoneView:
    update = {
        "status": MilestoneStatus.IN_PROGRESS,
        "submitted_at": None,
        "deadline_at": None,
        "deadline_action": None,
        "overdue": False,
    }
    return v.model_copy(update=update, deep=True)


# -------------------------------------------------------------------- M4, M6, M9 paying


def check_release(v: MilestoneView, cmd: Release, ctx: Context) -> int:
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status == MilestoneStatus.FUNDING_PENDING:
        raise refuse(Refusal.CONFLICT, "the funding's card is not authenticated yet; nothing can be released (M2)")
    if v.status not in RELEASABLE:
        raise refuse(Refusal.CONFLICT, f"nothing to release: milestone is {v.status}")
    free = v.escrow - v.frozen
    if cmd.amount > free:
        frozen = (
            f" ({format_cents(v.frozen, v.currency)} is frozen by an open refund request or dispute)"
            if v.frozen
            else ""
        )
        raise refuse(
            Refusal.CONFLICT,
            f"cannot release {format_cents(cmd.amount, v.currency)}: escrow holds "
            f"{format_cents(free, v.currency)} that can move{frozen}",
        )
    return cmd.amount


def release(v: MilestoneView, cmd: Release, ctx: Context) -> Decision[MilestoneView]:
    """M6: the client releases all or part of the escrow."""
    return paid_out(v, ctx, 0, check_release(v, cmd, ctx), cmd.actor, "milestone.released")


def paid_out(
    v: MilestoneView,
    ctx: Context,
    to_client: int,
    to_expert: int,
    actor: Actor | None,
    kind: str,
    settle: str | None = None,
) -> Decision[MilestoneView]:
    """Money out of escrow: `to_client` back to the client's balance, `to_expert` into
    the expert's pending balance under the M9 hold, with a final invoice. `settle` names
    the claim this pays; it is settled with what it gave the client."""
    n = sum(1 for i in v.invoices if i.kind == InvoiceKind.FINAL) + 1
    available_at = ctx.now + ctx.policy.fixed_release_hold
    paid = pay(
        Payment(
            escrow=accounts.milestone_escrow(v.id),
            client_id=v.client_id,
            expert_id=v.expert_id,
            currency=v.currency,
            to_client=to_client,
            to_expert=to_expert,
            refund_id=ctx.id("refund", settle if settle is not None else ctx.step),
            release_id=ctx.id("release", n),
            available_at=available_at,
        )
    )
    invoices: list[Invoice] = []
    if to_expert:
        invoices.append(
            Invoice(
                id=ctx.id("invoice", "final", n),
                milestone_id=v.id,
                kind=InvoiceKind.FINAL,
                amount=to_expert,
                currency=v.currency,
                issued_at=ctx.now,
                clears_at=available_at,
            )
        )
    claims = settle_claim(v.claims, settle, ctx.now, to_client) if settle is not None else v.claims
    escrow = v.escrow - to_client - to_expert
    status = v.status
    if escrow == 0:
        status = MilestoneStatus.COMPLETED
    elif actor is not None and actor.role == Role.CLIENT and to_expert:
        status = MilestoneStatus.PARTIALLY_RELEASED  # M6
    review_over = status != MilestoneStatus.SUBMITTED
    view = v.model_copy(
        update={
            "claims": claims,
            "status": status,
            "escrow": escrow,
            "released": v.released + to_expert,
            "refunded": v.refunded + to_client,
            "deadline_at": None if review_over else v.deadline_at,
            "deadline_action": None if review_over else v.deadline_action,
            "holds": [*v.holds, *([paid.hold] if paid.hold else [])],
            "invoices": [*v.invoices, *invoices],
        }
    )
    notices: list[Notice] = []
    money = {"title": v.title, "currency": v.currency}
    if to_expert:
        notices.append(ReleasedToYou(to=(v.expert_id,), amount=to_expert, available_at=available_at, **money))
    if to_client:
        notices.append(RefundedToYou(to=(v.client_id,), amount=to_client, **money))
    elif to_expert:
        notices.append(ReleasedToExpert(to=(v.client_id,), amount=to_expert, **money))
    return Decision(
        view=view,
        kind=kind,
        actor=actor,
        data={"to_client": to_client, "to_expert": to_expert},
        transfers=paid.transfers,
        invoices=invoices,
        notices=notices,
    )


# -------------------------------------------------------------------- R1–R4, M10 refunds


def check_refund(v: MilestoneView, cmd: RequestRefund, ctx: Context) -> tuple[RefundPhase, bool]:
    """R1 on escrow, M10 on released money: the phase of the request, and whether an
    operator must approve it too."""
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status in UNFUNDED or v.status in ENDED:
        raise refuse(Refusal.CONFLICT, f"nothing to refund: milestone is {v.status}")
    if any(c.kind == ClaimKind.REFUND and c.status == ClaimStatus.OPEN for c in v.claims):
        raise refuse(Refusal.CONFLICT, "a refund request on this milestone is already waiting for an answer")
    free = v.escrow - v.frozen
    if free > 0:
        # R1: a refund of (part of) the escrow balance.
        if cmd.amount > free:
            raise refuse(Refusal.CONFLICT, f"escrow holds {format_cents(free, v.currency)} that a refund can take")
        return RefundPhase.ESCROW, False
    if v.escrow > 0 or v.paid_at is None:
        raise refuse(Refusal.CONFLICT, "the escrow is frozen by an open refund request or dispute")
    # M10: a refund of released money, at the expert's discretion.
    p = ctx.policy
    age = ctx.now - v.paid_at
    if age >= p.refund_with_operator:
        raise refuse(
            Refusal.CONFLICT, f"refunds end {p.refund_with_operator.days} days after the invoice is paid (M10)"
        )
    refundable = v.released - v.claimed_released
    if cmd.amount > refundable:
        raise refuse(
            Refusal.CONFLICT, f"at most {format_cents(refundable, v.currency)} of the released money can be refunded"
        )
    return RefundPhase.AFTER_RELEASE, age >= p.refund_after_release


def refund_input(
    v: MilestoneView,
    refund_id: str,
    amount: int,
    message: str | None,
    phase: RefundPhase,
    needs_operator: bool,
    ctx: Context,
) -> RefundInput:
    """The request the milestone starts; its view, `escrow.rules.refund.opened`, is the answer."""
    return RefundInput(
        **parties(v),
        refund_id=refund_id,
        milestone_id=v.id,
        amount=amount,
        message=message,
        # R1: the request names the most recent invoice.
        invoice_id=v.invoices[-1].id if v.invoices else None,
        phase=phase,
        needs_operator=needs_operator,
        policy=ctx.policy,
        requested_at=ctx.now,
    )


def refund_requested(v: MilestoneView, actor: Actor, request: RefundInput, ctx: Context) -> Decision[MilestoneView]:
    """The request's claim: on escrow it freezes the amount (D1); on released money it
    holds it against other claims (M10)."""
    claim = Claim(
        id=request.refund_id,
        kind=ClaimKind.REFUND,
        amount=request.amount,
        after_release=request.phase == RefundPhase.AFTER_RELEASE,
        opened_at=ctx.now,
    )
    return Decision(
        view=v.model_copy(update={"claims": [*v.claims, claim]}),
        kind="milestone.refund_requested",
        actor=actor,
        data={"refund_id": request.refund_id, "amount": request.amount, "phase": request.phase.value},
    )


def refund_on_close(v: MilestoneView, cmd: CloseMilestone) -> int:
    """C1: what a client closing the contract asks back by refund request (R); 0 for none."""
    free = v.escrow - v.frozen
    if v.status in UNFUNDED or free <= 0 or cmd.remainder == Remainder.RELEASE or cmd.actor.role == Role.EXPERT:
        return 0
    if any(c.kind == ClaimKind.REFUND and c.status == ClaimStatus.OPEN for c in v.claims):
        return 0
    return free


def refund_decided(v: MilestoneView, refund_id: str, outcome: RefundView, ctx: Context) -> Decision[MilestoneView]:
    """The request's answer, paid: R3 on escrow, M10 on released money, R4 a decline the
    client may escalate for a while."""
    claim = v.claim(refund_id)
    assert claim is not None
    if outcome.status == RefundStatus.APPROVED and not claim.after_release:
        # R3: the amount to the client; on a partial refund, the rest of the escrow
        # balance to the expert.
        return paid_out(v, ctx, claim.amount, v.escrow - v.frozen, None, "milestone.refund_approved", settle=refund_id)
    if outcome.status == RefundStatus.APPROVED:
        return _refund_released(v, claim, ctx)
    until = ctx.now + ctx.policy.refund_escalation_window
    if claim.after_release and v.paid_at:
        until = min(until, v.paid_at + ctx.policy.dispute_after_release)
    if until <= ctx.now:
        return _closed(v, [claim], ClaimStatus.CLOSED, "milestone.refund_declined", ctx)
    declined = claim.model_copy(update={"status": ClaimStatus.DECLINED, "escalate_until": until})
    view = v.model_copy(update={"claims": with_claims(v.claims, [declined])})
    return Decision(view=view, kind="milestone.refund_declined", data={"refund_id": refund_id})


def _refund_released(v: MilestoneView, claim: Claim, ctx: Context) -> Decision[MilestoneView]:
    """M10: the expert pays back what this milestone released, first from what is still
    on hold, then from its available balance, never below zero (L3)."""
    escrow = accounts.milestone_escrow(v.id)
    transfers, after = holds.claw_back(
        v.holds, claim.amount, escrow, v.expert_id, v.currency, ctx.id("clawback", claim.id)
    )
    refund = Payment(
        escrow=escrow,
        client_id=v.client_id,
        expert_id=v.expert_id,
        currency=v.currency,
        to_client=claim.amount,
        to_expert=0,
        refund_id=ctx.id("refund", claim.id),
        release_id=ctx.id("release", "none"),  # unused: nothing goes to the expert
        available_at=ctx.now,
        refund_kind="refund_after_release",
    )
    transfers += pay(refund).transfers
    view = v.model_copy(
        update={
            "claims": settle_claim(v.claims, claim.id, ctx.now, claim.amount),
            "released": v.released - claim.amount,
            "refunded": v.refunded + claim.amount,
            "holds": after,
        }
    )
    return Decision(view=view, kind="milestone.refund_approved", transfers=transfers)


def refund_unpaid(v: MilestoneView, refund_id: str, ctx: Context) -> Decision[MilestoneView]:
    """M10, L3: the ledger refused the approved refund of released money; the expert's
    available balance can't cover it. Both parties hear of it."""
    claim = v.claim(refund_id)
    assert claim is not None
    unpaid = claim.model_copy(update={"status": ClaimStatus.UNPAID, "closed_at": ctx.now})
    money = {"amount": claim.amount, "currency": v.currency}
    return Decision(
        view=v.model_copy(update={"claims": with_claims(v.claims, [unpaid])}),
        kind="milestone.refund_unpaid",
        notices=[
            RefundUnpaid(to=(v.client_id,), approver=False, **money),
            RefundUnpaid(to=(v.expert_id,), approver=True, **money),
        ],
    )


def _closed(
    v: MilestoneView, claims: list[Claim], status: ClaimStatus, kind: str, ctx: Context
) -> Decision[MilestoneView]:
    closed = [c.model_copy(update={"status": status, "closed_at": ctx.now, "escalate_until": None}) for c in claims]
    view = v.model_copy(update={"claims": with_claims(v.claims, closed)})
    return Decision(view=view, kind=kind, data={"claims": [c.id for c in claims]})


# -------------------------------------------------------------------- D1, R4 disputes


def check_dispute(v: MilestoneView, cmd: OpenDispute, ctx: Context) -> bool:
    """D1; True when the claim is on released money (M10), which must come back first."""
    require_party(v, cmd.actor, cmd.actor.role)
    if v.status in UNFUNDED or v.status in ENDED:
        raise refuse(Refusal.CONFLICT, f"nothing to dispute: milestone is {v.status}")
    free = v.escrow - v.frozen
    if free > 0:
        if cmd.amount > free:
            raise refuse(
                Refusal.CONFLICT,
                f"only {format_cents(free, v.currency)} of the escrow is unreleased and not already in dispute (D1)",
            )
        return False
    if cmd.actor.role != Role.CLIENT or v.escrow > 0:
        raise refuse(Refusal.CONFLICT, "nothing in escrow is free to dispute (D1)")
    check_dispute_after_release(v, cmd.amount, ctx)
    return True


def check_dispute_after_release(v: MilestoneView, amount: int, ctx: Context, escalated: Claim | None = None) -> None:
    """M10: released money can be disputed for a while after it was paid, up to what the
    expert still keeps less what open claims already hold; an escalated refund request
    hands its own hold on the money to the dispute."""
    p = ctx.policy
    if v.paid_at is None or ctx.now - v.paid_at >= p.dispute_after_release:
        raise refuse(
            Refusal.CONFLICT,
            f"a dispute on released money is possible only {p.dispute_after_release.days} days after payment (M10)",
        )
    claimable = v.released - v.claimed_released + (escalated.amount if escalated is not None else 0)
    if amount > claimable:
        raise refuse(
            Refusal.CONFLICT,
            f"at most {format_cents(claimable, v.currency)} of the released money can be disputed: "
            "the rest was refunded or is claimed by an open refund request",
        )


def check_escalate(v: MilestoneView, cmd: EscalateRefund, ctx: Context) -> Claim:
    """R4: the declined refund request that becomes a dispute."""
    require_party(v, cmd.actor, Role.CLIENT)
    claim = v.claim(cmd.refund_id)
    if claim is None or claim.kind != ClaimKind.REFUND:
        raise refuse(Refusal.NOT_FOUND, "no such refund request on this milestone")
    if claim.status == ClaimStatus.OPEN:
        raise refuse(
            Refusal.CONFLICT, "this refund request has no decline on this milestone yet; escalate once it is declined"
        )
    if claim.status != ClaimStatus.DECLINED:
        raise refuse(Refusal.CONFLICT, f"only a declined refund request can be escalated; this one is {claim.status}")
    if claim.escalate_until and ctx.now >= claim.escalate_until:
        raise refuse(Refusal.CONFLICT, "the time to escalate this refund request has passed")
    if claim.after_release:
        check_dispute_after_release(v, claim.amount, ctx, escalated=claim)
    return claim


def dispute_input(
    v: MilestoneView, dispute_id: str, claimant: Role, amount: int, reason: str, ctx: Context
) -> DisputeInput:
    """The dispute the milestone starts; its view, `escrow.rules.dispute.filed`, is the answer."""
    return disputes.filing_input(v, dispute_id, claimant, amount, reason, ctx)


def dispute_opened(
    v: MilestoneView,
    actor: Actor,
    dispute_id: str,
    amount: int,
    after_release: bool,
    ctx: Context,
    escalated: Claim | None = None,
) -> Decision[MilestoneView]:
    """D1: the dispute's claim freezes its amount of the escrow. M10: released money
    comes back into escrow first, from what is still on hold, then from the available
    balance; the ledger refuses it if the expert cannot cover it (L3)."""
    transfers: list[TransferSpec] = []
    released, after = v.released, v.holds
    if after_release:
        escrow = accounts.milestone_escrow(v.id)
        transfers, after = holds.claw_back(
            v.holds, amount, escrow, v.expert_id, v.currency, ctx.id("clawback", dispute_id)
        )
        released -= amount
    changed = [Claim(id=dispute_id, kind=ClaimKind.DISPUTE, amount=amount, opened_at=ctx.now)]
    if escalated is not None:
        update = {"status": ClaimStatus.ESCALATED, "escalated_to": dispute_id, "closed_at": ctx.now}
        changed.append(escalated.model_copy(update=update))
    view = v.model_copy(
        update={
            "claims": with_claims(v.claims, changed),
            "escrow": v.escrow + (amount if after_release else 0),
            "released": released,
            "holds": after,
        }
    )
    return Decision(
        view=view,
        kind="milestone.dispute_opened",
        actor=actor,
        transfers=transfers,
        data={"dispute_id": dispute_id, "amount": amount},
    )


def dispute_resolved(
    v: MilestoneView, dispute_id: str, outcome: DisputeOutcome, ctx: Context
) -> Decision[MilestoneView]:
    """The dispute's split, paid out of escrow; the claim is settled with it."""
    return paid_out(
        v,
        ctx,
        outcome.amount_to_client,
        outcome.amount_to_expert,
        None,
        "milestone.dispute_resolved",
        settle=dispute_id,
    )


# -------------------------------------------------------------------- M6 the remainder


def check_apply_remainder(v: MilestoneView, cmd: ApplyRemainder, ctx: Context) -> int:
    """M6: after a partial release, the client may apply what escrow still holds to a
    new milestone of the same contract. Answers the remainder."""
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status != MilestoneStatus.PARTIALLY_RELEASED:
        raise refuse(
            Refusal.CONFLICT, f"only a partially released milestone has a remainder to apply (M6); it is {v.status}"
        )
    if v.escrow <= 0:
        raise refuse(Refusal.CONFLICT, "nothing remains in escrow to apply")
    if v.frozen:
        raise refuse(
            Refusal.CONFLICT,
            f"{format_cents(v.frozen, v.currency)} of the remainder is frozen by an open refund request or dispute",
        )
    return v.escrow


def remainder_input(v: MilestoneView, cmd: ApplyRemainder, milestone_id: str, ctx: Context) -> MilestoneInput:
    """The new milestone's workflow input: the contract's, agreed by the client, its
    amount the remainder, already funded from this milestone."""
    # The parties, contract and currency carry over; the terms are the new milestone's.
    return made_from(
        v,
        MilestoneInput,
        milestone_id=milestone_id,
        title=cmd.title.strip(),
        description=None,
        amount=check_apply_remainder(v, cmd, ctx),
        due_date=cmd.due_date,
        proposed_by=Role.CLIENT,
        policy=ctx.policy,
        funded_from=v.id,
    )


def remainder_applied(
    v: MilestoneView, cmd: ApplyRemainder, new: MilestoneInput, ctx: Context
) -> Decision[MilestoneView]:
    """M6: the remainder moves, escrow to escrow in one transfer, into the new
    milestone's account (never through the client's balance); this milestone is
    complete, and keeps its life after release (M10)."""
    amount = check_apply_remainder(v, cmd, ctx)
    transfer = TransferSpec(
        id=ctx.id("remainder"),
        debit=accounts.milestone_escrow(v.id),
        credit=accounts.milestone_escrow(new.milestone_id),
        amount=amount,
        currency=v.currency,
        kind="remainder",
    )
    view = v.model_copy(
        update={
            "status": MilestoneStatus.COMPLETED,
            "escrow": v.escrow - amount,
            "applied": v.applied + amount,
            "applied_to": new.milestone_id,
        }
    )
    return Decision(
        view=view,
        kind="milestone.remainder_applied",
        actor=cmd.actor,
        data={"milestone_id": new.milestone_id, "amount": amount},
        transfers=[transfer],
    )


# -------------------------------------------------------------------- C1 closing


def close(v: MilestoneView, cmd: CloseMilestone, ctx: Context) -> Decision[MilestoneView] | None:
    """C1: the contract is closing. What was never funded is cancelled; what escrow
    still holds and no claim froze is released, or given back by an expert who closes.
    None when nothing moves here (a client's refund goes by request: `refund_on_close`)."""
    if v.status in UNFUNDED:
        return Decision(
            view=v.model_copy(update={"status": MilestoneStatus.CANCELLED}), kind="milestone.cancelled", actor=cmd.actor
        )
    free = v.escrow - v.frozen
    if free <= 0:
        return None
    if cmd.remainder == Remainder.RELEASE:
        return paid_out(v, ctx, 0, free, cmd.actor, "milestone.released_on_close")
    if cmd.actor.role == Role.EXPERT:
        # An expert who closes gives the unreleased money back.
        return paid_out(v, ctx, free, 0, cmd.actor, "milestone.refunded_on_close")
    return None


# -------------------------------------------------------------------- deadlines


class Timer(StrEnum):
    AUTO_RELEASE = "auto_release"  # M4
    REMIND = "remind"  # M5
    LAPSE = "lapse"  # R4
    SETTLE = "settle"  # M9
    END = "end"  # M10: nothing to do; the workflow sees whether it has finished


def timers(
    v: MilestoneView, policy: Policy, reminded: frozenset[timedelta] | set[timedelta]
) -> list[tuple[datetime, Timer]]:
    """Every instant at which something may fall due, and what."""
    out = [(h.available_at, Timer.SETTLE) for h in v.holds if not h.settled]
    out += [(c.escalate_until, Timer.LAPSE) for c in v.claims if c.status == ClaimStatus.DECLINED and c.escalate_until]
    if v.status == MilestoneStatus.SUBMITTED and v.submitted_at and v.deadline_at:
        if v.escrow > v.frozen:
            out.append((v.deadline_at, Timer.AUTO_RELEASE))
        if policy.overdue_after is not None and not v.overdue:
            out.append((v.submitted_at + policy.overdue_after, Timer.REMIND))
        out += [(v.deadline_at - r, Timer.REMIND) for r in policy.reminders_before_deadline if r not in reminded]
    if v.status == MilestoneStatus.COMPLETED and v.paid_at:
        out.append((v.paid_at + policy.refund_with_operator, Timer.END))
    return out


def auto_release(v: MilestoneView, ctx: Context) -> Decision[MilestoneView] | None:
    """M4: silence by the deadline completes the milestone. Money frozen by a claim
    waits for it, and is released as soon as a claim lets it go."""
    if v.status != MilestoneStatus.SUBMITTED or not v.deadline_at or not v.submitted_at or ctx.now < v.deadline_at:
        return None
    if v.escrow <= v.frozen:
        return None
    return paid_out(v, ctx, 0, v.escrow - v.frozen, None, "milestone.auto_released")


def _review_running(v: MilestoneView, ctx: Context) -> bool:
    """A release request waits for the client, and its deadline is still ahead."""
    if v.status != MilestoneStatus.SUBMITTED or v.submitted_at is None or v.deadline_at is None:
        return False
    return ctx.now < v.deadline_at


def reminders_due(v: MilestoneView, ctx: Context, reminded: frozenset[timedelta] | set[timedelta]) -> set[timedelta]:
    """M5: the reminders of the current review window due now and not yet sent."""
    if not _review_running(v, ctx):
        return set()
    assert v.deadline_at is not None
    return {r for r in ctx.policy.reminders_before_deadline if r not in reminded and ctx.now >= v.deadline_at - r}


def remind(
    v: MilestoneView, ctx: Context, reminded: frozenset[timedelta] | set[timedelta]
) -> Decision[MilestoneView] | None:
    """M5 (Elance): the release request is marked overdue, and both parties are
    reminded of the deadline; one message at a time, the reminder's if both are due."""
    if not _review_running(v, ctx):
        return None
    assert v.submitted_at is not None and v.deadline_at is not None
    p = ctx.policy
    view, notice = v, None
    to = (v.client_id, v.expert_id)
    if p.overdue_after is not None and not v.overdue and ctx.now >= v.submitted_at + p.overdue_after:
        view = v.model_copy(update={"overdue": True})
        notice = Overdue(to=to, title=v.title, deadline_at=v.deadline_at)
    if reminders_due(v, ctx, reminded):
        notice = Reminder(to=to, title=v.title, deadline_at=v.deadline_at)
    if notice is None:
        return None
    kind = "milestone.overdue" if view.overdue != v.overdue else "milestone.reminder"
    return Decision(view=view, kind=kind, notices=[notice])


def close_lapsed(v: MilestoneView, ctx: Context) -> Decision[MilestoneView] | None:
    """R4: declined refund requests the client did not escalate in time are closed;
    the money they froze is free again."""
    lapsed = [
        c for c in v.claims if c.status == ClaimStatus.DECLINED and c.escalate_until and c.escalate_until <= ctx.now
    ]
    if not lapsed:
        return None
    return _closed(v, lapsed, ClaimStatus.CLOSED, "milestone.refund_not_escalated", ctx)


def settle_holds(v: MilestoneView, ctx: Context) -> Decision[MilestoneView] | None:
    """M9: released money whose security hold ended becomes available to the expert."""
    due = [h for h in v.holds if not h.settled and h.available_at <= ctx.now]
    if not due:
        return None
    transfers, after = holds.settle(v.holds, due, v.expert_id, v.currency)
    return Decision(
        view=v.model_copy(update={"holds": after}),
        kind="milestone.hold_released",
        transfers=transfers,
        data={"amount": sum(h.amount for h in due)},
    )


def finished(v: MilestoneView, ctx: Context) -> bool:
    """The workflow may end: the milestone was declined or cancelled, or it is paid out
    with every hold settled and every claim closed, and M10's year is over."""
    if v.status in ENDED:
        return True
    if v.status != MilestoneStatus.COMPLETED or any(not h.settled for h in v.holds):
        return False
    if any(c.status in LIVE for c in v.claims):
        return False
    # M10: a refund can be asked for until a year after the invoice was paid.
    return v.paid_at is None or ctx.now >= v.paid_at + ctx.policy.refund_with_operator


# -------------------------------------------------------------------- O1–O5 dormancy

# O2: what a party does that counts as activity on the contract (a change of terms or
# its answer, funding, a release request, a release, a refund, any dispute action).
ACTIVITY = frozenset(
    {
        "milestone.accepted",
        "milestone.declined",
        "milestone.change_proposed",
        "milestone.change_accepted",
        "milestone.change_declined",
        "milestone.funding_pending",
        "milestone.funded",
        "milestone.submitted",
        "milestone.submission_voided",
        "milestone.revision_requested",
        "milestone.released",
        "milestone.refund_requested",
        "milestone.refund_approved",
        "milestone.refund_declined",
        "milestone.dispute_opened",
        "milestone.dispute_resolved",
    }
)
# O5: what returns a dormant contract to active: a change of terms or its answer, a
# release (a cancellation request is the contract's own `close`).
REACTIVATING = frozenset(
    {
        "milestone.accepted",
        "milestone.declined",
        "milestone.change_proposed",
        "milestone.change_accepted",
        "milestone.change_declined",
        "milestone.released",
    }
)


def noted(decision: Decision[MilestoneView], ctx: Context) -> Decision[MilestoneView]:
    """O2, O5: the decision's view remembers when a party last acted, for the contract."""
    update: dict[str, object] = {}
    if decision.kind in ACTIVITY:
        update["last_activity_at"] = ctx.now
    if decision.kind in REACTIVATING:
        update["last_reactivation_at"] = ctx.now
    if not update:
        return decision
    return dataclasses.replace(decision, view=decision.view.model_copy(update=update))


def settle_dormant(v: MilestoneView, ctx: Context) -> Decision[MilestoneView] | None:
    """O4: the contract stayed dormant. A release request `dormant_release_age` old or
    older is released now, a younger one when it is that old (by the M4 deadline); free
    escrow with no release request goes back to the client. Frozen money waits for its
    claim."""
    free = v.escrow - v.frozen
    if v.status not in RELEASABLE or free <= 0:
        return None
    if v.status == MilestoneStatus.SUBMITTED and v.submitted_at is not None:
        due = v.submitted_at + ctx.policy.dormant_release_age
        if ctx.now >= due:
            return paid_out(v, ctx, 0, free, None, "milestone.released_dormant")
        if v.deadline_at is not None and v.deadline_at <= due:
            return None
        view = v.model_copy(update={"deadline_at": due, "deadline_action": DeadlineAction.AUTO_RELEASE})
        return Decision(view=view, kind="milestone.dormant_release_scheduled", data={"release_at": due.isoformat()})
    return paid_out(v, ctx, free, 0, None, "milestone.refunded_dormant")

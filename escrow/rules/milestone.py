"""Fixed-rate milestones (M1–M10, L5, and the money side of R3, D1, C1) as pure
decisions. The milestone owns `escrow:milestone:{id}`: every way money leaves it is
decided here and paid by `escrow.rules.paying.pay`. Refund requests and disputes decide
in their own workflows; their outcome is paid here.

Transfer ids are part of the money's identity and never change: `{wf}:fund`,
`{wf}:release:{n}` (the n-th final invoice), `{wf}:refund:{claim}` when a claim is
settled, else `{wf}:refund:{step}`, `{wf}:clawback:{claim}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from escrow import accounts, holds
from escrow.errors import Refusal, refuse
from escrow.models import (
    Actor,
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
    MilestoneInput,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    OpenDispute,
    PartyCommand,
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
    return made_from(
        input,
        MilestoneView,
        id=input.milestone_id,
        policy=input.policy.name,
        # M1: a client's milestone is agreed; an expert's is a proposal (M8).
        status=MilestoneStatus.PROPOSED if input.proposed_by == Role.EXPERT else MilestoneStatus.AGREED,
    )


def created(v: MilestoneView, ctx: Context) -> Decision[MilestoneView]:
    return Decision(view=v, kind="milestone.created")


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


# -------------------------------------------------------------------- M2 funding


def check_fund(v: MilestoneView, cmd: Fund, ctx: Context) -> None:
    require_party(v, cmd.actor, Role.CLIENT)
    if v.status != MilestoneStatus.AGREED:
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
    transfer = TransferSpec(
        id=ctx.id("fund"),
        debit=accounts.WORLD_CARD,
        credit=accounts.milestone_escrow(v.id),
        amount=v.amount,
        currency=v.currency,
        kind="fund",
    )
    view = v.model_copy(
        update={"status": MilestoneStatus.IN_PROGRESS, "escrow": v.escrow + v.amount, "funded": v.funded + v.amount}
    )
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

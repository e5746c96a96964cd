"""Refund requests (R1–R4, M10): the decisions of one request, from asking to a yes or
a no. The milestone that owns the money pays the outcome (escrow.rules.milestone).

Before release (R2) the expert has 7 days and silence approves. After release (M10)
the money is the expert's: only an explicit yes refunds it, silence declines, and
between days 181 and 365 an operator must approve as well.
"""

from __future__ import annotations

from escrow.errors import Refusal, refuse
from escrow.models import Actor, RefundAnswer, RefundInput, RefundPhase, RefundStatus, RefundView, Role
from escrow.notices.refund import OperatorApprovalNeeded, RefundApproved, RefundAsked, RefundDeclined
from escrow.rules import Context, Decision, made_from


def opened(input: RefundInput) -> RefundView:
    """The request as it is the moment it is asked: the milestone answers this to the
    client in the same command that starts the request's workflow."""
    return made_from(
        input,
        RefundView,
        id=input.refund_id,
        status=RefundStatus.PENDING,
        deadline_at=input.requested_at + input.policy.refund_response_window,
        deadline_action="approve" if input.phase == RefundPhase.ESCROW else "decline",
    )


def asked(v: RefundView, ctx: Context) -> Decision[RefundView]:
    """R1: the expert hears of the request and of what silence will do (R2, M10)."""
    notice = RefundAsked(
        to=(v.expert_id,),
        amount=v.amount,
        currency=v.currency,
        message=v.message,
        deadline_at=v.deadline_at,
        silence_approves=v.deadline_action == "approve",
    )
    return _decision(v, "refund.requested", None, [notice])


def check_answer(v: RefundView, cmd: RefundAnswer, ctx: Context) -> None:
    """The expert answers; after its yes on days 181–365, an operator (M10). Not after
    the deadline, even if its timer has not fired yet."""
    actor = cmd.actor
    if v.status == RefundStatus.PENDING:
        if actor.role != Role.EXPERT or actor.user_id != v.expert_id:
            raise refuse(Refusal.FORBIDDEN, "only the expert answers a refund request")
    elif v.status == RefundStatus.AWAITING_OPERATOR:
        if actor.role != Role.OPERATOR:
            raise refuse(Refusal.FORBIDDEN, "the expert approved; an operator must approve too (M10)")
    else:
        raise refuse(Refusal.CONFLICT, f"the refund request is already {v.status}")
    if v.deadline_at is not None and ctx.now >= v.deadline_at:
        raise refuse(Refusal.CONFLICT, "the time to answer this refund request has passed")


def approve(v: RefundView, cmd: RefundAnswer, ctx: Context) -> Decision[RefundView]:
    check_answer(v, cmd, ctx)
    if v.status == RefundStatus.PENDING and v.needs_operator:
        # M10: days 181–365 need an operator on top of the expert's yes.
        deadline = ctx.now + ctx.policy.refund_response_window
        view = v.model_copy(
            update={"status": RefundStatus.AWAITING_OPERATOR, "deadline_at": deadline, "deadline_action": "decline"}
        )
        notice = OperatorApprovalNeeded(
            to=("operators",), refund_id=v.id, amount=v.amount, currency=v.currency, deadline_at=deadline
        )
        return _decision(view, "refund.expert_approved", cmd.actor, [notice])
    return _decide(v, RefundStatus.APPROVED, cmd.actor, cmd.message, ctx)


def decline(v: RefundView, cmd: RefundAnswer, ctx: Context) -> Decision[RefundView]:
    check_answer(v, cmd, ctx)
    return _decide(v, RefundStatus.DECLINED, cmd.actor, cmd.message, ctx)


def lapse(v: RefundView, ctx: Context) -> Decision[RefundView] | None:
    """At the deadline, silence answers: R2 approves a request on escrow; M10 never
    gives away money that was already released."""
    if v.decided_at is not None or v.deadline_at is None or ctx.now < v.deadline_at:
        return None
    outcome = RefundStatus.APPROVED if v.deadline_action == "approve" else RefundStatus.DECLINED
    return _decide(v, outcome, None, None, ctx)


def _decide(
    v: RefundView, status: RefundStatus, actor: Actor | None, message: str | None, ctx: Context
) -> Decision[RefundView]:
    view = v.model_copy(
        update={
            "status": status,
            "decided_at": ctx.now,
            "decided_by": actor.role.value if actor else "deadline",
            "decline_message": message if status == RefundStatus.DECLINED else None,
            "deadline_at": None,
            "deadline_action": None,
        }
    )
    if status == RefundStatus.APPROVED:
        notices = [
            RefundApproved(to=(v.client_id,), amount=v.amount, currency=v.currency, yours=True),
            RefundApproved(to=(v.expert_id,), amount=v.amount, currency=v.currency, yours=False),
        ]
    else:
        # R4: the client hears of it and may escalate.
        notices = [RefundDeclined(to=(v.client_id,), amount=v.amount, currency=v.currency, message=message)]
    return _decision(view, f"refund.{status.value}", actor, notices)


def _decision(view: RefundView, kind: str, actor: Actor | None, notices: list) -> Decision[RefundView]:
    return Decision(
        view=view, kind=kind, actor=actor, data={"refund_id": view.id, "amount": view.amount}, notices=notices
    )

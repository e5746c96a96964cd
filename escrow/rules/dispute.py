"""Disputes (D1–D8): the stages of one dispute as pure decisions. The workflow that
owns the escrow (a milestone, an hourly week) moves the disputed money; the dispute
decides the split, and moves only the arbitration fees (D4, D6).

Every stage that waits on someone has a deadline (D7), held in the view as
`deadline_at` / `deadline_action`:

    1 FILED            the respondent accepts or responds    silence: claimant wins (D2)
    2 NEGOTIATION      offers, mediation, someone pays fee   silence: the claim lapses,
                                                             respondent wins (D3, D4)
    3 ARBITRATION_FEE  the other side pays the fee too       silence: the payer wins (D4)
    4 ARBITRATION      an operator's verdict (D5)            overdue: operators reminded

A party's deadline is checked against the clock, not the status: a command that
arrives after the deadline is refused even when the deadline's step is not written yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from escrow import accounts
from escrow.errors import Refusal, refuse
from escrow.models import Actor, HourlyWeekView, MilestoneView, PartyCommand, Role, TransferSpec
from escrow.models.dispute import (
    STAGE,
    AcceptOffer,
    DisputeDeadlineAction,
    DisputeInput,
    DisputeOutcome,
    DisputeStatus,
    DisputeView,
    Evidence,
    FeePayment,
    MakeOffer,
    Offer,
    Recommend,
    Recommendation,
    Resolution,
    Respond,
    SubmitEvidence,
    Verdict,
)
from escrow.notices import OPERATORS, Notice, money, when
from escrow.notices.dispute import (
    ArbitrationStarted,
    EvidenceSubmitted,
    FeeDue,
    FeePaid,
    FeeRefunded,
    Filed,
    FiledYours,
    OfferMade,
    RecommendationAccepted,
    RecommendationRejected,
    RecommendationRejectedOperators,
    Recommended,
    Resolved,
    Responded,
    VerdictAwaited,
    VerdictOverdue,
    Why,
)
from escrow.policy import FeePolicy, Policy
from escrow.rules import Context, Decision, made_from, parties

PARTIES = (Role.CLIENT, Role.EXPERT)
# D3, D4: offers and mediation stay open until arbitration starts.
SETTLING = (DisputeStatus.NEGOTIATION, DisputeStatus.ARBITRATION_FEE)


def other(role: Role) -> Role:
    return Role.EXPERT if role == Role.CLIENT else Role.CLIENT


def wins(role: Role) -> DisputeDeadlineAction:
    return DisputeDeadlineAction.CLIENT_WINS if role == Role.CLIENT else DisputeDeadlineAction.EXPERT_WINS


def fee_per_party(policy: Policy, amount: int) -> int:
    """D6: Cad Crowd splits one fee between the parties; Freelancer has each pay it whole."""
    fee = policy.arbitration_fee(amount)
    return fee // 2 if policy.fee_policy == FeePolicy.SPLIT else fee


def stage_fields(
    claimant: Role, policy: Policy, status: DisputeStatus, now: datetime, payer: Role | None = None
) -> dict:
    """The view fields of a stage entered at `now`: who must act, by when, and what the
    deadline does if they don't."""
    p, respondent = policy, other(claimant)
    if status == DisputeStatus.FILED:
        waiting_on, window, action = respondent.value, p.dispute_response_window, wins(claimant)
    elif status == DisputeStatus.NEGOTIATION:
        # Engine choice: the claimant must carry the claim into arbitration; if nobody
        # pays the fee by the end of negotiation, the claim lapses.
        waiting_on, window, action = claimant.value, p.negotiation_window, wins(respondent)
    elif status == DisputeStatus.ARBITRATION_FEE:
        assert payer is not None
        waiting_on, window, action = other(payer).value, p.fee_payment_window, wins(payer)
    else:
        waiting_on, window, action = Role.OPERATOR.value, p.verdict_due, DisputeDeadlineAction.REMIND_OPERATORS
    return {
        "status": status,
        "stage": STAGE[status],
        "waiting_on": waiting_on,
        "deadline_at": now + window,
        "deadline_action": action.value,
    }


# The stage fields once the dispute is resolved: it waits on nobody, by no deadline.
RESOLVED_STAGE = {
    "status": DisputeStatus.RESOLVED,
    "stage": None,
    "waiting_on": None,
    "deadline_at": None,
    "deadline_action": None,
}


def check_input(input: DisputeInput) -> None:
    """D1: a dispute is over some money, and filed by a party."""
    if input.amount <= 0 or input.claimant not in PARTIES:
        raise refuse(Refusal.INVALID, "a dispute names a positive amount and a client or expert claimant")


def filed(input: DisputeInput) -> DisputeView:
    """The dispute as it is the moment it is filed: the owner answers this to the
    claimant in the same command that starts the dispute's workflow."""
    now = input.filed_at
    assert now is not None
    return made_from(
        input,
        DisputeView,
        id=input.dispute_id,
        respondent=other(input.claimant),
        fee_per_party=fee_per_party(input.policy, input.amount),
        **stage_fields(input.claimant, input.policy, DisputeStatus.FILED, now),
    )


def filing_input(
    owner: MilestoneView | HourlyWeekView, dispute_id: str, claimant: Role, amount: int, reason: str, ctx: Context
) -> DisputeInput:
    """D1, D8: the dispute over `amount` of the escrow `owner` holds, as the workflow that
    owns that escrow (the one deciding, `ctx`) files it now."""
    return DisputeInput(
        **parties(owner),
        dispute_id=dispute_id,
        owner_workflow_id=ctx.workflow_id,
        claimant=claimant,
        amount=amount,
        reason=reason,
        policy=ctx.policy,
        filed_at=ctx.now,
    )


def filing(v: DisputeView, ctx: Context) -> Decision[DisputeView]:
    """D1: the opening step; the respondent hears what silence will do (D2)."""
    facts = {"amount": v.amount, "currency": v.currency, "deadline_at": v.deadline_at}
    notices = [
        Filed(to=(user(v, v.respondent),), claimant=v.claimant, reason=v.reason, **facts),
        FiledYours(to=(user(v, v.claimant),), respondent=v.respondent, **facts),
    ]
    data = {"amount": v.amount, "reason": v.reason, "claimant": v.claimant.value}
    return Decision(
        view=v,
        kind="dispute.filed",
        actor=Actor(user_id=user(v, v.claimant), role=v.claimant),
        data=data,
        notices=notices,
    )


# ---------------------------------------------------------------------- checks


def require_party(v: DisputeView, actor: Actor, role: Role | None = None) -> None:
    """A party of this dispute, acting on its own side; `role` narrows it to one side."""
    if actor.role not in PARTIES or user(v, actor.role) != actor.user_id:
        raise refuse(Refusal.FORBIDDEN, "only the parties of this dispute may do this")
    if role is not None and actor.role != role:
        raise refuse(Refusal.FORBIDDEN, f"only the {role} may do this")


def require_operator(actor: Actor, what: str) -> None:
    if actor.role != Role.OPERATOR:
        raise refuse(Refusal.FORBIDDEN, f"only an operator may {what}")


def require_open(v: DisputeView, ctx: Context, what: str, *statuses: DisputeStatus) -> None:
    """The dispute is in one of `statuses` and, in a stage where missing the deadline
    loses, its deadline has not passed. The deadline's step may not be written yet, so
    the clock decides, not the status (D7)."""
    if v.status not in statuses:
        raise refuse(Refusal.CONFLICT, f"cannot {what}: the dispute is {v.status}")
    if v.status != DisputeStatus.ARBITRATION and v.deadline_at is not None and ctx.now >= v.deadline_at:
        raise refuse(Refusal.CONFLICT, f"cannot {what}: the deadline passed at {when(v.deadline_at)}")


def require_split(v: DisputeView, amount_to_client: int) -> None:
    if not 0 <= amount_to_client <= v.amount:
        raise refuse(
            Refusal.INVALID,
            f"the client's part must be between {money(0, v.currency)} and {money(v.amount, v.currency)}; "
            f"got {money(amount_to_client, v.currency)}",
        )


def check_answer(v: DisputeView, cmd: PartyCommand, ctx: Context) -> None:
    """D2: only the respondent answers the claim, in stage 1, before its deadline."""
    require_party(v, cmd.actor, v.respondent)
    require_open(v, ctx, "answer the claim", DisputeStatus.FILED)


def check_make_offer(v: DisputeView, cmd: MakeOffer, ctx: Context) -> None:
    require_party(v, cmd.actor)
    require_open(v, ctx, "make an offer", *SETTLING)
    require_split(v, cmd.amount_to_client)


def check_accept_offer(v: DisputeView, cmd: AcceptOffer, ctx: Context) -> Offer:
    require_party(v, cmd.actor)
    require_open(v, ctx, "accept an offer", *SETTLING)
    offer = next((o for o in v.offers if o.id == cmd.offer_id), None)
    if offer is None:
        raise refuse(Refusal.NOT_FOUND, f"no offer {cmd.offer_id!r} in this dispute")
    if offer.by == cmd.actor.role:
        raise refuse(Refusal.FORBIDDEN, "a party cannot accept its own offer")
    if offer.superseded:
        raise refuse(Refusal.CONFLICT, f"offer {offer.id} was replaced by a newer offer of the {offer.by}")
    return offer


def check_recommend(v: DisputeView, cmd: Recommend, ctx: Context) -> None:
    require_operator(cmd.actor, "post a mediation recommendation")
    require_open(v, ctx, "post a recommendation", *SETTLING)
    require_split(v, cmd.amount_to_client)


def check_answer_recommendation(v: DisputeView, cmd: PartyCommand, ctx: Context) -> Recommendation:
    require_party(v, cmd.actor)
    require_open(v, ctx, "answer the recommendation", *SETTLING)
    recommendation = v.recommendation
    if recommendation is None:
        raise refuse(Refusal.CONFLICT, "the mediation team has not posted a recommendation")
    if cmd.actor.role in (*recommendation.accepted_by, *recommendation.rejected_by):
        raise refuse(Refusal.CONFLICT, f"the {cmd.actor.role} already answered this recommendation")
    return recommendation


def check_pay_fee(v: DisputeView, cmd: PartyCommand, ctx: Context) -> None:
    require_party(v, cmd.actor)
    require_open(v, ctx, "pay the arbitration fee", *SETTLING)
    if any(f.by == cmd.actor.role for f in v.fees):
        raise refuse(
            Refusal.CONFLICT, f"the {cmd.actor.role} already paid the arbitration fee; a fee is never paid twice"
        )


def check_evidence(v: DisputeView, cmd: SubmitEvidence, ctx: Context) -> None:
    require_party(v, cmd.actor)
    # D4: stage 3 is the last chance to submit evidence; arbitration decides on it.
    require_open(v, ctx, "submit evidence", *SETTLING)


def check_verdict(v: DisputeView, cmd: Verdict, ctx: Context) -> None:
    require_operator(cmd.actor, "issue a verdict")
    # The verdict has no cut-off: its due date only reminds the operators.
    require_open(v, ctx, "issue a verdict", DisputeStatus.ARBITRATION)
    require_split(v, cmd.amount_to_client)


# ---------------------------------------------------------------------- D2 stage 1


def accept(v: DisputeView, cmd: PartyCommand, ctx: Context) -> Decision[DisputeView]:
    """D2: the respondent accepts the claim; the claimant gets everything."""
    check_answer(v, cmd, ctx)
    return resolve(v, ctx, all_to(v, v.claimant), Resolution.ACCEPTED, cmd.actor, Why.ACCEPTED, who=v.respondent)


def respond(v: DisputeView, cmd: Respond, ctx: Context) -> Decision[DisputeView]:
    """D2, D3: the respondent answers; negotiation opens."""
    check_answer(v, cmd, ctx)
    view = v.model_copy(update=stage_fields(v.claimant, ctx.policy, DisputeStatus.NEGOTIATION, ctx.now))
    notice = Responded(
        to=(v.client_id, v.expert_id),
        respondent=v.respondent,
        message=cmd.message,
        deadline_at=view.deadline_at,
        fee=v.fee_per_party,
        currency=v.currency,
    )
    return Decision(
        view=view, kind="dispute.responded", actor=cmd.actor, data={"message": cmd.message}, notices=[notice]
    )


# ---------------------------------------------------------------------- D3 offers, mediation


def make_offer(v: DisputeView, cmd: MakeOffer, ctx: Context) -> Decision[DisputeView]:
    """D3: a party offers a split; its newer offer replaces its older one."""
    check_make_offer(v, cmd, ctx)
    by = cmd.actor.role
    offer = Offer(id=str(len(v.offers) + 1), by=by, amount_to_client=cmd.amount_to_client, made_at=ctx.now)
    offers = [o.model_copy(update={"superseded": True}) if o.by == by and not o.superseded else o for o in v.offers]
    notice = OfferMade(
        to=(user(v, other(by)),), by=by, amount_to_client=offer.amount_to_client, amount=v.amount, currency=v.currency
    )
    return Decision(
        view=v.model_copy(update={"offers": [*offers, offer]}),
        kind="dispute.offer_made",
        actor=cmd.actor,
        data={"offer_id": offer.id, "amount_to_client": offer.amount_to_client},
        notices=[notice],
    )


def accept_offer(v: DisputeView, cmd: AcceptOffer, ctx: Context) -> Decision[DisputeView]:
    """D3: the other side's standing offer settles the dispute."""
    offer = check_accept_offer(v, cmd, ctx)
    offers = [o.model_copy(update={"accepted": True}) if o.id == offer.id else o for o in v.offers]
    return resolve(
        v,
        ctx,
        offer.amount_to_client,
        Resolution.OFFER,
        cmd.actor,
        Why.OFFER,
        who=cmd.actor.role,
        whose=offer.by,
        data={"offer_id": offer.id},
        changes={"offers": offers},
    )


def recommend(v: DisputeView, cmd: Recommend, ctx: Context) -> Decision[DisputeView]:
    """D3: the mediation team recommends a split; a new one replaces the old, and with
    it every answer to it."""
    check_recommend(v, cmd, ctx)
    recommendation = Recommendation(
        amount_to_client=cmd.amount_to_client, posted_at=ctx.now, posted_by=cmd.actor.user_id
    )
    notice = Recommended(
        to=(v.client_id, v.expert_id), amount_to_client=cmd.amount_to_client, amount=v.amount, currency=v.currency
    )
    return Decision(
        view=v.model_copy(update={"recommendation": recommendation}),
        kind="dispute.recommended",
        actor=cmd.actor,
        data={"amount_to_client": cmd.amount_to_client},
        notices=[notice],
    )


def accept_recommendation(v: DisputeView, cmd: PartyCommand, ctx: Context) -> Decision[DisputeView]:
    """D3: the recommendation settles when both parties accept it."""
    recommendation = check_answer_recommendation(v, cmd, ctx)
    role = cmd.actor.role
    answered = recommendation.model_copy(update={"accepted_by": [*recommendation.accepted_by, role]})
    if set(answered.accepted_by) >= set(PARTIES):
        return resolve(
            v,
            ctx,
            answered.amount_to_client,
            Resolution.RECOMMENDATION,
            cmd.actor,
            Why.RECOMMENDATION,
            changes={"recommendation": answered},
        )
    return Decision(
        view=v.model_copy(update={"recommendation": answered}),
        kind="dispute.recommendation_accepted",
        actor=cmd.actor,
        notices=[RecommendationAccepted(to=(user(v, other(role)),), by=role)],
    )


def reject_recommendation(v: DisputeView, cmd: PartyCommand, ctx: Context) -> Decision[DisputeView]:
    recommendation = check_answer_recommendation(v, cmd, ctx)
    role = cmd.actor.role
    answered = recommendation.model_copy(update={"rejected_by": [*recommendation.rejected_by, role]})
    return Decision(
        view=v.model_copy(update={"recommendation": answered}),
        kind="dispute.recommendation_rejected",
        actor=cmd.actor,
        notices=[
            RecommendationRejected(to=(user(v, other(role)),), by=role),
            RecommendationRejectedOperators(to=(OPERATORS,), by=role, dispute_id=v.id),
        ],
    )


# ---------------------------------------------------------------------- D4 fee, evidence


def pay_fee(v: DisputeView, cmd: PartyCommand, ctx: Context) -> Decision[DisputeView]:
    """D4: a party pays the arbitration fee from its card into `platform:arbitration`.
    The first payment refuses to settle: the other side now pays or loses; the second
    takes the case to the operators (D5)."""
    check_pay_fee(v, cmd, ctx)
    payer = cmd.actor.role
    transfer_id = ctx.id("fee", payer.value)
    payment = FeePayment(by=payer, amount=v.fee_per_party, paid_at=ctx.now, transfer_id=transfer_id)
    transfers = _transfers(
        v, [(transfer_id, accounts.WORLD_CARD, accounts.PLATFORM_ARBITRATION, v.fee_per_party, "arbitration_fee")]
    )
    fees = [*v.fees, payment]
    notices: list[Notice]
    if v.status == DisputeStatus.NEGOTIATION:
        view = v.model_copy(
            update={"fees": fees, **stage_fields(v.claimant, ctx.policy, DisputeStatus.ARBITRATION_FEE, ctx.now, payer)}
        )
        notices = [
            FeeDue(
                to=(user(v, other(payer)),),
                payer=payer,
                fee=v.fee_per_party,
                amount=v.amount,
                currency=v.currency,
                deadline_at=view.deadline_at,
            ),
            FeePaid(to=(user(v, payer),), other=other(payer), deadline_at=view.deadline_at),
        ]
        kind = "dispute.fee_paid"
    else:
        view = v.model_copy(
            update={"fees": fees, **stage_fields(v.claimant, ctx.policy, DisputeStatus.ARBITRATION, ctx.now)}
        )
        notices = [
            ArbitrationStarted(to=(v.client_id, v.expert_id)),
            VerdictAwaited(
                to=(OPERATORS,), dispute_id=v.id, amount=v.amount, currency=v.currency, due_at=view.deadline_at
            ),
        ]
        kind = "dispute.arbitration_started"
    return Decision(
        view=view, kind=kind, actor=cmd.actor, data={"fee": v.fee_per_party}, transfers=transfers, notices=notices
    )


def submit_evidence(v: DisputeView, cmd: SubmitEvidence, ctx: Context) -> Decision[DisputeView]:
    check_evidence(v, cmd, ctx)
    evidence = Evidence(by=cmd.actor.role, text=cmd.text, at=ctx.now)
    return Decision(
        view=v.model_copy(update={"evidence": [*v.evidence, evidence]}),
        kind="dispute.evidence_submitted",
        actor=cmd.actor,
        data={"text": cmd.text},
        notices=[EvidenceSubmitted(to=(user(v, other(cmd.actor.role)),), by=cmd.actor.role)],
    )


# ---------------------------------------------------------------------- D5 verdict


def verdict(v: DisputeView, cmd: Verdict, ctx: Context) -> Decision[DisputeView]:
    """D5: the operators' verdict is final and binding."""
    check_verdict(v, cmd, ctx)
    return resolve(v, ctx, cmd.amount_to_client, Resolution.VERDICT, cmd.actor, Why.VERDICT, data={"note": cmd.note})


# ---------------------------------------------------------------------- D7 deadlines


def deadline_passed(v: DisputeView, ctx: Context) -> Decision[DisputeView] | None:
    """D7: at a stage's deadline, the side that had to act and did not loses (D2, D3,
    D4); a late verdict costs nobody the case (D5)."""
    if v.outcome is not None or v.deadline_at is None or ctx.now < v.deadline_at:
        return None
    if v.status == DisputeStatus.FILED:
        return resolve(v, ctx, all_to(v, v.claimant), Resolution.DEFAULT, None, Why.UNANSWERED, who=v.respondent)
    if v.status == DisputeStatus.NEGOTIATION:
        return resolve(v, ctx, all_to(v, v.respondent), Resolution.DEFAULT, None, Why.LAPSED)
    if v.status == DisputeStatus.ARBITRATION_FEE:
        payer = v.fees[0].by
        return resolve(v, ctx, all_to(v, payer), Resolution.DEFAULT, None, Why.UNPAID, who=other(payer))
    return remind_operators(v, ctx)


def remind_operators(v: DisputeView, ctx: Context) -> Decision[DisputeView]:
    """D5: operators are reminded of a late verdict, and again every `verdict_due` while
    it stays late (counted from now, so a worker that was down for weeks sends one
    reminder, not a burst)."""
    notice = VerdictOverdue(
        to=(OPERATORS,), dispute_id=v.id, amount=v.amount, currency=v.currency, due_at=v.deadline_at
    )
    view = v.model_copy(update={"deadline_at": ctx.now + ctx.policy.verdict_due})
    return Decision(view=view, kind="dispute.verdict_overdue", notices=[notice])


# ---------------------------------------------------------------------- D6 resolution


def winner_of(amount_to_client: int, amount: int) -> Role | None:
    """The side that gets more than half; None for an even split."""
    if 2 * amount_to_client > amount:
        return Role.CLIENT
    if 2 * amount_to_client < amount:
        return Role.EXPERT
    return None


def fees_refunded(resolution: Resolution, fee_policy: FeePolicy, winner: Role | None) -> set[Role]:
    """D6: whose arbitration fee goes back to them when the case ends this way."""
    if resolution != Resolution.VERDICT:
        # Settled or defaulted before arbitration: nobody's fee bought anything.
        return set(PARTIES)
    if fee_policy == FeePolicy.SPLIT:
        return set()  # Cad Crowd: the arbitration happened; the split fee is spent.
    # Freelancer: the winner's fee comes back; an even split has no loser.
    return set(PARTIES) if winner is None else {winner}


def resolve(
    v: DisputeView,
    ctx: Context,
    amount_to_client: int,
    resolution: Resolution,
    actor: Actor | None,
    why: Why,
    *,
    who: Role | None = None,
    whose: Role | None = None,
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> Decision[DisputeView]:
    """End the dispute: settle the arbitration fees (D6) and record the outcome in one
    step (with `changes` to the view, such as the accepted offer). The disputed money
    itself is moved by the owner when it gets the outcome."""
    amount_to_expert = v.amount - amount_to_client
    winner = winner_of(amount_to_client, v.amount)
    outcome = DisputeOutcome(
        amount_to_client=amount_to_client,
        amount_to_expert=amount_to_expert,
        resolution=resolution,
        winner=winner,
        decided_at=ctx.now,
    )
    refunded = fees_refunded(resolution, ctx.policy.fee_policy, winner)
    transfers = _transfers(
        v,
        [
            (
                f"{fee.transfer_id}:refund",
                accounts.PLATFORM_ARBITRATION,
                payer_account(v, fee.by),
                fee.amount,
                "arbitration_fee_refund",
            )
            if fee.by in refunded
            else (
                f"{fee.transfer_id}:kept",
                accounts.PLATFORM_ARBITRATION,
                accounts.PLATFORM_FEES,
                fee.amount,
                "arbitration_fee_kept",
            )
            for fee in v.fees
        ],
    )
    view = v.model_copy(
        update={
            **(changes or {}),
            **RESOLVED_STAGE,
            "fees": [f.model_copy(update={"refunded": f.by in refunded}) for f in v.fees],
            "outcome": outcome,
        }
    )
    notices: list[Notice] = [
        Resolved(
            to=(v.client_id, v.expert_id),
            why=why,
            amount_to_client=amount_to_client,
            amount=v.amount,
            currency=v.currency,
            who=who,
            whose=whose,
        )
    ]
    notices += [
        FeeRefunded(to=(user(v, fee.by),), fee=fee.amount, currency=v.currency) for fee in v.fees if fee.by in refunded
    ]
    return Decision(
        view=view,
        kind="dispute.resolved",
        actor=actor,
        data={
            **(data or {}),
            "resolution": resolution.value,
            "amount_to_client": amount_to_client,
            "amount_to_expert": amount_to_expert,
            "winner": winner.value if winner else None,
            "fees_refunded": sorted(r.value for r in refunded if any(f.by == r for f in v.fees)),
        },
        transfers=transfers,
        notices=notices,
    )


# ---------------------------------------------------------------------- plumbing


def user(v: DisputeView, role: Role) -> str:
    return v.client_id if role == Role.CLIENT else v.expert_id


def all_to(v: DisputeView, role: Role) -> int:
    """The amount to the client when `role` gets everything."""
    return v.amount if role == Role.CLIENT else 0


def payer_account(v: DisputeView, role: Role) -> str:
    """Where a refunded fee goes: money the party can spend or withdraw."""
    return accounts.client_balance(v.client_id) if role == Role.CLIENT else accounts.expert_available(v.expert_id)


def _transfers(v: DisputeView, moves: list[tuple[str, str, str, int, str]]) -> list[TransferSpec]:
    """(id, debit, credit, amount, kind) to transfers; a zero fee moves nothing."""
    return [
        TransferSpec(id=id, debit=debit, credit=credit, amount=amount, currency=v.currency, kind=kind)
        for id, debit, credit, amount, kind in moves
        if amount > 0
    ]

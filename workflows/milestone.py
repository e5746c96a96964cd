"""MilestoneWorkflow: one fixed-rate milestone and the escrow account it owns.

Rules M1–M7, M9, M10, L5 live here, and the money side of R3, D1 and C1. This workflow
is the only code that moves money out of `escrow:milestone:{id}`: every command that
could move it is handled one at a time under a lock, so a release racing the
auto-release or a dispute's outcome cannot pay twice. Refund requests and disputes are
child workflows that decide; their outcome comes back here to be paid.

Deadlines are timers: the review window's auto-release (M4), Elance's overdue mark and
reminders (M5), the end of each release's security hold (M9), the time to escalate a
declined refund (R4) and the last day a refund can be asked for (M10).
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from escrow import accounts, ids
    from escrow import holds as holds_
    from escrow import search_attributes as sa
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        AwaitClaim,
        Claim,
        ClaimKind,
        ClaimStatus,
        CloseMilestone,
        DeadlineAction,
        DisputeInput,
        DisputeOutcome,
        EscalateRefund,
        Fund,
        Hold,
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
        Step,
        Submit,
        TransferSpec,
    )
    from escrow.money import format_cents
    from workflows import steps
    from workflows.refund import RefundRequestWorkflow

UNFUNDED = (MilestoneStatus.PROPOSED, MilestoneStatus.AGREED, MilestoneStatus.FUNDING_PENDING)
RELEASABLE = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, MilestoneStatus.PARTIALLY_RELEASED)
ENDED = (MilestoneStatus.DECLINED, MilestoneStatus.CANCELLED)


def initial_view(input: MilestoneInput) -> MilestoneView:
    return MilestoneView(
        id=input.milestone_id,
        contract_id=input.contract_id,
        client_id=input.client_id,
        expert_id=input.expert_id,
        title=input.title,
        description=input.description,
        due_date=input.due_date,
        currency=input.currency,
        policy=input.policy.name,
        proposed_by=input.proposed_by,
        # M1: a client's milestone is agreed; an expert's is a proposal (M8).
        status=MilestoneStatus.PROPOSED if input.proposed_by == Role.EXPERT else MilestoneStatus.AGREED,
        amount=input.amount,
    )


@workflow.defn
class MilestoneWorkflow:
    @workflow.init
    def __init__(self, input: MilestoneInput) -> None:
        self._input = input
        self._policy = input.policy
        self._view = initial_view(input)
        self._turns = steps.Turns()
        self._step = 0
        self._changed = False
        # M5: which reminders of the current review window went out.
        self._reminded: set[timedelta] = set()
        self._reported: MilestoneSummary | None = None
        # Children whose outcome this workflow will pay; kept so they aren't collected.
        self._watchers: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, input: MilestoneInput) -> MilestoneView:
        await self._post(self._view, "milestone.created", actor=None)
        self._turns.open()
        while True:
            self._changed = False
            async with self._turns.lock:
                stuck = await steps.fire(self._fire_due)
            if self._changed:
                continue  # one action can make another due (a claim closing frees money)
            if self._finished():
                break
            now = workflow.now()
            due = None if stuck else min((t for t in self._timers() if t > now), default=None)
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=None if due is None else due - now)
            except asyncio.TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._report(finished=True)
        return self._view

    def _finished(self) -> bool:
        v = self._view
        if v.status in ENDED:
            return True
        if v.status != MilestoneStatus.COMPLETED or any(not h.settled for h in v.holds):
            return False
        if any(c.status in (ClaimStatus.OPEN, ClaimStatus.DECLINED) for c in v.claims):
            return False
        # M10: a refund can be asked for until a year after the invoice was paid.
        return v.paid_at is None or workflow.now() >= v.paid_at + self._policy.refund_with_operator

    def _timers(self) -> list[datetime]:
        v = self._view
        times = [h.available_at for h in v.holds if not h.settled]
        times += [c.escalate_until for c in v.claims if c.status == ClaimStatus.DECLINED and c.escalate_until]
        if v.status == MilestoneStatus.SUBMITTED and v.submitted_at and v.deadline_at:
            if v.escrow > v.frozen:
                times.append(v.deadline_at)
            if self._policy.overdue_after is not None and not v.overdue:
                times.append(v.submitted_at + self._policy.overdue_after)
            times += [v.deadline_at - r for r in self._policy.reminders_before_deadline if r not in self._reminded]
        if v.status == MilestoneStatus.COMPLETED and v.paid_at:
            times.append(v.paid_at + self._policy.refund_with_operator)
        return times

    async def _fire_due(self) -> None:
        now = workflow.now()
        v = self._view
        if v.status == MilestoneStatus.SUBMITTED and v.deadline_at and v.submitted_at:
            if now >= v.deadline_at:
                # M4: silence by the deadline completes the milestone. Money frozen by a
                # claim waits for it, and is released as soon as a claim lets it go.
                if v.escrow > v.frozen:
                    await self._pay(0, v.escrow - v.frozen, None, "milestone.auto_released")
            else:
                await self._mark_overdue_and_remind(now)
        lapsed = [c for c in self._view.claims if c.status == ClaimStatus.DECLINED and c.escalate_until and c.escalate_until <= now]
        if lapsed:
            await self._close_claims(lapsed, ClaimStatus.CLOSED, "milestone.refund_not_escalated")
        due = [h for h in self._view.holds if not h.settled and h.available_at <= now]
        if due:
            await self._settle(due)

    # ---------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> MilestoneView:
        return self._view

    @workflow.update
    async def await_claim(self, cmd: AwaitClaim) -> MilestoneView:
        """Answers once the claim is decided and its money moved, so the command that
        decided it (a verdict, a refund's approval) can answer the money it moved."""
        await steps.until_decided(lambda: self._view.claims, cmd.claim_id)
        return self._view

    @await_claim.validator
    def _validate_await_claim(self, cmd: AwaitClaim) -> None:
        steps.claim(self._view.claims, cmd.claim_id)

    # ---------------------------------------------------------------- M8 agreement

    @workflow.update
    async def accept(self, cmd: PartyCommand) -> MilestoneView:
        async with self._turns.command():
            self._check_answer_proposal(cmd)
            view = self._view.model_copy(update={"status": MilestoneStatus.AGREED})
            await self._post(view, "milestone.accepted", cmd.actor)
            return self._view

    @accept.validator
    def _validate_accept(self, cmd: PartyCommand) -> None:
        self._check_answer_proposal(cmd)

    @workflow.update
    async def decline(self, cmd: PartyCommand) -> MilestoneView:
        async with self._turns.command():
            self._check_answer_proposal(cmd)
            view = self._view.model_copy(update={"status": MilestoneStatus.DECLINED})
            await self._post(view, "milestone.declined", cmd.actor)
            return self._view

    @decline.validator
    def _validate_decline(self, cmd: PartyCommand) -> None:
        self._check_answer_proposal(cmd)

    def _check_answer_proposal(self, cmd: PartyCommand) -> None:
        proposer = self._view.proposed_by
        self._require_party(cmd.actor, Role.CLIENT if proposer == Role.EXPERT else Role.EXPERT)
        if self._view.status != MilestoneStatus.PROPOSED:
            raise refuse(Refusal.CONFLICT, f"milestone is {self._view.status}, not a proposal")

    # ---------------------------------------------------------------- M2 funding

    @workflow.update
    async def fund(self, cmd: Fund) -> MilestoneView:
        async with self._turns.command():
            self._check_fund(cmd)
            if cmd.card_authenticated:
                await self._credit_escrow(cmd.actor)
            else:
                view = self._view.model_copy(update={"status": MilestoneStatus.FUNDING_PENDING})
                await self._post(view, "milestone.funding_pending", cmd.actor)
            return self._view

    @fund.validator
    def _validate_fund(self, cmd: Fund) -> None:
        self._check_fund(cmd)

    def _check_fund(self, cmd: Fund) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        if self._view.status != MilestoneStatus.AGREED:
            raise refuse(Refusal.CONFLICT, f"only an agreed, unfunded milestone can be funded; it is {self._view.status}")

    @workflow.update
    async def authenticate_funding(self, cmd: PartyCommand) -> MilestoneView:
        async with self._turns.command():
            self._check_authenticate(cmd)
            await self._credit_escrow(cmd.actor)
            return self._view

    @authenticate_funding.validator
    def _validate_authenticate(self, cmd: PartyCommand) -> None:
        self._check_authenticate(cmd)

    def _check_authenticate(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        if self._view.status != MilestoneStatus.FUNDING_PENDING:
            raise refuse(Refusal.CONFLICT, f"no funding is waiting for card authentication; milestone is {self._view.status}")

    async def _credit_escrow(self, actor: Actor) -> None:
        v = self._view
        transfer = TransferSpec(
            id=f"{self._wf_id()}:fund",
            debit=accounts.WORLD_CARD,
            credit=accounts.milestone_escrow(v.id),
            amount=v.amount,
            currency=v.currency,
            kind="fund",
        )
        view = v.model_copy(
            update={"status": MilestoneStatus.IN_PROGRESS, "escrow": v.escrow + v.amount, "funded": v.funded + v.amount}
        )
        await self._post(view, "milestone.funded", actor, transfers=[transfer])

    # ---------------------------------------------------------------- M3 submission

    @workflow.update
    async def submit(self, cmd: Submit) -> MilestoneView:
        async with self._turns.command():
            self._check_submit(cmd)
            now = workflow.now()
            v = self._view
            deadline = now + self._policy.review_window
            self._reminded = set()
            invoice = Invoice(
                id=f"{self._wf_id()}:invoice:{self._step + 1}",
                milestone_id=v.id,
                kind=InvoiceKind.PRO_FORMA,
                amount=v.escrow,
                currency=v.currency,
                issued_at=now,
            )
            view = v.model_copy(
                update={
                    "status": MilestoneStatus.SUBMITTED,
                    "submitted_at": now,
                    "deadline_at": deadline,
                    "deadline_action": DeadlineAction.AUTO_RELEASE,
                    "overdue": False,
                    "invoices": [*v.invoices, invoice],
                }
            )
            await self._post(
                view,
                "milestone.submitted",
                cmd.actor,
                data={"message": cmd.message},
                notify={
                    v.client_id: f"'{v.title}' was submitted for review; it releases "
                    f"{format_cents(v.escrow, v.currency)} automatically on {deadline:%Y-%m-%d %H:%M} UTC "
                    "unless you release, ask for revisions, a refund or dispute."
                },
                invoices=[invoice],
            )
            return self._view

    @submit.validator
    def _validate_submit(self, cmd: Submit) -> None:
        self._check_submit(cmd)

    def _check_submit(self, cmd: Submit) -> None:
        self._require_party(cmd.actor, Role.EXPERT)
        status = self._view.status
        if status != MilestoneStatus.IN_PROGRESS:
            reason = "it is not funded yet" if status in UNFUNDED else f"it is {status}"
            raise refuse(Refusal.CONFLICT, f"cannot submit work for this milestone: {reason}")

    @workflow.update
    async def void_submission(self, cmd: PartyCommand) -> MilestoneView:
        async with self._turns.command():
            self._check_void(cmd)
            await self._post(self._reopened(), "milestone.submission_voided", cmd.actor)
            return self._view

    @void_submission.validator
    def _validate_void(self, cmd: PartyCommand) -> None:
        self._check_void(cmd)

    def _check_void(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor, Role.EXPERT)
        self._require_review_open()

    # ---------------------------------------------------------------- M7 revisions

    @workflow.update
    async def request_revision(self, cmd: RequestRevision) -> MilestoneView:
        async with self._turns.command():
            self._check_revision(cmd)
            view = self._reopened()
            view.revisions += 1
            await self._post(
                view,
                "milestone.revision_requested",
                cmd.actor,
                data={"message": cmd.message},
                notify={view.expert_id: f"The client asked for revisions of '{view.title}': {cmd.message}"},
            )
            return self._view

    @request_revision.validator
    def _validate_revision(self, cmd: RequestRevision) -> None:
        self._check_revision(cmd)

    def _check_revision(self, cmd: RequestRevision) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        self._require_review_open()

    def _reopened(self) -> MilestoneView:
        return self._view.model_copy(
            update={
                "status": MilestoneStatus.IN_PROGRESS,
                "submitted_at": None,
                "deadline_at": None,
                "deadline_action": None,
                "overdue": False,
            },
            deep=True,
        )

    # ---------------------------------------------------------------- M4, M6 release

    @workflow.update
    async def release(self, cmd: Release) -> MilestoneView:
        async with self._turns.command():
            amount = self._check_release(cmd)
            await self._pay(0, amount, cmd.actor, "milestone.released")
            return self._view

    @release.validator
    def _validate_release(self, cmd: Release) -> None:
        self._check_release(cmd)

    def _check_release(self, cmd: Release) -> int:
        self._require_party(cmd.actor, Role.CLIENT)
        v = self._view
        if v.status == MilestoneStatus.FUNDING_PENDING:
            raise refuse(Refusal.CONFLICT, "the funding's card is not authenticated yet; nothing can be released (M2)")
        if v.status not in RELEASABLE:
            raise refuse(Refusal.CONFLICT, f"nothing to release: milestone is {v.status}")
        free = v.escrow - v.frozen
        amount = cmd.amount
        if amount > free:
            frozen = f" ({format_cents(v.frozen, v.currency)} is frozen by an open refund request or dispute)" if v.frozen else ""
            raise refuse(
                Refusal.CONFLICT,
                f"cannot release {format_cents(amount, v.currency)}: escrow holds "
                f"{format_cents(free, v.currency)} that can move{frozen}",
            )
        return amount

    # ---------------------------------------------------------------- R1–R4, M10 refunds

    @workflow.update
    async def request_refund(self, cmd: RequestRefund) -> Claim:
        async with self._turns.command():
            phase, needs_operator = self._check_refund(cmd)
            return await self._start_refund(cmd.actor, cmd.amount, cmd.message, phase, needs_operator)

    async def _start_refund(
        self, actor: Actor, amount: int, message: str | None, phase: RefundPhase, needs_operator: bool
    ) -> Claim:
        v = self._view
        refund_id = workflow.uuid4().hex
        handle = await workflow.start_child_workflow(
            RefundRequestWorkflow.run,
            RefundInput(
                refund_id=refund_id,
                milestone_id=v.id,
                contract_id=v.contract_id,
                client_id=v.client_id,
                expert_id=v.expert_id,
                amount=amount,
                currency=v.currency,
                message=message,
                # R1: the request names the most recent invoice.
                invoice_id=v.invoices[-1].id if v.invoices else None,
                phase=phase,
                needs_operator=needs_operator,
                policy=self._policy,
            ),
            id=ids.refund(refund_id),
            static_summary=f"Refund request of {format_cents(amount, v.currency)} on milestone '{v.title}'",
        )
        claim = Claim(
            id=refund_id,
            kind=ClaimKind.REFUND,
            amount=amount,
            after_release=phase == RefundPhase.AFTER_RELEASE,
            opened_at=workflow.now(),
        )
        await self._post(
            v.model_copy(update={"claims": [*v.claims, claim]}),
            "milestone.refund_requested",
            actor,
            data={"refund_id": refund_id, "amount": amount, "phase": phase.value},
        )
        self._watchers.append(steps.watch(handle, self._turns.lock, lambda outcome: self._on_refund_decided(refund_id, outcome)))
        return claim

    @request_refund.validator
    def _validate_refund(self, cmd: RequestRefund) -> None:
        self._check_refund(cmd)

    def _check_refund(self, cmd: RequestRefund) -> tuple[RefundPhase, bool]:
        self._require_party(cmd.actor, Role.CLIENT)
        v = self._view
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
        age = workflow.now() - v.paid_at
        if age >= self._policy.refund_with_operator:
            raise refuse(Refusal.CONFLICT, f"refunds end {self._policy.refund_with_operator.days} days after the invoice is paid (M10)")
        refundable = v.released - v.claimed_released
        if cmd.amount > refundable:
            raise refuse(Refusal.CONFLICT, f"at most {format_cents(refundable, v.currency)} of the released money can be refunded")
        return RefundPhase.AFTER_RELEASE, age >= self._policy.refund_after_release

    async def _on_refund_decided(self, refund_id: str, outcome: RefundView) -> None:
        v = self._view
        claim = v.claim(refund_id)
        assert claim is not None
        if outcome.status == RefundStatus.APPROVED and not claim.after_release:
            # R3: the amount to the client; on a partial refund, the rest of the escrow
            # balance to the expert.
            rest = v.escrow - v.frozen
            await self._pay(
                claim.amount, rest, None, "milestone.refund_approved", settle=(refund_id, claim.amount)
            )
        elif outcome.status == RefundStatus.APPROVED:
            await self._refund_released(claim)
        else:
            now = workflow.now()
            until = now + self._policy.refund_escalation_window
            if claim.after_release and v.paid_at:
                until = min(until, v.paid_at + self._policy.dispute_after_release)
            if until <= now:
                await self._close_claims([claim], ClaimStatus.CLOSED, "milestone.refund_declined")
            else:
                updated = claim.model_copy(update={"status": ClaimStatus.DECLINED, "escalate_until": until})
                await self._post(self._with_claims([updated]), "milestone.refund_declined", None, data={"refund_id": refund_id})

    async def _refund_released(self, claim: Claim) -> None:
        """M10: the expert pays back what this milestone released, first from what is
        still on hold, then from its available balance, never below zero (L3)."""
        v = self._view
        transfers, holds = self._claw_back(claim.amount, f"{self._wf_id()}:clawback:{claim.id}")
        transfers.append(
            TransferSpec(
                id=f"{self._wf_id()}:refund:{claim.id}",
                debit=accounts.milestone_escrow(v.id),
                credit=accounts.client_balance(v.client_id),
                amount=claim.amount,
                currency=v.currency,
                kind="refund_after_release",
            )
        )
        settled = claim.model_copy(
            update={"status": ClaimStatus.SETTLED, "closed_at": workflow.now(), "amount_to_client": claim.amount}
        )
        view = self._with_claims([settled]).model_copy(
            update={"released": v.released - claim.amount, "refunded": v.refunded + claim.amount, "holds": holds}
        )
        try:
            await self._post(view, "milestone.refund_approved", None, transfers=transfers)
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == Refusal.INSUFFICIENT_FUNDS):
                raise
            unpaid = claim.model_copy(update={"status": ClaimStatus.UNPAID, "closed_at": workflow.now()})
            money = format_cents(claim.amount, v.currency)
            await self._post(
                self._with_claims([unpaid]),
                "milestone.refund_unpaid",
                None,
                notify={
                    v.client_id: f"The approved refund of {money} could not be paid: the expert's available balance is short.",
                    v.expert_id: f"The refund of {money} you approved could not be paid from your available balance.",
                },
            )

    # ---------------------------------------------------------------- D1, R4 disputes

    @workflow.update
    async def open_dispute(self, cmd: OpenDispute) -> Claim:
        async with self._turns.command():
            after_release = self._check_dispute(cmd)
            return await self._open_dispute(cmd.actor, cmd.amount, cmd.reason, after_release)

    @open_dispute.validator
    def _validate_dispute(self, cmd: OpenDispute) -> None:
        self._check_dispute(cmd)

    def _check_dispute(self, cmd: OpenDispute) -> bool:
        """True when the claim is on released money (M10), which must come back first."""
        v = self._view
        self._require_party(cmd.actor, cmd.actor.role)
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
        self._check_dispute_after_release(cmd.amount)
        return True

    def _check_dispute_after_release(self, amount: int, escalated: Claim | None = None) -> None:
        v = self._view
        if v.paid_at is None or workflow.now() - v.paid_at >= self._policy.dispute_after_release:
            raise refuse(
                Refusal.CONFLICT,
                f"a dispute on released money is possible only {self._policy.dispute_after_release.days} days after payment (M10)",
            )
        # What the expert still keeps, less what open claims already hold; an escalated
        # refund request hands its own hold on the money to the dispute.
        claimable = v.released - v.claimed_released + (escalated.amount if escalated is not None else 0)
        if amount > claimable:
            raise refuse(
                Refusal.CONFLICT,
                f"at most {format_cents(claimable, v.currency)} of the released money can be disputed: "
                "the rest was refunded or is claimed by an open refund request",
            )

    @workflow.update
    async def escalate_refund(self, cmd: EscalateRefund) -> Claim:
        async with self._turns.command():
            claim = self._check_escalate(cmd)
            reason = cmd.reason or "Refund request declined"
            dispute = await self._open_dispute(cmd.actor, claim.amount, reason, claim.after_release, escalated=claim)
            return dispute

    @escalate_refund.validator
    def _validate_escalate(self, cmd: EscalateRefund) -> None:
        self._check_escalate(cmd)

    def _check_escalate(self, cmd: EscalateRefund) -> Claim:
        self._require_party(cmd.actor, Role.CLIENT)
        claim = self._view.claim(cmd.refund_id)
        if claim is None or claim.kind != ClaimKind.REFUND:
            raise refuse(Refusal.NOT_FOUND, "no such refund request on this milestone")
        if claim.status == ClaimStatus.OPEN:
            raise refuse(Refusal.CONFLICT, "this refund request has no decline on this milestone yet; escalate once it is declined")
        if claim.status != ClaimStatus.DECLINED:
            raise refuse(Refusal.CONFLICT, f"only a declined refund request can be escalated; this one is {claim.status}")
        if claim.escalate_until and workflow.now() >= claim.escalate_until:
            raise refuse(Refusal.CONFLICT, "the time to escalate this refund request has passed")
        if claim.after_release:
            self._check_dispute_after_release(claim.amount, escalated=claim)
        return claim

    async def _open_dispute(
        self, actor: Actor, amount: int, reason: str, after_release: bool, escalated: Claim | None = None
    ) -> Claim:
        v = self._view
        dispute_id = workflow.uuid4().hex
        transfers: list[TransferSpec] = []
        released, holds = v.released, v.holds
        if after_release:
            # M10: released money comes back into escrow, where the dispute freezes it:
            # first what is still on hold, then from the available balance; if the
            # expert cannot cover it, the dispute is refused (L3).
            transfers, holds = self._claw_back(amount, f"{self._wf_id()}:clawback:{dispute_id}")
            released -= amount
        claim = Claim(id=dispute_id, kind=ClaimKind.DISPUTE, amount=amount, opened_at=workflow.now())
        changed = [claim]
        if escalated is not None:
            changed.append(escalated.model_copy(update={"status": ClaimStatus.ESCALATED, "escalated_to": dispute_id, "closed_at": workflow.now()}))
        view = self._with_claims(changed).model_copy(
            update={"escrow": v.escrow + (amount if after_release else 0), "released": released, "holds": holds}
        )
        try:
            await self._post(view, "milestone.dispute_opened", actor, transfers=transfers, data={"dispute_id": dispute_id, "amount": amount})
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.type == Refusal.INSUFFICIENT_FUNDS:
                raise refuse(Refusal.CONFLICT, "the expert's pending and available balance cannot cover the disputed amount") from err
            raise
        handle = await workflow.start_child_workflow(
            "DisputeWorkflow",
            DisputeInput(
                dispute_id=dispute_id,
                owner_workflow_id=self._wf_id(),
                contract_id=v.contract_id,
                client_id=v.client_id,
                expert_id=v.expert_id,
                claimant=actor.role,
                amount=amount,
                currency=v.currency,
                reason=reason,
                policy=self._policy,
            ),
            id=ids.dispute(dispute_id),
            result_type=DisputeOutcome,
            static_summary=f"Dispute over {format_cents(amount, v.currency)} of milestone '{v.title}'",
        )
        self._watchers.append(steps.watch(handle, self._turns.lock, lambda outcome: self._on_dispute_resolved(dispute_id, outcome)))
        return claim

    async def _on_dispute_resolved(self, dispute_id: str, outcome: DisputeOutcome) -> None:
        await self._pay(
            outcome.amount_to_client,
            outcome.amount_to_expert,
            None,
            "milestone.dispute_resolved",
            settle=(dispute_id, outcome.amount_to_client),
        )

    # ---------------------------------------------------------------- C1 closing

    @workflow.signal
    async def close(self, cmd: CloseMilestone) -> None:
        """The contract is closing: cancel what was never funded, and release or refund
        what escrow still holds and no claim has frozen."""
        async with self._turns.command():
            v = self._view
            if v.status in UNFUNDED:
                await self._post(v.model_copy(update={"status": MilestoneStatus.CANCELLED}), "milestone.cancelled", cmd.actor)
                return
            free = v.escrow - v.frozen
            if free <= 0:
                return
            if cmd.remainder == Remainder.RELEASE:
                await self._pay(0, free, cmd.actor, "milestone.released_on_close")
            elif cmd.actor.role == Role.EXPERT:
                # An expert who closes gives the unreleased money back.
                await self._pay(free, 0, cmd.actor, "milestone.refunded_on_close")
            elif not any(c.kind == ClaimKind.REFUND and c.status == ClaimStatus.OPEN for c in v.claims):
                # C1: the client gets it back by refund request (R).
                await self._start_refund(cmd.actor, free, "Contract closed", RefundPhase.ESCROW, False)

    # ---------------------------------------------------------------- money

    async def _pay(
        self,
        to_client: int,
        to_expert: int,
        actor: Actor | None,
        kind: str,
        settle: tuple[str, int] | None = None,
    ) -> None:
        """Move money out of escrow: `to_client` back to the client's balance, `to_expert`
        into the expert's pending balance under the M9 hold, with a final invoice.
        `settle` names the claim this pays and what it gave the client."""
        now = workflow.now()
        v = self._view
        transfers: list[TransferSpec] = []
        holds = list(v.holds)
        invoices: list[Invoice] = []
        if to_client:
            transfers.append(
                TransferSpec(
                    id=f"{self._wf_id()}:refund:{settle[0] if settle else self._step + 1}",
                    debit=accounts.milestone_escrow(v.id),
                    credit=accounts.client_balance(v.client_id),
                    amount=to_client,
                    currency=v.currency,
                    kind="refund",
                )
            )
        if to_expert:
            n = sum(1 for i in v.invoices if i.kind == InvoiceKind.FINAL) + 1
            available_at = now + self._policy.fixed_release_hold
            release, held = holds_.hold(
                f"{self._wf_id()}:release:{n}",
                accounts.milestone_escrow(v.id),
                v.expert_id,
                to_expert,
                v.currency,
                available_at,
            )
            transfers.append(release)
            holds.append(held)
            invoices.append(
                Invoice(
                    id=f"{self._wf_id()}:invoice:final:{n}",
                    milestone_id=v.id,
                    kind=InvoiceKind.FINAL,
                    amount=to_expert,
                    currency=v.currency,
                    issued_at=now,
                    clears_at=available_at,
                )
            )
        base = v
        if settle is not None:
            claim = v.claim(settle[0])
            assert claim is not None
            base = self._with_claims(
                [claim.model_copy(update={"status": ClaimStatus.SETTLED, "closed_at": now, "amount_to_client": settle[1]})]
            )
        escrow = v.escrow - to_client - to_expert
        status = v.status
        if escrow == 0:
            status = MilestoneStatus.COMPLETED
        elif actor is not None and actor.role == Role.CLIENT and to_expert:
            status = MilestoneStatus.PARTIALLY_RELEASED  # M6
        review_over = status != MilestoneStatus.SUBMITTED
        view = base.model_copy(
            update={
                "status": status,
                "escrow": escrow,
                "released": v.released + to_expert,
                "refunded": v.refunded + to_client,
                "deadline_at": None if review_over else v.deadline_at,
                "deadline_action": None if review_over else v.deadline_action,
                "holds": holds,
                "invoices": [*v.invoices, *invoices],
            }
        )
        notify: dict[str, str] = {}
        if to_expert:
            notify[v.expert_id] = (
                f"{format_cents(to_expert, v.currency)} for '{v.title}' was released to you; "
                f"available on {holds[-1].available_at:%Y-%m-%d %H:%M} UTC."
            )
        if to_client:
            notify[v.client_id] = f"{format_cents(to_client, v.currency)} of '{v.title}' was refunded to your balance."
        elif to_expert:
            notify[v.client_id] = f"{format_cents(to_expert, v.currency)} for '{v.title}' was released to the expert."
        await self._post(
            view,
            kind,
            actor,
            transfers=transfers,
            data={"to_client": to_client, "to_expert": to_expert},
            notify=notify,
            invoices=invoices,
        )

    def _claw_back(self, amount: int, transfer_id: str) -> tuple[list[TransferSpec], list[Hold]]:
        v = self._view
        return holds_.claw_back(v.holds, amount, accounts.milestone_escrow(v.id), v.expert_id, v.currency, transfer_id)

    async def _close_claims(self, claims: list[Claim], status: ClaimStatus, kind: str) -> None:
        now = workflow.now()
        closed = [c.model_copy(update={"status": status, "closed_at": now, "escalate_until": None}) for c in claims]
        await self._post(self._with_claims(closed), kind, None, data={"claims": [c.id for c in claims]})

    def _with_claims(self, changed: list[Claim]) -> MilestoneView:
        by_id = {c.id: c for c in changed}
        claims = [by_id.pop(c.id, c) for c in self._view.claims] + list(by_id.values())
        return self._view.model_copy(update={"claims": claims})

    # ---------------------------------------------------------------- M5, M9 timers

    async def _mark_overdue_and_remind(self, now: datetime) -> None:
        v = self._view
        assert v.submitted_at and v.deadline_at
        notify: dict[str, str] = {}
        view = v
        if self._policy.overdue_after is not None and not v.overdue and now >= v.submitted_at + self._policy.overdue_after:
            view = v.model_copy(update={"overdue": True})
            text = f"The release request for '{v.title}' is overdue; it auto-releases on {v.deadline_at:%Y-%m-%d %H:%M} UTC."
            notify = {v.client_id: text, v.expert_id: text}
        for before in self._policy.reminders_before_deadline:
            if before not in self._reminded and now >= v.deadline_at - before:
                self._reminded.add(before)
                text = f"Reminder: '{v.title}' auto-releases on {v.deadline_at:%Y-%m-%d %H:%M} UTC."
                notify = {v.client_id: text, v.expert_id: text}
        if notify:
            await self._post(view, "milestone.overdue" if view.overdue != v.overdue else "milestone.reminder", None, notify=notify)

    async def _settle(self, due: list[Hold]) -> None:
        v = self._view
        transfers, holds = holds_.settle(v.holds, due, v.expert_id, v.currency)
        await self._post(
            v.model_copy(update={"holds": holds}),
            "milestone.hold_released",
            None,
            transfers=transfers,
            data={"amount": sum(h.amount for h in due)},
        )

    # ---------------------------------------------------------------- plumbing

    def _require_party(self, actor: Actor, role: Role) -> None:
        v = self._view
        party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(actor.role)
        if party != actor.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may act on its milestones")
        if actor.role != role:
            raise refuse(Refusal.FORBIDDEN, f"only the {role} may do this")

    def _require_review_open(self) -> None:
        v = self._view
        if v.status != MilestoneStatus.SUBMITTED:
            raise refuse(Refusal.CONFLICT, f"no release request is open; milestone is {v.status}")
        if v.deadline_at and workflow.now() >= v.deadline_at:
            raise refuse(Refusal.CONFLICT, "the review window has ended")

    def _wf_id(self) -> str:
        return workflow.info().workflow_id

    async def _post(
        self,
        view: MilestoneView,
        kind: str,
        actor: Actor | None,
        *,
        transfers: list[TransferSpec] | None = None,
        data: dict | None = None,
        notify: dict[str, str] | None = None,
        invoices: list[Invoice] | None = None,
    ) -> None:
        """Write one step (money, read model, audit, outbox) and only then adopt the new
        state, so the workflow never shows money the ledger has not moved."""
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                transfers=transfers or [],
                milestone=view,
                version=self._step,
                invoices=invoices or [],
                audit=[steps.audit(self._step, kind, actor, data)],
                notifications=steps.notifications(self._step, kind, notify),
            ),
            kind,
        )
        self._view = view
        self._changed = True
        self._publish()
        await self._report()

    async def _report(self, finished: bool = False) -> None:
        """Tell the contract when this milestone's money changed (C1, C2)."""
        v = self._view
        summary = MilestoneSummary(
            id=v.id,
            status=v.status,
            escrow=v.escrow,
            released=v.released,
            refunded=v.refunded,
            settled=v.status in ENDED or (v.status not in UNFUNDED and v.escrow == 0 and v.frozen == 0),
            finished=finished,
        )
        if summary == self._reported:
            return
        self._reported = summary
        await steps.tell(ids.contract(v.contract_id), "milestone_changed", summary)

    def _publish(self) -> None:
        """Search attributes and current details for operators in the Web UI."""
        v = self._view
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(v.contract_id),
                sa.CLIENT_ID.value_set(v.client_id),
                sa.EXPERT_ID.value_set(v.expert_id),
                sa.ESCROW_STATE.value_set(v.status.value),
                sa.AMOUNT_CENTS.value_set(v.amount),
                sa.DEADLINE_AT.value_set(v.deadline_at) if v.deadline_at else sa.DEADLINE_AT.value_unset(),
            ]
        )
        details = f"**{v.status}** · escrow {format_cents(v.escrow, v.currency)} · released {format_cents(v.released, v.currency)}"
        if v.frozen:
            details += f" · frozen {format_cents(v.frozen, v.currency)} by open claims"
        if v.deadline_at:
            details += f"\n\nAuto-releases {format_cents(v.escrow - v.frozen, v.currency)} to the expert at {v.deadline_at:%Y-%m-%d %H:%M} UTC unless the client acts."
        pending = [h for h in v.holds if not h.settled]
        if pending:
            details += "\n\nOn hold: " + ", ".join(
                f"{format_cents(h.amount, v.currency)} until {h.available_at:%Y-%m-%d %H:%M}" for h in pending
            )
        workflow.set_current_details(details)

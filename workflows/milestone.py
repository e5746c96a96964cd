"""MilestoneWorkflow: one fixed-rate milestone and the escrow account it owns.

It is the only code that moves money out of `escrow:milestone:{id}`: every command that
could move it takes its turn, so a release racing the auto-release or a dispute's
outcome cannot pay twice. Refund requests and disputes are child workflows that decide;
their outcome comes back here to be paid. The rules (M1–M10, L5, the money side of R3,
D1 and C1) are escrow.rules.milestone; this module wires them to Temporal.

Deadlines: the review window's auto-release (M4), Elance's overdue mark and reminders
(M5), the end of each release's security hold (M9), the time to escalate a declined
refund (R4) and the last day a refund can be asked for (M10).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from escrow import case_text, ids
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        ApplyRemainder,
        AwaitClaim,
        Claim,
        CloseMilestone,
        DisputeView,
        EscalateRefund,
        MilestoneInput,
        MilestoneSummary,
        MilestoneView,
        OpenDispute,
        RefundPhase,
        RefundView,
        RequestRefund,
        Submit,
    )
    from escrow.money import format_cents
    from escrow.rules import Decision
    from escrow.rules import milestone as rules
    from escrow.rules import refund as refund_rules
    from escrow.rules.milestone import Timer
    from workflows import steps
    from workflows.core import Action, Deadline, Reporting, checked, command
    from workflows.refund import RefundRequestWorkflow


def _short(err: ActivityError) -> bool:
    """The ledger refused the step: an account would go below zero (L3)."""
    return isinstance(err.cause, ApplicationError) and err.cause.type == Refusal.INSUFFICIENT_FUNDS


@workflow.defn
class MilestoneWorkflow(Reporting[MilestoneView]):
    @workflow.init
    def __init__(self, input: MilestoneInput) -> None:
        super().__init__(rules.initial_view(input), input.policy)
        # M5: which reminders of the current review window went out.
        self._reminded: set[timedelta] = set()
        # M6: while true, a step is not reported to the contract yet.
        self._quiet = False

    @workflow.run
    async def run(self, input: MilestoneInput) -> MilestoneView:
        await self.live(
            rules.created(self.view, self.context()), finished=lambda: rules.finished(self.view, self.context())
        )
        return self.view

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

    # ---------------------------------------------------------------- commands

    accept = command(rules.accept)
    decline = command(rules.decline)
    fund = command(rules.fund)
    authenticate_funding = command(rules.authenticate_funding)
    void_submission = command(rules.void_submission)
    request_revision = command(rules.request_revision)
    release = command(rules.release)

    # ---------------------------------------------------------------- M8 changes
    # Each answers the change it acted on.

    propose_change = command(rules.propose_change, answer=rules.changed)
    accept_change = command(rules.accept_change, answer=rules.changed)
    decline_change = command(rules.decline_change, answer=rules.changed)

    @checked(rules.check_submit)
    async def submit(self, cmd: Submit) -> MilestoneView:
        self._reminded = set()  # a new review window, with its own reminders (M5)
        await self.write(rules.submit(self.view, cmd, self.context()))
        return self.view

    # ---------------------------------------------------------------- R1–R4, M10 refunds

    @checked(rules.check_refund)
    async def request_refund(self, cmd: RequestRefund) -> RefundView:
        """Answers the new request as its own workflow starts with it."""
        phase, needs_operator = rules.check_refund(self.view, cmd, self.context())
        return await self._start_refund(cmd.actor, cmd.amount, cmd.message, phase, needs_operator)

    async def _start_refund(
        self, actor: Actor, amount: int, message: str | None, phase: RefundPhase, needs_operator: bool
    ) -> RefundView:
        ctx = self.context()
        request = rules.refund_input(self.view, workflow.uuid4().hex, amount, message, phase, needs_operator, ctx)
        handle = await workflow.start_child_workflow(
            RefundRequestWorkflow.run,
            request,
            id=ids.refund(request.refund_id),
            static_summary=f"Refund request of {format_cents(amount, request.currency)} on milestone '{self.view.title}'",
        )
        await self.write(rules.refund_requested(self.view, actor, request, ctx))
        self.watch(handle, lambda outcome: self._on_refund_decided(request.refund_id, outcome))
        return refund_rules.opened(request)

    async def _on_refund_decided(self, refund_id: str, outcome: RefundView) -> None:
        try:
            await self.write(rules.refund_decided(self.view, refund_id, outcome, self.context()))
        except ActivityError as err:
            claim = self.view.claim(refund_id)
            if not (_short(err) and claim is not None and claim.after_release):
                raise
            # M10, L3: the expert's balance can't pay back what it approved.
            await self.write(rules.refund_unpaid(self.view, refund_id, self.context()))

    # ---------------------------------------------------------------- D1, R4 disputes

    @checked(rules.check_dispute)
    async def open_dispute(self, cmd: OpenDispute) -> DisputeView:
        """Answers the new dispute as its own workflow starts with it."""
        after_release = rules.check_dispute(self.view, cmd, self.context())
        return await self._open_dispute(cmd.actor, cmd.amount, cmd.reason, after_release)

    @checked(rules.check_escalate)
    async def escalate_refund(self, cmd: EscalateRefund) -> DisputeView:
        """R4: the declined request becomes a dispute, answered as `open_dispute` does."""
        claim = rules.check_escalate(self.view, cmd, self.context())
        reason = cmd.reason or "Refund request declined"
        return await self._open_dispute(cmd.actor, claim.amount, reason, claim.after_release, escalated=claim)

    async def _open_dispute(
        self, actor: Actor, amount: int, reason: str, after_release: bool, escalated: Claim | None = None
    ) -> DisputeView:
        dispute_id = workflow.uuid4().hex
        ctx = self.context()
        filing = rules.dispute_input(self.view, dispute_id, actor.role, amount, reason, ctx)
        try:
            await self.write(rules.dispute_opened(self.view, actor, dispute_id, amount, after_release, ctx, escalated))
        except ActivityError as err:
            if _short(err):
                raise refuse(
                    Refusal.CONFLICT, "the expert's pending and available balance cannot cover the disputed amount"
                ) from err
            raise
        summary = f"Dispute over {format_cents(amount, filing.currency)} of milestone '{self.view.title}'"
        return await self.start_dispute(filing, summary, rules.dispute_resolved)

    # ---------------------------------------------------------------- M6 the remainder

    @checked(rules.check_apply_remainder)
    async def apply_remainder(self, cmd: ApplyRemainder) -> MilestoneView:
        """M6: this milestone moves its remainder into a new milestone's escrow (its
        step), then starts that milestone, which opens in progress with the money it
        received. Answers the new milestone as its workflow starts with it."""
        v, ctx = self.view, self.context()
        new = rules.remainder_input(v, cmd, workflow.uuid4().hex, ctx)
        # The contract hears of this step (and, from it, of the new milestone) only once
        # that milestone exists, so a closing contract can send it its order (C1).
        self._quiet = True
        try:
            await self.write(rules.remainder_applied(v, cmd, new, ctx))
        finally:
            self._quiet = False
        await workflow.start_child_workflow(
            MilestoneWorkflow.run,
            new,
            id=ids.milestone(new.milestone_id),
            # Its escrow outlives this milestone's workflow, as any milestone's does.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Milestone '{new.title}' {format_cents(new.amount, new.currency)} of contract "
            f"{new.contract_id}, funded from the remainder of milestone {v.id}",
            search_attributes=TypedSearchAttributes(sa.parties(v.contract_id, v.client_id, v.expert_id)),
        )
        await self.written()
        return rules.initial_view(new)

    # ---------------------------------------------------------------- C1 closing

    @workflow.signal
    async def close(self, cmd: CloseMilestone) -> None:
        """The contract is closing: cancel what was never funded, and release or refund
        what escrow still holds and no claim has frozen."""
        async with self._turns.command():
            decision = rules.close(self.view, cmd, self.context())
            if decision is not None:
                await self.write(decision)
            elif amount := rules.refund_on_close(self.view, cmd):
                # C1: the client gets it back by refund request (R).
                await self._start_refund(cmd.actor, amount, "Contract closed", RefundPhase.ESCROW, False)

    # ---------------------------------------------------------------- O1–O5 dormancy

    @workflow.signal
    async def settle_dormant(self) -> None:
        """O4: the contract stayed dormant; release what a party asked release of long
        enough ago (or schedule it), refund the rest."""
        async with self._turns.command():
            await self.write(rules.settle_dormant(self.view, self.context()))

    async def write(self, decision: Decision[MilestoneView] | None) -> None:
        # O2, O5: the step remembers a party's activity, reported to the contract.
        # Milestones started before dormancy report nothing new: their histories replay.
        if decision is not None and workflow.patched("dormancy"):
            decision = rules.noted(decision, self.context())
        await super().write(decision)

    # ---------------------------------------------------------------- deadlines

    def deadlines(self) -> list[Deadline]:
        actions: dict[Timer, Action | None] = {
            Timer.AUTO_RELEASE: self.decide(rules.auto_release),
            Timer.REMIND: self._remind,
            Timer.LAPSE: self.decide(rules.close_lapsed),
            Timer.SETTLE: self.decide(rules.settle_holds),
            Timer.END: None,
        }
        return [Deadline(at, actions[timer]) for at, timer in rules.timers(self.view, self._policy, self._reminded)]

    async def _remind(self) -> None:
        ctx = self.context()
        decision = rules.remind(self.view, ctx, self._reminded)
        self._reminded |= rules.reminders_due(self.view, ctx, self._reminded)
        await self.write(decision)

    # ---------------------------------------------------------------- hooks

    def read_model(self, view: MilestoneView) -> dict[str, MilestoneView]:
        return {"milestone": view}

    # C1, C2: the contract closes once its milestones' money has all moved.
    REPORT = "milestone_changed"

    async def written(self) -> None:
        if not self._quiet:
            await super().written()

    def summary(self, finished: bool) -> MilestoneSummary:
        summary = rules.summary(self.view, finished)
        if workflow.patched("dormancy"):
            return summary
        # Reported as before dormancy (O1–O5), so a running milestone's signals replay.
        dormancy = ("due_date", "submitted_at", "last_activity_at", "last_reactivation_at")
        return summary.model_copy(update=dict.fromkeys(dormancy))

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        return sa.case(self.view, self.view.status.value, self.view.amount)

    def case(self) -> Case:
        return case_text.milestone(self.view)

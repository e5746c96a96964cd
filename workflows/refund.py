"""RefundRequestWorkflow: one refund request, from asking to a decision (R1–R4, M10).

It decides and returns; the milestone that started it owns the money and moves it.
Before release (R2) the expert has 7 days and silence approves. After release (M10)
the money is the expert's: only an explicit yes refunds it, silence declines, and
between days 181 and 365 an operator must approve as well.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from escrow import search_attributes as sa
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        RefundAnswer,
        RefundInput,
        RefundPhase,
        RefundStatus,
        RefundView,
        Role,
        Step,
    )
    from escrow.money import format_cents
    from workflows import steps


@workflow.defn
class RefundRequestWorkflow:
    @workflow.init
    def __init__(self, input: RefundInput) -> None:
        self._input = input
        now = workflow.now()
        window = input.policy.refund_response_window
        self._view = RefundView(
            id=input.refund_id,
            milestone_id=input.milestone_id,
            contract_id=input.contract_id,
            client_id=input.client_id,
            expert_id=input.expert_id,
            amount=input.amount,
            currency=input.currency,
            message=input.message,
            invoice_id=input.invoice_id,
            phase=input.phase,
            needs_operator=input.needs_operator,
            status=RefundStatus.PENDING,
            requested_at=now,
            deadline_at=now + window,
            deadline_action="approve" if input.phase == RefundPhase.ESCROW else "decline",
        )
        self._turns = steps.Turns()
        self._step = 0

    @workflow.run
    async def run(self, input: RefundInput) -> RefundView:
        v = self._view
        money = format_cents(v.amount, v.currency)
        await self._post(
            v,
            "refund.requested",
            None,
            notify={
                v.expert_id: f"The client asks for a refund of {money}"
                + (f": {v.message}" if v.message else "")
                + f". Answer by {v.deadline_at:%Y-%m-%d %H:%M} UTC; "
                + ("silence approves it." if v.deadline_action == "approve" else "silence declines it.")
            },
        )
        self._turns.open()
        stuck = False
        while self._view.decided_at is None:
            deadline = self._view.deadline_at
            assert deadline is not None
            try:
                await workflow.wait_condition(
                    lambda d=deadline: self._view.deadline_at != d or self._view.decided_at is not None,
                    timeout=None if stuck else max(deadline - workflow.now(), timedelta(0)),
                )
            except asyncio.TimeoutError:
                async with self._turns.lock:
                    if self._view.decided_at is None and workflow.now() >= deadline:
                        stuck = await steps.fire(self._lapse)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    @workflow.query
    def state(self) -> RefundView:
        return self._view

    # ------------------------------------------------------------------ answers

    @workflow.update
    async def approve(self, cmd: RefundAnswer) -> RefundView:
        async with self._turns.command():
            self._check_answer(cmd.actor)
            v = self._view
            if v.status == RefundStatus.PENDING and v.needs_operator:
                # M10: days 181–365 need an operator on top of the expert's yes.
                deadline = workflow.now() + self._input.policy.refund_response_window
                view = v.model_copy(
                    update={"status": RefundStatus.AWAITING_OPERATOR, "deadline_at": deadline, "deadline_action": "decline"}
                )
                await self._post(view, "refund.expert_approved", cmd.actor, notify={"operators": self._operator_note(view)})
            else:
                await self._decide(RefundStatus.APPROVED, cmd.actor, cmd.message)
            return self._view

    @approve.validator
    def _validate_approve(self, cmd: RefundAnswer) -> None:
        self._check_answer(cmd.actor)

    @workflow.update
    async def decline(self, cmd: RefundAnswer) -> RefundView:
        async with self._turns.command():
            self._check_answer(cmd.actor)
            await self._decide(RefundStatus.DECLINED, cmd.actor, cmd.message)
            return self._view

    @decline.validator
    def _validate_decline(self, cmd: RefundAnswer) -> None:
        self._check_answer(cmd.actor)

    def _check_answer(self, actor: Actor) -> None:
        v = self._view
        if v.status == RefundStatus.PENDING:
            if actor.role != Role.EXPERT or actor.user_id != v.expert_id:
                raise refuse(Refusal.FORBIDDEN, "only the expert answers a refund request")
        elif v.status == RefundStatus.AWAITING_OPERATOR:
            if actor.role != Role.OPERATOR:
                raise refuse(Refusal.FORBIDDEN, "the expert approved; an operator must approve too (M10)")
        else:
            raise refuse(Refusal.CONFLICT, f"the refund request is already {v.status}")
        if v.deadline_at is not None and workflow.now() >= v.deadline_at:
            raise refuse(Refusal.CONFLICT, "the time to answer this refund request has passed")

    # ------------------------------------------------------------------ outcomes

    async def _lapse(self) -> None:
        # R2: silence approves a request on escrow; M10: silence never gives away
        # money that was already released.
        outcome = RefundStatus.APPROVED if self._view.deadline_action == "approve" else RefundStatus.DECLINED
        await self._decide(outcome, None, None)

    async def _decide(self, status: RefundStatus, actor: Actor | None, message: str | None) -> None:
        v = self._view
        view = v.model_copy(
            update={
                "status": status,
                "decided_at": workflow.now(),
                "decided_by": actor.role.value if actor else "deadline",
                "decline_message": message if status == RefundStatus.DECLINED else None,
                "deadline_at": None,
                "deadline_action": None,
            }
        )
        money = format_cents(v.amount, v.currency)
        if status == RefundStatus.APPROVED:
            notify = {v.client_id: f"Your refund of {money} was approved.", v.expert_id: f"The refund of {money} was approved."}
        else:
            # R4: the client hears of it and may escalate.
            notify = {
                v.client_id: f"Your refund request of {money} was declined"
                + (f": {message}" if message else "")
                + ". You may escalate it into a dispute."
            }
        await self._post(view, f"refund.{status.value}", actor, notify=notify)

    def _operator_note(self, view: RefundView) -> str:
        return (
            f"Refund request {view.id} of {format_cents(view.amount, view.currency)} on released money needs an "
            f"operator's approval by {view.deadline_at:%Y-%m-%d %H:%M} UTC (M10)."
        )

    # ------------------------------------------------------------------ plumbing

    async def _post(self, view: RefundView, kind: str, actor: Actor | None, notify: dict[str, str] | None = None) -> None:
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                version=self._step,
                audit=[steps.audit(self._step, kind, actor, {"refund_id": view.id, "amount": view.amount})],
                notifications=steps.notifications(self._step, kind, notify),
            ),
            kind,
        )
        self._view = view
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(view.contract_id),
                sa.CLIENT_ID.value_set(view.client_id),
                sa.EXPERT_ID.value_set(view.expert_id),
                sa.ESCROW_STATE.value_set(f"refund:{view.status.value}"),
                sa.AMOUNT_CENTS.value_set(view.amount),
                sa.DEADLINE_AT.value_set(view.deadline_at) if view.deadline_at else sa.DEADLINE_AT.value_unset(),
            ]
        )
        waiting = {RefundStatus.PENDING: "the expert", RefundStatus.AWAITING_OPERATOR: "an operator"}.get(view.status)
        details = f"**refund {view.status}** · {format_cents(view.amount, view.currency)}"
        if waiting and view.deadline_at:
            details += f"\n\nWaiting on {waiting} until {view.deadline_at:%Y-%m-%d %H:%M} UTC; then it is {view.deadline_action}d."
        workflow.set_current_details(details)

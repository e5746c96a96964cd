"""ContractWorkflow: one contract between a client and an expert.

A fixed-rate contract agrees milestones (M1, M8) and starts one MilestoneWorkflow child
per milestone; an hourly contract starts one HourlyWeekWorkflow per billing week by
itself, every Monday 00:00, and is put on hold while a week's charge fails (H7). Each
child owns its own escrow and reports its money back here. Closing (C1) asks every
child to release or refund what it still holds; the contract is closed once all of it
has moved, and flagged zero-pay when the expert got nothing (C2). The contract moves no
money itself.
"""
from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from escrow import ids
    from escrow import search_attributes as sa
    from escrow.calendar import BillingWeek, iso_week
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        AddMilestone,
        CloseContract,
        CloseMilestone,
        ContractInput,
        ContractStatus,
        ContractType,
        ContractView,
        MilestoneInput,
        MilestoneSummary,
        MilestoneView,
        PaymentStatus,
        Remainder,
        Role,
        SetPaymentMethod,
        Step,
        WeekStatus,
        WeekSummary,
    )
    from escrow.models.hourly import HourlyWeekInput
    from escrow.money import format_cents
    from workflows import steps
    from workflows.hourly_week import HourlyWeekWorkflow
    from workflows.milestone import MilestoneWorkflow, initial_view


@workflow.defn
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self._input = input
        self._step = input.step
        self._closing = input.closing
        self._payment_method = input.payment_method
        self._changed = False
        self._view = ContractView(
            id=input.contract_id,
            client_id=input.client_id,
            expert_id=input.expert_id,
            type=input.type,
            currency=input.currency,
            hourly_rate=input.hourly_rate,
            weekly_limit_hours=input.weekly_limit_hours,
            policy=input.policy.name,
            status=input.status,
            created_at=input.created_at or workflow.now(),
            milestones=list(input.milestones),
            weeks=list(input.weeks),
        )

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:
        self._publish()
        if input.step == 0:
            await self._record("contract.created")
        # Every child reports here until it ends, so the contract outlives them all.
        while not self._done() and not workflow.info().is_continue_as_new_suggested():
            if self._billing():
                await self._open_current_week()
            now = workflow.now()
            # H1: weeks start themselves, at the Monday 00:00 that begins each one.
            next_week = BillingWeek.of(iso_week(now)).billed_at if self._billing() else None
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed or self._done() or workflow.info().is_continue_as_new_suggested(),
                    timeout=None if next_week is None else next_week - now,
                )
            except asyncio.TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._done():
            workflow.continue_as_new(
                self._input.model_copy(
                    update={
                        "milestones": self._view.milestones,
                        "weeks": self._view.weeks,
                        "created_at": self._view.created_at,
                        "status": self._view.status,
                        "closing": self._closing,
                        "payment_method": self._payment_method,
                        "step": self._step,
                    }
                )
            )
        return self._view

    def _done(self) -> bool:
        v = self._view
        return (
            v.status == ContractStatus.CLOSED
            and all(m.finished for m in v.milestones)
            and all(w.finished for w in v.weeks)
        )

    def _billing(self) -> bool:
        return self._view.type == ContractType.HOURLY and self._view.status in (ContractStatus.ACTIVE, ContractStatus.ON_HOLD)

    async def _open_current_week(self) -> None:
        v = self._view
        week = iso_week(workflow.now())
        if any(w.week == week for w in v.weeks):
            return
        assert v.hourly_rate is not None
        v.weeks.append(
            WeekSummary(week=week, status=WeekStatus.OPEN, escrow=0, released=0, payment_status=PaymentStatus.NOT_DUE)
        )
        limit = self._input.weekly_limit_hours
        await workflow.start_child_workflow(
            HourlyWeekWorkflow.run,
            HourlyWeekInput(
                contract_id=v.id,
                client_id=v.client_id,
                expert_id=v.expert_id,
                week=week,
                hourly_rate=v.hourly_rate,
                currency=v.currency,
                weekly_limit_minutes=None if limit is None else limit * 60,
                payment_method=self._payment_method,
                policy=self._input.policy,
            ),
            id=ids.week(v.id, week),
            # A week's escrow outlives any one run of its contract's workflow.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Billing week {week} of hourly contract {v.id} at {format_cents(v.hourly_rate, v.currency)}/h",
            search_attributes=TypedSearchAttributes(
                [
                    sa.CONTRACT_ID.value_set(v.id),
                    sa.CLIENT_ID.value_set(v.client_id),
                    sa.EXPERT_ID.value_set(v.expert_id),
                ]
            ),
        )
        await self._record("contract.week_opened", data={"week": week})

    @workflow.query
    def state(self) -> ContractView:
        return self._view

    # ------------------------------------------------------------------ M1, M8

    @workflow.update
    async def add_milestone(self, cmd: AddMilestone) -> MilestoneView:
        self._check_add_milestone(cmd)
        v = self._view
        milestone_id = workflow.uuid4().hex
        milestone = MilestoneInput(
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
            policy=self._input.policy,
        )
        first = initial_view(milestone)
        self._view.milestones.append(
            MilestoneSummary(id=milestone_id, status=first.status, escrow=0, released=0, refunded=0, settled=False)
        )
        await workflow.start_child_workflow(
            MilestoneWorkflow.run,
            milestone,
            id=ids.milestone(milestone_id),
            # A milestone's escrow outlives any one run of its contract's workflow.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Milestone '{milestone.title}' {format_cents(cmd.amount, v.currency)} of contract {v.id}",
            search_attributes=TypedSearchAttributes(
                [
                    sa.CONTRACT_ID.value_set(v.id),
                    sa.CLIENT_ID.value_set(v.client_id),
                    sa.EXPERT_ID.value_set(v.expert_id),
                ]
            ),
        )
        await self._record("contract.milestone_added", cmd.actor, {"milestone_id": milestone_id})
        return first

    @add_milestone.validator
    def _validate_add_milestone(self, cmd: AddMilestone) -> None:
        self._check_add_milestone(cmd)

    def _check_add_milestone(self, cmd: AddMilestone) -> None:
        v = self._view
        self._require_party(cmd.actor)
        if v.status != ContractStatus.ACTIVE:
            raise refuse(Refusal.CONFLICT, f"contract is {v.status}")
        if v.type != ContractType.FIXED:
            raise refuse(Refusal.CONFLICT, "hourly contracts bill by the week, not by milestone")
        if not cmd.title.strip():
            raise refuse(Refusal.INVALID, "a milestone needs a title")
        minimum = self._input.policy.min_milestone
        if cmd.amount < minimum:
            raise refuse(
                Refusal.INVALID,
                f"a milestone is at least {format_cents(minimum, v.currency)} (M1); got {format_cents(cmd.amount, v.currency)}",
            )

    # ------------------------------------------------------------------ C1, C2

    @workflow.update
    async def close(self, cmd: CloseContract) -> ContractView:
        remainder = self._check_close(cmd)
        self._closing = cmd.model_copy(update={"remainder": remainder})
        self._view.status = ContractStatus.CLOSING
        await self._record("contract.closing", cmd.actor, {"remainder": remainder.value})
        order = CloseMilestone(actor=cmd.actor, remainder=remainder)
        for m in self._view.milestones:
            if not m.finished:
                await workflow.get_external_workflow_handle(ids.milestone(m.id)).signal(MilestoneWorkflow.close, order)
        for w in self._open_weeks():
            # The week bills what was logged and runs its review and hold as usual.
            await self._week(w).signal(HourlyWeekWorkflow.contract_ended, workflow.now())
        self._changed = True
        await self._close_when_settled()
        return self._view

    @close.validator
    def _validate_close(self, cmd: CloseContract) -> None:
        self._check_close(cmd)

    def _check_close(self, cmd: CloseContract) -> Remainder:
        self._require_party(cmd.actor)
        if self._view.status not in (ContractStatus.ACTIVE, ContractStatus.ON_HOLD):
            raise refuse(Refusal.CONFLICT, f"contract is already {self._view.status}")
        if cmd.actor.role == Role.EXPERT:
            if cmd.remainder == Remainder.RELEASE:
                raise refuse(Refusal.FORBIDDEN, "an expert cannot release escrow to itself")
            return Remainder.REFUND
        if cmd.remainder is None and any(m.escrow for m in self._view.milestones):
            raise refuse(Refusal.INVALID, "say whether the unreleased escrow is released or refunded: remainder")
        return cmd.remainder or Remainder.RELEASE

    @workflow.signal
    async def milestone_changed(self, summary: MilestoneSummary) -> None:
        self._view.milestones = [summary if m.id == summary.id else m for m in self._view.milestones]
        if not any(m.id == summary.id for m in self._view.milestones):
            self._view.milestones.append(summary)
        await self._close_when_settled()

    # ------------------------------------------------------------------ H7

    @workflow.signal
    async def week_changed(self, summary: WeekSummary) -> None:
        v = self._view
        v.weeks = [summary if w.week == summary.week else w for w in v.weeks]
        failing = any(w.payment_status == PaymentStatus.FAILING for w in v.weeks)
        if failing and v.status == ContractStatus.ACTIVE:
            await self._hold(True)
        elif not failing and v.status == ContractStatus.ON_HOLD:
            await self._hold(False)
        self._changed = True
        await self._close_when_settled()

    async def _hold(self, on_hold: bool) -> None:
        """H7: a failed charge suspends the client and holds the contract; paying lifts
        both at once."""
        v = self._view
        v.status = ContractStatus.ON_HOLD if on_hold else ContractStatus.ACTIVE
        for w in self._open_weeks():
            await self._week(w).signal(HourlyWeekWorkflow.contract_on_hold, on_hold)
        self._publish()
        await self._record(
            "contract.on_hold" if on_hold else "contract.reactivated",
            data={"client_suspended": on_hold},
            notify={
                v.client_id: "Your account is suspended and the contract on hold until the failed payment succeeds."
                if on_hold
                else "Your payment succeeded; your account and the contract are active again."
            },
        )

    @workflow.update
    async def set_payment_method(self, cmd: SetPaymentMethod) -> ContractView:
        self._check_payment_method(cmd)
        self._payment_method = cmd.payment_method
        for w in self._open_weeks():
            await self._week(w).signal(HourlyWeekWorkflow.payment_method_changed, cmd.payment_method)
        await self._record("contract.payment_method_changed", cmd.actor)
        return self._view

    @set_payment_method.validator
    def _validate_payment_method(self, cmd: SetPaymentMethod) -> None:
        self._check_payment_method(cmd)

    def _check_payment_method(self, cmd: SetPaymentMethod) -> None:
        if cmd.actor.role != Role.CLIENT or cmd.actor.user_id != self._view.client_id:
            raise refuse(Refusal.FORBIDDEN, "only the client sets the contract's payment method")
        if not cmd.payment_method.strip():
            raise refuse(Refusal.INVALID, "a payment method is required")
        if not self._billing():
            raise refuse(Refusal.CONFLICT, "only an active hourly contract is billed to a card")

    def _open_weeks(self) -> list[WeekSummary]:
        return [w for w in self._view.weeks if not w.finished]

    def _week(self, summary: WeekSummary):  # type: ignore[no-untyped-def]
        return workflow.get_external_workflow_handle(ids.week(self._view.id, summary.week))

    async def _close_when_settled(self) -> None:
        v = self._view
        if v.status != ContractStatus.CLOSING or not all(m.settled for m in v.milestones):
            return
        if not all(w.status == WeekStatus.COMPLETED for w in v.weeks):
            return
        v.status = ContractStatus.CLOSED
        v.closed_at = workflow.now()
        v.zero_pay = v.released_total == 0
        self._publish()
        await self._record("contract.closed", self._closing.actor if self._closing else None, {"zero_pay": v.zero_pay})

    # ------------------------------------------------------------------ plumbing

    def _require_party(self, actor: Actor) -> None:
        v = self._view
        party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(actor.role)
        if party != actor.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may do this")

    def _publish(self) -> None:
        v = self._view
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(v.id),
                sa.CLIENT_ID.value_set(v.client_id),
                sa.EXPERT_ID.value_set(v.expert_id),
                sa.ESCROW_STATE.value_set(f"contract:{v.status.value}"),
            ]
        )
        flag = " · zero-pay" if v.zero_pay else ""
        workflow.set_current_details(f"**contract {v.status}**{flag} · {len(v.milestones)} milestones")

    async def _record(
        self, kind: str, actor: Actor | None = None, data: dict | None = None, notify: dict[str, str] | None = None
    ) -> None:
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                contract=self._view,
                version=self._step,
                audit=[steps.audit(self._step, kind, actor, data)],
                notifications=steps.notifications(self._step, kind, notify),
            ),
            kind,
        )

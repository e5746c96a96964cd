"""ContractWorkflow: one contract between a client and an expert.

It agrees milestones (M1, M8) and starts one MilestoneWorkflow child per milestone;
each child owns its own escrow and reports its money back here. Closing (C1) asks every
milestone to release or refund what it still holds; the contract is closed once all of
it has moved, and flagged zero-pay when the expert got nothing (C2). The contract moves
no money itself.
"""
from __future__ import annotations

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
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
        Remainder,
        Role,
        Step,
    )
    from escrow.money import format_cents
    from workflows import search_attributes as sa
    from workflows import steps
    from workflows.milestone import MilestoneWorkflow, initial_view


@workflow.defn
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self._input = input
        self._step = input.step
        self._closing = input.closing
        self._view = ContractView(
            id=input.contract_id,
            client_id=input.client_id,
            expert_id=input.expert_id,
            type=input.type,
            currency=input.currency,
            hourly_rate=input.hourly_rate,
            policy=input.policy.name,
            status=input.status,
            created_at=input.created_at or workflow.now(),
            milestones=list(input.milestones),
        )

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:
        self._publish()
        if input.step == 0:
            await self._record("contract.created")
        # Every milestone reports here until it ends, so the contract outlives them all.
        await workflow.wait_condition(lambda: self._done() or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._done():
            workflow.continue_as_new(
                self._input.model_copy(
                    update={
                        "milestones": self._view.milestones,
                        "created_at": self._view.created_at,
                        "status": self._view.status,
                        "closing": self._closing,
                        "step": self._step,
                    }
                )
            )
        return self._view

    def _done(self) -> bool:
        return self._view.status == ContractStatus.CLOSED and all(m.finished for m in self._view.milestones)

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
            id=f"milestone:{milestone_id}",
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
                await workflow.get_external_workflow_handle(f"milestone:{m.id}").signal(MilestoneWorkflow.close, order)
        await self._close_when_settled()
        return self._view

    @close.validator
    def _validate_close(self, cmd: CloseContract) -> None:
        self._check_close(cmd)

    def _check_close(self, cmd: CloseContract) -> Remainder:
        self._require_party(cmd.actor)
        if self._view.status != ContractStatus.ACTIVE:
            raise refuse(Refusal.CONFLICT, f"contract is already {self._view.status}")
        if self._view.type != ContractType.FIXED:
            raise refuse(Refusal.CONFLICT, "hourly contracts end with their billing weeks")
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

    async def _close_when_settled(self) -> None:
        v = self._view
        if v.status != ContractStatus.CLOSING or not all(m.settled for m in v.milestones):
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

    async def _record(self, kind: str, actor: Actor | None = None, data: dict | None = None) -> None:
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                contract=self._view,
                version=self._step,
                audit=[steps.audit(self._step, kind, actor, data)],
            ),
            kind,
        )

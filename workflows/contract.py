"""ContractWorkflow: one contract between a client and an expert.

It agrees milestones (M1, M8) and starts one MilestoneWorkflow child per milestone;
each child owns its own escrow. The contract keeps no money of its own.
"""
from __future__ import annotations

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        AddMilestone,
        AuditEvent,
        ContractInput,
        ContractStatus,
        ContractType,
        ContractView,
        MilestoneInput,
        MilestoneView,
        Role,
        Step,
    )
    from escrow.money import format_cents
    from workflows import search_attributes as sa
    from workflows.milestone import POST_STEP_OPTIONS, MilestoneWorkflow, initial_view


@workflow.defn
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self._input = input
        self._step = input.step
        self._view = ContractView(
            id=input.contract_id,
            client_id=input.client_id,
            expert_id=input.expert_id,
            type=input.type,
            currency=input.currency,
            hourly_rate=input.hourly_rate,
            policy=input.policy.name,
            status=ContractStatus.ACTIVE,
            created_at=input.created_at or workflow.now(),
            milestone_ids=list(input.milestone_ids),
        )

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(self._view.id),
                sa.CLIENT_ID.value_set(self._view.client_id),
                sa.EXPERT_ID.value_set(self._view.expert_id),
                sa.ESCROW_STATE.value_set(self._view.status.value),
            ]
        )
        if input.step == 0:
            await self._record("contract.created")
        await workflow.wait_condition(
            lambda: self._view.status == ContractStatus.CLOSED or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._view.status != ContractStatus.CLOSED:
            workflow.continue_as_new(
                self._input.model_copy(
                    update={
                        "milestone_ids": self._view.milestone_ids,
                        "created_at": self._view.created_at,
                        "step": self._step,
                    }
                )
            )
        return self._view

    @workflow.query
    def state(self) -> ContractView:
        return self._view

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
        self._view.milestone_ids.append(milestone_id)
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
        await self._record("contract.milestone_added", actor_id=cmd.actor.user_id, data={"milestone_id": milestone_id})
        return initial_view(milestone)

    @add_milestone.validator
    def _validate_add_milestone(self, cmd: AddMilestone) -> None:
        self._check_add_milestone(cmd)

    def _check_add_milestone(self, cmd: AddMilestone) -> None:
        v = self._view
        party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(cmd.actor.role)
        if party != cmd.actor.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may add milestones")
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

    async def _record(self, kind: str, actor_id: str | None = None, data: dict | None = None) -> None:
        self._step += 1
        wf_id = workflow.info().workflow_id
        await workflow.execute_activity(
            "post_step",
            Step(
                at=workflow.now(),
                contract=self._view,
                version=self._step,
                audit=[
                    AuditEvent(
                        id=f"{wf_id}:{self._step}", workflow_id=wf_id, kind=kind, actor_id=actor_id, data=data or {}
                    )
                ],
            ),
            summary=kind,
            **POST_STEP_OPTIONS,
        )


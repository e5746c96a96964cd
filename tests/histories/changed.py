"""Today's workflows with one change to their commands each: a contract whose
`add_milestone` swaps its two commands, a milestone with a timer before its first,
without and behind `workflow.patched`: tests/test_replay.py shows which of them a
running workflow survives. A module of its own, as the workflow sandbox re-imports a
workflow's module, and the test's imports (the worker's) do not belong in there."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from escrow import ids
    from escrow.models import AddMilestone, ContractInput, ContractView, MilestoneInput, MilestoneView
    from escrow.rules import contract as rules
    from escrow.rules.milestone import initial_view
    from workflows.contract import ContractWorkflow
    from workflows.core import checked
    from workflows.milestone import MilestoneWorkflow


@workflow.defn(name="ContractWorkflow")
class StepFirstContract(ContractWorkflow):
    """`add_milestone` writing its step before it starts the milestone: the same two
    commands, in the other order."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:
        return await super().run(input)

    @checked(rules.check_add_milestone)
    async def add_milestone(self, cmd: AddMilestone) -> MilestoneView:
        v, ctx = self.view, self.context()
        milestone = rules.new_milestone(v, cmd, workflow.uuid4().hex, ctx)
        first = initial_view(milestone)
        await self.write(rules.milestone_added(v, cmd, first, ctx))
        await workflow.start_child_workflow(
            MilestoneWorkflow.run,
            milestone,
            id=ids.milestone(milestone.milestone_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return first


@workflow.defn(name="MilestoneWorkflow")
class TimerFirstMilestone(MilestoneWorkflow):
    """A timer before the first command, unguarded."""

    @workflow.run
    async def run(self, input: MilestoneInput) -> MilestoneView:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


@workflow.defn(name="MilestoneWorkflow")
class PatchedTimerFirstMilestone(MilestoneWorkflow):
    """The same timer behind `workflow.patched`, as the README asks."""

    @workflow.run
    async def run(self, input: MilestoneInput) -> MilestoneView:
        if workflow.patched("timer-first"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)

"""The bare Temporal baseline of benchmarks/lifecycle.py: the engine's milestone
lifecycle with the engine taken out. A parent whose update starts a child and runs one
activity (the contract adding a milestone); a child that runs one activity as it starts
and one per update (the milestone's opening step, fund, submit, release) and ends after
the third. No database, no rules, no reporting: what Temporal itself costs for the
same commands. Workflows live in their own module, as the sandbox wants."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STEP = timedelta(seconds=10)


@activity.defn
async def bare_step(name: str) -> str:
    return name


@workflow.defn
class BareChild:
    def __init__(self) -> None:
        self._updates = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.execute_activity(bare_step, "open", start_to_close_timeout=STEP)
        await workflow.wait_condition(lambda: self._updates == 3 and workflow.all_handlers_finished())
        return self._updates

    @workflow.update
    async def step(self, name: str) -> str:
        answer = await workflow.execute_activity(bare_step, name, start_to_close_timeout=STEP)
        self._updates += 1
        return answer


@workflow.defn
class BareParent:
    def __init__(self) -> None:
        self._added = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def add(self, child_id: str) -> str:
        await workflow.start_child_workflow(
            BareChild.run, id=child_id, parent_close_policy=workflow.ParentClosePolicy.ABANDON
        )
        await workflow.execute_activity(bare_step, "add", start_to_close_timeout=STEP)
        self._added += 1
        return child_id

"""The baseline of benchmarks/memory.py: a bare Temporal workflow of a waiting
milestone's shape (a few updates, then a long timer) that writes nothing anywhere."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._status = "new"
        self._amount = 0
        self._due: timedelta | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._status == "released" or self._due is not None)
        if self._due is not None:
            try:
                await workflow.wait_condition(lambda: self._status == "released", timeout=self._due)
            except TimeoutError:
                self._status = "released"
        return self._status

    @workflow.update
    async def fund(self, amount: int) -> str:
        self._status, self._amount = "funded", amount
        return self._status

    @workflow.update
    async def submit(self) -> str:
        self._status, self._due = "submitted", timedelta(days=14)
        return self._status

    @workflow.update
    async def release(self) -> str:
        self._status = "released"
        return self._status

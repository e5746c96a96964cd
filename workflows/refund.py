"""RefundRequestWorkflow: one refund request, from asking to a decision (R1–R4, M10).

It decides and returns; the milestone that started it owns the money and moves it.
The rules are escrow.rules.refund; this module wires them to Temporal.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models import RefundInput, RefundView
    from escrow.rules import refund as rules
    from workflows.core import Deadline, Entity, command


@workflow.defn
class RefundRequestWorkflow(Entity[RefundView]):
    @workflow.init
    def __init__(self, input: RefundInput) -> None:
        if input.requested_at is None:
            input = input.model_copy(update={"requested_at": workflow.now()})
        super().__init__(rules.opened(input), input.policy)

    @workflow.run
    async def run(self, input: RefundInput) -> RefundView:
        await self.live(rules.asked(self.view, self.context()), finished=lambda: self.view.decided_at is not None)
        return self.view

    @workflow.query
    def state(self) -> RefundView:
        return self._view

    approve = command(rules.approve)
    decline = command(rules.decline)

    def deadlines(self) -> list[Deadline]:
        v = self.view
        if v.decided_at is not None or v.deadline_at is None:
            return []
        return [Deadline(v.deadline_at, self.decide(rules.lapse))]

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        return sa.case(self.view, f"refund:{self.view.status.value}", self.view.amount)

    def case(self) -> Case:
        return case_text.refund(self.view)

"""ManualPaymentWorkflow: one manual payment to a contract's expert (P2, P5),
`payment:{id}`. Its opening step moves the money the processor confirmed into the
expert's pending balance under a hold; a deadline settles the hold when it ends, and
the workflow ends. The rules are escrow.rules.payment; this module wires them to
Temporal."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models.payment import ManualPaymentInput, ManualPaymentView, PaymentStatus
    from escrow.rules import payment as rules
    from workflows.core import Deadline, Entity, command


@workflow.defn
class ManualPaymentWorkflow(Entity[ManualPaymentView]):
    @workflow.init
    def __init__(self, input: ManualPaymentInput) -> None:
        info = workflow.info()
        super().__init__(rules.opened(input, workflow.now(), info.workflow_id), input.policy)

    @workflow.run
    async def run(self, input: ManualPaymentInput) -> ManualPaymentView:
        await self.live(
            rules.paid(self.view, self.context()), finished=lambda: self.view.status == PaymentStatus.AVAILABLE
        )
        return self.view

    @workflow.query
    def state(self) -> ManualPaymentView:
        return self._view

    confirm = command(rules.confirm)

    def deadlines(self) -> list[Deadline]:
        if self.view.status != PaymentStatus.HELD:
            return []
        return [Deadline(self.view.available_at, self.decide(rules.settle))]

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        v = self.view
        return [
            *sa.parties(v.contract_id, v.client_id, v.expert_id),
            sa.ESCROW_STATE.value_set(f"payment:{v.status.value}"),
            sa.AMOUNT_CENTS.value_set(v.amount),
        ]

    def case(self) -> Case:
        return case_text.manual_payment(self.view)

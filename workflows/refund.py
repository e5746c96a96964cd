"""RefundRequestWorkflow: one refund request, from asking to a decision (R1–R4, M10).

It decides and returns; the milestone that started it owns the money and moves it.
The rules are escrow.rules.refund; this module wires them to Temporal.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from escrow import search_attributes as sa
    from escrow.models import RefundInput, RefundStatus, RefundView
    from escrow.money import format_cents
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
        await self.write(rules.asked(self.view, self.context()))
        await self.keep_deadlines(finished=lambda: self.view.decided_at is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
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

    def search_attributes(self):  # type: ignore[no-untyped-def]
        v = self.view
        return [
            sa.CONTRACT_ID.value_set(v.contract_id),
            sa.CLIENT_ID.value_set(v.client_id),
            sa.EXPERT_ID.value_set(v.expert_id),
            sa.ESCROW_STATE.value_set(f"refund:{v.status.value}"),
            sa.AMOUNT_CENTS.value_set(v.amount),
            sa.DEADLINE_AT.value_set(v.deadline_at) if v.deadline_at else sa.DEADLINE_AT.value_unset(),
        ]

    def details(self) -> str:
        v = self.view
        waiting = {RefundStatus.PENDING: "the expert", RefundStatus.AWAITING_OPERATOR: "an operator"}.get(v.status)
        details = f"**refund {v.status}** · {format_cents(v.amount, v.currency)}"
        if waiting and v.deadline_at:
            details += (
                f"\n\nWaiting on {waiting} until {v.deadline_at:%Y-%m-%d %H:%M} UTC; then it is {v.deadline_action}d."
            )
        return details

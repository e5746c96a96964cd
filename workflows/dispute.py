"""DisputeWorkflow: one dispute over an escrowed amount, through four stages (D1–D8).

The dispute decides a split of the disputed amount and returns it (DisputeOutcome); the
workflow that owns the escrow (a milestone, an hourly week) moves the disputed money.
The only money the dispute moves itself is the arbitration fee (D4, D6). The rules, the
stages and their deadlines (D7) are escrow.rules.dispute; this module wires them to
Temporal.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models.dispute import DisputeInput, DisputeOutcome, DisputeView
    from escrow.rules import dispute as rules
    from workflows.core import Deadline, Entity, command


@workflow.defn
class DisputeWorkflow(Entity[DisputeView]):
    @workflow.init
    def __init__(self, input: DisputeInput) -> None:
        if input.filed_at is None:
            input = input.model_copy(update={"filed_at": workflow.now()})
        super().__init__(rules.filed(input), input.policy)

    @workflow.run
    async def run(self, input: DisputeInput) -> DisputeOutcome:
        rules.check_input(input)
        self.publish()  # operators find the case at once, not after the first write
        await self.live(rules.filing(self.view, self.context()), finished=lambda: self.view.outcome is not None)
        assert self.view.outcome is not None
        return self.view.outcome

    @workflow.query
    def state(self) -> DisputeView:
        return self._view

    # D2 stage 1
    accept = command(rules.accept)
    respond = command(rules.respond)
    # D3 offers and mediation
    make_offer = command(rules.make_offer)
    accept_offer = command(rules.accept_offer)
    recommend = command(rules.recommend)
    accept_recommendation = command(rules.accept_recommendation)
    reject_recommendation = command(rules.reject_recommendation)
    # D4 fee and evidence, D5 verdict
    pay_fee = command(rules.pay_fee)
    submit_evidence = command(rules.submit_evidence)
    verdict = command(rules.verdict)

    def deadlines(self) -> list[Deadline]:
        v = self.view
        if v.outcome is not None or v.deadline_at is None:
            return []
        return [Deadline(v.deadline_at, self.decide(rules.deadline_passed))]

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        v = self.view
        stage = sa.DISPUTE_STAGE.value_set(v.stage) if v.stage else sa.DISPUTE_STAGE.value_unset()
        return [*sa.case(v, f"dispute:{v.status}", v.amount), stage]

    def case(self) -> Case:
        return case_text.dispute(self.view)

    def details(self) -> str:
        return case_text.dispute_details(self.view)

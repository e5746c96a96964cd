"""ReviewWorkflow: the two reviews of one closed contract (V1, V2), `reviews:{contract_id}`.

Its contract starts it, as a child it abandons, in the step that closes the contract
(C2). It publishes the reviews when both are posted or when the 14 days end, and ends
once no window remains (replies, 28 days after the close, and any edit in progress).
Every command answers the review it acted on, never the other side's unpublished one.
The rules are escrow.rules.review; this module wires them to Temporal.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models.review import (
        ReviewInput,
        ReviewsStatus,
        ReviewsView,
    )
    from escrow.rules import review as rules
    from workflows.core import Deadline, Entity, command


@workflow.defn
class ReviewWorkflow(Entity[ReviewsView]):
    @workflow.init
    def __init__(self, input: ReviewInput) -> None:
        super().__init__(rules.opened(input), input.policy)

    @workflow.run
    async def run(self, input: ReviewInput) -> ReviewsView:
        await self.live(rules.started(self.view, self.context()), lambda: self.view.status is ReviewsStatus.ENDED)
        return self.view

    @workflow.query
    def state(self) -> ReviewsView:
        """Both reviews, published or not: the API shows each caller what it may see."""
        return self._view

    # ------------------------------------------------------------------ V1, V2

    # Each answers the review it acted on, never the other side's unpublished one.
    post = command(rules.post, answer=rules.answered)
    reply = command(rules.reply, answer=rules.answered)
    request_edit = command(rules.request_edit, answer=rules.answered)
    allow_edit = command(rules.allow_edit, answer=rules.answered)
    edit = command(rules.edit, answer=rules.answered)

    # ------------------------------------------------------------------ deadlines

    def deadlines(self) -> list[Deadline]:
        v = self.view
        if v.status is ReviewsStatus.OPEN:
            return [Deadline(v.reviews_close_at, self.decide(rules.close_reviews))]
        if v.status is ReviewsStatus.REPLIES:
            return [Deadline(rules.ends_at(v), self.decide(rules.end))]
        return []

    def _next_deadline(self) -> Any:
        return min((d.at for d in self.deadlines()), default=None)

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        v, at = self.view, self._next_deadline()
        return [
            *sa.parties(v.contract_id, v.client_id, v.expert_id),
            sa.ESCROW_STATE.value_set(f"reviews:{v.status.value}"),
            sa.DEADLINE_AT.value_set(at) if at else sa.DEADLINE_AT.value_unset(),
        ]

    def case(self) -> Case:
        return case_text.reviews(self.view)

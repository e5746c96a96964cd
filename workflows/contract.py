"""ContractWorkflow: one contract between a client and an expert.

A fixed-rate contract agrees milestones (M1, M8) and starts one MilestoneWorkflow child
per milestone; an hourly contract starts one HourlyWeekWorkflow per billing week by
itself, every Monday 00:00 (H1), and is put on hold while a week's charge fails (H7).
Each child owns its own escrow and reports its money back here. Closing (C1) asks every
child to release or refund what it still holds; the contract is closed once all of it
has moved, and flagged zero-pay when the expert got nothing (C2). The contract moves no
money itself. The rules are escrow.rules.contract; this module wires them to Temporal.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from escrow import case_text, ids
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models import (
        AddMilestone,
        CloseContract,
        CloseMilestone,
        ContractInput,
        ContractStatus,
        ContractView,
        MilestoneSummary,
        MilestoneView,
        SetPaymentMethod,
        WeekSummary,
    )
    from escrow.models.contract import Lifecycle
    from escrow.money import format_cents
    from escrow.rules import contract as rules
    from escrow.rules.milestone import initial_view
    from workflows.core import Deadline, Entity, checked
    from workflows.hourly_week import HourlyWeekWorkflow
    from workflows.milestone import MilestoneWorkflow
    from workflows.review import ReviewWorkflow


@workflow.defn
class ContractWorkflow(Entity[ContractView]):
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        super().__init__(rules.opened(input, workflow.now()), input.policy, step=input.step)
        self._input = input
        # Who closed it (C1), for the step that finally closes it (C2).
        self._closing = input.closing
        # The client's card for hourly billing (H2), handed to each new week.
        self._payment_method = input.payment_method

    @workflow.run
    async def run(self, input: ContractInput) -> ContractView:
        # A run continued as new has written its opening step before.
        opening = rules.created(self.view, self.context()) if input.step == 0 else None
        if opening is None:
            self.publish()
        # Every child reports here until it ends, so the contract outlives them all. A
        # suggested continue-as-new ends the loop too (as `wake` it would only spin it).
        await self.live(
            opening, finished=lambda: rules.done(self.view) or workflow.info().is_continue_as_new_suggested()
        )
        if not rules.done(self.view):
            v = self.view
            workflow.continue_as_new(
                self._input.model_copy(
                    update={
                        "milestones": v.milestones,
                        "weeks": v.weeks,
                        "created_at": v.created_at,
                        "status": v.status,
                        **{name: getattr(v, name) for name in Lifecycle.model_fields},
                        "closing": self._closing,
                        "payment_method": self._payment_method,
                        "step": self._step,
                    }
                )
            )
        return self.view

    @workflow.query
    def state(self) -> ContractView:
        return self._view

    # ------------------------------------------------------------------ M1, M8

    @checked(rules.check_add_milestone)
    async def add_milestone(self, cmd: AddMilestone) -> MilestoneView:
        v, ctx = self.view, self.context()
        milestone = rules.new_milestone(v, cmd, workflow.uuid4().hex, ctx)
        first = initial_view(milestone)
        await workflow.start_child_workflow(
            MilestoneWorkflow.run,
            milestone,
            id=ids.milestone(milestone.milestone_id),
            # A milestone's escrow outlives any one run of its contract's workflow.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Milestone '{milestone.title}' {format_cents(cmd.amount, v.currency)} of contract {v.id}",
            search_attributes=self._children_attributes(),
        )
        await self.write(rules.milestone_added(v, cmd, first, ctx))
        return first

    @workflow.signal
    async def milestone_changed(self, summary: MilestoneSummary) -> None:
        async with self._turns.command():
            await self._list_unlisted(summary)
            view = rules.with_milestone(self.view, summary)
            # Contracts started before dormancy (O1–O5) adopt as they did: they replay.
            if not workflow.patched("dormancy"):
                await self._adopt(view)
                return
            # O5: a change of terms or a release returns a dormant contract to active.
            woke = rules.reactivated(view, self.context())
            if woke is not None:
                await self.write(woke)
                return
            await self._adopt(view)
            # O2: the dormancy clock may have moved; the deadline loop reads it again.
            self._changed = self._changed or self._policy.dormant_after is not None

    # ------------------------------------------------------------------ H1, H7

    def deadlines(self) -> list[Deadline]:
        at = rules.next_week_at(self.view, workflow.now())
        out = [] if at is None else [Deadline(at, self._open_week)]
        # O1, O3, O4: contracts started before dormancy keep the deadlines they had.
        if workflow.patched("dormancy"):
            actions = {
                "dormant": self.decide(rules.went_dormant),
                "notify_expert": self.decide(rules.expert_warned),
                "settle": self._settle_dormant,
            }
            out += [Deadline(at, actions[what]) for at, what in rules.dormancy_deadlines(self.view, self._policy)]
        return out

    async def _settle_dormant(self) -> None:
        """O4: the contract moves no money: each milestone settles its own escrow."""
        decision = rules.dormant_settling(self.view, self.context())
        if decision is None:
            return
        await self.write(decision)
        for milestone_id in rules.to_settle(self.view):
            handle = workflow.get_external_workflow_handle(ids.milestone(milestone_id))
            await handle.signal(MilestoneWorkflow.settle_dormant)

    async def _open_week(self) -> None:
        """H1: weeks start themselves, at the Monday 00:00 that begins each one."""
        v, ctx = self.view, self.context()
        decision = rules.week_opened(v, ctx)
        if decision is None:
            return
        week = rules.new_week(v, self._payment_method, ctx)
        assert v.hourly_rate is not None
        await workflow.start_child_workflow(
            HourlyWeekWorkflow.run,
            week,
            id=ids.week(v.id, week.week),
            # A week's escrow outlives any one run of its contract's workflow.
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Billing week {week.week} of hourly contract {v.id} at {format_cents(v.hourly_rate, v.currency)}/h",
            search_attributes=self._children_attributes(),
        )
        await self.write(decision)

    @workflow.signal
    async def week_changed(self, summary: WeekSummary) -> None:
        async with self._turns.command():
            view = rules.with_week(self.view, summary)
            held = rules.hold(view, self.context())
            if held is None:
                await self._adopt(view)
                return
            await self.write(held)
            on_hold = self.view.status == ContractStatus.ON_HOLD
            for w in self._open_weeks():
                await self._week(w).signal(HourlyWeekWorkflow.contract_on_hold, on_hold)

    @checked(rules.check_payment_method)
    async def set_payment_method(self, cmd: SetPaymentMethod) -> ContractView:
        await self.write(rules.payment_method_set(self.view, cmd, self.context()))
        self._payment_method = cmd.payment_method
        for w in self._open_weeks():
            await self._week(w).signal(HourlyWeekWorkflow.payment_method_changed, cmd.payment_method)
        return self.view

    # ------------------------------------------------------------------ C1, C2

    @checked(rules.check_close)
    async def close(self, cmd: CloseContract) -> ContractView:
        ctx = self.context()
        order = CloseMilestone(actor=cmd.actor, remainder=rules.check_close(self.view, cmd, ctx))
        await self.write(rules.closing(self.view, cmd, ctx))
        self._closing = cmd.model_copy(update={"remainder": order.remainder})
        for m in self.view.milestones:
            if not m.finished:
                await workflow.get_external_workflow_handle(ids.milestone(m.id)).signal(MilestoneWorkflow.close, order)
        for w in self._open_weeks():
            # The week bills what was logged and runs its review and hold as usual.
            await self._week(w).signal(HourlyWeekWorkflow.contract_ended, workflow.now())
        await self._adopt(self.view)
        return self.view

    async def _list_unlisted(self, summary: MilestoneSummary) -> None:
        """M6: a milestone funded from a remainder is started by the milestone that held
        it, not added here. Whichever of the two reports first lists it, so the contract
        never closes (C2) while it holds money; one that appears while the contract is
        closing gets the closing order the others got (C1)."""
        unlisted = rules.unlisted(self.view, summary)
        if not unlisted or not workflow.patched("remainder-milestone"):
            return
        self._view = self.view.model_copy(update={"milestones": [*self.view.milestones, *unlisted]})
        if self._closing is None:
            return
        assert self._closing.remainder is not None
        order = CloseMilestone(actor=self._closing.actor, remainder=self._closing.remainder)
        for m in unlisted:
            await workflow.get_external_workflow_handle(ids.milestone(m.id)).signal(MilestoneWorkflow.close, order)

    async def _adopt(self, view: ContractView) -> None:
        """A child's summary changes no money here: adopt it, and close the contract if
        that was the last money to move (C2), opening its reviews (V1)."""
        closed = rules.closed(view, self._closing.actor if self._closing else None, self.context())
        if closed is None:
            self._view = view
            return
        # Contracts closed by an earlier version open none; their histories must replay.
        if workflow.patched("reviews"):
            await self._open_reviews(closed.view)
        await self.write(closed)

    async def _open_reviews(self, v: ContractView) -> None:
        """V1: the reviews, a workflow of their own that outlives the contract's. Started
        before the step that closes the contract, so a closed contract has them."""
        await workflow.start_child_workflow(
            ReviewWorkflow.run,
            rules.reviews(v, self.context()),
            id=ids.reviews(v.id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Reviews of contract {v.id}",
            search_attributes=self._children_attributes(),
        )

    # ------------------------------------------------------------------ plumbing

    def _open_weeks(self) -> list[WeekSummary]:
        return [w for w in self.view.weeks if not w.finished]

    def _week(self, summary: WeekSummary) -> workflow.ExternalWorkflowHandle[Any]:
        return workflow.get_external_workflow_handle(ids.week(self.view.id, summary.week))

    def _children_attributes(self) -> TypedSearchAttributes:
        v = self.view
        return TypedSearchAttributes(sa.parties(v.id, v.client_id, v.expert_id))

    def read_model(self, view: ContractView) -> dict[str, ContractView]:
        return {"contract": view}

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        v = self.view
        return [*sa.parties(v.id, v.client_id, v.expert_id), sa.ESCROW_STATE.value_set(f"contract:{v.status.value}")]

    def case(self) -> Case:
        return case_text.contract(self.view, rules.dormant_at(self.view, self._policy))

"""HourlyWeekWorkflow: one billing week of one hourly contract and the escrow it owns.

Rules H1–H7 and P1; the rules are escrow.rules.hourly, and this module wires them to
Temporal: the week's stages are its deadlines, the card is charged by the `charge`
activity, a disputed hour runs as a DisputeWorkflow child, and each step is reported
to the contract. Every time-based check compares against `workflow.now()`, Temporal's
clock, so it holds under the time-skipping test server and in replays.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models import AwaitClaim, DisputeView
    from escrow.models.hourly import (
        DisputeHours,
        EditTime,
        HourlyWeekInput,
        HourlyWeekView,
        LogTime,
        PaymentStatus,
        TimeEntry,
        WeekSummary,
    )
    from escrow.money import format_cents
    from escrow.payments import ChargeResult
    from escrow.rules import hourly as rules
    from escrow.rules.hourly import WeekContext
    from workflows import steps
    from workflows.core import Deadline, Reporting, checked, command

# A gateway that stays unreachable this long counts as one failed charge (H7).
CHARGE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30))


@workflow.defn
class HourlyWeekWorkflow(Reporting[HourlyWeekView]):
    @workflow.init
    def __init__(self, input: HourlyWeekInput) -> None:
        super().__init__(rules.opened(input), input.policy)
        self._payment_method = input.payment_method
        self._on_hold = False
        self._charges = 0  # the week's charges so far: the next one's key is `{wf}:charge:{n + 1}`

    @workflow.run
    async def run(self, input: HourlyWeekInput) -> HourlyWeekView:
        await self.live(rules.started(self.view, self.context()), finished=lambda: rules.finished(self.view))
        return self.view

    def context(self) -> WeekContext:
        ctx = super().context()
        return WeekContext(**{f.name: getattr(ctx, f.name) for f in fields(ctx)}, on_hold=self._on_hold)

    # ---------------------------------------------------------------- queries, signals

    @workflow.query
    def state(self) -> HourlyWeekView:
        return self._view

    @workflow.update
    async def await_claim(self, cmd: AwaitClaim) -> HourlyWeekView:
        """The week once the claim (an hours dispute) is no longer open: its outcome
        paid, so a read after the command that decided it shows the money."""
        await steps.until_decided(lambda: self._view.claims, cmd.claim_id)
        return self._view

    @await_claim.validator
    def _validate_await_claim(self, cmd: AwaitClaim) -> None:
        steps.claim(self._view.claims, cmd.claim_id)

    @workflow.signal
    def payment_method_changed(self, payment_method: str) -> None:
        """H7: a new card is tried at once."""
        self._payment_method = payment_method
        if self._view.payment_status == PaymentStatus.FAILING:
            self._view = rules.retry_now(self._view, self.context())
            self._changed = True

    @workflow.signal
    def contract_on_hold(self, on_hold: bool) -> None:
        self._on_hold = on_hold

    @workflow.signal
    def contract_ended(self, at: datetime) -> None:
        self._view = self._view.model_copy(update={"contract_ended_at": at})
        self._changed = True

    # ---------------------------------------------------------------- H1, H3 time entries

    @checked(rules.check_log)
    async def log_time(self, cmd: LogTime) -> TimeEntry:
        entry_id = f"{self.view.week}-{workflow.uuid4().hex[:12]}"
        await self.write(rules.log_time(self.view, cmd, self.context(), entry_id))
        return rules.entry(self.view, entry_id)

    @checked(rules.check_edit)
    async def edit_time(self, cmd: EditTime) -> TimeEntry:
        await self.write(rules.edit_time(self.view, cmd, self.context()))
        return rules.entry(self.view, cmd.entry_id)

    delete_time = command(rules.delete_time)

    # ---------------------------------------------------------------- H7 invoice review

    review_invoice = command(rules.review_invoice)

    # ---------------------------------------------------------------- H4, H5 disputes

    @checked(rules.check_dispute)
    async def dispute_hours(self, cmd: DisputeHours) -> DisputeView:
        """Answers the dispute as it is filed, the same command that starts it."""
        dispute_id = workflow.uuid4().hex
        decision, filing = rules.dispute_hours(self.view, cmd, self.context(), dispute_id)
        await self.write(decision)
        summary = f"Dispute over {format_cents(filing.amount, filing.currency)} of hours in week {self.view.week}"
        return await self.start_dispute(filing, summary, rules.dispute_resolved)

    # ---------------------------------------------------------------- the week's stages

    def deadlines(self) -> list[Deadline]:
        actions = {
            "bill": self._bill,
            "finalise": self._finalise,
            "hold": self.decide(rules.security_hold),
            "retry": self._retry,
            "pay": self.decide(rules.pay_expert),
            "settle": self.decide(rules.settle),
            "complete": self.decide(rules.complete),
        }
        return [Deadline(at, actions[what]) for at, what in rules.deadlines(self.view)]

    async def _bill(self) -> None:
        """H2: bill the week, then charge the invoice."""
        decision = rules.bill(self.view, self.context())
        if decision is not None:
            await self.write(decision)
            await self._charge(self.view.invoice_amount)

    async def _finalise(self) -> None:
        """H3: the paid amount meets the final invoice, then the client reviews it."""
        if rules.finalise(self.view, self.context()) is None:
            return
        await self._charge(rules.true_up_charge(self.view))
        await self.write(rules.return_overcharge(self.view, self.context()))
        await self.write(rules.finalise(self.view, self.context()))

    async def _retry(self) -> None:
        """H7: the daily retry of a failing charge."""
        await self._charge(rules.retry_charge(self.view, self.context()))

    async def _charge(self, amount: int) -> None:
        request = rules.charge(self.view, amount, self._charges + 1, self._payment_method, self.context())
        if request is None:
            return
        self._charges += 1
        try:
            result: ChargeResult = await workflow.execute_activity(
                "charge",
                request,
                result_type=ChargeResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CHARGE_RETRY,
                summary=f"charge {format_cents(amount, request.currency)}",
            )
        except ActivityError:
            result = rules.unreachable(request)
        await self.write(rules.charged(self.view, request, result, self.context()))

    # ---------------------------------------------------------------- core hooks

    def read_model(self, view: HourlyWeekView) -> dict:
        return {"week": view}

    # H7: a failing charge puts the contract on hold.
    REPORT = "week_changed"

    def summary(self, finished: bool) -> WeekSummary:
        return rules.summary(self.view, finished)

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        return sa.case(self.view, f"week:{self.view.status.value}", self.view.invoice_amount)

    def case(self) -> Case:
        return case_text.week(self.view)

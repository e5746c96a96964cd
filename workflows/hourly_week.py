"""HourlyWeekWorkflow: one billing week of one hourly contract and the escrow it owns.

Rules H1–H7 and P1. The week's timers sit at the calendar's instants (escrow.calendar):

    Monday 00:00 after the week   bill the client for every logged minute (H2)
    Monday 12:00                  the expert's edits stop; the invoice is final (H3)
    Saturday 00:00                the client's disputes stop (H4); the money enters the
                                  security hold (H6)
    Wednesday 00:00               the money is available to the expert (H6, P1)

Every time-based check compares against `workflow.now()`, Temporal's clock, so it holds
under the time-skipping test server and in replays. A declined charge is retried
daily; while it fails the contract is on hold (H7).
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from escrow import accounts, ids
    from escrow import holds as holds_
    from escrow import search_attributes as sa
    from escrow.calendar import WEEK, BillingWeek
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        AwaitClaim,
        Claim,
        ClaimKind,
        ClaimStatus,
        DisputeInput,
        DisputeOutcome,
        Hold,
        Role,
        Step,
        TransferSpec,
    )
    from escrow.models.hourly import (
        DeleteTime,
        DisputeHours,
        EditTime,
        EntryKind,
        HourlyWeekInput,
        HourlyWeekView,
        LogTime,
        PaymentStatus,
        TimeEntry,
        WeekStatus,
        WeekSummary,
        value_of,
    )
    from escrow.money import format_cents
    from escrow.payments import ChargeOutcome, ChargeRequest, ChargeResult
    from workflows import steps

# A gateway that stays unreachable this long counts as one failed charge (H7).
CHARGE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30))


def when(moment: datetime | None) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M:%S} UTC" if moment else "-"


@workflow.defn
class HourlyWeekWorkflow:
    @workflow.init
    def __init__(self, input: HourlyWeekInput) -> None:
        self._input = input
        self._policy = input.policy
        cal = BillingWeek.of(input.week)
        self._view = HourlyWeekView(
            id=ids.week(input.contract_id, input.week),
            contract_id=input.contract_id,
            client_id=input.client_id,
            expert_id=input.expert_id,
            week=input.week,
            hourly_rate=input.hourly_rate,
            currency=input.currency,
            weekly_limit_minutes=input.weekly_limit_minutes,
            status=WeekStatus.OPEN,
            starts_at=cal.starts_at,
            billed_at=cal.billed_at,
            expert_review_ends_at=cal.expert_review_ends_at,
            client_review_ends_at=cal.client_review_ends_at,
            available_at=cal.available_at,
            deadline_at=cal.billed_at,
            deadline_action="bill_client",
        )
        self._payment_method = input.payment_method
        self._on_hold = False
        self._turns = steps.Turns()
        self._step = 0
        self._charges = 0
        self._changed = False
        self._reported: WeekSummary | None = None
        self._watchers: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, input: HourlyWeekInput) -> HourlyWeekView:
        await self._post(self._view, "week.opened", None)
        self._turns.open()
        while True:
            self._changed = False
            async with self._turns.lock:
                stuck = await steps.fire(self._fire_due)
            if self._changed:
                continue  # one action can make another due (a claim closing frees money)
            if self._finished():
                break
            now = workflow.now()
            due = None if stuck else min((t for t in self._timers() if t > now), default=None)
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=None if due is None else due - now)
            except asyncio.TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._report(finished=True)
        return self._view

    def _finished(self) -> bool:
        v = self._view
        return (
            v.status == WeekStatus.COMPLETED
            and all(h.settled for h in v.holds)
            and not any(c.status == ClaimStatus.OPEN for c in v.claims)
        )

    def _timers(self) -> list[datetime]:
        v = self._view
        times = [h.available_at for h in v.holds if not h.settled]
        if v.deadline_at:
            times.append(v.deadline_at)
        if v.payment_status == PaymentStatus.FAILING and v.next_charge_at:
            times.append(v.next_charge_at)
        return times

    async def _fire_due(self) -> None:
        now = workflow.now()
        v = self._view
        if v.status == WeekStatus.OPEN and now >= v.billed_at:
            await self._advance(WeekStatus.EXPERT_REVIEW, v.expert_review_ends_at, "finalise_invoice", "week.billed")
            await self._charge(self._view.invoice_amount)  # H2
        elif v.status == WeekStatus.EXPERT_REVIEW and now >= v.expert_review_ends_at:
            await self._true_up()  # H3: the invoice followed the edits
            if self._view.invoice_amount == 0 and self._view.charged == 0:
                # Nothing was logged: nothing to review, hold or pay.
                await self._advance(WeekStatus.COMPLETED, None, None, "week.completed")
            else:
                await self._advance(WeekStatus.CLIENT_REVIEW, v.client_review_ends_at, "start_security_hold", "week.client_review")
        elif v.status == WeekStatus.CLIENT_REVIEW and now >= v.client_review_ends_at:
            await self._advance(WeekStatus.HOLD, None, None, "week.security_hold")
        if self._view.payment_status == PaymentStatus.FAILING and self._view.next_charge_at and now >= self._view.next_charge_at:
            await self._charge(self._view.invoice_amount - self._view.charged)  # H7: the daily retry
        v = self._view
        if v.status == WeekStatus.HOLD and v.escrow > v.frozen:
            # H6: what no dispute holds goes to the expert, available on the Wednesday.
            await self._pay(0, v.escrow - v.frozen, "week.held_for_expert")
        due = [h for h in self._view.holds if not h.settled and h.available_at <= now]
        if due:
            await self._settle(due)
        v = self._view
        if v.status == WeekStatus.HOLD and v.escrow == 0 and v.payment_status != PaymentStatus.FAILING and not v.frozen:
            await self._post(v.model_copy(update={"status": WeekStatus.COMPLETED}), "week.completed", None)

    async def _advance(self, status: WeekStatus, deadline: datetime | None, action: str | None, kind: str) -> None:
        view = self._view.model_copy(update={"status": status, "deadline_at": deadline, "deadline_action": action})
        await self._post(view, kind, None)

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
            self._view = self._view.model_copy(update={"next_charge_at": workflow.now()})
            self._changed = True

    @workflow.signal
    def contract_on_hold(self, on_hold: bool) -> None:
        self._on_hold = on_hold

    @workflow.signal
    def contract_ended(self, at: datetime) -> None:
        self._view = self._view.model_copy(update={"contract_ended_at": at})
        self._changed = True

    # ---------------------------------------------------------------- H1, H3 time entries

    @workflow.update
    async def log_time(self, cmd: LogTime) -> TimeEntry:
        async with self._turns.command():
            self._check_log(cmd)
            entry = TimeEntry(
                id=f"{self._view.week}-{workflow.uuid4().hex[:12]}",
                started_at=cmd.started_at,
                minutes=cmd.minutes,
                kind=cmd.kind,
                memo=cmd.memo,
                evidence=cmd.evidence,
            )
            view = self._view.model_copy(update={"entries": [*self._view.entries, entry]})
            await self._post(view, "week.time_logged", cmd.actor, data={"entry_id": entry.id, "minutes": entry.minutes})
            return entry

    @log_time.validator
    def _validate_log(self, cmd: LogTime) -> None:
        self._check_log(cmd)

    def _check_log(self, cmd: LogTime) -> None:
        # Evidence is optional (API.md): tracked time without it stays tracked, covered
        # by billing security (H5), and the week's view says which entries lack it.
        self._require_editable(cmd.actor)
        self._check_span(cmd.started_at, cmd.minutes, ignore=None)

    @workflow.update
    async def edit_time(self, cmd: EditTime) -> TimeEntry:
        async with self._turns.command():
            entry = self._check_edit(cmd)
            edited = entry.model_copy(
                update={
                    "started_at": cmd.started_at or entry.started_at,
                    "minutes": cmd.minutes if cmd.minutes is not None else entry.minutes,
                    "memo": cmd.memo if cmd.memo is not None else entry.memo,
                }
            )
            view = self._view.model_copy(update={"entries": [edited if e.id == entry.id else e for e in self._view.entries]})
            await self._post(view, "week.time_edited", cmd.actor, data={"entry_id": entry.id, "minutes": edited.minutes})
            return edited

    @edit_time.validator
    def _validate_edit(self, cmd: EditTime) -> None:
        self._check_edit(cmd)

    def _check_edit(self, cmd: EditTime) -> TimeEntry:
        self._require_editable(cmd.actor)
        entry = self._entry(cmd.entry_id)
        self._check_span(cmd.started_at or entry.started_at, entry.minutes if cmd.minutes is None else cmd.minutes, ignore=entry.id)
        return entry

    @workflow.update
    async def delete_time(self, cmd: DeleteTime) -> HourlyWeekView:
        async with self._turns.command():
            self._require_editable(cmd.actor)
            entry = self._entry(cmd.entry_id)
            view = self._view.model_copy(update={"entries": [e for e in self._view.entries if e.id != entry.id]})
            await self._post(view, "week.time_deleted", cmd.actor, data={"entry_id": entry.id})
            return self._view

    @delete_time.validator
    def _validate_delete(self, cmd: DeleteTime) -> None:
        self._require_editable(cmd.actor)
        self._entry(cmd.entry_id)

    def _require_editable(self, actor: Actor) -> None:
        v = self._view
        if actor.role != Role.EXPERT or actor.user_id != v.expert_id:
            raise refuse(Refusal.FORBIDDEN, "only the contract's expert logs and edits time")
        if v.contract_ended_at is not None and workflow.now() >= v.contract_ended_at:
            raise refuse(Refusal.CONFLICT, "the contract has ended")
        if self._on_hold:
            raise refuse(Refusal.CONFLICT, "the contract is on hold until the client's payment succeeds (H7)")
        if workflow.now() >= v.expert_review_ends_at:
            raise refuse(
                Refusal.CONFLICT,
                f"week {v.week}'s entries could be changed until {when(v.expert_review_ends_at)} (H3)",
            )

    def _check_span(self, started_at: datetime, minutes: int, ignore: str | None) -> None:
        v = self._view
        if minutes <= 0:
            raise refuse(Refusal.INVALID, "an entry lasts at least one minute")
        if minutes > WEEK // timedelta(minutes=1):
            raise refuse(Refusal.INVALID, "an entry cannot be longer than the week")
        ends_at = started_at + timedelta(minutes=minutes)
        # H1: an entry belongs to the week in which its work started.
        if not v.starts_at <= started_at < v.billed_at:
            raise refuse(
                Refusal.INVALID,
                f"an entry of week {v.week} starts from {when(v.starts_at)} until {when(v.billed_at - timedelta(seconds=1))} (H1)",
            )
        if ends_at > workflow.now():
            raise refuse(Refusal.INVALID, "time cannot be logged in the future")
        if v.contract_ended_at is not None and ends_at > v.contract_ended_at:
            raise refuse(Refusal.CONFLICT, "the contract ended before this time")
        for other in v.entries:
            if other.id != ignore and other.started_at < ends_at and started_at < other.ends_at:
                raise refuse(Refusal.CONFLICT, f"the entry overlaps entry {other.id}")
        limit = v.weekly_limit_minutes
        if limit is not None:
            total = sum(e.minutes for e in v.entries if e.id != ignore) + minutes
            if total > limit:
                raise refuse(Refusal.CONFLICT, f"the contract's weekly limit is {limit // 60} hours; this entry would make {total / 60:.2f}")

    def _entry(self, entry_id: str) -> TimeEntry:
        entry = self._view.entry(entry_id)
        if entry is None:
            raise refuse(Refusal.NOT_FOUND, f"no time entry {entry_id} in week {self._view.week}")
        return entry

    # ---------------------------------------------------------------- H4, H5 disputes

    @workflow.update
    async def dispute_hours(self, cmd: DisputeHours) -> Claim:
        async with self._turns.command():
            entries = self._check_dispute(cmd)
            v = self._view
            amount = min(value_of(sum(e.minutes for e in entries), v.hourly_rate), v.escrow - v.frozen)
            dispute_id = workflow.uuid4().hex
            claim = Claim(id=dispute_id, kind=ClaimKind.DISPUTE, amount=amount, opened_at=workflow.now())
            disputed = {e.id for e in entries}
            view = v.model_copy(
                update={
                    "claims": [*v.claims, claim],
                    "entries": [e.model_copy(update={"disputed": True}) if e.id in disputed else e for e in v.entries],
                }
            )
            await self._post(view, "week.hours_disputed", cmd.actor, data={"dispute_id": dispute_id, "entries": sorted(disputed)})
            handle = await workflow.start_child_workflow(
                "DisputeWorkflow",
                DisputeInput(
                    dispute_id=dispute_id,
                    owner_workflow_id=v.id,
                    contract_id=v.contract_id,
                    client_id=v.client_id,
                    expert_id=v.expert_id,
                    claimant=Role.CLIENT,
                    amount=amount,
                    currency=v.currency,
                    reason=cmd.reason,
                    policy=self._policy,
                ),
                id=ids.dispute(dispute_id),
                result_type=DisputeOutcome,
                static_summary=f"Dispute over {format_cents(amount, v.currency)} of hours in week {v.week}",
            )
            self._watchers.append(steps.watch(handle, self._turns.lock, lambda outcome: self._on_dispute_resolved(dispute_id, outcome)))
            return claim

    @dispute_hours.validator
    def _validate_dispute(self, cmd: DisputeHours) -> None:
        self._check_dispute(cmd)

    def _check_dispute(self, cmd: DisputeHours) -> list[TimeEntry]:
        v = self._view
        if cmd.actor.role != Role.CLIENT or cmd.actor.user_id != v.client_id:
            raise refuse(Refusal.FORBIDDEN, "only the contract's client disputes hours (H4)")
        now = workflow.now()
        if not (v.expert_review_ends_at <= now < v.client_review_ends_at):
            raise refuse(
                Refusal.CONFLICT,
                f"week {v.week}'s hours can be disputed from {when(v.expert_review_ends_at)} "
                f"until {when(v.client_review_ends_at - timedelta(seconds=1))} (H4)",
            )
        if not cmd.reason.strip():
            raise refuse(Refusal.INVALID, "a dispute needs a reason")
        if not cmd.entry_ids or len(set(cmd.entry_ids)) != len(cmd.entry_ids):
            raise refuse(Refusal.INVALID, "name each disputed entry once")
        entries = [self._entry(i) for i in cmd.entry_ids]
        for entry in entries:
            if entry.kind != EntryKind.TRACKED:
                raise refuse(Refusal.CONFLICT, f"entry {entry.id} is manual time, which billing security does not cover (H5)")
            if entry.disputed:
                raise refuse(Refusal.CONFLICT, f"entry {entry.id} is already disputed")
        if v.payment_status != PaymentStatus.PAID or v.escrow - v.frozen <= 0:
            raise refuse(Refusal.CONFLICT, "this week's invoice is not paid into escrow; there is nothing to dispute")
        return entries

    async def _on_dispute_resolved(self, dispute_id: str, outcome: DisputeOutcome) -> None:
        # H5: a successful dispute reimburses the client for the failing hours.
        await self._pay(
            outcome.amount_to_client,
            outcome.amount_to_expert,
            "week.dispute_resolved",
            settles=(dispute_id, outcome.amount_to_client),
        )

    # ---------------------------------------------------------------- H2, H7 charging

    async def _charge(self, amount: int) -> None:
        v = self._view
        if amount <= 0:
            return
        self._charges += 1
        key = f"{v.id}:charge:{self._charges}"
        try:
            result: ChargeResult = await workflow.execute_activity(
                "charge",
                ChargeRequest(
                    key=key, customer_id=v.client_id, payment_method=self._payment_method, amount=amount, currency=v.currency
                ),
                result_type=ChargeResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CHARGE_RETRY,
                summary=f"charge {format_cents(amount, v.currency)}",
            )
        except ActivityError:
            result = ChargeResult(outcome=ChargeOutcome.DECLINED, reference=key, message="payment provider unreachable")
        if result.outcome == ChargeOutcome.SUCCEEDED:
            await self._charged(amount, key)
        else:
            await self._charge_failed(amount, result.message)

    async def _charged(self, amount: int, key: str) -> None:
        v = self._view
        view = v.model_copy(
            update={
                "charged": v.charged + amount,
                "escrow": v.escrow + amount,
                "payment_status": PaymentStatus.PAID,
                "next_charge_at": None,
                "invoice_review": False,
            }
        )
        transfer = TransferSpec(
            id=key,
            debit=accounts.WORLD_CARD,
            credit=accounts.week_escrow(v.contract_id, v.week),
            amount=amount,
            currency=v.currency,
            kind="hourly_charge",
        )
        notify = {v.client_id: f"You were charged {format_cents(amount, v.currency)} for week {v.week}."}
        kind = "week.charge_recovered" if v.payment_status == PaymentStatus.FAILING else "week.charged"
        await self._post(view, kind, None, transfers=[transfer], notify=notify)

    async def _charge_failed(self, amount: int, message: str) -> None:
        v = self._view
        failures = v.failed_charges + 1
        review = failures >= self._policy.failed_charges_before_review
        retry_at = workflow.now() + self._policy.charge_retry_interval
        view = v.model_copy(
            update={
                "payment_status": PaymentStatus.FAILING,
                "failed_charges": failures,
                "next_charge_at": retry_at,
                "invoice_review": review,
            }
        )
        money = format_cents(amount, v.currency)
        notify = {
            v.client_id: f"Charging {money} for week {v.week} failed ({message}). Your account is suspended and the "
            f"contract on hold until it is paid; we try again on {when(retry_at)}.",
            v.expert_id: f"The client's payment for week {v.week} failed; the contract is on hold.",
        }
        if review and not v.invoice_review:
            notify["operators"] = f"Invoice review: week {v.week} of contract {v.contract_id} failed {failures} charges (H7)."
        await self._post(view, "week.charge_failed", None, data={"amount": amount, "message": message}, notify=notify)

    async def _true_up(self) -> None:
        """H3: at Monday 12:00 the paid amount meets the final invoice."""
        v = self._view
        if v.payment_status == PaymentStatus.FAILING:
            return  # the next retry charges the final amount
        difference = v.invoice_amount - v.charged
        if difference > 0:
            await self._charge(difference)
        elif difference < 0:
            await self._pay(-difference, 0, "week.overcharge_returned", counts_as_refund=False)

    # ---------------------------------------------------------------- money

    async def _pay(
        self,
        to_client: int,
        to_expert: int,
        kind: str,
        counts_as_refund: bool = True,
        settles: tuple[str, int] | None = None,
    ) -> None:
        """Move money out of the week's escrow; `settles` names the dispute this pays
        and what it gave the client."""
        now = workflow.now()
        v = self._view
        claims = [
            c.model_copy(update={"status": ClaimStatus.SETTLED, "closed_at": now, "amount_to_client": settles[1]})
            if settles and c.id == settles[0]
            else c
            for c in v.claims
        ]
        escrow_account = accounts.week_escrow(v.contract_id, v.week)
        transfers: list[TransferSpec] = []
        holds = list(v.holds)
        n = self._step + 1
        if to_client:
            transfers.append(
                TransferSpec(
                    id=f"{v.id}:refund:{n}",
                    debit=escrow_account,
                    credit=accounts.client_balance(v.client_id),
                    amount=to_client,
                    currency=v.currency,
                    kind="refund",
                )
            )
        if to_expert:
            available_at = max(v.available_at, now)
            release, held = holds_.hold(
                f"{v.id}:release:{n}", escrow_account, v.expert_id, to_expert, v.currency, available_at
            )
            transfers.append(release)
            holds.append(held)
        view = v.model_copy(
            update={
                "escrow": v.escrow - to_client - to_expert,
                "charged": v.charged if counts_as_refund else v.charged - to_client,
                "refunded": v.refunded + (to_client if counts_as_refund else 0),
                "released": v.released + to_expert,
                "holds": holds,
                "claims": claims,
            }
        )
        await self._post(view, kind, None, transfers=transfers, data={"to_client": to_client, "to_expert": to_expert})

    async def _settle(self, due: list[Hold]) -> None:
        v = self._view
        transfers, holds = holds_.settle(v.holds, due, v.expert_id, v.currency)
        notify = {v.expert_id: f"{format_cents(sum(h.amount for h in due), v.currency)} of week {v.week} is available."}
        await self._post(v.model_copy(update={"holds": holds}), "week.funds_available", None, transfers=transfers, notify=notify)

    # ---------------------------------------------------------------- plumbing

    async def _post(
        self,
        view: HourlyWeekView,
        kind: str,
        actor: Actor | None,
        *,
        transfers: list[TransferSpec] | None = None,
        data: dict | None = None,
        notify: dict[str, str] | None = None,
    ) -> None:
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                transfers=transfers or [],
                week=view,
                version=self._step,
                audit=[steps.audit(self._step, kind, actor, data)],
                notifications=steps.notifications(self._step, kind, notify),
            ),
            kind,
        )
        self._view = view
        self._changed = True
        self._publish()
        await self._report()

    async def _report(self, finished: bool = False) -> None:
        v = self._view
        summary = WeekSummary(
            week=v.week,
            status=v.status,
            escrow=v.escrow,
            released=v.released,
            payment_status=v.payment_status,
            finished=finished,
        )
        if summary == self._reported:
            return
        self._reported = summary
        await steps.tell(ids.contract(v.contract_id), "week_changed", summary)

    def _publish(self) -> None:
        v = self._view
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(v.contract_id),
                sa.CLIENT_ID.value_set(v.client_id),
                sa.EXPERT_ID.value_set(v.expert_id),
                sa.ESCROW_STATE.value_set(f"week:{v.status.value}"),
                sa.AMOUNT_CENTS.value_set(v.invoice_amount),
                sa.DEADLINE_AT.value_set(v.deadline_at) if v.deadline_at else sa.DEADLINE_AT.value_unset(),
            ]
        )
        details = (
            f"**week {v.week} {v.status}** · {v.minutes / 60:.2f} h · invoice {format_cents(v.invoice_amount, v.currency)}"
            f" · escrow {format_cents(v.escrow, v.currency)} · payment {v.payment_status}"
        )
        if v.deadline_at:
            details += f"\n\nNext: {v.deadline_action} at {when(v.deadline_at)}"
        if v.payment_status == PaymentStatus.FAILING:
            details += f"\n\nCharge failed {v.failed_charges}×; next try {when(v.next_charge_at)}"
            if v.invoice_review:
                details += " · **operator invoice review**"
        workflow.set_current_details(details)

"""MilestoneWorkflow: one fixed-rate milestone and the escrow account it owns.

Rules M1–M7, M9 and L5 live here. This workflow is the only code that moves money out
of `escrow:milestone:{id}`: every command that could move it is an Update, handled one
at a time under a lock, so a release racing the auto-release cannot pay twice.
Deadlines are timers: the review window's auto-release (M4), Elance's overdue mark and
reminders (M5), and the end of each release's security hold (M9).
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from escrow import accounts
    from escrow.errors import Refusal, refuse
    from escrow.models import (
        Actor,
        AuditEvent,
        DeadlineAction,
        Fund,
        Hold,
        Invoice,
        InvoiceKind,
        MilestoneInput,
        MilestoneStatus,
        MilestoneView,
        Notification,
        PartyCommand,
        Release,
        RequestRevision,
        Role,
        Step,
        Submit,
        TransferSpec,
    )
    from escrow.money import format_cents
    from workflows import search_attributes as sa

POST_STEP_OPTIONS = dict(
    start_to_close_timeout=timedelta(seconds=30),
    # A database outage must not lose a step: retry until it is back.
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)

RELEASABLE = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, MilestoneStatus.PARTIALLY_RELEASED)


def initial_view(input: MilestoneInput) -> MilestoneView:
    return MilestoneView(
        id=input.milestone_id,
        contract_id=input.contract_id,
        client_id=input.client_id,
        expert_id=input.expert_id,
        title=input.title,
        description=input.description,
        due_date=input.due_date,
        currency=input.currency,
        policy=input.policy.name,
        proposed_by=input.proposed_by,
        # M1: a client's milestone is agreed; an expert's is a proposal (M8).
        status=MilestoneStatus.PROPOSED if input.proposed_by == Role.EXPERT else MilestoneStatus.AGREED,
        amount=input.amount,
    )


@workflow.defn
class MilestoneWorkflow:
    @workflow.init
    def __init__(self, input: MilestoneInput) -> None:
        self._input = input
        self._policy = input.policy
        self._view = initial_view(input)
        self._lock = asyncio.Lock()
        self._step = 0
        self._changed = False
        # M5: which reminders of the current review window went out.
        self._reminded: set[timedelta] = set()

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, input: MilestoneInput) -> MilestoneView:
        await self._post(self._view, "milestone.created", actor=None)
        while not self._finished():
            due = self._next_due()
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed,
                    timeout=None if due is None else max(due - workflow.now(), timedelta(0)),
                )
            except asyncio.TimeoutError:
                pass
            async with self._lock:
                await self._fire_due()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    def _finished(self) -> bool:
        v = self._view
        if v.status == MilestoneStatus.DECLINED:
            return True
        return v.status == MilestoneStatus.COMPLETED and all(h.settled for h in v.holds)

    def _next_due(self) -> datetime | None:
        return min(self._timers(), default=None)

    def _timers(self) -> list[datetime]:
        v = self._view
        times = [h.available_at for h in v.holds if not h.settled]
        if v.status == MilestoneStatus.SUBMITTED and v.submitted_at and v.deadline_at:
            times.append(v.deadline_at)
            if self._policy.overdue_after is not None and not v.overdue:
                times.append(v.submitted_at + self._policy.overdue_after)
            times += [v.deadline_at - r for r in self._policy.reminders_before_deadline if r not in self._reminded]
        return times

    async def _fire_due(self) -> None:
        now = workflow.now()
        v = self._view
        if v.status == MilestoneStatus.SUBMITTED and v.deadline_at and v.submitted_at:
            if now >= v.deadline_at:
                # M4: silence by the deadline completes the milestone.
                await self._release(v.escrow, actor=None, reason="milestone.auto_released")
            else:
                await self._mark_overdue_and_remind(now)
        due = [h for h in self._view.holds if not h.settled and h.available_at <= now]
        if due:
            await self._settle(due)

    # ---------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> MilestoneView:
        return self._view

    # ---------------------------------------------------------------- M8 agreement

    @workflow.update
    async def accept(self, cmd: PartyCommand) -> MilestoneView:
        async with self._lock:
            self._check_answer_proposal(cmd)
            view = self._view.model_copy(update={"status": MilestoneStatus.AGREED})
            await self._post(view, "milestone.accepted", cmd.actor)
            return self._view

    @accept.validator
    def _validate_accept(self, cmd: PartyCommand) -> None:
        self._check_answer_proposal(cmd)

    @workflow.update
    async def decline(self, cmd: PartyCommand) -> MilestoneView:
        async with self._lock:
            self._check_answer_proposal(cmd)
            view = self._view.model_copy(update={"status": MilestoneStatus.DECLINED})
            await self._post(view, "milestone.declined", cmd.actor)
            return self._view

    @decline.validator
    def _validate_decline(self, cmd: PartyCommand) -> None:
        self._check_answer_proposal(cmd)

    def _check_answer_proposal(self, cmd: PartyCommand) -> None:
        proposer = self._view.proposed_by
        self._require_party(cmd.actor, Role.CLIENT if proposer == Role.EXPERT else Role.EXPERT)
        if self._view.status != MilestoneStatus.PROPOSED:
            raise refuse(Refusal.CONFLICT, f"milestone is {self._view.status}, not a proposal")

    # ---------------------------------------------------------------- M2 funding

    @workflow.update
    async def fund(self, cmd: Fund) -> MilestoneView:
        async with self._lock:
            self._check_fund(cmd)
            if cmd.card_authenticated:
                await self._credit_escrow(cmd.actor)
            else:
                view = self._view.model_copy(update={"status": MilestoneStatus.FUNDING_PENDING})
                await self._post(view, "milestone.funding_pending", cmd.actor)
            return self._view

    @fund.validator
    def _validate_fund(self, cmd: Fund) -> None:
        self._check_fund(cmd)

    def _check_fund(self, cmd: Fund) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        if self._view.status != MilestoneStatus.AGREED:
            raise refuse(Refusal.CONFLICT, f"only an agreed, unfunded milestone can be funded; it is {self._view.status}")

    @workflow.update
    async def authenticate_funding(self, cmd: PartyCommand) -> MilestoneView:
        async with self._lock:
            self._check_authenticate(cmd)
            await self._credit_escrow(cmd.actor)
            return self._view

    @authenticate_funding.validator
    def _validate_authenticate(self, cmd: PartyCommand) -> None:
        self._check_authenticate(cmd)

    def _check_authenticate(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        if self._view.status != MilestoneStatus.FUNDING_PENDING:
            raise refuse(Refusal.CONFLICT, f"no funding is waiting for card authentication; milestone is {self._view.status}")

    async def _credit_escrow(self, actor: Actor) -> None:
        v = self._view
        transfer = TransferSpec(
            id=f"{self._wf_id()}:fund",
            debit=accounts.WORLD_CARD,
            credit=accounts.milestone_escrow(v.id),
            amount=v.amount,
            currency=v.currency,
            kind="fund",
        )
        view = v.model_copy(
            update={"status": MilestoneStatus.IN_PROGRESS, "escrow": v.escrow + v.amount, "funded": v.funded + v.amount}
        )
        await self._post(view, "milestone.funded", actor, transfers=[transfer])

    # ---------------------------------------------------------------- M3 submission

    @workflow.update
    async def submit(self, cmd: Submit) -> MilestoneView:
        async with self._lock:
            self._check_submit(cmd)
            now = workflow.now()
            v = self._view
            deadline = now + self._policy.review_window
            self._reminded = set()
            invoice = Invoice(
                id=f"{self._wf_id()}:invoice:{self._step + 1}",
                milestone_id=v.id,
                kind=InvoiceKind.PRO_FORMA,
                amount=v.escrow,
                currency=v.currency,
                issued_at=now,
            )
            view = v.model_copy(
                update={
                    "status": MilestoneStatus.SUBMITTED,
                    "submitted_at": now,
                    "deadline_at": deadline,
                    "deadline_action": DeadlineAction.AUTO_RELEASE,
                    "overdue": False,
                    "invoices": [*v.invoices, invoice],
                }
            )
            await self._post(
                view,
                "milestone.submitted",
                cmd.actor,
                data={"message": cmd.message},
                notify={
                    v.client_id: f"'{v.title}' was submitted for review; it releases "
                    f"{format_cents(v.escrow, v.currency)} automatically on {deadline:%Y-%m-%d %H:%M} UTC "
                    "unless you release, ask for revisions, a refund or dispute."
                },
                invoices=[invoice],
            )
            return self._view

    @submit.validator
    def _validate_submit(self, cmd: Submit) -> None:
        self._check_submit(cmd)

    def _check_submit(self, cmd: Submit) -> None:
        self._require_party(cmd.actor, Role.EXPERT)
        status = self._view.status
        if status != MilestoneStatus.IN_PROGRESS:
            reason = "it is not funded yet" if status in (MilestoneStatus.AGREED, MilestoneStatus.FUNDING_PENDING, MilestoneStatus.PROPOSED) else f"it is {status}"
            raise refuse(Refusal.CONFLICT, f"cannot submit work for this milestone: {reason}")

    @workflow.update
    async def void_submission(self, cmd: PartyCommand) -> MilestoneView:
        async with self._lock:
            self._check_void(cmd)
            await self._post(self._reopened(), "milestone.submission_voided", cmd.actor)
            return self._view

    @void_submission.validator
    def _validate_void(self, cmd: PartyCommand) -> None:
        self._check_void(cmd)

    def _check_void(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor, Role.EXPERT)
        self._require_submitted()

    # ---------------------------------------------------------------- M7 revisions

    @workflow.update
    async def request_revision(self, cmd: RequestRevision) -> MilestoneView:
        async with self._lock:
            self._check_revision(cmd)
            view = self._reopened()
            view.revisions += 1
            await self._post(
                view,
                "milestone.revision_requested",
                cmd.actor,
                data={"message": cmd.message},
                notify={view.expert_id: f"The client asked for revisions of '{view.title}': {cmd.message}"},
            )
            return self._view

    @request_revision.validator
    def _validate_revision(self, cmd: RequestRevision) -> None:
        self._check_revision(cmd)

    def _check_revision(self, cmd: RequestRevision) -> None:
        self._require_party(cmd.actor, Role.CLIENT)
        if not cmd.message.strip():
            raise refuse(Refusal.INVALID, "a revision request needs a message")
        self._require_submitted()

    def _reopened(self) -> MilestoneView:
        return self._view.model_copy(
            update={
                "status": MilestoneStatus.IN_PROGRESS,
                "submitted_at": None,
                "deadline_at": None,
                "deadline_action": None,
                "overdue": False,
            },
            deep=True,
        )

    # ---------------------------------------------------------------- M4, M6 release

    @workflow.update
    async def release(self, cmd: Release) -> MilestoneView:
        async with self._lock:
            amount = self._check_release(cmd)
            await self._release(amount, cmd.actor, reason="milestone.released")
            return self._view

    @release.validator
    def _validate_release(self, cmd: Release) -> None:
        self._check_release(cmd)

    def _check_release(self, cmd: Release) -> int:
        self._require_party(cmd.actor, Role.CLIENT)
        v = self._view
        if v.status == MilestoneStatus.FUNDING_PENDING:
            raise refuse(Refusal.CONFLICT, "the funding's card is not authenticated yet; nothing can be released (M2)")
        if v.status not in RELEASABLE:
            raise refuse(Refusal.CONFLICT, f"nothing to release: milestone is {v.status}")
        amount = v.escrow if cmd.amount is None else cmd.amount
        if amount <= 0:
            raise refuse(Refusal.INVALID, "release amount must be positive")
        if amount > v.escrow:
            raise refuse(
                Refusal.CONFLICT,
                f"cannot release {format_cents(amount, v.currency)}: escrow holds {format_cents(v.escrow, v.currency)}",
            )
        return amount

    async def _release(self, amount: int, actor: Actor | None, reason: str) -> None:
        """Move `amount` from escrow into the expert's pending balance under the M9 hold."""
        now = workflow.now()
        v = self._view
        n = sum(1 for i in v.invoices if i.kind == InvoiceKind.FINAL) + 1
        available_at = now + self._policy.fixed_release_hold
        transfer = TransferSpec(
            id=f"{self._wf_id()}:release:{n}",
            debit=accounts.milestone_escrow(v.id),
            credit=accounts.expert_pending(v.expert_id),
            amount=amount,
            currency=v.currency,
            kind="release",
            available_at=available_at,
        )
        invoice = Invoice(
            id=f"{self._wf_id()}:invoice:final:{n}",
            milestone_id=v.id,
            kind=InvoiceKind.FINAL,
            amount=amount,
            currency=v.currency,
            issued_at=now,
            clears_at=available_at,
        )
        escrow = v.escrow - amount
        view = v.model_copy(
            update={
                "status": MilestoneStatus.COMPLETED if escrow == 0 else MilestoneStatus.PARTIALLY_RELEASED,
                "escrow": escrow,
                "released": v.released + amount,
                "deadline_at": None,
                "deadline_action": None,
                "holds": [*v.holds, Hold(transfer_id=transfer.id, amount=amount, available_at=available_at)],
                "invoices": [*v.invoices, invoice],
            }
        )
        money = format_cents(amount, v.currency)
        await self._post(
            view,
            reason,
            actor,
            transfers=[transfer],
            data={"amount": amount},
            notify={
                v.expert_id: f"{money} for '{v.title}' was released to you; available on {available_at:%Y-%m-%d %H:%M} UTC.",
                v.client_id: f"{money} for '{v.title}' was released to the expert.",
            },
            invoices=[invoice],
        )

    # ---------------------------------------------------------------- M5, M9 timers

    async def _mark_overdue_and_remind(self, now: datetime) -> None:
        v = self._view
        assert v.submitted_at and v.deadline_at
        notify: dict[str, str] = {}
        view = v
        if self._policy.overdue_after is not None and not v.overdue and now >= v.submitted_at + self._policy.overdue_after:
            view = v.model_copy(update={"overdue": True})
            text = f"The release request for '{v.title}' is overdue; it auto-releases on {v.deadline_at:%Y-%m-%d %H:%M} UTC."
            notify = {v.client_id: text, v.expert_id: text}
        for before in self._policy.reminders_before_deadline:
            if before not in self._reminded and now >= v.deadline_at - before:
                self._reminded.add(before)
                text = f"Reminder: '{v.title}' auto-releases on {v.deadline_at:%Y-%m-%d %H:%M} UTC."
                notify = {v.client_id: text, v.expert_id: text}
        if notify:
            await self._post(view, "milestone.overdue" if view.overdue != v.overdue else "milestone.reminder", None, notify=notify)

    async def _settle(self, due: list[Hold]) -> None:
        v = self._view
        transfers = [
            TransferSpec(
                id=f"{h.transfer_id}:settle",
                debit=accounts.expert_pending(v.expert_id),
                credit=accounts.expert_available(v.expert_id),
                amount=h.amount,
                currency=v.currency,
                kind="hold_release",
                settles=h.transfer_id,
            )
            for h in due
        ]
        settled = {h.transfer_id for h in due}
        holds = [h.model_copy(update={"settled": True}) if h.transfer_id in settled else h for h in v.holds]
        await self._post(
            v.model_copy(update={"holds": holds}),
            "milestone.hold_released",
            None,
            transfers=transfers,
            data={"amount": sum(h.amount for h in due)},
        )

    # ---------------------------------------------------------------- plumbing

    def _require_party(self, actor: Actor, role: Role) -> None:
        v = self._view
        party = {Role.CLIENT: v.client_id, Role.EXPERT: v.expert_id}.get(actor.role)
        if party != actor.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the parties of this contract may act on its milestones")
        if actor.role != role:
            raise refuse(Refusal.FORBIDDEN, f"only the {role} may do this")

    def _require_submitted(self) -> None:
        if self._view.status != MilestoneStatus.SUBMITTED:
            raise refuse(Refusal.CONFLICT, f"no release request is open; milestone is {self._view.status}")

    def _wf_id(self) -> str:
        return workflow.info().workflow_id

    async def _post(
        self,
        view: MilestoneView,
        kind: str,
        actor: Actor | None,
        *,
        transfers: list[TransferSpec] | None = None,
        data: dict | None = None,
        notify: dict[str, str] | None = None,
        invoices: list[Invoice] | None = None,
    ) -> None:
        """Write one step (money, read model, audit, outbox) and only then adopt the new
        state, so the workflow never shows money the ledger has not moved."""
        self._step += 1
        step_id = f"{self._wf_id()}:{self._step}"
        await workflow.execute_activity(
            "post_step",
            Step(
                at=workflow.now(),
                transfers=transfers or [],
                milestone=view,
                version=self._step,
                invoices=invoices or [],
                audit=[
                    AuditEvent(
                        id=step_id,
                        workflow_id=self._wf_id(),
                        kind=kind,
                        actor_id=actor.user_id if actor else None,
                        data=data or {},
                    )
                ],
                notifications=[
                    Notification(id=f"{step_id}:{user}", user_id=user, kind=kind, message=text)
                    for user, text in (notify or {}).items()
                ],
            ),
            summary=kind,
            **POST_STEP_OPTIONS,
        )
        self._view = view
        self._changed = True
        self._publish()

    def _publish(self) -> None:
        """Search attributes and current details for operators in the Web UI."""
        v = self._view
        workflow.upsert_search_attributes(
            [
                sa.CONTRACT_ID.value_set(v.contract_id),
                sa.CLIENT_ID.value_set(v.client_id),
                sa.EXPERT_ID.value_set(v.expert_id),
                sa.ESCROW_STATE.value_set(v.status.value),
                sa.AMOUNT_CENTS.value_set(v.amount),
                sa.DEADLINE_AT.value_set(v.deadline_at) if v.deadline_at else sa.DEADLINE_AT.value_unset(),
            ]
        )
        details = f"**{v.status}** · escrow {format_cents(v.escrow, v.currency)} · released {format_cents(v.released, v.currency)}"
        if v.deadline_at:
            details += f"\n\nAuto-releases {format_cents(v.escrow, v.currency)} to the expert at {v.deadline_at:%Y-%m-%d %H:%M} UTC unless the client acts."
        pending = [h for h in v.holds if not h.settled]
        if pending:
            details += "\n\nOn hold: " + ", ".join(
                f"{format_cents(h.amount, v.currency)} until {h.available_at:%Y-%m-%d %H:%M}" for h in pending
            )
        workflow.set_current_details(details)

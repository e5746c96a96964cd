"""DisputeWorkflow: one dispute over an escrowed amount, through four stages (D1–D8).

The dispute decides a split of the disputed amount and returns it (DisputeOutcome); the
workflow that owns the escrow (a milestone, an hourly week) moves the disputed money.
The only money the dispute moves itself is the arbitration fee (D4, D6): paid from the
party's card into `platform:arbitration`, then refunded or kept when the case ends.

Every stage that waits on someone has a deadline (D7), held in the view as
`deadline_at` / `deadline_action` and enforced by the run loop's timer:

    1 FILED            the respondent accepts or responds    silence: claimant wins (D2)
    2 NEGOTIATION      offers, mediation, someone pays fee   silence: the claim lapses,
                                                             respondent wins (D3, D4)
    3 ARBITRATION_FEE  the other side pays the fee too       silence: the payer wins (D4)
    4 ARBITRATION      an operator's verdict (D5)            overdue: operators reminded

Commands are Updates whose validators refuse without writing anything. Handlers run one
at a time (`steps.Turns`) and re-check, because the state may have moved (a timer, another
command) between validation and the handler's turn. A party's deadline is checked
against the workflow's clock, not its status: a command that arrives after the deadline
is refused even when the timer's own step has not been written yet.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from escrow import accounts
    from escrow import search_attributes as sa
    from escrow.errors import Refusal, refuse
    from escrow.models import Actor, PartyCommand, Role, Step, TransferSpec
    from escrow.models.dispute import (
        STAGE,
        AcceptOffer,
        DisputeDeadlineAction,
        DisputeInput,
        DisputeOutcome,
        DisputeStatus,
        DisputeView,
        Evidence,
        FeePayment,
        MakeOffer,
        Offer,
        Recommend,
        Recommendation,
        Resolution,
        Respond,
        SubmitEvidence,
        Verdict,
    )
    from escrow.money import format_cents
    from escrow.policy import FeePolicy, Policy
    from escrow.rules.dispute import (
        OPERATORS,
        PARTIES,
        SETTLING,
        fees_refunded,
        filed,
        other,
        stage_fields,
        when,
        winner_of,
    )
    from workflows import steps

@workflow.defn
class DisputeWorkflow:
    @workflow.init
    def __init__(self, input: DisputeInput) -> None:
        self._input = input
        self._policy = input.policy
        if input.filed_at is None:
            input = input.model_copy(update={"filed_at": workflow.now()})
        self._view = filed(input)
        self._turns = steps.Turns()
        self._step = 0
        self._changed = False

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, input: DisputeInput) -> DisputeOutcome:
        if input.amount <= 0 or input.claimant not in PARTIES:
            raise refuse(Refusal.INVALID, "a dispute names a positive amount and a client or expert claimant")
        self._publish()  # operators find the case at once, not after the first write
        await self._file()
        self._turns.open()
        stuck = False
        while self._view.outcome is None:
            deadline = self._view.deadline_at
            assert deadline is not None  # every open stage has one (D7)
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed, timeout=None if stuck else max(deadline - workflow.now(), timedelta(0))
                )
            except asyncio.TimeoutError:
                pass
            async with self._turns.lock:
                stuck = await steps.fire(self._fire_due)
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._view.outcome is not None
        return self._view.outcome

    async def _file(self) -> None:
        v = self._view
        await self._post(
            v,
            "dispute.filed",
            self._party(v.claimant),
            data={"amount": v.amount, "reason": v.reason, "claimant": v.claimant.value},
            notify={
                self._user(v.respondent): f"The {v.claimant} disputes {self._money(v.amount)}: {v.reason}. "
                f"Accept the claim or respond by {when(v.deadline_at)}; without an answer the "
                f"{v.claimant} gets the whole amount.",
                self._user(v.claimant): f"Your dispute over {self._money(v.amount)} was filed; the "
                f"{v.respondent} has until {when(v.deadline_at)} to answer.",
            },
        )

    async def _fire_due(self) -> None:
        v = self._view
        if v.outcome is not None or v.deadline_at is None or workflow.now() < v.deadline_at:
            return
        if v.status == DisputeStatus.FILED:
            await self._resolve(self._all_to(v.claimant), Resolution.DEFAULT, None, f"the {v.respondent} did not answer in time")
        elif v.status == DisputeStatus.NEGOTIATION:
            await self._resolve(
                self._all_to(v.respondent), Resolution.DEFAULT, None, "nobody paid the arbitration fee; the claim lapsed"
            )
        elif v.status == DisputeStatus.ARBITRATION_FEE:
            payer = v.fees[0].by
            await self._resolve(self._all_to(payer), Resolution.DEFAULT, None, f"the {other(payer)} did not pay the arbitration fee")
        else:
            await self._remind_operators()

    async def _remind_operators(self) -> None:
        """D5: a late verdict costs nobody the case; operators are reminded, and again
        every `verdict_due` while it stays late (counted from now, so a worker that was
        down for weeks sends one reminder, not a burst)."""
        v = self._view
        assert v.deadline_at is not None
        view = v.model_copy(update={"deadline_at": workflow.now() + self._policy.verdict_due})
        await self._post(
            view,
            "dispute.verdict_overdue",
            None,
            notify={OPERATORS: f"The verdict on dispute {v.id} ({self._money(v.amount)}) was due {when(v.deadline_at)}."},
        )

    # ---------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> DisputeView:
        return self._view

    # ---------------------------------------------------------------- D2 stage 1

    @workflow.update
    async def accept(self, cmd: PartyCommand) -> DisputeView:
        async with self._turns.command():
            self._check_answer(cmd)
            v = self._view
            await self._resolve(self._all_to(v.claimant), Resolution.ACCEPTED, cmd.actor, f"the {v.respondent} accepted the claim")
            return self._view

    @accept.validator
    def _validate_accept(self, cmd: PartyCommand) -> None:
        self._check_answer(cmd)

    @workflow.update
    async def respond(self, cmd: Respond) -> DisputeView:
        async with self._turns.command():
            self._check_respond(cmd)
            v = self._view
            view = v.model_copy(update=stage_fields(self._input, DisputeStatus.NEGOTIATION, workflow.now()))
            text = (
                f"The {v.respondent} answered the dispute: {cmd.message}. Negotiation is open until "
                f"{when(view.deadline_at)}: make or accept offers; to go to arbitration a party pays the "
                f"fee ({self._money(v.fee_per_party)}). If nobody pays by then, the claim lapses."
            )
            await self._post(
                view,
                "dispute.responded",
                cmd.actor,
                data={"message": cmd.message},
                notify={v.client_id: text, v.expert_id: text},
            )
            return self._view

    @respond.validator
    def _validate_respond(self, cmd: Respond) -> None:
        self._check_respond(cmd)

    def _check_respond(self, cmd: Respond) -> None:
        self._check_answer(cmd)

    def _check_answer(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor, self._view.respondent)
        self._require_open("answer the claim", DisputeStatus.FILED)

    # ---------------------------------------------------------------- D3 offers

    @workflow.update
    async def make_offer(self, cmd: MakeOffer) -> DisputeView:
        async with self._turns.command():
            self._check_make_offer(cmd)
            v = self._view
            by = cmd.actor.role
            offer = Offer(id=str(len(v.offers) + 1), by=by, amount_to_client=cmd.amount_to_client, made_at=workflow.now())
            # A party has one standing offer: its newer one replaces the older.
            offers = [o.model_copy(update={"superseded": True}) if o.by == by and not o.superseded else o for o in v.offers]
            await self._post(
                v.model_copy(update={"offers": [*offers, offer]}),
                "dispute.offer_made",
                cmd.actor,
                data={"offer_id": offer.id, "amount_to_client": offer.amount_to_client},
                notify={self._user(other(by)): f"The {by} offers a settlement: {self._split(offer.amount_to_client)}."},
            )
            return self._view

    @make_offer.validator
    def _validate_make_offer(self, cmd: MakeOffer) -> None:
        self._check_make_offer(cmd)

    def _check_make_offer(self, cmd: MakeOffer) -> None:
        self._require_party(cmd.actor)
        self._require_open("make an offer", *SETTLING)
        self._require_split(cmd.amount_to_client)

    @workflow.update
    async def accept_offer(self, cmd: AcceptOffer) -> DisputeView:
        async with self._turns.command():
            offer = self._check_accept_offer(cmd)
            v = self._view
            offers = [o.model_copy(update={"accepted": True}) if o.id == offer.id else o for o in v.offers]
            await self._resolve(
                offer.amount_to_client,
                Resolution.OFFER,
                cmd.actor,
                f"the {cmd.actor.role} accepted the {offer.by}'s offer",
                data={"offer_id": offer.id},
                changes={"offers": offers},
            )
            return self._view

    @accept_offer.validator
    def _validate_accept_offer(self, cmd: AcceptOffer) -> None:
        self._check_accept_offer(cmd)

    def _check_accept_offer(self, cmd: AcceptOffer) -> Offer:
        self._require_party(cmd.actor)
        self._require_open("accept an offer", *SETTLING)
        offer = next((o for o in self._view.offers if o.id == cmd.offer_id), None)
        if offer is None:
            raise refuse(Refusal.NOT_FOUND, f"no offer {cmd.offer_id!r} in this dispute")
        if offer.by == cmd.actor.role:
            raise refuse(Refusal.FORBIDDEN, "a party cannot accept its own offer")
        if offer.superseded:
            raise refuse(Refusal.CONFLICT, f"offer {offer.id} was replaced by a newer offer of the {offer.by}")
        return offer

    # ---------------------------------------------------------------- D3 mediation

    @workflow.update
    async def recommend(self, cmd: Recommend) -> DisputeView:
        async with self._turns.command():
            self._check_recommend(cmd)
            v = self._view
            # A new recommendation replaces the old one, and with it every answer to it.
            recommendation = Recommendation(
                amount_to_client=cmd.amount_to_client, posted_at=workflow.now(), posted_by=cmd.actor.user_id
            )
            text = f"The mediation team recommends {self._split(cmd.amount_to_client)}; it settles the dispute if both of you accept it."
            await self._post(
                v.model_copy(update={"recommendation": recommendation}),
                "dispute.recommended",
                cmd.actor,
                data={"amount_to_client": cmd.amount_to_client},
                notify={v.client_id: text, v.expert_id: text},
            )
            return self._view

    @recommend.validator
    def _validate_recommend(self, cmd: Recommend) -> None:
        self._check_recommend(cmd)

    def _check_recommend(self, cmd: Recommend) -> None:
        self._require_operator(cmd.actor, "post a mediation recommendation")
        self._require_open("post a recommendation", *SETTLING)
        self._require_split(cmd.amount_to_client)

    @workflow.update
    async def accept_recommendation(self, cmd: PartyCommand) -> DisputeView:
        async with self._turns.command():
            recommendation = self._check_answer_recommendation(cmd)
            role = cmd.actor.role
            answered = recommendation.model_copy(update={"accepted_by": [*recommendation.accepted_by, role]})
            if set(answered.accepted_by) >= set(PARTIES):
                await self._resolve(
                    answered.amount_to_client,
                    Resolution.RECOMMENDATION,
                    cmd.actor,
                    "both parties accepted the mediation recommendation",
                    changes={"recommendation": answered},
                )
            else:
                await self._post(
                    self._view.model_copy(update={"recommendation": answered}),
                    "dispute.recommendation_accepted",
                    cmd.actor,
                    notify={self._user(other(role)): f"The {role} accepted the mediation recommendation; accept it too to settle."},
                )
            return self._view

    @accept_recommendation.validator
    def _validate_accept_recommendation(self, cmd: PartyCommand) -> None:
        self._check_answer_recommendation(cmd)

    @workflow.update
    async def reject_recommendation(self, cmd: PartyCommand) -> DisputeView:
        async with self._turns.command():
            recommendation = self._check_answer_recommendation(cmd)
            role = cmd.actor.role
            answered = recommendation.model_copy(update={"rejected_by": [*recommendation.rejected_by, role]})
            await self._post(
                self._view.model_copy(update={"recommendation": answered}),
                "dispute.recommendation_rejected",
                cmd.actor,
                notify={
                    self._user(other(role)): f"The {role} rejected the mediation recommendation.",
                    OPERATORS: f"The {role} rejected the recommendation in dispute {self._view.id}.",
                },
            )
            return self._view

    @reject_recommendation.validator
    def _validate_reject_recommendation(self, cmd: PartyCommand) -> None:
        self._check_answer_recommendation(cmd)

    def _check_answer_recommendation(self, cmd: PartyCommand) -> Recommendation:
        self._require_party(cmd.actor)
        self._require_open("answer the recommendation", *SETTLING)
        recommendation = self._view.recommendation
        if recommendation is None:
            raise refuse(Refusal.CONFLICT, "the mediation team has not posted a recommendation")
        if cmd.actor.role in (*recommendation.accepted_by, *recommendation.rejected_by):
            raise refuse(Refusal.CONFLICT, f"the {cmd.actor.role} already answered this recommendation")
        return recommendation

    # ---------------------------------------------------------------- D4 fee, evidence

    @workflow.update
    async def pay_fee(self, cmd: PartyCommand) -> DisputeView:
        async with self._turns.command():
            self._check_pay_fee(cmd)
            await self._pay_fee(cmd.actor)
            return self._view

    @pay_fee.validator
    def _validate_pay_fee(self, cmd: PartyCommand) -> None:
        self._check_pay_fee(cmd)

    def _check_pay_fee(self, cmd: PartyCommand) -> None:
        self._require_party(cmd.actor)
        self._require_open("pay the arbitration fee", *SETTLING)
        if any(f.by == cmd.actor.role for f in self._view.fees):
            raise refuse(Refusal.CONFLICT, f"the {cmd.actor.role} already paid the arbitration fee; a fee is never paid twice")

    async def _pay_fee(self, actor: Actor) -> None:
        v = self._view
        now = workflow.now()
        payer = actor.role
        transfer_id = f"{self._wf_id()}:fee:{payer}"
        payment = FeePayment(by=payer, amount=v.fee_per_party, paid_at=now, transfer_id=transfer_id)
        transfers = self._transfers(
            [(transfer_id, accounts.WORLD_CARD, accounts.PLATFORM_ARBITRATION, v.fee_per_party, "arbitration_fee")]
        )
        fees = [*v.fees, payment]
        if v.status == DisputeStatus.NEGOTIATION:
            # D4: the first payment refuses to settle; the other side now pays or loses.
            view = v.model_copy(update={"fees": fees, **stage_fields(self._input, DisputeStatus.ARBITRATION_FEE, now, payer)})
            notify = {
                self._user(other(payer)): f"The {payer} paid the arbitration fee. Pay yours "
                f"({self._money(v.fee_per_party)}) by {when(view.deadline_at)} or the {payer} gets "
                f"{self._money(v.amount)}. Until then you may still settle and submit evidence.",
                self._user(payer): f"Your arbitration fee is paid; the {other(payer)} has until {when(view.deadline_at)} to pay theirs.",
            }
            kind = "dispute.fee_paid"
        else:
            # D5: both fees are in; the case goes to the operators.
            view = v.model_copy(update={"fees": fees, **stage_fields(self._input, DisputeStatus.ARBITRATION, now)})
            text = "Both arbitration fees are paid; the dispute team will issue a final, binding verdict."
            notify = {
                v.client_id: text,
                v.expert_id: text,
                OPERATORS: f"Dispute {v.id} ({self._money(v.amount)}) awaits a verdict, due {when(view.deadline_at)}.",
            }
            kind = "dispute.arbitration_started"
        await self._post(view, kind, actor, transfers=transfers, data={"fee": v.fee_per_party}, notify=notify)

    @workflow.update
    async def submit_evidence(self, cmd: SubmitEvidence) -> DisputeView:
        async with self._turns.command():
            self._check_evidence(cmd)
            v = self._view
            evidence = Evidence(by=cmd.actor.role, text=cmd.text, at=workflow.now())
            await self._post(
                v.model_copy(update={"evidence": [*v.evidence, evidence]}),
                "dispute.evidence_submitted",
                cmd.actor,
                data={"text": cmd.text},
                notify={self._user(other(cmd.actor.role)): f"The {cmd.actor.role} submitted evidence in the dispute."},
            )
            return self._view

    @submit_evidence.validator
    def _validate_evidence(self, cmd: SubmitEvidence) -> None:
        self._check_evidence(cmd)

    def _check_evidence(self, cmd: SubmitEvidence) -> None:
        self._require_party(cmd.actor)
        # D4: stage 3 is the last chance to submit evidence; arbitration decides on it.
        self._require_open("submit evidence", *SETTLING)

    # ---------------------------------------------------------------- D5 verdict

    @workflow.update
    async def verdict(self, cmd: Verdict) -> DisputeView:
        async with self._turns.command():
            self._check_verdict(cmd)
            await self._resolve(
                cmd.amount_to_client, Resolution.VERDICT, cmd.actor, "the dispute team's verdict", data={"note": cmd.note}
            )
            return self._view

    @verdict.validator
    def _validate_verdict(self, cmd: Verdict) -> None:
        self._check_verdict(cmd)

    def _check_verdict(self, cmd: Verdict) -> None:
        self._require_operator(cmd.actor, "issue a verdict")
        # The verdict has no cut-off: its due date only reminds the operators.
        self._require_open("issue a verdict", DisputeStatus.ARBITRATION)
        self._require_split(cmd.amount_to_client)

    # ---------------------------------------------------------------- resolution

    async def _resolve(
        self,
        amount_to_client: int,
        resolution: Resolution,
        actor: Actor | None,
        why: str,
        *,
        data: dict | None = None,
        changes: dict | None = None,
    ) -> None:
        """End the dispute: settle the arbitration fees (D6) and record the outcome in one
        step (with `changes` to the view, such as the accepted offer). The disputed money
        itself is moved by the owner when it gets the outcome."""
        v = self._view
        amount_to_expert = v.amount - amount_to_client
        winner = winner_of(amount_to_client, v.amount)
        outcome = DisputeOutcome(
            amount_to_client=amount_to_client,
            amount_to_expert=amount_to_expert,
            resolution=resolution,
            winner=winner,
            decided_at=workflow.now(),
        )
        refunded = fees_refunded(resolution, self._policy.fee_policy, winner)
        transfers = self._transfers(
            [
                (
                    f"{fee.transfer_id}:refund",
                    accounts.PLATFORM_ARBITRATION,
                    self._payer_account(fee.by),
                    fee.amount,
                    "arbitration_fee_refund",
                )
                if fee.by in refunded
                else (f"{fee.transfer_id}:kept", accounts.PLATFORM_ARBITRATION, accounts.PLATFORM_FEES, fee.amount, "arbitration_fee_kept")
                for fee in v.fees
            ]
        )
        view = v.model_copy(
            update={
                **(changes or {}),
                "status": DisputeStatus.RESOLVED,
                "stage": None,
                "waiting_on": None,
                "deadline_at": None,
                "deadline_action": None,
                "fees": [f.model_copy(update={"refunded": f.by in refunded}) for f in v.fees],
                "outcome": outcome,
            }
        )
        text = f"The dispute is resolved: {why}. {self._split(amount_to_client)}."
        notify = {v.client_id: text, v.expert_id: text}
        for fee in v.fees:
            if fee.by in refunded:
                notify[self._user(fee.by)] += f" Your arbitration fee of {self._money(fee.amount)} is refunded to your balance."
        await self._post(
            view,
            "dispute.resolved",
            actor,
            transfers=transfers,
            data={
                **(data or {}),
                "resolution": resolution.value,
                "amount_to_client": amount_to_client,
                "amount_to_expert": amount_to_expert,
                "winner": winner.value if winner else None,
                "fees_refunded": sorted(r.value for r in refunded if any(f.by == r for f in v.fees)),
            },
            notify=notify,
        )

    def _all_to(self, role: Role) -> int:
        """The amount to the client when `role` gets everything."""
        return self._view.amount if role == Role.CLIENT else 0

    def _payer_account(self, role: Role) -> str:
        """Where a refunded fee goes: money the party can spend or withdraw."""
        v = self._view
        return accounts.client_balance(v.client_id) if role == Role.CLIENT else accounts.expert_available(v.expert_id)

    # ---------------------------------------------------------------- checks

    def _require_party(self, actor: Actor, role: Role | None = None) -> None:
        """A party of this dispute, acting on its own side; `role` narrows it to one side."""
        if actor.role not in PARTIES or self._user(actor.role) != actor.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the parties of this dispute may do this")
        if role is not None and actor.role != role:
            raise refuse(Refusal.FORBIDDEN, f"only the {role} may do this")

    def _require_operator(self, actor: Actor, what: str) -> None:
        if actor.role != Role.OPERATOR:
            raise refuse(Refusal.FORBIDDEN, f"only an operator may {what}")

    def _require_open(self, what: str, *statuses: DisputeStatus) -> None:
        """The dispute is in one of `statuses` and, in a stage where missing the deadline
        loses, its deadline has not passed. The timer may not have fired yet, so the
        clock decides, not the status (D7)."""
        v = self._view
        if v.status not in statuses:
            raise refuse(Refusal.CONFLICT, f"cannot {what}: the dispute is {v.status}")
        if v.status != DisputeStatus.ARBITRATION and v.deadline_at is not None and workflow.now() >= v.deadline_at:
            raise refuse(Refusal.CONFLICT, f"cannot {what}: the deadline passed at {when(v.deadline_at)}")

    def _require_split(self, amount_to_client: int) -> None:
        v = self._view
        if not 0 <= amount_to_client <= v.amount:
            raise refuse(
                Refusal.INVALID,
                f"the client's part must be between {self._money(0)} and {self._money(v.amount)}; got {self._money(amount_to_client)}",
            )

    # ---------------------------------------------------------------- plumbing

    def _user(self, role: Role) -> str:
        return self._view.client_id if role == Role.CLIENT else self._view.expert_id

    def _party(self, role: Role) -> Actor:
        return Actor(user_id=self._user(role), role=role)

    def _money(self, amount: int) -> str:
        return format_cents(amount, self._view.currency)

    def _split(self, amount_to_client: int) -> str:
        return f"{self._money(amount_to_client)} to the client, {self._money(self._view.amount - amount_to_client)} to the expert"

    def _wf_id(self) -> str:
        return workflow.info().workflow_id

    def _transfers(self, moves: list[tuple[str, str, str, int, str]]) -> list[TransferSpec]:
        """(id, debit, credit, amount, kind) to transfers; a zero fee moves nothing."""
        return [
            TransferSpec(id=id, debit=debit, credit=credit, amount=amount, currency=self._view.currency, kind=kind)
            for id, debit, credit, amount, kind in moves
            if amount > 0
        ]

    async def _post(
        self,
        view: DisputeView,
        kind: str,
        actor: Actor | None,
        *,
        transfers: list[TransferSpec] | None = None,
        data: dict | None = None,
        notify: dict[str, str] | None = None,
    ) -> None:
        """Write one step (fee money, audit, outbox) and only then adopt the new state, so
        the workflow never shows money the ledger has not moved."""
        self._step += 1
        await steps.post(
            Step(
                at=workflow.now(),
                transfers=transfers or [],
                version=self._step,
                audit=[steps.audit(self._step, kind, actor, data)],
                notifications=steps.notifications(self._step, kind, notify),
            ),
            summary=kind,
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
                sa.AMOUNT_CENTS.value_set(v.amount),
                sa.ESCROW_STATE.value_set(f"dispute:{v.status}"),
                sa.DISPUTE_STAGE.value_set(v.stage) if v.stage else sa.DISPUTE_STAGE.value_unset(),
                sa.DEADLINE_AT.value_set(v.deadline_at) if v.deadline_at else sa.DEADLINE_AT.value_unset(),
            ]
        )
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        v = self._view
        head = f"**{v.status}** · {self._money(v.amount)} disputed by the {v.claimant}: {v.reason}"
        if v.outcome is not None:
            return f"{head}\n\nResolved ({v.outcome.resolution}): {self._split(v.outcome.amount_to_client)}."
        assert v.deadline_at is not None
        by, money = when(v.deadline_at), self._money(v.amount)
        if v.status == DisputeStatus.FILED:
            now = f"Waiting on the {v.respondent} to accept or respond by {by}; silence gives {money} to the {v.claimant}."
        elif v.status == DisputeStatus.NEGOTIATION:
            now = (
                f"Negotiating. Waiting on the {v.claimant} to pay the arbitration fee by {by}; "
                f"otherwise the claim lapses and {money} goes to the {v.respondent}."
            )
        elif v.status == DisputeStatus.ARBITRATION_FEE:
            payer = v.fees[0].by
            now = (
                f"Waiting on the {other(payer)} to pay the arbitration fee ({self._money(v.fee_per_party)}) by {by}; "
                f"otherwise {money} goes to the {payer}."
            )
        else:
            now = f"Waiting on the operators' verdict, due {by}; they are reminded then. Nobody loses by the delay."
        return f"{head}\n\n{now}"

"""DisputeWorkflow on the time-skipping server: the four stages, their deadlines, and the
arbitration fees checked in the database.

The dispute is started directly here, as its owner (a milestone) would start it as a
child; it decides a split and moves only fee money, so the ledger shows fees alone.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter

from activities.steps import StepActivities
from escrow import accounts
from escrow import search_attributes as sa
from escrow.db.models import AuditEvent, OutboxMessage, Transfer
from escrow.models import Actor, PartyCommand, Role, Step
from escrow.models.dispute import (
    AcceptOffer,
    DisputeInput,
    DisputeOutcome,
    DisputeStatus,
    DisputeView,
    MakeOffer,
    Recommend,
    Resolution,
    Respond,
    SubmitEvidence,
    Verdict,
)
from escrow.policy import preset
from tests.support import at, balance, eventually, refusal
from worker import build_worker
from workflows.dispute import DisputeWorkflow as DW

pytestmark = pytest.mark.usefixtures("worker")

AMOUNT = 30_000  # USD 300.00: the fee is max(USD 5.00, 5%) = USD 15.00
FEE = 1_500
OPERATOR = Actor(user_id="operator-1", role=Role.OPERATOR)


@dataclass
class Case:
    """One dispute between a fresh client and expert, for one test."""

    handle: WorkflowHandle[DW, DisputeOutcome]
    client: Actor
    expert: Actor

    @property
    def id(self) -> str:
        return self.handle.id

    def actor(self, role: Role) -> Actor:
        return self.client if role == Role.CLIENT else self.expert

    def by(self, role: Role) -> PartyCommand:
        return PartyCommand(actor=self.actor(role))

    async def state(self) -> DisputeView:
        return await self.handle.query(DW.state)


async def open_dispute(
    client: Client, task_queue: str, claimant: Role = Role.CLIENT, policy: str = "cadcrowd", amount: int = AMOUNT
) -> Case:
    suffix = uuid.uuid4().hex[:10]
    case = Case(
        handle=None,  # type: ignore[arg-type]
        client=Actor(user_id=f"client-{suffix}", role=Role.CLIENT),
        expert=Actor(user_id=f"expert-{suffix}", role=Role.EXPERT),
    )
    case.handle = await client.start_workflow(
        DW.run,
        DisputeInput(
            dispute_id=suffix,
            owner_workflow_id="test-owner",
            contract_id=f"c-{suffix}",
            client_id=case.client.user_id,
            expert_id=case.expert.user_id,
            claimant=claimant,
            amount=amount,
            currency="USD",
            reason="the logo is not what was agreed",
            policy=preset(policy),
        ),
        id=f"dispute:{suffix}",
        task_queue=task_queue,
    )
    return case


# Stage by stage, as the parties would get there. The client is the claimant unless a
# test says otherwise, so the expert responds.


async def negotiating(case: Case) -> DisputeView:
    return await case.handle.execute_update(DW.respond, Respond(actor=case.expert, message="it is exactly the brief"))


async def fee_paid_by(case: Case, payer: Role) -> DisputeView:
    await negotiating(case)
    return await case.handle.execute_update(DW.pay_fee, case.by(payer))


async def in_arbitration(case: Case) -> DisputeView:
    await fee_paid_by(case, Role.CLIENT)
    return await case.handle.execute_update(DW.pay_fee, case.by(Role.EXPERT))


# What the database says about one dispute.


def transfers(sessions, case: Case) -> dict[str, tuple[str, str, int]]:
    with sessions() as session:
        rows = session.scalars(select(Transfer).where(Transfer.id.like(f"{case.id}:%"))).all()
    return {t.id: (t.debit_account, t.credit_account, t.amount) for t in rows}


def outbox(sessions, case: Case) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.kind).where(OutboxMessage.id.like(f"{case.id}:%"))
        )
        return [(user, kind) for user, kind in rows]


async def search_attributes(client: Client, case: Case) -> dict[str, Any]:
    """The case's search attributes by name; an unset one is absent. Read with the raw
    describe call because the time-skipping server keeps an unset attribute as a typed
    null, which `handle.describe()` fails to decode for a datetime."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=case.id))
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    converter = DataConverter.default.payload_converter
    decoded = {name: converter.from_payload(payload) for name, payload in fields.items()}
    return {name: value for name, value in decoded.items() if value is not None}


def steps_written(sessions, case: Case) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(AuditEvent.workflow_id == case.id)) or 0


async def filed(sessions, case: Case) -> None:
    """Wait for the filing step: a query answers before it is written, an update after."""
    await eventually(lambda: asyncio.to_thread(steps_written, sessions, case), "the filing step")


# ---------------------------------------------------------------------- stage 1


@pytest.mark.rules("D2", "D7")
async def test_d2_silence_at_stage_1_gives_the_claimant_everything(client, task_queue, sessions):
    case = await open_dispute(client, task_queue, claimant=Role.EXPERT)
    view = await case.state()
    assert (view.status, view.stage, view.respondent) == (DisputeStatus.FILED, 1, Role.CLIENT)
    assert view.waiting_on == "client" and view.deadline_action == "expert_wins"
    assert view.deadline_at == view.filed_at + timedelta(days=3)

    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.DEFAULT and outcome.winner == Role.EXPERT
    assert (outcome.amount_to_client, outcome.amount_to_expert) == (0, AMOUNT)
    assert at(outcome.decided_at, view.deadline_at)

    final = await case.state()
    assert final.status == DisputeStatus.RESOLVED and final.stage is None and final.deadline_at is None
    assert transfers(sessions, case) == {}  # the dispute never touches the disputed money
    sent = outbox(sessions, case)
    assert (case.client.user_id, "dispute.filed") in sent
    assert {(u, k) for u, k in sent if k == "dispute.resolved"} == {
        (case.client.user_id, "dispute.resolved"),
        (case.expert.user_id, "dispute.resolved"),
    }


@pytest.mark.rules("D2")
async def test_d2_respondent_accepts_the_claim_and_operators_see_it(client, task_queue):
    case = await open_dispute(client, task_queue)
    view = await case.state()
    attrs = await search_attributes(client, case)
    assert attrs[sa.DISPUTE_STAGE.name] == 1
    assert attrs[sa.ESCROW_STATE.name] == "dispute:filed"
    assert datetime.fromisoformat(attrs[sa.DEADLINE_AT.name]) == view.deadline_at
    assert attrs[sa.AMOUNT_CENTS.name] == AMOUNT
    assert (attrs[sa.CONTRACT_ID.name], attrs[sa.CLIENT_ID.name], attrs[sa.EXPERT_ID.name]) == (
        view.contract_id,
        case.client.user_id,
        case.expert.user_id,
    )
    metadata = await case.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert (
        f"Waiting on the expert to accept or respond by {view.deadline_at:%Y-%m-%d %H:%M} UTC; "
        "silence gives USD 300.00 to the client" in metadata.current_details
    )

    resolved = await case.handle.execute_update(DW.accept, case.by(Role.EXPERT))
    assert resolved.outcome is not None and resolved.outcome.resolution == Resolution.ACCEPTED
    assert resolved.outcome.amount_to_client == AMOUNT and resolved.outcome.winner == Role.CLIENT
    assert (await case.handle.result()) == resolved.outcome

    attrs = await search_attributes(client, case)
    assert sa.DISPUTE_STAGE.name not in attrs and sa.DEADLINE_AT.name not in attrs
    assert attrs[sa.ESCROW_STATE.name] == "dispute:resolved"


# ---------------------------------------------------------------------- stage 2


@pytest.mark.rules("D3", "D7")
async def test_d7_claim_lapses_when_nobody_pays_the_fee(client, task_queue, sessions):
    case = await open_dispute(client, task_queue)
    filed = await case.state()
    view = await negotiating(case)
    assert (view.status, view.stage, view.waiting_on, view.deadline_action) == (
        DisputeStatus.NEGOTIATION,
        2,
        "client",
        "expert_wins",
    )
    assert at(view.deadline_at - timedelta(days=21), filed.filed_at)

    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.DEFAULT and outcome.winner == Role.EXPERT
    assert outcome.amount_to_expert == AMOUNT and at(outcome.decided_at, view.deadline_at)
    assert transfers(sessions, case) == {}


@pytest.mark.rules("D3")
async def test_d3_an_accepted_offer_settles_the_split(client, task_queue, sessions):
    case = await open_dispute(client, task_queue)
    await negotiating(case)
    do = case.handle.execute_update
    await do(DW.make_offer, MakeOffer(actor=case.client, amount_to_client=20_000))  # offer 1
    await do(DW.make_offer, MakeOffer(actor=case.expert, amount_to_client=5_000))  # offer 2
    view = await do(DW.make_offer, MakeOffer(actor=case.expert, amount_to_client=8_000))  # offer 3 replaces 2
    assert [(o.id, o.by, o.superseded) for o in view.offers] == [
        ("1", Role.CLIENT, False),
        ("2", Role.EXPERT, True),
        ("3", Role.EXPERT, False),
    ]

    assert (await refusal(do(DW.accept_offer, AcceptOffer(actor=case.client, offer_id="2")))).type == "Conflict"
    assert (await refusal(do(DW.accept_offer, AcceptOffer(actor=case.client, offer_id="9")))).type == "NotFound"
    assert (await refusal(do(DW.accept_offer, AcceptOffer(actor=case.expert, offer_id="3")))).type == "Forbidden"

    view = await do(DW.accept_offer, AcceptOffer(actor=case.client, offer_id="3"))
    assert view.status == DisputeStatus.RESOLVED and view.offers[2].accepted
    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.OFFER and outcome.winner == Role.EXPERT
    assert (outcome.amount_to_client, outcome.amount_to_expert) == (8_000, 22_000)
    assert transfers(sessions, case) == {}


@pytest.mark.rules("D3")
async def test_d3_both_accepting_the_recommendation_settles(client, task_queue):
    case = await open_dispute(client, task_queue)
    await negotiating(case)
    do = case.handle.execute_update
    assert (await refusal(do(DW.accept_recommendation, case.by(Role.CLIENT)))).type == "Conflict"  # none yet
    assert (await refusal(do(DW.recommend, Recommend(actor=case.client, amount_to_client=AMOUNT)))).type == "Forbidden"

    await do(DW.recommend, Recommend(actor=OPERATOR, amount_to_client=12_000))
    view = await do(DW.reject_recommendation, case.by(Role.EXPERT))
    assert view.recommendation and view.recommendation.rejected_by == [Role.EXPERT]

    # A new recommendation replaces the old one and every answer to it.
    view = await do(DW.recommend, Recommend(actor=OPERATOR, amount_to_client=15_000))
    assert view.recommendation and view.recommendation.rejected_by == [] and view.recommendation.accepted_by == []
    view = await do(DW.accept_recommendation, case.by(Role.CLIENT))
    assert view.status == DisputeStatus.NEGOTIATION  # non-binding until both accept
    assert (await refusal(do(DW.accept_recommendation, case.by(Role.CLIENT)))).type == "Conflict"

    view = await do(DW.accept_recommendation, case.by(Role.EXPERT))
    outcome = await case.handle.result()
    assert view.outcome == outcome
    assert outcome.resolution == Resolution.RECOMMENDATION and outcome.amount_to_client == 15_000
    assert outcome.winner is None  # an even split has no winner


# ---------------------------------------------------------------------- stage 3


@pytest.mark.rules("D4", "D6", "D7")
async def test_d4_the_side_that_does_not_pay_the_fee_loses_and_the_payer_is_refunded(client, task_queue, sessions):
    case = await open_dispute(client, task_queue)
    view = await fee_paid_by(case, Role.EXPERT)
    assert (view.status, view.stage, view.waiting_on, view.deadline_action) == (
        DisputeStatus.ARBITRATION_FEE,
        3,
        "client",
        "expert_wins",
    )
    [fee] = view.fees
    assert (fee.by, fee.amount) == (Role.EXPERT, FEE // 2)  # Cad Crowd: the fee is split
    assert view.deadline_at == fee.paid_at + timedelta(days=4)
    paid = f"{case.id}:fee:expert"
    assert transfers(sessions, case) == {paid: (accounts.WORLD_CARD, accounts.PLATFORM_ARBITRATION, FEE // 2)}

    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.DEFAULT and outcome.winner == Role.EXPERT
    assert outcome.amount_to_expert == AMOUNT and at(outcome.decided_at, view.deadline_at)
    # Nothing was arbitrated, so the payer's fee comes back.
    expert_wallet = accounts.expert_available(case.expert.user_id)
    assert transfers(sessions, case)[f"{paid}:refund"] == (accounts.PLATFORM_ARBITRATION, expert_wallet, FEE // 2)
    assert balance(sessions, expert_wallet) == FEE // 2
    assert (await case.state()).fees[0].refunded


@pytest.mark.rules("D4", "D6", "D3")
async def test_d4_settling_in_stage_3_refunds_the_fee(client, task_queue, sessions):
    case = await open_dispute(client, task_queue, policy="freelancer")
    view = await fee_paid_by(case, Role.CLIENT)
    assert view.fees[0].amount == FEE  # Freelancer: each side pays the whole fee
    do = case.handle.execute_update
    view = await do(DW.submit_evidence, SubmitEvidence(actor=case.expert, text="signed brief, v3.pdf"))
    assert [(e.by, e.text) for e in view.evidence] == [(Role.EXPERT, "signed brief, v3.pdf")]
    await do(DW.make_offer, MakeOffer(actor=case.expert, amount_to_client=10_000))
    await do(DW.accept_offer, AcceptOffer(actor=case.client, offer_id="1"))

    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.OFFER and outcome.amount_to_client == 10_000
    assert balance(sessions, accounts.client_balance(case.client.user_id)) == FEE


# ---------------------------------------------------------------------- stage 4


@pytest.mark.rules("D5", "D6")
async def test_d5_verdict_under_split_fees_keeps_both_halves(client, task_queue, sessions):
    case = await open_dispute(client, task_queue)
    view = await in_arbitration(case)
    assert (view.status, view.stage, view.waiting_on, view.deadline_action) == (
        DisputeStatus.ARBITRATION,
        4,
        "operator",
        "remind_operators",
    )
    assert view.deadline_at == view.fees[1].paid_at + timedelta(days=14)
    assert ("operators", "dispute.arbitration_started") in outbox(sessions, case)
    do = case.handle.execute_update
    late_evidence = await refusal(do(DW.submit_evidence, SubmitEvidence(actor=case.client, text="one more thing")))
    assert late_evidence.type == "Conflict"
    assert (await refusal(do(DW.verdict, Verdict(actor=case.client, amount_to_client=AMOUNT)))).type == "Forbidden"
    assert (await refusal(do(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=AMOUNT + 1)))).type == "Invalid"

    await do(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=20_000, note="mostly off-brief"))
    outcome = await case.handle.result()
    assert outcome.resolution == Resolution.VERDICT and outcome.winner == Role.CLIENT
    assert (outcome.amount_to_client, outcome.amount_to_expert) == (20_000, 10_000)
    # Cad Crowd: the arbitration took place; both halves of the fee are the platform's.
    moved = transfers(sessions, case)
    for role in ("client", "expert"):
        assert moved[f"{case.id}:fee:{role}:kept"] == (accounts.PLATFORM_ARBITRATION, accounts.PLATFORM_FEES, FEE // 2)
    assert balance(sessions, accounts.client_balance(case.client.user_id)) == 0
    assert balance(sessions, accounts.expert_available(case.expert.user_id)) == 0


@pytest.mark.rules("D5", "D6")
@pytest.mark.parametrize(
    ("amount_to_client", "refunded"),
    [(10_000, {Role.EXPERT}), (30_000, {Role.CLIENT}), (15_000, {Role.CLIENT, Role.EXPERT})],
    ids=["expert-wins", "client-wins", "even-split"],
)
async def test_d6_freelancer_verdict_refunds_the_winners_fee(client, task_queue, sessions, amount_to_client, refunded):
    case = await open_dispute(client, task_queue, policy="freelancer")
    await in_arbitration(case)
    await case.handle.execute_update(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=amount_to_client))
    await case.handle.result()

    moved = transfers(sessions, case)
    wallets = {
        Role.CLIENT: accounts.client_balance(case.client.user_id),
        Role.EXPERT: accounts.expert_available(case.expert.user_id),
    }
    for role, wallet in wallets.items():
        paid = f"{case.id}:fee:{role}"
        assert moved[paid] == (accounts.WORLD_CARD, accounts.PLATFORM_ARBITRATION, FEE)
        if role in refunded:
            assert moved[f"{paid}:refund"] == (accounts.PLATFORM_ARBITRATION, wallet, FEE)
            assert f"{paid}:kept" not in moved
        else:
            assert moved[f"{paid}:kept"] == (accounts.PLATFORM_ARBITRATION, accounts.PLATFORM_FEES, FEE)
        assert balance(sessions, wallet) == (FEE if role in refunded else 0)
    assert {f.by for f in (await case.state()).fees if f.refunded} == refunded


@pytest.mark.rules("D5")
async def test_d5_a_late_verdict_reminds_the_operators_and_nobody_loses(client, task_queue, sessions, env):
    case = await open_dispute(client, task_queue)
    view = await in_arbitration(case)
    await env.sleep(timedelta(days=15))
    later = await case.state()
    assert later.status == DisputeStatus.ARBITRATION and later.outcome is None
    assert at(later.deadline_at, view.deadline_at + timedelta(days=14))  # the next reminder
    assert ("operators", "dispute.verdict_overdue") in outbox(sessions, case)

    await case.handle.execute_update(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=0))
    assert (await case.handle.result()).winner == Role.EXPERT


# ---------------------------------------------------------------------- refusals


@pytest.mark.rules("D2", "D3", "D4", "D5")
async def test_refusals_write_nothing(client, task_queue, sessions):
    case = await open_dispute(client, task_queue)
    do = case.handle.execute_update
    stranger = Actor(user_id="intruder", role=Role.CLIENT)
    client_as_operator = Actor(user_id=case.client.user_id, role=Role.OPERATOR)

    # Stage 1: only the respondent answers, and with a message.
    await filed(sessions, case)
    before = steps_written(sessions, case)
    stage_1 = [
        (DW.accept, case.by(Role.CLIENT), "Forbidden"),
        (DW.respond, Respond(actor=case.client, message="I insist"), "Forbidden"),
        (DW.respond, Respond(actor=stranger, message="hello"), "Forbidden"),
        (DW.respond, Respond(actor=client_as_operator, message="hello"), "Forbidden"),
        ("respond", {"actor": case.expert.model_dump(mode="json"), "message": "  "}, "Invalid"),
        (DW.make_offer, MakeOffer(actor=case.client, amount_to_client=1), "Conflict"),
        (DW.pay_fee, case.by(Role.CLIENT), "Conflict"),
    ]
    for update, command, kind in stage_1:
        assert (await refusal(do(update, command))).type == kind, (update, command)
    assert steps_written(sessions, case) == before

    # Stage 2: a split is within the disputed amount; verdicts wait for arbitration.
    await negotiating(case)
    before = steps_written(sessions, case)
    stage_2 = [
        (DW.make_offer, MakeOffer(actor=case.client, amount_to_client=AMOUNT + 1), "Invalid"),
        # What the Web UI or CLI could send: refused by the command's model.
        ("make_offer", {"actor": case.expert.model_dump(mode="json"), "amount_to_client": -1}, "Invalid"),
        ("make_offer", {"actor": case.expert.model_dump(mode="json"), "amount_to_client": "1"}, "Invalid"),
        (DW.make_offer, MakeOffer(actor=OPERATOR, amount_to_client=1), "Forbidden"),
        (DW.recommend, Recommend(actor=OPERATOR, amount_to_client=AMOUNT + 1), "Invalid"),
        (DW.accept, case.by(Role.EXPERT), "Conflict"),
        (DW.verdict, Verdict(actor=OPERATOR, amount_to_client=0), "Conflict"),
        ("submit_evidence", {"actor": case.client.model_dump(mode="json"), "text": ""}, "Invalid"),
        ("submit_evidence", {"actor": case.client.model_dump(mode="json"), "text": "a\u0000b"}, "Invalid"),
    ]
    for update, command, kind in stage_2:
        assert (await refusal(do(update, command))).type == kind, (update, command)
    assert steps_written(sessions, case) == before

    # Stage 3: a fee is paid once; still no verdict.
    await do(DW.pay_fee, case.by(Role.CLIENT))
    before = steps_written(sessions, case)
    twice = await refusal(do(DW.pay_fee, case.by(Role.CLIENT)))
    assert twice.type == "Conflict" and "twice" in str(twice)
    assert (await refusal(do(DW.verdict, Verdict(actor=case.expert, amount_to_client=0)))).type == "Forbidden"
    assert (await refusal(do(DW.verdict, Verdict(actor=OPERATOR, amount_to_client=0)))).type == "Conflict"
    assert steps_written(sessions, case) == before
    assert list(transfers(sessions, case)) == [f"{case.id}:fee:client"]
    assert len((await case.state()).fees) == 1


# ---------------------------------------------------------------------- deadlines


async def _stage_1(case: Case) -> DisputeView:
    return await case.state()  # the test waits for the filing step itself


async def _stage_3_paid_by_client(case: Case) -> DisputeView:
    return await fee_paid_by(case, Role.CLIENT)


LATE = {
    # name: (how far the case gets, the command that comes too late, who then wins)
    "respond-after-stage-1": (
        _stage_1,
        lambda c: c.handle.execute_update(DW.respond, Respond(actor=c.expert, message="sorry, I was away")),
        Role.CLIENT,
    ),
    "offer-after-negotiation": (
        negotiating,
        lambda c: c.handle.execute_update(DW.make_offer, MakeOffer(actor=c.client, amount_to_client=1)),
        Role.EXPERT,
    ),
    "fee-after-stage-3": (
        _stage_3_paid_by_client,
        lambda c: c.handle.execute_update(DW.pay_fee, c.by(Role.EXPERT)),
        Role.CLIENT,
    ),
    "evidence-after-stage-3": (
        _stage_3_paid_by_client,
        lambda c: c.handle.execute_update(DW.submit_evidence, SubmitEvidence(actor=c.expert, text="late proof")),
        Role.CLIENT,
    ),
}


class GatedSteps(StepActivities):
    """The engine's `post_step`, held at a gate while the gate is closed."""

    def __init__(self, sessions) -> None:
        super().__init__(sessions)
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.held_step: Step | None = None

    @activity.defn(name="post_step")
    def post_step(self, step: Step) -> None:
        if not self.gate.is_set():
            self.held_step = step
            self.held.set()
            self.gate.wait(timeout=30)
        super().post_step(step)


@pytest.mark.rules("D7", "D2", "D4")
@pytest.mark.parametrize("name", list(LATE))
async def test_d7_a_command_after_the_deadline_is_refused_while_the_deadline_is_being_handled(
    client, sessions, env, name
):
    """The worst moment: the deadline has passed and the workflow is still writing what
    it does about it (the state has not moved yet) when a command arrives. The clock,
    not the status, must refuse it; nothing of the command is written."""
    reach: Callable[[Case], Awaitable[DisputeView]]
    late: Callable[[Case], Awaitable[DisputeView]]
    reach, late, winner = LATE[name]
    queue = f"dispute-late-{uuid.uuid4().hex[:8]}"
    steps = GatedSteps(sessions)
    async with build_worker(client, sessions, queue, activities=steps):
        case = await open_dispute(client, queue)
        view = await reach(case)
        assert view.deadline_at is not None
        await filed(sessions, case)
        written = steps_written(sessions, case)
        # The deadline's step waits at the gate; while it is held, the server's clock
        # stands still at the deadline, so the sleep finishes only once it is released.
        steps.gate.clear()
        sleeping = asyncio.create_task(env.sleep(view.deadline_at - await env.get_current_time() + timedelta(hours=1)))
        try:
            assert await asyncio.to_thread(steps.held.wait, 10), "the deadline's step never started"
            assert steps.held_step is not None and steps.held_step.audit[0].kind == "dispute.resolved"
            # Refused at once, by the validator: not left waiting behind the deadline's step.
            err = await asyncio.wait_for(refusal(late(case)), timeout=10)
        finally:
            steps.gate.set()
            await sleeping
        outcome = await case.handle.result()
    assert err.type == "Conflict" and "deadline passed" in str(err), err
    assert outcome.resolution == Resolution.DEFAULT and outcome.winner == winner
    assert steps_written(sessions, case) == written + 1  # the deadline's step, nothing else

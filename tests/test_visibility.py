"""The case told in the Web UI, on a Temporal dev server (the time-skipping test server
has no visibility API): the README's ready queries for the operators' daily questions,
run line by line with the bundled `temporal` CLI, each find the cases it names and no
other; a case says who it waits on, and its timer what it will do; an operator verb
sent from the CLI is validated as the API validates it.

Visibility is eventually consistent: every look polls, with a bounded wait."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from escrow import ids
from escrow import search_attributes as sa
from escrow.db.models import AuditEvent
from escrow.models import (
    Actor,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    Fund,
    OpenDispute,
    PartyCommand,
    PaymentStatus,
    Respond,
    Role,
    Submit,
    WeekStatus,
    WeekSummary,
)
from escrow.models.dispute import DisputeOutcome, DisputeStatus
from escrow.payments import SANDBOX_DECLINED
from escrow.policy import Policy, preset
from escrow.temporal import data_converter
from stack import temporal_binary
from tests.support import Deal, eventually, open_contract
from worker import build_worker
from workflows.contract import ContractWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.milestone import MilestoneWorkflow

PORT = 7311
TASK_QUEUE = "escrow-visibility"
README = Path(__file__).parent.parent / "README.md"
OPERATOR = Actor(user_id="op-1", role=Role.OPERATOR)
LOOK = 30.0  # seconds a look at the visibility store may take to show a change


def readme_queries() -> dict[str, str]:
    """The block under "The operator's daily questions": each `# question` line names
    the `temporal workflow list ...` line after it."""
    section = README.read_text().split("### The operator's daily questions", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    queries: dict[str, str] = {}
    question = ""
    for line in block.splitlines():
        if line.startswith("# "):
            question = line[2:]
        elif line.startswith("temporal workflow list"):
            queries[question] = line
    return queries


QUERIES = readme_queries()


def query(start: str) -> str:
    [line] = [line for question, line in QUERIES.items() if question.startswith(start)]
    return line


async def cli(*args: str, shell: str | None = None) -> tuple[int, str, str]:
    """The bundled `temporal` CLI against the dev server, as an operator runs it."""
    env = {**os.environ, "PATH": f"{Path(temporal_binary()).parent}{os.pathsep}{os.environ['PATH']}"}
    target = ["--address", f"127.0.0.1:{PORT}"]
    if shell is not None:
        argv = ["bash", "-c", f"{shell} {' '.join(target)} -o json"]
    else:
        argv = [temporal_binary(), *args, *target]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def listed(line: str) -> dict[str, dict[str, Any]]:
    """Run one README line; the workflows it lists, by id."""
    code, out, err = await cli(shell=line)
    assert code == 0, err
    rows = json.loads(out) if out.strip().startswith("[") else [json.loads(r) for r in out.splitlines() if r]
    return {row["execution"]["workflowId"]: row for row in rows}


async def lists(line: str, wanted: set[str], unwanted: set[str]) -> dict[str, dict[str, Any]]:
    async def check() -> dict[str, dict[str, Any]] | None:
        found = await listed(line)
        return found if wanted <= found.keys() else None

    found = await eventually(check, f"{wanted} in {line}", LOOK)
    assert not unwanted & found.keys(), line
    return found


@pytest.fixture(scope="module")
async def dev() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        port=PORT,
        ui=False,
        search_attributes=sa.ALL,
        data_converter=data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def on_dev(dev: WorkflowEnvironment, sessions) -> AsyncIterator[Client]:
    async with build_worker(dev.client, sessions, TASK_QUEUE):
        yield dev.client


async def submitted(client: Client, policy: Policy) -> tuple[Deal, WorkflowHandle]:
    deal = await open_contract(client, TASK_QUEUE, policy)
    milestone = await deal.add_milestone(30_000)
    await milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=deal.client_actor))
    await milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=deal.expert_actor))
    return deal, milestone


async def disputed(client: Client, stage: DisputeStatus) -> WorkflowHandle:
    """A dispute on a submitted milestone, brought to `stage` (D1–D4)."""
    deal, milestone = await submitted(client, preset("cadcrowd"))
    claim = await milestone.execute_update(
        MilestoneWorkflow.open_dispute, OpenDispute(actor=deal.client_actor, amount=20_000, reason="half missing")
    )
    dispute = client.get_workflow_handle(ids.dispute(claim.id), result_type=DisputeOutcome)
    if stage in (DisputeStatus.NEGOTIATION, DisputeStatus.ARBITRATION):
        await dispute.execute_update(DisputeWorkflow.respond, Respond(actor=deal.expert_actor, message="all there"))
    if stage == DisputeStatus.ARBITRATION:
        await dispute.execute_update(DisputeWorkflow.pay_fee, PartyCommand(actor=deal.client_actor))
        await dispute.execute_update(DisputeWorkflow.pay_fee, PartyCommand(actor=deal.expert_actor))
    return dispute


async def on_hold(client: Client) -> str:
    """An hourly contract its week reported failing (H7): the week's own charge runs
    only on Monday, so the report is sent as the week sends it."""
    suffix = uuid.uuid4().hex[:10]
    contract = await client.start_workflow(
        ContractWorkflow.run,
        ContractInput(
            contract_id=f"h-{suffix}",
            client_id=f"client-{suffix}",
            expert_id=f"expert-{suffix}",
            type=ContractType.HOURLY,
            currency="USD",
            hourly_rate=6_000,
            payment_method=SANDBOX_DECLINED,
            policy=preset("cadcrowd"),
        ),
        id=ids.contract(f"h-{suffix}"),
        task_queue=TASK_QUEUE,
        result_type=ContractView,
    )

    async def week() -> str | None:
        view = await contract.query(ContractWorkflow.state)
        return view.weeks[0].week if view.weeks else None

    opened = await eventually(week, "the first week", LOOK)

    async def reported() -> bool:
        history = await client.get_workflow_handle(ids.week(f"h-{suffix}", opened)).fetch_history()
        return any(e.event_type == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED for e in history.events)

    # The week's own first report, sent after this one, would lift the hold again.
    await eventually(reported, "the week's first report", LOOK)
    failing = WeekSummary(
        week=opened,
        status=WeekStatus.EXPERT_REVIEW,
        escrow=0,
        released=0,
        payment_status=PaymentStatus.FAILING,
    )
    await contract.signal(ContractWorkflow.week_changed, failing)

    async def held() -> bool:
        return (await contract.query(ContractWorkflow.state)).status == ContractStatus.ON_HOLD

    await eventually(held, "the contract on hold", LOOK)
    return contract.id


async def dormant(client: Client) -> str:
    """O1 under a policy whose contracts go dormant two seconds after the last activity."""
    deal = await open_contract(client, TASK_QUEUE, Policy(name="dormant-soon", dormant_after=timedelta(seconds=2)))
    milestone = await deal.add_milestone(30_000)
    await milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=deal.client_actor))
    return deal.contract.id


@pytest.mark.rules("D5", "M4", "H7", "O1")
async def test_the_readmes_queries_answer_the_operators_daily_questions(on_dev: Client):
    assert len(QUERIES) == 5, QUERIES
    verdict_due, filed = await asyncio.gather(
        disputed(on_dev, DisputeStatus.ARBITRATION), disputed(on_dev, DisputeStatus.FILED)
    )
    (_, soon), (_, later) = await asyncio.gather(
        submitted(on_dev, Policy(name="one-day-review", review_window=timedelta(days=1))),
        submitted(on_dev, preset("cadcrowd")),
    )
    suspended, sleeping = await asyncio.gather(on_hold(on_dev), dormant(on_dev))

    found = await lists(query("Disputes awaiting a verdict"), {verdict_due.id}, {filed.id})
    assert found[verdict_due.id]["searchAttributes"]["indexedFields"].keys() >= {"WaitingOn", "DeadlineAt"}
    await lists(query("Milestones auto-releasing in the next 48 hours"), {soon.id}, {later.id})
    await lists(query("Suspended hourly contracts"), {suspended}, {sleeping})
    await lists(query("Dormant contracts"), {sleeping}, {suspended})
    await lists(query("Everything waiting on an operator"), {verdict_due.id}, {filed.id, soon.id, suspended})


@pytest.mark.rules("M4")
async def test_a_submitted_milestone_says_who_acts_and_its_timer_what_it_will_do(on_dev: Client):
    deal, milestone = await submitted(on_dev, preset("cadcrowd"))
    view = await milestone.query(MilestoneWorkflow.state)
    code, out, err = await cli("workflow", "metadata", "--workflow-id", milestone.id, "-o", "json")
    assert code == 0, err
    auto = f"auto-release USD 300.00 to expert {deal.expert_actor.user_id} on {view.deadline_at:%Y-%m-%d %H:%M} UTC"
    [metadata] = json.loads(out)["queryResult"]
    assert f"Next: {auto} unless the client acts." in metadata["currentDetails"]
    assert f"Waiting on client {deal.client_actor.user_id} to release" in metadata["currentDetails"]

    found = await lists(
        f"temporal workflow list -q \"WorkflowId = '{milestone.id}' AND WaitingOn = 'client'\"", {milestone.id}, set()
    )
    assert found[milestone.id]
    history = await milestone.fetch_history()
    summaries = [
        data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert summaries[-1] == f"{auto} unless the client acts"


async def audit_steps(sessions, workflow_id: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(AuditEvent.workflow_id == workflow_id)) or 0


@pytest.mark.rules("D5")
async def test_a_verdict_from_the_cli_is_validated_as_the_api_validates_it(on_dev: Client, sessions):
    dispute = await disputed(on_dev, DisputeStatus.ARBITRATION)
    before = await audit_steps(sessions, dispute.id)

    def verdict(body: dict[str, Any]) -> tuple[str, ...]:
        return (
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            dispute.id,
            "--name",
            "verdict",
            "--input",
            json.dumps(body),
        )

    operator = {"user_id": OPERATOR.user_id, "role": "operator"}
    refused = [
        ({"actor": operator, "amount_to_client": "5000"}, "Invalid"),  # a string for cents
        ({"actor": operator, "amount_to_client": 5000, "split": "half"}, "Invalid"),  # a misspelt field
        ({"actor": operator, "amount_to_client": 20_001}, "Invalid|Conflict"),  # more than disputed
        ({"actor": {"user_id": "expert-x", "role": "expert"}, "amount_to_client": 0}, "Forbidden"),
    ]
    for body, kind in refused:
        code, out, err = await cli(*verdict(body))
        assert code != 0 and re.search(kind, out + err), (body, out, err)
    view = await dispute.query(DisputeWorkflow.state)
    assert view.status == DisputeStatus.ARBITRATION and view.outcome is None
    assert await audit_steps(sessions, dispute.id) == before  # nothing written

    code, out, err = await cli(*verdict({"actor": operator, "amount_to_client": 5000, "note": "half delivered"}))
    assert code == 0, err
    outcome = await dispute.result()
    assert outcome.amount_to_client == 5000


@pytest.mark.rules("D3")
async def test_a_recommendation_from_the_cli_is_validated_as_the_api_validates_it(on_dev: Client, sessions):
    dispute = await disputed(on_dev, DisputeStatus.NEGOTIATION)
    before = await audit_steps(sessions, dispute.id)
    operator = {"user_id": OPERATOR.user_id, "role": "operator"}

    def recommend(body: dict[str, Any]) -> tuple[str, ...]:
        return (
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            dispute.id,
            "--name",
            "recommend",
            "--input",
            json.dumps(body),
        )

    code, out, err = await cli(*recommend({"actor": operator, "amount_to_client": -1}))
    assert code != 0 and "Invalid" in out + err, (out, err)
    assert await audit_steps(sessions, dispute.id) == before

    code, out, err = await cli(*recommend({"actor": operator, "amount_to_client": 8_000}))
    assert code == 0, err
    view = await dispute.query(DisputeWorkflow.state)
    assert view.recommendation is not None and view.recommendation.amount_to_client == 8_000

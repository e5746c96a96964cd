"""Helpers that drive the workflows the way the API does: start a contract, add a
milestone, send commands as a given actor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from escrow import accounts
from escrow.db import ledger
from escrow.models import (
    Actor,
    AddMilestone,
    ContractInput,
    ContractType,
    Fund,
    MilestoneView,
    Role,
    TransferSpec,
)
from escrow.policy import Policy, preset
from workflows.contract import ContractWorkflow
from workflows.milestone import MilestoneWorkflow

T = TypeVar("T")


@dataclass
class Deal:
    """A contract between a fresh client and expert, for one test."""

    client: Client
    task_queue: str
    contract_id: str
    client_actor: Actor
    expert_actor: Actor

    @property
    def contract(self) -> WorkflowHandle:
        return self.client.get_workflow_handle(f"contract:{self.contract_id}")

    async def add_milestone(self, amount: int = 50_000, title: str = "Logo", by: Actor | None = None) -> WorkflowHandle:
        view: MilestoneView = await self.contract.execute_update(
            ContractWorkflow.add_milestone,
            AddMilestone(actor=by or self.client_actor, title=title, amount=amount),
        )
        return self.client.get_workflow_handle(f"milestone:{view.id}", result_type=MilestoneView)

    async def state(self, milestone: WorkflowHandle) -> MilestoneView:
        return await milestone.query(MilestoneWorkflow.state)


async def open_contract(client: Client, task_queue: str, policy: str | Policy = "cadcrowd") -> Deal:
    """A fixed-rate contract between two fresh users, under a preset name or a policy."""
    suffix = uuid.uuid4().hex[:10]
    deal = Deal(
        client=client,
        task_queue=task_queue,
        contract_id=f"c-{suffix}",
        client_actor=Actor(user_id=f"client-{suffix}", role=Role.CLIENT),
        expert_actor=Actor(user_id=f"expert-{suffix}", role=Role.EXPERT),
    )
    await client.start_workflow(
        ContractWorkflow.run,
        ContractInput(
            contract_id=deal.contract_id,
            client_id=deal.client_actor.user_id,
            expert_id=deal.expert_actor.user_id,
            type=ContractType.FIXED,
            currency="USD",
            policy=preset(policy) if isinstance(policy, str) else policy,
        ),
        id=f"contract:{deal.contract_id}",
        task_queue=task_queue,
    )
    return deal


async def refusal(update: Awaitable[object]) -> ApplicationError:
    """Await an update that must be refused; return the workflow's ApplicationError."""
    try:
        await update
    except WorkflowUpdateFailedError as err:
        assert isinstance(err.cause, ApplicationError), err.cause
        return err.cause
    raise AssertionError("the update was accepted")


async def finished(env: WorkflowEnvironment, handle: WorkflowHandle) -> Any:
    """The workflow's result, letting the test server skip time meanwhile. Handles of
    child workflows (every milestone) don't get the SDK's automatic unlock."""
    async with env.time_skipping_unlocked():
        return await handle.result()


async def eventually(check: Callable[[], Awaitable[T]], what: str, seconds: float = 10.0) -> T:
    """Poll until `check` returns something truthy: for work a workflow does after a
    child completes, which no handle's result() waits for."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def at(moment: datetime, deadline: datetime) -> bool:
    """A timer fires at its deadline, give or take the workflow task that handles it."""
    return deadline <= moment < deadline + timedelta(minutes=1)


def balance(sessions: sessionmaker[Session], account: str) -> int:
    with sessions() as session:
        return ledger.balance(session, account)


def credit(sessions: sessionmaker[Session], account: str, amount: int, kind: str = "test.fund") -> None:
    """Money from outside (a card) straight into `account`, as an earlier release or
    refund would have left it, for tests of what happens to it next."""
    spec = TransferSpec(
        id=f"test:{kind}:{uuid.uuid4().hex}",
        debit=accounts.WORLD_CARD,
        credit=account,
        amount=amount,
        currency="USD",
        kind=kind,
    )
    with sessions.begin() as session:
        ledger.post(session, spec, datetime.now(UTC))


async def funded(
    client: Client, task_queue: str, amount: int = 50_000, policy: str = "cadcrowd"
) -> tuple[Deal, WorkflowHandle]:
    """A contract with one milestone the client has funded."""
    deal = await open_contract(client, task_queue, policy)
    milestone = await deal.add_milestone(amount)
    await milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=deal.client_actor))
    return deal, milestone


async def refused_or_closed(update: Awaitable[object]) -> str:
    """Await an update sent after a deadline: either the workflow refuses it, or its
    timer already fired and the workflow has ended, so there is nothing to update."""
    try:
        await update
    except WorkflowUpdateFailedError as err:
        assert isinstance(err.cause, ApplicationError) and err.cause.type == "Conflict", err.cause
        return "refused"
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND, err
        return "closed"
    raise AssertionError("the update was accepted")

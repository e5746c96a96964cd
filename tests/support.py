"""Helpers that drive the workflows the way the API does: start a contract, add a
milestone, send commands as a given actor."""
from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from escrow.models import (
    Actor,
    AddMilestone,
    ContractInput,
    ContractType,
    MilestoneView,
    Role,
)
from escrow.policy import preset
from workflows.contract import ContractWorkflow
from workflows.milestone import MilestoneWorkflow


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


async def open_contract(client: Client, task_queue: str, policy: str = "cadcrowd") -> Deal:
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
            policy=preset(policy),
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

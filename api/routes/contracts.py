"""Contracts: open one (fixed or hourly), read it with its milestones and weeks, add a
milestone, close it (C1, C2), change an hourly contract's card (H7)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypeVar
from uuid import uuid4

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import workflow_calls
from api.deps import ActorDep, ClientDep, SessionsDep, SettingsDep, visible
from api.errors import forbidden, invalid
from api.idempotency import operation_id
from api.routes import Caller, CallerDep, Id, resource_router, state_of
from api.schemas import (
    CloseBody,
    ContractDetail,
    NewContract,
    NewMilestone,
    PaymentMethodBody,
)
from escrow.commands import Contract, Update
from escrow.db.views import milestone_views
from escrow.models import ContractInput, ContractView, MilestoneView, Role
from escrow.policy import preset

R = TypeVar("R", bound=BaseModel)
router = resource_router("contracts")
VisibleContract = Annotated[
    ContractView, visible("no contract {contract_id}", state_of(workflow_calls.contract), contract_id=Id)
]


async def _command(caller: Caller, contract_id: str, update: Update[Any, R], **fields: Any) -> R:
    return await caller.run(workflow_calls.contract(caller.client, contract_id), update, **fields)


async def detail(client: ClientDep, sessions: SessionsDep, contract: ContractView) -> ContractDetail:
    """The contract with each milestone's full state from the read model its steps
    write: no query per milestone, finished ones included. Only a milestone too new to
    have written its first step is asked directly."""
    stored = await run_in_threadpool(milestone_views, sessions, contract.id)
    new = [m for m in contract.milestone_ids if m not in stored]
    asked = await asyncio.gather(*(workflow_calls.milestone_state(client, m) for m in new))
    views = {m: MilestoneView.model_validate(view) for m, view in stored.items()} | {v.id: v for v in asked}
    return ContractDetail.of(contract, [views[m] for m in contract.milestone_ids])


@router.post("/contracts", status_code=201, response_model=ContractDetail, summary="Open a contract (M1, H1)")
async def open_contract(
    body: NewContract, actor: ActorDep, client: ClientDep, settings: SettingsDep, request: Request
) -> ContractDetail:
    """A fixed-rate contract agrees milestones (M1); an hourly one (`hourly_rate`, an
    optional `weekly_limit_hours` and the client's card in `payment_method`) opens a
    billing week by itself every Monday 00:00 UTC and bills the week before (H1, H2)."""
    if actor.role is not Role.CLIENT:
        raise forbidden("only a client may open a contract")
    if body.expert_id == actor.user_id:
        raise invalid("a contract needs an expert other than its client")
    contract = ContractInput(
        # Under an Idempotency-Key the id is derived from it, so a retry finds the
        # contract its first attempt started instead of opening a second one.
        contract_id=operation_id(request) or uuid4().hex,
        client_id=actor.user_id,
        expert_id=body.expert_id,
        type=body.type,
        currency=body.currency,
        hourly_rate=body.hourly_rate,
        weekly_limit_hours=body.weekly_limit_hours,
        payment_method=body.payment_method,
        policy=preset(body.policy or settings.policy_name),
    )
    view = await workflow_calls.start_contract(client, contract, settings.task_queue)
    return ContractDetail.of(view, [])


@router.get(
    "/contracts/{contract_id}",
    response_model=ContractDetail,
    summary="A contract with its milestones or billing weeks and escrow total",
)
async def read_contract(contract: VisibleContract, client: ClientDep, sessions: SessionsDep) -> ContractDetail:
    return await detail(client, sessions, contract)


@router.post(
    "/contracts/{contract_id}/milestones",
    status_code=201,
    response_model=MilestoneView,
    summary="Add a milestone: agreed from the client, a proposal from the expert (M1, M8)",
)
async def add_milestone(contract_id: Id, body: NewMilestone, caller: CallerDep) -> MilestoneView:
    return await _command(caller, contract_id, Contract.add_milestone, **body.model_dump())


@router.post("/contracts/{contract_id}/close", response_model=ContractDetail, summary="Close the contract (C1, C2)")
async def close_contract(
    contract_id: Id, caller: CallerDep, sessions: SessionsDep, body: CloseBody | None = None
) -> ContractDetail:
    """Either party closes. Unfunded milestones are cancelled; unreleased escrow is
    released to the expert (`remainder: release`, the client only) or returned to the
    client by refund request (`refund`, R); an expert who closes always gives it back.
    Open billing weeks bill what was logged and finish their review. The contract is
    `closing` until all its money has moved, then `closed`, flagged `zero_pay` when the
    expert got nothing (C2)."""
    view = await _command(caller, contract_id, Contract.close, remainder=body.remainder if body else None)
    return await detail(caller.client, sessions, view)


@router.post(
    "/contracts/{contract_id}/payment-method",
    response_model=ContractDetail,
    summary="Set the hourly contract's card (H2, H7)",
)
async def set_payment_method(
    contract_id: Id, body: PaymentMethodBody, caller: CallerDep, sessions: SessionsDep
) -> ContractDetail:
    """The client's card for the weekly charges. A week whose charge is failing tries the
    new card at once, and a successful charge lifts the hold (H7)."""
    view = await _command(caller, contract_id, Contract.set_payment_method, payment_method=body.payment_method)
    return await detail(caller.client, sessions, view)

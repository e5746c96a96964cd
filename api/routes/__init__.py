"""One module per resource under /v1, and what they share: how their routers are made,
the id a path names, how a read finds its workflow's state and how a command reaches
its workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from temporalio.client import Client

from api.deps import ActorDep, ClientDep
from api.idempotency import IdempotentRoute, operation_id
from api.openapi import PROBLEMS
from api.workflow_calls import Handle
from escrow.commands import Update
from escrow.inputs import Reference
from escrow.models import Actor

V = TypeVar("V", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

Id = Annotated[Reference, Path()]


def resource_router(tag: str, **kwargs: Any) -> APIRouter:
    """A resource's router: its POSTs honour Idempotency-Key, and the OpenAPI document
    lists every refusal its routes may answer."""
    return APIRouter(tags=[tag], route_class=IdempotentRoute, responses=PROBLEMS, **kwargs)


def state_of(handle: Callable[..., Handle[V]]) -> Callable[..., Awaitable[V]]:
    """A loader for `api.deps.visible`: the view of the workflow `handle(client, **path)`."""

    async def load(client: Client, sessions: object, **path: str) -> V:
        return await handle(client, **path).state()

    return load


@dataclass(frozen=True)
class Caller:
    """Who sends a command, and the operation it is (from its Idempotency-Key, if any)."""

    actor: Actor
    client: Client
    operation_id: str | None

    async def run(self, handle: Handle[V], update: Update[Any, R], **fields: Any) -> R:
        """`update` on `handle`'s workflow, its command (the definition's) carrying the
        caller and `fields`; answers what the update answers."""
        return await handle.run(update, update.arg(actor=self.actor, **fields), self.operation_id)


async def _caller(actor: ActorDep, client: ClientDep, request: Request) -> Caller:
    return Caller(actor, client, operation_id(request))


CallerDep = Annotated[Caller, Depends(_caller)]

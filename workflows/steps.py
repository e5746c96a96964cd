"""Writing one workflow step through the `post_step` activity, the same way from every
workflow: the step number makes every id it writes unique and retry-safe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from escrow.errors import Refusal, refuse
    from escrow.models import Claim, ClaimStatus, Step

T = TypeVar("T")

# A step is one short transaction. A worker killed mid-step is noticed only when this
# runs out, and the command waits that long: keep it short. The step is idempotent, so
# a slow attempt that overlaps its retry writes nothing twice.
POST_STEP_TIMEOUT = timedelta(seconds=10)
# A database outage must not lose a step: retry until it is back, soon after it is.
POST_STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10))


async def post(step: Step, summary: str) -> None:
    """Write the step. One the database can never hold is refused as `Invalid`, as if
    validation had refused it: an update handler fails with it (422 at the API) and the
    workflow takes the next command."""
    try:
        await workflow.execute_activity(
            "post_step",
            step,
            start_to_close_timeout=POST_STEP_TIMEOUT,
            retry_policy=POST_STEP_RETRY,
            summary=summary,
        )
    except ActivityError as err:
        if isinstance(err.cause, ApplicationError) and err.cause.type == Refusal.INVALID:
            raise refuse(Refusal.INVALID, err.cause.message) from err
        raise


async def fire(due: Callable[[], Awaitable[None]]) -> bool:
    """Do what a timer made due; True if its step was refused as one the database can
    never store. That must not fail the workflow that owns the escrow (the money would
    be left with no owner) nor be retried in a loop: it is logged and shown to
    operators, and the workflow tries again after its next command, taking commands
    meanwhile."""
    try:
        await due()
    except ApplicationError as err:
        if err.type != Refusal.INVALID:
            raise
        workflow.logger.error("a timer's step was refused; it waits for the next command: %s", err.message)
        workflow.set_current_details(
            f"**stuck**: a timer's step can't be stored ({err.message}); it is tried again after the next command"
        )
        return True
    return False


def claim(claims: list[Claim], claim_id: str) -> Claim:
    """The claim an `await_claim` names, on whichever workflow owns the escrow."""
    found = next((c for c in claims if c.id == claim_id), None)
    if found is None:
        raise refuse(Refusal.NOT_FOUND, f"no refund request or dispute {claim_id} here")
    return found


async def until_decided(claims: Callable[[], list[Claim]], claim_id: str) -> None:
    """`await_claim`: until the claim is no longer open. The step that closes a claim
    is the one that pays its outcome, so the owner's view then shows the money."""
    await workflow.wait_condition(lambda: claim(claims(), claim_id).status != ClaimStatus.OPEN)


async def tell(workflow_id: str, signal: str, arg: object) -> None:
    """Signal another workflow that listens to this one's progress (a contract to its
    milestones and weeks). One that has ended, or was terminated by an operator, has
    nobody left to listen; that must not fail the workflow holding the money."""
    try:
        await workflow.get_external_workflow_handle(workflow_id).signal(signal, arg)
    except ApplicationError as err:
        if err.type != "ExternalWorkflowExecutionNotFound":
            raise
        workflow.logger.warning("%s is gone; %s not delivered", workflow_id, signal)


def watch(handle: Awaitable[T], lock: asyncio.Lock, on_done: Callable[[T], Awaitable[None]]) -> asyncio.Task[None]:
    """When a child (a refund request, a dispute) decides, act on its outcome under the
    owner's lock, one command at a time with everything else. Keep the task."""

    async def wait() -> None:
        outcome = await handle
        async with lock:
            await on_done(outcome)

    return asyncio.create_task(wait())


class Turns:
    """Commands on a workflow's state take turns: one at a time (a timer's action
    included), and none before the workflow has written its opening step. An update can
    arrive in the very first workflow task, before `run` starts; without the wait the
    opening step would overwrite what that update did."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._open = False

    def open(self) -> None:
        self._open = True

    @asynccontextmanager
    async def command(self) -> AsyncIterator[None]:
        await workflow.wait_condition(lambda: self._open)
        async with self.lock:
            yield

"""The API's only door to Temporal: workflow ids, update/query names, and the
translation of Temporal's answers into HTTP problems.

Names are strings rather than imported workflow methods so the API process needs no
workflow code: it may be deployed apart from the workers.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import NoReturn, Protocol, TypeVar
from uuid import uuid4

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import can_see
from api.errors import RETRY_AFTER, Problem, not_found
from escrow import ids
from escrow.errors import Refusal
from escrow.models import (
    Actor,
    AwaitClaim,
    Claim,
    ContractInput,
    ContractType,
    ContractView,
    DisputeView,
    HourlyWeekView,
    MilestoneView,
    RefundView,
    TimeEntry,
)

CONTRACT_WORKFLOW = "ContractWorkflow"
STATE_QUERY = "state"
ADD_MILESTONE = "add_milestone"

# Updates, by workflow (the workflows' method names).
CLOSE_CONTRACT = "close"
SET_PAYMENT_METHOD = "set_payment_method"
REQUEST_REFUND = "request_refund"
OPEN_DISPUTE = "open_dispute"
ESCALATE_REFUND = "escalate_refund"
LOG_TIME = "log_time"
EDIT_TIME = "edit_time"
DELETE_TIME = "delete_time"
DISPUTE_HOURS = "dispute_hours"
AWAIT_CLAIM = "await_claim"

# How long a command may take before the client is told to retry (503).
COMMAND_WAIT = timedelta(seconds=12)

log = logging.getLogger(__name__)
View = TypeVar("View", bound=BaseModel)
Result = TypeVar("Result", bound=BaseModel)
PartiesView = ContractView | MilestoneView | RefundView | DisputeView | HourlyWeekView

# Refusal kind -> (HTTP status, problem type slug).
REFUSALS = {
    Refusal.INVALID: (422, "invalid"),
    Refusal.FORBIDDEN: (403, "forbidden"),
    Refusal.CONFLICT: (409, "conflict"),
    Refusal.NOT_FOUND: (404, "not-found"),
    Refusal.INSUFFICIENT_FUNDS: (409, "insufficient-funds"),
}


class Command(Protocol):
    actor: Actor




def _refusal(err: WorkflowUpdateFailedError) -> Problem:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type in REFUSALS:
        status, slug = REFUSALS[Refusal(cause.type)]
        return Problem(status, cause.message, slug=slug)
    log.error("update failed without a refusal kind: %r", cause)
    return Problem(500, "the command failed", slug="internal")


@contextmanager
def _answers(what: str) -> Iterator[None]:
    """Turn Temporal's errors for `what` ("milestone abc") into problems."""
    try:
        yield
    except WorkflowUpdateFailedError as err:
        raise _refusal(err) from err
    except RPCTimeoutOrCancelledError as err:
        raise Problem(
            503, f"no answer in time from {what}; retry with the same Idempotency-Key",
            slug="unavailable", headers={"Retry-After": RETRY_AFTER},
        ) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"no {what}") from err
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise Problem(
                503, "the workflow engine is unavailable", slug="unavailable", headers={"Retry-After": RETRY_AFTER}
            ) from err
        raise
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
        log.error("query on %s failed: %s", what, err)
        raise Problem(500, f"could not read {what}", slug="internal") from err


async def start_contract(client: Client, contract: ContractInput, task_queue: str) -> ContractView:
    workflow_id = ids.contract(contract.contract_id)
    with _answers(f"contract {contract.contract_id}"):
        try:
            await client.start_workflow(CONTRACT_WORKFLOW, contract, id=workflow_id, task_queue=task_queue)
        except WorkflowAlreadyStartedError:
            pass  # a retry under the same Idempotency-Key: the contract exists already
    return await contract_state(client, contract.contract_id)


async def _query(client: Client, workflow_id: str, what: str, view: type[View]) -> View:
    with _answers(what):
        async with _bounded(f"{what} does not answer; retry"):
            return await client.get_workflow_handle(workflow_id).query(STATE_QUERY, result_type=view)


async def contract_state(client: Client, contract_id: str) -> ContractView:
    return await _query(client, ids.contract(contract_id), f"contract {contract_id}", ContractView)


async def milestone_state(client: Client, milestone_id: str) -> MilestoneView:
    return await _query(client, ids.milestone(milestone_id), f"milestone {milestone_id}", MilestoneView)


async def refund_state(client: Client, refund_id: str) -> RefundView:
    return await _query(client, ids.refund(refund_id), f"refund request {refund_id}", RefundView)


async def dispute_state(client: Client, dispute_id: str) -> DisputeView:
    return await _query(client, ids.dispute(dispute_id), f"dispute {dispute_id}", DisputeView)


async def week_state(client: Client, contract_id: str, week: str) -> HourlyWeekView:
    what = f"billing week {week} of contract {contract_id}"
    return await _query(client, ids.week(contract_id, week), what, HourlyWeekView)


async def _update(
    client: Client,
    workflow_id: str,
    what: str,
    name: str,
    command: Command,
    update_id: str | None,
    result: type[Result],
    state: type[PartiesView],
    missing: Callable[[], Awaitable[None]] | None = None,
) -> Result:
    """Send a command; `missing`, if given, answers for a workflow that never existed.

    Bounded by COMMAND_WAIT: a workflow that has not answered by then (its worker or
    the database away) is 503, and the client's retry under the same Idempotency-Key
    re-attaches to the same update."""
    handle = client.get_workflow_handle(workflow_id)
    # Retries below must re-attach to this one update, never send a second.
    update_id = update_id or uuid4().hex
    with _answers(what):
        async with _bounded(_still_running(what)):
            pause = 0.05
            while True:
                try:
                    return await handle.execute_update(name, command, id=update_id, result_type=result)
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    status = await _status(client, workflow_id)
                    if status is None:
                        if missing is not None:
                            await missing()
                        raise
                    if status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
                        await _closed(handle, what, command, state, err)
                    # Running, yet the update found no workflow: one that has not run
                    # its first task yet, as on a freshly started engine. Wait for it.
                    log.info("%s: update %s found no running workflow; retrying", what, name)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)


async def _status(client: Client, workflow_id: str) -> WorkflowExecutionStatus.ValueType | None:
    """The latest run's status, None if there is none. The raw call: the SDK's
    describe() decodes the search attributes, which fails on the time-skipping server
    when an unset DeadlineAt is stored."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    try:
        described = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.workflow_execution_info.status


async def _closed(
    handle: WorkflowHandle, what: str, command: Command, state: type[PartiesView], err: RPCError
) -> NoReturn:
    # A finished workflow takes no updates but still answers queries: to its parties
    # that is a state refusing the command (409), not a missing thing.
    view = await handle.query(STATE_QUERY, result_type=state)
    if not can_see(command.actor, view.client_id, view.expert_id):
        raise err
    raise Problem(409, f"{what} is {view.status} and takes no more commands", slug="conflict") from err


@asynccontextmanager
async def _bounded(detail: str) -> AsyncIterator[None]:
    """At most COMMAND_WAIT, then 503 with `detail`."""
    try:
        async with asyncio.timeout(COMMAND_WAIT.total_seconds()):
            yield
    except TimeoutError as err:
        raise Problem(503, detail, slug="unavailable", headers={"Retry-After": RETRY_AFTER}) from err


def _still_running(what: str) -> str:
    return f"{what} is still running the command; retry with the same Idempotency-Key"


async def await_claim(client: Client, owner_workflow_id: str, claim_id: str) -> None:
    """Read-your-writes: return once the owner of the money (a milestone, a billing
    week) has paid the outcome of a claim that was just decided, so the answer and
    every read after it show the money it moved. Bounded like a command."""
    handle = client.get_workflow_handle(owner_workflow_id)
    what = f"the payment of claim {claim_id}"
    with _answers(what):
        async with _bounded(_still_running(what)):
            try:
                await handle.execute_update(AWAIT_CLAIM, AwaitClaim(claim_id=claim_id))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                # The owner has ended, which it does only with every claim paid.


# ---------------------------------------------------------------- contracts, milestones


async def add_milestone(client: Client, contract_id: str, command: Command, update_id: str | None) -> MilestoneView:
    return await _update(
        client, ids.contract(contract_id), f"contract {contract_id}", ADD_MILESTONE, command, update_id,
        MilestoneView, ContractView,
    )


async def contract_command(
    client: Client, contract_id: str, update: str, command: Command, update_id: str | None
) -> ContractView:
    return await _update(
        client, ids.contract(contract_id), f"contract {contract_id}", update, command, update_id,
        ContractView, ContractView,
    )


async def milestone_command(
    client: Client, milestone_id: str, update: str, command: Command, update_id: str | None
) -> MilestoneView:
    return await _update(
        client, ids.milestone(milestone_id), f"milestone {milestone_id}", update, command, update_id,
        MilestoneView, MilestoneView,
    )


async def milestone_claim(
    client: Client, milestone_id: str, update: str, command: Command, update_id: str | None
) -> Claim:
    """A milestone update that opens a refund request or a dispute and answers its claim."""
    return await _update(
        client, ids.milestone(milestone_id), f"milestone {milestone_id}", update, command, update_id,
        Claim, MilestoneView,
    )


# ---------------------------------------------------------------- refunds, disputes


async def refund_command(
    client: Client, refund_id: str, update: str, command: Command, update_id: str | None
) -> RefundView:
    return await _update(
        client, ids.refund(refund_id), f"refund request {refund_id}", update, command, update_id,
        RefundView, RefundView,
    )


async def dispute_command(
    client: Client, dispute_id: str, update: str, command: Command, update_id: str | None
) -> DisputeView:
    return await _update(
        client, ids.dispute(dispute_id), f"dispute {dispute_id}", update, command, update_id,
        DisputeView, DisputeView,
    )


# ---------------------------------------------------------------- hourly weeks


async def week_command(
    client: Client,
    contract_id: str,
    week: str,
    update: str,
    command: Command,
    update_id: str | None,
    result: type[Result],
    missing: Callable[[], Awaitable[None]] | None = None,
) -> Result:
    workflow_id = ids.week(contract_id, week)
    what = f"billing week {week} of contract {contract_id}"
    return await _update(client, workflow_id, what, update, command, update_id, result, HourlyWeekView, missing)


async def log_time(
    client: Client, contract_id: str, week: str, command: Command, update_id: str | None
) -> TimeEntry:
    """H1: a week's workflow exists from its Monday 00:00 until it closes after its
    review and hold; outside that, no week takes the entry. To a party of the contract
    that is a refusal of the state (409); to anyone else, no contract (404)."""

    async def no_such_week() -> None:
        contract = await contract_state(client, contract_id)
        if not can_see(command.actor, contract.client_id, contract.expert_id):
            raise not_found(f"no contract {contract_id}")
        if contract.type is ContractType.FIXED:
            raise Problem(
                409, f"contract {contract_id} is fixed-rate: it bills by milestone, not by time", slug="conflict"
            )
        raise Problem(
            409,
            f"no billing week {week} is open for this contract: time can't be logged in the future, "
            "and a past week closes after its review",
            slug="conflict",
        )

    return await week_command(client, contract_id, week, LOG_TIME, command, update_id, TimeEntry, no_such_week)

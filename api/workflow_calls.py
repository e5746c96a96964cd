"""The API's only door to Temporal: one typed handle per workflow kind, made from the
definitions of escrow.commands, and the translation of Temporal's answers into HTTP
problems.

The definitions name workflows and updates rather than import workflow code, so the
API process needs none: it may be deployed apart from the workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any, Generic, NoReturn, TypeVar
from uuid import uuid4

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import can_see
from api.errors import INVALID, RETRY_AFTER, Problem, not_found
from escrow import case_text, commands
from escrow.commands import Definition, Update
from escrow.errors import Refusal
from escrow.models import (
    AwaitClaim,
    ContractInput,
    ContractType,
    ContractView,
    DisputeView,
    HourlyWeekView,
    LogTime,
    MilestoneView,
    RefundView,
    TimeEntry,
)

# How long a command may take before the client is told to retry (503).
COMMAND_WAIT = timedelta(seconds=12)

log = logging.getLogger(__name__)
V = TypeVar("V", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

# Refusal kind -> (HTTP status, problem type slug); a rule's `Invalid` is invalid input
# like any other, so it has the same problem type.
REFUSALS = {
    Refusal.INVALID: (422, INVALID),
    Refusal.FORBIDDEN: (403, "forbidden"),
    Refusal.CONFLICT: (409, "conflict"),
    Refusal.NOT_FOUND: (404, "not-found"),
    Refusal.INSUFFICIENT_FUNDS: (409, "insufficient-funds"),
}


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
            503,
            f"no answer in time from {what}; retry with the same Idempotency-Key",
            slug="unavailable",
            headers={"Retry-After": RETRY_AFTER},
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


class Handle(Generic[V]):
    """One workflow of a kind of escrow.commands: its view, and its updates, typed.
    `what` names it in problems ("milestone abc"); `missing`, if given, answers for a
    workflow that never existed."""

    def __init__(
        self,
        client: Client,
        kind: type[Definition[V]],
        workflow_id: str,
        what: str,
        missing: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client, self.kind, self.workflow_id, self.what = client, kind, workflow_id, what
        self._missing = missing
        self._handle = client.get_workflow_handle(workflow_id)

    async def start(self, input: Any, task_queue: str, summary: str) -> None:
        """Start the workflow, with its one-line `summary` for the Web UI's list; a retry
        under the same Idempotency-Key finds it started already, which is not an error:
        the command after it re-attaches."""
        with _answers(self.what):
            try:
                await self.client.start_workflow(
                    self.kind.workflow, input, id=self.workflow_id, task_queue=task_queue, static_summary=summary
                )
            except WorkflowAlreadyStartedError:
                pass

    async def state(self) -> V:
        with _answers(self.what):
            async with _bounded(f"{self.what} does not answer; retry"):
                return await self._handle.query(self.kind.state, result_type=self.kind.view)  # type: ignore[return-value]

    async def run(self, update: Update[C, R], command: C, update_id: str | None) -> R:
        """Send a command and answer what the update answers.

        Bounded by COMMAND_WAIT: a workflow that has not answered by then (its worker or
        the database away) is 503, and the client's retry under the same Idempotency-Key
        re-attaches to the same update."""
        # Retries below must re-attach to this one update, never send a second.
        update_id = update_id or uuid4().hex
        with _answers(self.what):
            async with _bounded(_still_running(self.what)):
                pause = 0.05
                while True:
                    try:
                        return await self._handle.execute_update(
                            update.name, command, id=update_id, result_type=update.result
                        )
                    except RPCError as err:
                        if err.status != RPCStatusCode.NOT_FOUND:
                            raise
                        status = await _status(self.client, self.workflow_id)
                        if status is None:
                            if self._missing is not None:
                                await self._missing()
                            raise
                        if status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
                            await self._closed(command, err)
                        # Running, yet the update found no workflow: one that has not run
                        # its first task yet, as on a freshly started engine. Wait for it.
                        log.info("%s: update %s found no running workflow; retrying", self.what, update.name)
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, 1.0)

    async def _closed(self, command: Any, err: RPCError) -> NoReturn:
        # A finished workflow takes no updates but still answers queries: to its parties
        # that is a state refusing the command (409), not a missing thing.
        view: Any = await self._handle.query(self.kind.state, result_type=self.kind.view)
        if not can_see(command.actor, view.client_id, view.expert_id):
            raise err
        raise Problem(409, f"{self.what} is {view.status} and takes no more commands", slug="conflict") from err


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


# ---------------------------------------------------------------- one handle per kind


def contract(client: Client, contract_id: str) -> Handle[ContractView]:
    return Handle(client, commands.Contract, commands.Contract.workflow_id(contract_id), f"contract {contract_id}")


def milestone(client: Client, milestone_id: str) -> Handle[MilestoneView]:
    return Handle(client, commands.Milestone, commands.Milestone.workflow_id(milestone_id), f"milestone {milestone_id}")


def refund(client: Client, refund_id: str) -> Handle[RefundView]:
    return Handle(client, commands.Refund, commands.Refund.workflow_id(refund_id), f"refund request {refund_id}")


def dispute(client: Client, dispute_id: str) -> Handle[DisputeView]:
    return Handle(client, commands.Dispute, commands.Dispute.workflow_id(dispute_id), f"dispute {dispute_id}")


def week(
    client: Client, contract_id: str, iso_week: str, missing: Callable[[], Awaitable[None]] | None = None
) -> Handle[HourlyWeekView]:
    what = f"billing week {iso_week} of contract {contract_id}"
    return Handle(client, commands.Week, commands.Week.workflow_id(contract_id, iso_week), what, missing)


async def start_contract(client: Client, input: ContractInput, task_queue: str) -> ContractView:
    handle = contract(client, input.contract_id)
    await handle.start(input, task_queue, case_text.contract_summary(input))
    return await handle.state()


async def milestone_state(client: Client, milestone_id: str) -> MilestoneView:
    return await milestone(client, milestone_id).state()


async def await_claim(client: Client, owner_workflow_id: str, claim_id: str) -> None:
    """Read-your-writes: return once the owner of the money (a milestone, a billing
    week) has paid the outcome of a claim that was just decided, so the answer and
    every read after it show the money it moved. Bounded like a command."""
    update = commands.owner(owner_workflow_id).await_claim
    handle = client.get_workflow_handle(owner_workflow_id)
    what = f"the payment of claim {claim_id}"
    with _answers(what):
        async with _bounded(_still_running(what)):
            try:
                await handle.execute_update(update.name, AwaitClaim(claim_id=claim_id), result_type=update.result)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                # The owner has ended, which it does only with every claim paid.


async def log_time(
    client: Client, contract_id: str, iso_week: str, command: LogTime, update_id: str | None
) -> TimeEntry:
    """H1: a week's workflow exists from its Monday 00:00 until it closes after its
    review and hold; outside that, no week takes the entry. To a party of the contract
    that is a refusal of the state (409); to anyone else, no contract (404)."""

    async def no_such_week() -> None:
        view = await contract(client, contract_id).state()
        if not can_see(command.actor, view.client_id, view.expert_id):
            raise not_found(f"no contract {contract_id}")
        if view.type is ContractType.FIXED:
            raise Problem(
                409, f"contract {contract_id} is fixed-rate: it bills by milestone, not by time", slug="conflict"
            )
        raise Problem(
            409,
            f"no billing week {iso_week} is open for this contract: time can't be logged in the future, "
            "and a past week closes after its review",
            slug="conflict",
        )

    return await week(client, contract_id, iso_week, no_such_week).run(commands.Week.log_time, command, update_id)

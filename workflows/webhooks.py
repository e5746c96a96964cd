"""Webhook delivery as durable Temporal work, on its own task queue (escrow.webhooks).

The dispatcher sleeps until a committed step wakes it (`activities.webhooks.Wake`),
queues the new events for the endpoints that want them and wakes those endpoints'
workflows. An endpoint's workflow delivers in rounds and, after a failed round,
sleeps out its backoff whatever wakes it. Neither runs a timer while nothing is owed,
so an idle engine costs nothing and a time-skipping test server is never kept busy.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from escrow.webhooks import (
        ANSWER_WITHIN,
        ROUND,
        WAKE,
        Dispatch,
        Dispatched,
        EndpointState,
        Round,
        RoundOutcome,
        backoff,
        endpoint_workflow_id,
    )

READ_TIMEOUT = timedelta(seconds=30)
# A round's attempts, `AT_ONCE` at a time, each up to ANSWER_WITHIN.
ROUND_TIMEOUT = ANSWER_WITHIN * (ROUND // 4) + READ_TIMEOUT
# PostgreSQL: events of a transaction that is still running are withheld from the feed
# (escrow/db/events.py); the dispatcher looks again this soon.
WITHHELD_AGAIN = timedelta(seconds=1)
# Rounds before a workflow continues as new, at the latest.
ROUNDS = 500


class Woken:
    """A workflow woken by the `WAKE` signal. A new run starts awake: a wake-up may
    have come as the previous run continued as new."""

    def __init__(self) -> None:
        self._due = True

    @workflow.signal(name=WAKE)
    def wake(self) -> None:
        self._due = True

    async def woken(self, timeout: timedelta | None = None) -> None:
        try:
            await workflow.wait_condition(lambda: self._due, timeout=timeout)
        except TimeoutError:
            pass
        self._due = False

    def again(self) -> None:
        self._due = True

    @staticmethod
    def should_continue_as_new(rounds: int) -> bool:
        return rounds >= ROUNDS or workflow.info().is_continue_as_new_suggested()


@workflow.defn(name="WebhookDispatcher")
class WebhookDispatcher(Woken):
    def __init__(self) -> None:
        super().__init__()
        # Endpoint workflows this run has started or found running: they are only signalled.
        self._running: set[str] = set()

    @workflow.run
    async def run(self, after: tuple[int, int] | None) -> None:
        withheld, rounds = False, 0
        while not self.should_continue_as_new(rounds):
            await self.woken(WITHHELD_AGAIN if withheld else None)
            rounds += 1
            read = await workflow.execute_activity(
                "queue_webhooks",
                Dispatch(after=after, now=workflow.now()),
                result_type=Dispatched,
                start_to_close_timeout=READ_TIMEOUT,
            )
            await asyncio.gather(*(self._wake(endpoint_id) for endpoint_id in read.endpoints))
            after, withheld = read.cursor, read.withheld
            if read.full:
                self.again()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(after)

    async def _wake(self, endpoint_id: str) -> None:
        workflow_id = endpoint_workflow_id(endpoint_id)
        if workflow_id not in self._running:
            self._running.add(workflow_id)
            try:
                await workflow.start_child_workflow(
                    WebhookEndpointWorkflow.run,
                    EndpointState(endpoint_id=endpoint_id),
                    id=workflow_id,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    static_summary=f"webhooks to {endpoint_id}",
                )
                return  # a new run starts awake
            except WorkflowAlreadyStartedError:
                pass
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(WAKE)
        except FailureError:
            # It ended (its endpoint was removed): the next wake-up starts it again.
            self._running.discard(workflow_id)


@workflow.defn(name="WebhookEndpoint")
class WebhookEndpointWorkflow(Woken):
    """Delivers what is queued for one endpoint, at least once, with the same
    `webhook-id` on every attempt. Ends when the endpoint is removed."""

    @workflow.run
    async def run(self, state: EndpointState) -> None:
        failures, rounds = state.failures, 0
        while not self.should_continue_as_new(rounds):
            if failures:
                await workflow.sleep(backoff(failures))
            else:
                await self.woken()
            rounds += 1
            outcome = await workflow.execute_activity(
                "deliver_webhooks",
                Round(endpoint_id=state.endpoint_id, now=workflow.now()),
                result_type=RoundOutcome,
                start_to_close_timeout=ROUND_TIMEOUT,
            )
            if outcome.gone:
                return
            failures = failures + 1 if outcome.failed and outcome.pending else 0
            if outcome.pending and not outcome.failed:
                self.again()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(EndpointState(endpoint_id=state.endpoint_id, failures=failures))

"""SIGTERM (what docker stop and Kubernetes send) drains the worker and the API.

The worker stops taking tasks, lets the activity it is running finish and report to
Temporal, and exits 0: `python worker.py` itself (tests/draining_worker.py only makes
one step slow). The API (`uvicorn api.main:app`) stops accepting connections and
answers the request in flight. Each runs on a task queue of its own against the
time-skipping server and the test database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.steps import StepActivities
from escrow.db.models import Transfer
from escrow.models import Fund, Step
from tests.api.support import SECRET, Parties, add_milestone, command
from tests.api.support import open_contract as open_contract_by_api
from tests.support import open_contract
from worker import build_worker
from workflows.milestone import MilestoneWorkflow

DRAINING_WORKER = Path(__file__).with_name("draining_worker.py")
T = TypeVar("T")
WAIT = 20.0  # seconds of real time a step may take on a busy machine, generously


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """A child's output, read as it comes so that its pipe never fills."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.lines: list[str] = []
        self.reader = asyncio.ensure_future(self._read(process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        async for line in process.stdout:  # type: ignore[union-attr]
            self.lines.append(line.decode(errors="replace").rstrip())

    async def within(self, step: Awaitable[T], what: str) -> T:
        try:
            return await asyncio.wait_for(step, WAIT)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise AssertionError(f"{what} took over {WAIT:.0f} s:\n" + "\n".join(self.lines)) from None

    async def until(self, text: str) -> str:
        async def seen() -> str:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                if self.reader.done():
                    raise AssertionError(f"exited before {text!r}:\n" + "\n".join(self.lines))
                await asyncio.sleep(0.05)

        try:
            return await asyncio.wait_for(seen(), WAIT)
        except TimeoutError:
            raise AssertionError(f"no {text!r} within {WAIT:.0f} s:\n" + "\n".join(self.lines)) from None


async def test_sigterm_lets_the_running_activity_finish_and_exits_0(
    env: WorkflowEnvironment, client: Client, db_url: str, sessions: sessionmaker[Session]
) -> None:
    task_queue = f"drain-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DRAINING_WORKER),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": env.client.namespace,
            "DATABASE_URL": db_url,
            "ESCROW_TASK_QUEUE": task_queue,
            "ESCROW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            "ESCROW_LOG_FORMAT": "text",
        },
    )
    output = Output(process)
    deal = milestone = None
    try:
        await output.until("worker polling task queue")
        deal = await open_contract(client, task_queue)
        milestone = await output.within(deal.add_milestone(), "adding a milestone")
        await output.within(
            milestone.start_update(
                MilestoneWorkflow.fund, Fund(actor=deal.client_actor), wait_for_stage=WorkflowUpdateStage.ACCEPTED
            ),
            "funding",
        )
        held = (await output.until("holding ")).removeprefix("holding ").split(", ")

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), WAIT)
        await output.reader
        log = "\n".join(output.lines)
        assert code == 0, log
        assert "worker drained" in log, log

        # The activity finished after the signal and Temporal heard it: every activity
        # the milestone scheduled completed, none is left open or failed.
        events = [EventType.Name(e.event_type) for e in (await milestone.fetch_history()).events]
        activity_events = [e.removeprefix("EVENT_TYPE_") for e in events if "_ACTIVITY_TASK_" in e]
        assert activity_events.count("ACTIVITY_TASK_SCHEDULED") == activity_events.count("ACTIVITY_TASK_COMPLETED")
        assert activity_events[-1] == "ACTIVITY_TASK_COMPLETED", activity_events
        with sessions() as session:
            assert set(session.scalars(select(Transfer.id).where(Transfer.id.in_(held)))) == set(held)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        # No worker polls this queue any more: leave nothing scheduled on it.
        for handle in (deal.contract if deal else None, milestone):
            if handle is not None:
                try:
                    await handle.terminate(reason="end of test")
                except RPCError:
                    pass


async def test_sigterm_lets_the_api_answer_the_request_in_flight(
    env: WorkflowEnvironment, client: Client, db_url: str, sessions: sessionmaker[Session]
) -> None:
    task_queue = f"drain-api-{uuid.uuid4().hex[:8]}"
    holding = threading.Event()

    def hold_the_funding(step: Step) -> None:
        if step.transfers and not holding.is_set():
            holding.set()
            time.sleep(2)

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": env.client.namespace,
            "DATABASE_URL": db_url,
            "ESCROW_TASK_QUEUE": task_queue,
            "ESCROW_JWT_SECRET": SECRET,
            "ESCROW_LOG_FORMAT": "text",
        },
    )
    output = Output(process)
    worker = build_worker(
        client, sessions, task_queue, activities=StepActivities(sessions, after_commit=hold_the_funding)
    )
    try:
        async with worker, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as api:
            await output.until("Application startup complete")
            parties = Parties.fresh()
            contract = await open_contract_by_api(api, parties)
            milestone = await add_milestone(api, contract["id"], parties.client)
            fund = asyncio.ensure_future(
                command(api, milestone["id"], "fund", parties.client, {"card_authenticated": True})
            )
            while not holding.is_set():
                assert not fund.done(), fund.result().text
                await asyncio.sleep(0.02)

            process.send_signal(signal.SIGTERM)
            answer = await fund
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "in_progress"
            # uvicorn re-raises the signal once it has shut down, as a process should.
            assert await asyncio.wait_for(process.wait(), WAIT) == -signal.SIGTERM
            await output.reader
            assert "Finished server process" in "\n".join(output.lines)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

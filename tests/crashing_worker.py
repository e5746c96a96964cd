"""A worker that dies at the worst moment, before Temporal hears that an activity
finished: right after a step that released money has committed to the database
(`release`), or right after the payout provider accepted a payout (`payout`).

    python tests/crashing_worker.py TARGET_HOST NAMESPACE DATABASE_URL TASK_QUEUE [release|payout]

Prints "polling" once the worker runs; exits with status 137 (as if SIGKILLed) at that
moment. Used by test_crash_recovery.py.
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig

from activities.steps import StepActivities
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.sandbox_payouts import StoredPayouts
from escrow.models import Step
from escrow.payouts import PayoutRequest, PayoutResult, SandboxPayoutGateway
from escrow.temporal import data_converter
from worker import build_worker

CRASH_STATUS = 137


def die_after_release(step: Step) -> None:
    if any(t.kind == "release" for t in step.transfers):
        print("crashing after " + ", ".join(t.id for t in step.transfers), flush=True)
        os._exit(CRASH_STATUS)  # no cleanup, no activity completion: a hard kill


class DiesAfterSending(SandboxPayoutGateway):
    """The provider pays (and remembers it, in its table); the worker dies before the
    activity reports the payout."""

    def send(self, request: PayoutRequest) -> PayoutResult:
        super().send(request)
        print(f"crashing after sending {request.key}", flush=True)
        os._exit(CRASH_STATUS)


class NoStickyCache(SimplePlugin):
    """Keep no workflow cache, hence no sticky task queue. A real server moves a
    sticky task that nobody picks up back to the shared queue after a few seconds;
    the time-skipping test server never does, so a dead worker's sticky queue would
    hold the workflow's next task forever. Everything else is `build_worker`'s."""

    def __init__(self) -> None:
        super().__init__("escrow.tests.no-sticky-cache")

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        config["max_cached_workflows"] = 0
        return config


async def main(target_host: str, namespace: str, database_url: str, task_queue: str, moment: str = "release") -> None:
    client = await Client.connect(
        target_host, namespace=namespace, data_converter=data_converter, plugins=[NoStickyCache()]
    )
    sessions = make_sessionmaker(make_engine(database_url))
    if moment == "payout":
        worker = build_worker(client, sessions, task_queue, payout_gateway=DiesAfterSending(StoredPayouts(sessions)))
    else:
        worker = build_worker(
            client, sessions, task_queue, activities=StepActivities(sessions, after_commit=die_after_release)
        )
    async with worker:
        print("polling", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))

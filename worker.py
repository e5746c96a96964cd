"""The Temporal worker: every workflow and activity of the engine on one task queue.

Run it with `python worker.py`; settings come from the environment (escrow.settings).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

from activities.payments import PaymentActivities
from activities.payouts import PayoutActivities
from activities.steps import StepActivities
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.sandbox_payouts import StoredPayouts
from escrow.payments import PaymentGateway, SandboxGateway, gateway
from escrow.payouts import PayoutGateway, SandboxPayoutGateway
from escrow.settings import Settings, get_settings
from escrow.temporal import connect, ensure_search_attributes
from workflows.contract import ContractWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.hourly_week import HourlyWeekWorkflow
from workflows.milestone import MilestoneWorkflow
from workflows.payment import ManualPaymentWorkflow
from workflows.payout import PayoutWorkflow
from workflows.refund import RefundRequestWorkflow
from workflows.review import ReviewWorkflow

WORKFLOWS = [
    ContractWorkflow,
    DisputeWorkflow,
    HourlyWeekWorkflow,
    ManualPaymentWorkflow,
    MilestoneWorkflow,
    PayoutWorkflow,
    RefundRequestWorkflow,
    ReviewWorkflow,
]


def build_worker(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    activities: StepActivities | None = None,
    payment_gateway: PaymentGateway | None = None,
    payout_gateway: PayoutGateway | None = None,
) -> Worker:
    steps = activities or StepActivities(sessions)
    payments = PaymentActivities(payment_gateway or SandboxGateway())
    payouts = PayoutActivities(payout_gateway or SandboxPayoutGateway(StoredPayouts(sessions)))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[steps.post_step, payments.charge, payouts.send_payout],
        # Activities are synchronous SQLAlchemy code; they run on these threads.
        activity_executor=ThreadPoolExecutor(max_workers=16),
        max_concurrent_activities=16,
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        # The domain package is pure; importing it once outside the sandbox keeps
        # pydantic classes identical for the data converter and saves re-imports.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("escrow", "pydantic")
        ),
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    client = await connect(settings)
    await ensure_search_attributes(client)
    engine = make_engine(settings.database_url)
    worker = build_worker(
        client, make_sessionmaker(engine), settings.task_queue, payment_gateway=gateway(settings.payment_gateway)
    )
    stop = stop or asyncio.Event()
    async with worker:
        logging.getLogger("escrow.worker").info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
    engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(get_settings(), stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()

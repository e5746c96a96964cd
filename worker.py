"""The Temporal worker: every workflow and activity of the engine on one task queue.

Run it with `python worker.py`; settings come from the environment (escrow.settings).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

from activities.payments import PaymentActivities
from activities.payouts import PayoutActivities
from activities.steps import StepActivities
from activities.webhooks import Wake, WebhookActivities
from escrow import logs
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.sandbox_payouts import StoredPayouts
from escrow.payments import PaymentGateway, SandboxGateway, gateway
from escrow.payouts import PayoutGateway, SandboxPayoutGateway
from escrow.settings import DEFAULT_WORKER_CACHE, Settings, get_settings
from escrow.temporal import connect, ensure_search_attributes
from escrow.webhooks import webhook_queue
from workflows.contract import ContractWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.hourly_week import HourlyWeekWorkflow
from workflows.milestone import MilestoneWorkflow
from workflows.payment import ManualPaymentWorkflow
from workflows.payout import PayoutWorkflow
from workflows.refund import RefundRequestWorkflow
from workflows.review import ReviewWorkflow
from workflows.webhooks import WebhookDispatcher, WebhookEndpointWorkflow

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


# The domain package is pure; importing it once outside the sandbox keeps pydantic
# classes identical for the data converter and saves re-imports. The workflow modules
# hold no state of their own (constants and classes only): passed through, a run no
# longer imports its own copy of them, a third of a cached milestone's memory
# (benchmarks/memory.py). The sandbox checks calls only in modules it imports itself:
# code in these packages is kept deterministic by review and by the replay test
# (tests/test_replay.py replays recorded histories under this same runner).
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("escrow", "pydantic", "workflows")
)


log = logging.getLogger("escrow.worker")

# Under docker-compose's stop_grace_period (30 s) with room for the rest of shutdown.
DRAIN_TIMEOUT = timedelta(seconds=25)


def build_worker(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    activities: StepActivities | None = None,
    payment_gateway: PaymentGateway | None = None,
    payout_gateway: PayoutGateway | None = None,
    max_cached_workflows: int = DEFAULT_WORKER_CACHE,
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
        workflow_runner=WORKFLOW_RUNNER,
        max_cached_workflows=max_cached_workflows,
        # On SIGTERM the worker stops polling and lets running activities finish: a
        # post_step (10 s timeout) always does; a gateway call cut off is retried.
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
    )


def build_webhook_worker(client: Client, sessions: sessionmaker[Session], task_queue: str) -> Worker:
    """Webhook delivery on a queue and threads of its own: an endpoint that hangs
    holds these slots, never a money step's."""
    hooks = WebhookActivities(sessions)
    return Worker(
        client,
        task_queue=webhook_queue(task_queue),
        workflows=[WebhookDispatcher, WebhookEndpointWorkflow],
        activities=[hooks.queue, hooks.deliver],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        max_concurrent_activities=8,
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    client = await connect(settings)
    await ensure_search_attributes(client)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    wake = Wake(client, settings.task_queue)
    worker = build_worker(
        client,
        sessions,
        settings.task_queue,
        activities=StepActivities(sessions, recorded=wake),
        payment_gateway=gateway(settings.payment_gateway),
        max_cached_workflows=settings.worker_cache,
    )
    stop = stop or asyncio.Event()
    # A wake-up lost with a previous process (it died between a commit and its
    # signal) is made good now.
    wake()
    async with worker, build_webhook_worker(client, sessions, settings.task_queue):
        log.info(
            "worker polling task queue %s in namespace %s at %s; workflows %s; activities %s",
            settings.task_queue,
            settings.temporal_namespace,
            settings.temporal_address,
            ", ".join(w.__name__ for w in WORKFLOWS),
            ", ".join(fn.__name__ for fn in worker.config()["activities"]),
        )
        await stop.wait()
        log.info("worker stopping: no new tasks; waiting up to %ss for running activities", DRAIN_TIMEOUT.seconds)
    log.info("worker drained and stopped")
    engine.dispose()


def metrics_runtime(address: str) -> Runtime:
    """The SDK's runtime, serving its metrics (workflow and activity tasks, polls,
    latencies) on http://{address}/metrics. Raises ValueError if the address is taken."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def serve_metrics(settings: Settings) -> None:
    """Every client made from here on reports to ESCROW_WORKER_METRICS_ADDRESS."""
    address = settings.worker_metrics_address
    if not address:
        log.info("worker metrics off (ESCROW_WORKER_METRICS_ADDRESS is empty)")
        return
    Runtime.set_default(metrics_runtime(address))
    log.info("worker metrics on http://%s/metrics", address)


def main() -> None:
    settings = get_settings()
    logs.configure(settings.log_format)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        serve_metrics(settings)
    except ValueError as err:
        raise SystemExit(f"worker: cannot serve metrics on {settings.worker_metrics_address}: {err}") from None

    asyncio.run(_main())


if __name__ == "__main__":
    main()

"""`escrow events resend EVENT_ID [--endpoint ID]`: owe an event again to one webhook
endpoint, or to every endpoint that wants its type, for 3 more days, and wake their
delivery (Temporal). The receiver gets the same `webhook-id` as the first time."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from temporalio.service import RPCError

from cli.database import opened
from escrow.db import events, webhooks
from escrow.settings import Settings
from escrow.temporal import connect
from escrow.webhooks import WAKE, EndpointState, endpoint_workflow_id, webhook_queue


def add(topics: argparse._SubParsersAction) -> None:
    topic = topics.add_parser("events", help="the events feed and its webhooks")
    verbs = topic.add_subparsers(dest="verb", required=True)
    resend = verbs.add_parser("resend", help="deliver an event again to webhook endpoints")
    resend.add_argument("event_id")
    resend.add_argument("--endpoint", dest="endpoint_id", help="only this endpoint (default: every one that wants it)")
    resend.set_defaults(run=run_resend)


def run_resend(args: argparse.Namespace) -> int:
    with opened(args) as sessions, sessions.begin() as session:
        event = events.load(session, args.event_id)
        if event is None:
            print(f"escrow: no event {args.event_id}", file=sys.stderr)
            return 1
        if args.endpoint_id is not None:
            if webhooks.endpoint(session, args.endpoint_id) is None:
                print(f"escrow: no webhook endpoint {args.endpoint_id}", file=sys.stderr)
                return 1
            targets = [args.endpoint_id]
        else:
            wanting = webhooks.all_endpoints(session)
            targets = [e.id for e in wanting if e.event_types is None or event.type in e.event_types]
        now = datetime.now(UTC)
        for endpoint_id in targets:
            webhooks.requeue(session, endpoint_id, event.id, now)
    if not targets:
        print(f"escrow: no webhook endpoint wants {event.type} events", file=sys.stderr)
        return 1
    try:
        asyncio.run(_wake(Settings(), targets))
    except (RPCError, RuntimeError) as err:  # RuntimeError: the connection itself failed
        print(f"queued {event.id} for {', '.join(targets)}; Temporal did not answer ({err}):", file=sys.stderr)
        print("it goes out when each endpoint's workflow next runs", file=sys.stderr)
        return 2
    print(f"queued {event.id} ({event.type}) again for {', '.join(targets)}")
    return 0


async def _wake(settings: Settings, endpoint_ids: list[str]) -> None:
    """Signal each endpoint's workflow, starting it if it is not running."""
    client = await connect(settings)
    for endpoint_id in endpoint_ids:
        await client.start_workflow(
            "WebhookEndpoint",
            EndpointState(endpoint_id=endpoint_id),
            id=endpoint_workflow_id(endpoint_id),
            task_queue=webhook_queue(settings.task_queue),
            start_signal=WAKE,
        )

"""Webhooks (Standard Webhooks): what an operator registers, what each delivery
attempt leaves behind, and when an endpoint is tried again.

Delivery is durable Temporal work on a task queue of its own (`webhook_queue`), so
that an endpoint that is slow or dead takes no worker slot from a money step. One
dispatcher workflow reads the feed after each committed step (it is signalled, never
polls) and queues each event for each endpoint that wants it (`webhook_messages`);
one workflow per endpoint delivers what is queued, in rounds.

An endpoint that fails is not hammered: a failed attempt ends the round, and the next
round comes after an exponential backoff (5 s, 10 s, 20 s, ... at most 6 h apart),
whatever was queued meanwhile. So a dead endpoint costs one attempt per backoff step,
not one per event, and the engine's throughput does not depend on it. A round tries
the least-tried messages first, so one event an endpoint always refuses does not
hold up the others. A message still undelivered 3 days after it was queued fails,
and its endpoint is marked failing (a later success enables it again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

DISPATCHER_ID = "webhooks:dispatcher"
WAKE = "wake"
RETRY_FOR = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(hours=6)
# An endpoint gets this long to answer; a slow one fails the attempt.
ANSWER_WITHIN = timedelta(seconds=10)
# Events read per dispatcher activity; messages attempted per round, this many at once.
BATCH = 100
ROUND = 64
AT_ONCE = 8


def webhook_queue(task_queue: str) -> str:
    return f"{task_queue}-webhooks"


def endpoint_workflow_id(endpoint_id: str) -> str:
    return f"webhook-endpoint:{endpoint_id}"


def message_id(endpoint_id: str, event_id: str) -> str:
    return f"{endpoint_id}:{event_id}"


def backoff(failures: int) -> timedelta:
    """How long after its `failures`-th failed round in a row an endpoint is tried again."""
    return min(FIRST_RETRY * 2 ** max(failures - 1, 0), LONGEST_RETRY)


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    FAILING = "failing"


class MessageStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EndpointView(BaseModel):
    id: str
    url: str
    event_types: list[str] | None
    status: EndpointStatus
    created_at: datetime
    failing_since: datetime | None = None


class NewEndpoint(EndpointView):
    """The endpoint as it is registered: the only time its secret is shown."""

    secret: str


class DeliveryAttempt(BaseModel):
    event_id: str
    webhook_id: str
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime


class Dispatch(BaseModel):
    after: tuple[int, int] | None
    now: datetime


class Dispatched(BaseModel):
    """What the dispatcher read: the endpoints it queued messages for, where to read
    next, and whether events past it wait for older transactions to end."""

    endpoints: list[str]
    cursor: tuple[int, int] | None
    withheld: bool
    full: bool


class Round(BaseModel):
    endpoint_id: str
    now: datetime


class RoundOutcome(BaseModel):
    delivered: int
    failed: bool
    # Messages still pending after the round.
    pending: bool
    # The endpoint was removed: its workflow ends.
    gone: bool = False


class EndpointState(BaseModel):
    """What an endpoint's workflow carries across continue-as-new."""

    endpoint_id: str
    failures: int = 0

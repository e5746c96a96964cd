"""Webhook delivery's side effects: reading the feed for the dispatcher, one signed
POST per attempt, and what the endpoints answered; and `Wake`, which tells the
dispatcher that a step's events were committed."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from escrow.db import events, webhooks
from escrow.db.models import WebhookMessage
from escrow.webhooks import (
    ANSWER_WITHIN,
    AT_ONCE,
    DISPATCHER_ID,
    WAKE,
    Dispatch,
    Dispatched,
    Round,
    RoundOutcome,
    webhook_queue,
)

LONGEST_WAKE_RETRY = 60.0
log = logging.getLogger("escrow.webhooks")


class Wake:
    """Signals the dispatcher (starting it if need be) after a step commits. The step
    does not wait: the call only schedules the signal on the worker's event loop.
    Wake-ups coalesce: while a signal is on its way, later commits only mark another
    one due, sent once it lands; the dispatcher reads everything committed before it
    handles a signal, so no commit goes unread."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._queue = webhook_queue(task_queue)
        self._loop = asyncio.get_running_loop()
        self._due = False
        self._sending: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._kick)
        except RuntimeError:
            pass  # the loop is closed: the worker is stopping, and its next start wakes the dispatcher

    def _kick(self) -> None:
        self._due = True
        if self._sending is None:
            self._sending = self._loop.create_task(self._send())

    async def _send(self) -> None:
        pause = 1.0
        try:
            while self._due:
                self._due = False
                try:
                    await self._client.start_workflow(
                        "WebhookDispatcher", None, id=DISPATCHER_ID, task_queue=self._queue, start_signal=WAKE
                    )
                    pause = 1.0
                except RPCError as err:
                    # Temporal is unreachable: the commit is still unread, so try again.
                    log.warning("could not wake the webhook dispatcher: %s", err)
                    self._due = True
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, LONGEST_WAKE_RETRY)
        finally:
            self._sending = None


class WebhookActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._http = ThreadPoolExecutor(max_workers=AT_ONCE, thread_name_prefix="webhook")

    @activity.defn(name="queue_webhooks")
    def queue(self, dispatch: Dispatch) -> Dispatched:
        with self._sessions.begin() as session:
            return webhooks.queue(session, dispatch.after, dispatch.now)

    @activity.defn(name="deliver_webhooks")
    def deliver(self, job: Round) -> RoundOutcome:
        """A round: the first message alone (a dead endpoint costs one attempt), then
        the rest `AT_ONCE` at a time, until one fails. After a failed round, messages
        queued more than 3 days ago fail and the endpoint is marked failing."""
        with self._sessions() as session:
            endpoint = webhooks.endpoint(session, job.endpoint_id)
            if endpoint is None:
                return RoundOutcome(delivered=0, failed=False, pending=False, gone=True)
            url, secret = endpoint.url, endpoint.secret
            messages = webhooks.due(session, job.endpoint_id)
        delivered, failed = 0, False
        batches = [messages[:1]] + [messages[i : i + AT_ONCE] for i in range(1, len(messages), AT_ONCE)]
        for batch in batches:
            outcomes = list(self._http.map(lambda m: self._attempt(url, secret, m), batch))
            delivered += outcomes.count(True)
            if not all(outcomes):
                failed = True
                break
        with self._sessions.begin() as session:
            pending = webhooks.settled(session, job.endpoint_id, failed, job.now)
        return RoundOutcome(delivered=delivered, failed=failed, pending=pending)

    def _attempt(self, url: str, secret: str, message: WebhookMessage) -> bool:
        """One signed POST (Standard Webhooks). The `webhook-id` is the event's id on
        every attempt, so a receiver can drop a repeat; the timestamp is the attempt's,
        as receivers refuse old ones."""
        with self._sessions() as session:
            event = events.load(session, message.event_id)
        now = datetime.now(UTC)
        if event is None:  # events are never deleted; should one be, its message expires
            with self._sessions.begin() as session:
                webhooks.attempted(session, message, now, None, "the event no longer exists")
            return False
        body = event.model_dump_json()
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event.id, now, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=ANSWER_WITHIN.total_seconds())
            status = response.status_code
            if not 200 <= status < 300:
                error = f"answered {status}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"[:500]
        with self._sessions.begin() as session:
            webhooks.attempted(session, message, now, status, error)
        return error is None

"""A webhook receiver on 127.0.0.1 for tests, and a worker that delivers webhooks."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.steps import StepActivities
from activities.webhooks import Wake
from escrow.db import webhooks
from escrow.db.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from escrow.webhooks import NewEndpoint
from tests.support import eventually
from worker import build_webhook_worker, build_worker


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of `answers` (then 200), or, while
    `hang` is set, holds every request until it is cleared."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    held: int = 0
    hang: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, received: Received) -> int | None:
        with self.lock:
            self.requests.append(received)
            if self.hang.is_set():
                self.held += 1
                return None
            return self.answers.pop(0) if self.answers else 200

    async def got(
        self, count: int, env: WorkflowEnvironment | None = None, step: timedelta | None = None
    ) -> list[Received]:
        """The first `count` requests, once they came; with `env`, moving the test
        server's clock on by `step` while they don't (retries wait out a backoff)."""

        async def enough() -> list[Received] | None:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            if env is not None and step is not None:
                await env.sleep(step)
            return None

        return await eventually(enough, f"{count} webhook requests", seconds=30)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = receiver.answer(Received(dict(self.headers.items()), body))
            if status is None:
                receiver.released.wait()
                status = 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def delivering(client: Client, sessions: sessionmaker[Session], task_queue: str) -> AsyncIterator[None]:
    """The engine's worker whose steps wake webhook delivery, and the delivery worker."""
    steps = StepActivities(sessions, recorded=Wake(client, task_queue))
    async with build_worker(client, sessions, task_queue, activities=steps):
        async with build_webhook_worker(client, sessions, task_queue):
            yield


class Endpoints:
    """Registers endpoints for one test and removes them after it, so that no later
    test delivers to them."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.ids: list[str] = []

    def register(self, url: str, event_types: list[str] | None = None) -> NewEndpoint:
        with self._sessions.begin() as session:
            endpoint = webhooks.register(session, url, event_types)
        self.ids.append(endpoint.id)
        return endpoint

    def remove(self) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id.in_(self.ids)))
            session.execute(delete(WebhookMessage).where(WebhookMessage.endpoint_id.in_(self.ids)))
            session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id.in_(self.ids)))

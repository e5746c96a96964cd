"""The marketplace's side of the wire: every POST carries an Idempotency-Key and is
repeated with the same key until it gets a final answer.

"Try again later" is: no connection (the API is down or restarting), a 5xx (a
dependency is down; 503 with Retry-After during a database outage), and 409 "in
progress" (the same key's first attempt is unanswered, e.g. it died with the API).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from api.auth import issue_token
from escrow.models import Role

# One HTTP attempt may wait on a worker that was just killed, or a database behind an
# outage: the answer comes once both are back.
ATTEMPT_TIMEOUT = 90.0


@dataclass(frozen=True)
class Who:
    user_id: str
    role: Role


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class GaveUp(AssertionError):
    pass


class Api:
    def __init__(self, base_url: str, secret: str, patience: float) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=ATTEMPT_TIMEOUT)
        self.secret = secret
        self.patience = patience
        self.retries: Counter[str] = Counter()
        self.posts = 0
        self.latencies: list[float] = []  # of POSTs answered at the first attempt
        # Called with each POST's number; may kill and restart the API meanwhile.
        self.interrupt: Callable[[int, asyncio.Future[httpx.Response]], Awaitable[None]] | None = None

    def headers(self, who: Who, key: str) -> dict[str, str]:
        token = issue_token(self.secret, who.user_id, who.role, ttl=None)
        return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}

    async def post(self, path: str, who: Who, body: dict[str, Any] | None = None) -> Answer:
        key = uuid.uuid4().hex
        headers = self.headers(who, key)

        def send() -> Awaitable[httpx.Response]:
            return self.http.post(path, json=body, headers=headers)

        self.posts += 1
        sent = asyncio.get_running_loop().time()
        first = asyncio.ensure_future(send())
        if self.interrupt is not None:
            await self.interrupt(self.posts, first)
        try:
            response = await first
            if not self._later(response):
                self.latencies.append(asyncio.get_running_loop().time() - sent)
                return Answer(response.status_code, response.json())
        except httpx.TransportError as err:
            self.retries[type(err).__name__] += 1
        return await self._until_final(send, key, path)

    def _later(self, response: httpx.Response) -> bool:
        if response.status_code >= 500:
            self.retries[f"http {response.status_code}"] += 1
            return True
        return False

    async def _until_final(self, send: Callable[[], Awaitable[httpx.Response]], key: str, path: str) -> Answer:
        deadline = asyncio.get_running_loop().time() + self.patience
        pause = 0.1
        while True:
            try:
                response = await send()
                if not self._later(response):
                    return Answer(response.status_code, response.json())
                pause = _retry_after(response, pause)
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as err:
                self.retries[type(err).__name__] += 1
                last = repr(err)
            if asyncio.get_running_loop().time() > deadline:
                raise GaveUp(f"{path} (key {key}): no final answer within {self.patience:.0f} s; the last: {last}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def close(self) -> None:
        await self.http.aclose()


def _retry_after(response: httpx.Response, pause: float) -> float:
    try:
        return min(float(response.headers["Retry-After"]), 2.0)
    except (KeyError, ValueError):
        return pause

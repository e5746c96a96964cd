"""`Idempotency-Key` on POST: the same key and request answer the first response and
repeat nothing; the same key with another request is 409.

A row in `idempotency_keys` is claimed before the handler runs; its primary key
(user, key) decides a race, so a duplicate arriving while the first is in flight gets
409 rather than a second execution. Final answers (2xx-4xx) are stored and replayed.
On a 5xx or a crash the row is dropped so the client may retry with the same key.

The key also reaches Temporal as `operation_id` (the update id, or the new contract's
id): should the API die after the workflow acted but before the answer was stored,
the retry re-attaches to the same update instead of acting twice.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import authenticate, bearer_token
from api.errors import PROBLEM_JSON, Problem, as_problem, problem_response
from escrow.db.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200  # the column's width
# A row still unanswered after this long belongs to a request that died; a retry
# may take it over (the Temporal update id keeps that retry from acting twice).
LEASE = timedelta(minutes=5)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of the request; JSON bodies are canonicalised so key order and spacing
    do not count as a different request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def operation_id_for(user_id: str, key: str, request_hash: str) -> str:
    return hashlib.sha256(f"{user_id}\0{key}\0{request_hash}".encode()).hexdigest()[:32]


def operation_id(request: Request) -> str | None:
    """A stable id for what this request does, when it carries an Idempotency-Key."""
    return getattr(request.state, "operation_id", None)


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: Any


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def claim(
    sessions: sessionmaker[Session], user_id: str, key: str, method: str, path: str, request_hash: str
) -> Stored | None:
    """Claim the key for this request (None), or return the stored answer to replay."""
    for _ in range(3):
        now = datetime.now(UTC)
        try:
            with sessions.begin() as session:
                session.add(
                    IdempotencyRecord(
                        user_id=user_id, key=key, method=method, path=path,
                        body_hash=request_hash, created_at=now,
                    )
                )
            return None
        except IntegrityError:
            pass
        with sessions.begin() as session:
            record = session.get(IdempotencyRecord, (user_id, key))
            if record is None:
                continue  # its request failed and dropped it meanwhile: claim afresh
            if record.body_hash != request_hash:
                raise Problem(
                    409, f"{HEADER} {key!r} was used for a different request",
                    slug="idempotency-key-reused",
                )
            if record.status_code is not None:
                return Stored(record.status_code, record.response)
            if _as_utc(record.created_at) > now - LEASE:
                raise Problem(
                    409, f"a request with {HEADER} {key!r} is still in progress; retry later",
                    slug="idempotency-key-in-progress",
                )
            taken = session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.user_id == user_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status_code.is_(None),
                    IdempotencyRecord.created_at == record.created_at,
                )
                .values(created_at=now)
            ).rowcount
            if taken == 1:
                return None
    raise Problem(409, f"{HEADER} {key!r} is contended; retry later", slug="idempotency-key-in-progress")


def finish(sessions: sessionmaker[Session], user_id: str, key: str, answer: Stored | None) -> None:
    """Store the final answer, or (None) drop the claim so the key may be retried."""
    where = (IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    with sessions.begin() as session:
        if answer is None:
            session.execute(delete(IdempotencyRecord).where(*where))
        else:
            session.execute(
                update(IdempotencyRecord)
                .where(*where)
                .values(status_code=answer.status_code, response=answer.body)
            )


def replay(stored: Stored) -> JSONResponse:
    media_type = PROBLEM_JSON if stored.status_code >= 400 else "application/json"
    return JSONResponse(
        stored.body, status_code=stored.status_code, media_type=media_type,
        headers={"Idempotent-Replayed": "true"},
    )


def _final_answer(response: Response) -> Stored | None:
    body = getattr(response, "body", None)
    if response.status_code >= 500 or not body:
        return None
    try:
        return Stored(response.status_code, json.loads(body))
    except ValueError:
        return None


def _document_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER, max_length=MAX_KEY_LENGTH,
            description="Repeat a POST safely: the same key and body answer the first response.",
        ),
    ] = None,
) -> None:
    """Puts the header in the OpenAPI document; `IdempotentRoute` does the work."""


class IdempotentRoute(APIRoute):
    """An APIRoute whose POSTs honour `Idempotency-Key`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []), Depends(_document_key)]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if request.method != "POST" or key is None:
                return await handler(request)
            try:
                token = bearer_token(request.headers.get("Authorization"))
                actor = authenticate(request.app.state.settings, token)
            except Problem:
                return await handler(request)  # the handler's own auth refuses it
            if not 0 < len(key) <= MAX_KEY_LENGTH:
                raise Problem(422, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters", slug="validation")
            return await self._once(handler, request, actor.user_id, key)

        return idempotent

    async def _once(self, handler: Handler, request: Request, user_id: str, key: str) -> Response:
        sessions: sessionmaker[Session] = request.app.state.sessions
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        request_hash = fingerprint(request.method, path, await request.body())
        stored = await run_in_threadpool(claim, sessions, user_id, key, request.method, path, request_hash)
        if stored is not None:
            return replay(stored)
        request.state.operation_id = operation_id_for(user_id, key, request_hash)
        try:
            response = await handler(request)
        except Exception as exc:
            problem = as_problem(exc)
            if problem is None:
                await run_in_threadpool(finish, sessions, user_id, key, None)
                raise
            response = problem_response(problem)
        await run_in_threadpool(finish, sessions, user_id, key, _final_answer(response))
        return response

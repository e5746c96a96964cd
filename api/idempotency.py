"""`Idempotency-Key` on POST: the same key and request answer the first response and
repeat nothing; the same key with another request is 409.

A row in `idempotency_keys` is claimed before the handler runs; its primary key
(user, key) decides a race. Final answers (2xx-4xx) are stored and replayed.

The key also reaches Temporal as `operation_id` (the update id, or the new contract's
id), and Temporal dedupes an update id within a workflow run, in flight or finished.
So a claim without an answer (its request still running, or dead: an API crash, a
database outage between the effect and the storing of its answer, a 5xx) is not a
reason to make the client wait: the retry runs the handler again, re-attaches to the
same operation and answers its outcome as soon as it exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import authenticate, bearer_token
from api.errors import PROBLEM_JSON, Problem, as_problem, first_line, invalid, problem_response
from escrow.db.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200  # the column's width
USER_WIDTH = 200
PATH_WIDTH = 500
log = logging.getLogger(__name__)

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
    text = f"{user_id}\0{key}\0{request_hash}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def operation_id(request: Request) -> str | None:
    """A stable id for what this request does, when it carries an Idempotency-Key."""
    return getattr(request.state, "operation_id", None)


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: Any


def stored_user(user_id: str) -> str:
    """The user id as the table can hold it: a digest of one it might not (too long,
    or with a NUL, which PostgreSQL refuses in text, or another unprintable)."""
    if len(user_id) <= USER_WIDTH and user_id.isprintable():
        return user_id
    return "sha256:" + hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()


def claim(
    sessions: sessionmaker[Session], user_id: str, key: str, method: str, path: str, request_hash: str
) -> Stored | None:
    """Claim the key for this request (None: run the handler, which re-attaches to an
    operation a claim left unanswered), or return the stored answer to replay."""
    try:
        with sessions.begin() as session:
            session.add(
                IdempotencyRecord(
                    user_id=user_id,
                    key=key,
                    method=method,
                    path=path[:PATH_WIDTH],
                    body_hash=request_hash,
                    created_at=datetime.now(UTC),
                )
            )
        return None
    except IntegrityError:
        pass
    with sessions.begin() as session:
        record = session.get(IdempotencyRecord, (user_id, key))
        if record is None:
            # Claims are never deleted: only a purge between the two statements.
            raise Problem(409, f"{HEADER} {key!r} is contended; retry", slug="idempotency-key-contended")
        if record.body_hash != request_hash:
            raise Problem(
                409,
                f"{HEADER} {key!r} was used for a different request",
                slug="idempotency-key-reused",
            )
        if record.status_code is not None:
            return Stored(record.status_code, record.response)
        return None


def finish(sessions: sessionmaker[Session], user_id: str, key: str, answer: Stored) -> None:
    """Store the final answer."""
    with sessions.begin() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
            .values(status_code=answer.status_code, response=answer.body)
        )


def replay(stored: Stored) -> JSONResponse:
    media_type = PROBLEM_JSON if stored.status_code >= 400 else "application/json"
    return JSONResponse(
        stored.body,
        status_code=stored.status_code,
        media_type=media_type,
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
            alias=HEADER,
            max_length=MAX_KEY_LENGTH,
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
            if not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
                raise invalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters")
            return await self._once(handler, request, actor.user_id, key)

        return idempotent

    async def _once(self, handler: Handler, request: Request, user_id: str, key: str) -> Response:
        sessions: sessionmaker[Session] = request.app.state.sessions
        user = stored_user(user_id)
        # The whole path and query count in the hash; the stored path is for people.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        request_hash = fingerprint(request.method, target, await request.body())
        stored = await run_in_threadpool(claim, sessions, user, key, request.method, request.url.path, request_hash)
        if stored is not None:
            return replay(stored)
        request.state.operation_id = operation_id_for(user_id, key, request_hash)
        try:
            response = await handler(request)
        except Exception as exc:
            problem = as_problem(exc)
            if problem is None or problem.status >= 500:
                raise  # not a final answer: the claim stays open and a retry re-attaches
            response = problem_response(problem)
        answer = _final_answer(response)
        if answer is not None:
            try:
                await run_in_threadpool(finish, sessions, user, key, answer)
            except Exception as exc:
                # The effect happened: answer it. The claim stays unanswered; a retry
                # re-attaches to the same operation and stores its answer then.
                log.warning("%s %r: answer not stored: %s", HEADER, key, first_line(exc))
        return response

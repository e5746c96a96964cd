"""Every error leaves as `application/problem+json` (RFC 9457).

Routes raise `Problem`; FastAPI's own validation errors and HTTP exceptions are
rewritten into the same shape so a client parses one error format.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from api.middleware import HttpMiddleware

PROBLEM_JSON = "application/problem+json"
# Seconds a client should wait before retrying an answer that says "unavailable".
RETRY_AFTER = "2"
# Connection loss, refusal, timeouts: the database is away, not the request wrong.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
log = logging.getLogger(__name__)


def problem_type(slug: str) -> str:
    return f"urn:escrow:problem:{slug}"


# The one problem type of invalid input, whoever found it: parsing and validation, the
# middleware, or a workflow's rule (`Invalid`). Clients match on it.
INVALID = "validation"
TITLES = {problem_type(INVALID): "Invalid request"}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = problem_type(slug) if slug else "about:blank"
        # One type, one title (RFC 9457 §3.1.3), whichever code raised it.
        self.title = title or TITLES.get(self.type) or HTTPStatus(status).phrase
        self.headers = headers
        self.extensions = extensions


def problem_response(problem: Problem) -> JSONResponse:
    body = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **jsonable_encoder(problem.extensions),
    }
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def unauthenticated(detail: str) -> Problem:
    return Problem(401, detail, slug="unauthenticated", headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")


def not_found(detail: str) -> Problem:
    return Problem(404, detail, slug="not-found")


def invalid(detail: str, **extensions: Any) -> Problem:
    return Problem(422, detail, slug=INVALID, **extensions)


def database_unavailable() -> Problem:
    return Problem(
        503,
        "the database is unavailable; retry (a POST with the same Idempotency-Key)",
        slug="unavailable",
        headers={"Retry-After": RETRY_AFTER},
    )


def _validation_problem(exc: RequestValidationError) -> Problem:
    # Only loc/msg/type: pydantic's `input` and `ctx` may echo secrets or objects
    # that are not JSON.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return invalid(detail or "invalid request", errors=errors)


def as_problem(exc: BaseException) -> Problem | None:
    """The problem an exception stands for, or None if it is a bug (a 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 400:
            # FastAPI's answer to a body its JSON parser fails on other than by a syntax
            # error (nested too deep to parse): invalid input, as malformed JSON is.
            return invalid(str(exc.detail))
        return Problem(exc.status_code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, DATABASE_DOWN):
        return database_unavailable()
    return None


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    problem = as_problem(exc)
    assert problem is not None  # registered only for the kinds as_problem knows
    return problem_response(problem)


class AnswerErrors(HttpMiddleware):
    """The last resort, outside every route: whatever escaped is answered here and
    not re-raised. Starlette's ServerErrorMiddleware re-raises after its 500, and
    uvicorn then closes the keep-alive connection, so a client's next request on it
    fails too. One log line per failure; a traceback only for a bug."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            problem = as_problem(exc)
            if problem is None:
                log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
                problem = Problem(500, "internal error", slug="internal")
            elif problem.status >= 500:
                log.warning("%s %s: %s", scope.get("method"), scope.get("path"), first_line(exc))
            if started:
                return  # too late for another answer; the server ends this one
            await problem_response(problem)(scope, receive, send)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def install(app: FastAPI) -> None:
    for kind in (Problem, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, _handle)
    app.add_middleware(AnswerErrors)

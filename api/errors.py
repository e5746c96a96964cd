"""Every error leaves as `application/problem+json` (RFC 9457).

Routes raise `Problem`; FastAPI's own validation errors and HTTP exceptions are
rewritten into the same shape so a client parses one error format.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


def problem_type(slug: str) -> str:
    return f"urn:escrow:problem:{slug}"


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
        self.title = title or HTTPStatus(status).phrase
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


def _validation_problem(exc: RequestValidationError) -> Problem:
    # Only loc/msg/type: pydantic's `input` and `ctx` may echo secrets or objects
    # that are not JSON.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return Problem(422, detail or "invalid request", slug="validation", title="Invalid request", errors=errors)


def as_problem(exc: BaseException) -> Problem | None:
    """The problem an exception stands for, or None if it is a bug (a 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        return Problem(exc.status_code, str(exc.detail), headers=exc.headers)
    return None


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    problem = as_problem(exc)
    if problem is None:
        # Starlette re-raises it after this answer, so the server logs the traceback.
        problem = Problem(500, "internal error", slug="internal")
    return problem_response(problem)


def install(app: FastAPI) -> None:
    for kind in (Problem, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, _handle)

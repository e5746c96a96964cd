"""What the OpenAPI document says about errors: the problem+json body every refusal
has (api/errors.py writes it) and the statuses any /v1 route may answer with.

Every router passes `PROBLEMS` as its `responses` and `install` takes from the reads
what only a command answers, so a client generated from /openapi.json knows each
operation's 401/403/404/409/413/422/503 answers and their problem types, and
schemathesis holds the API to them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.errors import INVALID, PROBLEM_JSON, problem_type


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: `body`, `path`, `query` or `header`, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem. Extension members may follow (RFC 9457 §3.2)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="`urn:escrow:problem:<slug>` (each response names its slugs), or `about:blank` for a path "
        "or method the API does not serve"
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[ValidationIssue] | None = Field(None, description="422 from validation: each field refused")


def _problem(description: str, *types: str) -> dict[str, Any]:
    # `model` also lists the schema under application/json (FastAPI puts it under the
    # route's media type); the body is sent as application/problem+json.
    kinds = ", ".join(f"`{problem_type(t)}`" for t in types)
    return {
        "model": Problem,
        "description": f"{description}. `type`: {kinds}" if types else description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No bearer token, or one that is malformed, expired or wrongly signed", "unauthenticated"),
    403: _problem("The caller may not do this: wrong role, or not its side's verb", "forbidden"),
    404: _problem("No such resource, or one the caller may not know exists", "not-found"),
    409: _problem(
        "The resource's current state refuses the command, or an Idempotency-Key was reused",
        "conflict",
        "insufficient-funds",
        "idempotency-key-reused",
        "idempotency-key-contended",
    ),
    413: _problem("The request body is too large", "too-large"),
    422: _problem(
        "Invalid input: the body, a path parameter or a header, or a value the rules refuse (`errors` lists "
        "each field when validation found it)",
        INVALID,
    ),
    503: _problem(
        "A dependency (the database or Temporal) did not answer; retry, with the same Idempotency-Key", "unavailable"
    ),
}
# A read changes nothing and carries no body: no state refuses it and none is too large.
NOT_FROM_A_READ = ("409", "413")


def install(app: FastAPI) -> None:
    """The document lists for each operation only the refusals it can answer: the
    routers list every refusal of a command (`PROBLEMS`); reads lose those of a command."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            for item in generate()["paths"].values():
                for status in NOT_FROM_A_READ if "get" in item else ():
                    item["get"]["responses"].pop(status, None)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]

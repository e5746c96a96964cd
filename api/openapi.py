"""What the OpenAPI document says about errors: the problem+json body every refusal
has (api/errors.py writes it) and the statuses any /v1 route may answer with.

Every router passes `PROBLEMS` as its `responses`, so a client generated from
/openapi.json knows the 401/403/404/409/413/422/503 answers, and schemathesis holds
the API to them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.errors import PROBLEM_JSON


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: `body`, `path`, `query` or `header`, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem. Extension members may follow (RFC 9457 §3.2)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:escrow:problem:<slug>`, or `about:blank`")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[ValidationIssue] | None = Field(None, description="422 from validation: each field refused")


def _problem(description: str) -> dict[str, Any]:
    # `model` also lists the schema under application/json (FastAPI puts it under the
    # route's media type); the body is sent as application/problem+json.
    return {
        "model": Problem,
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No bearer token, or one that is malformed, expired or wrongly signed"),
    403: _problem("The caller may not do this: wrong role, or not its side's verb"),
    404: _problem("No such resource, or one the caller may not know exists"),
    409: _problem("The resource's current state refuses the command, or an Idempotency-Key was reused"),
    413: _problem("The request body is too large"),
    422: _problem("Invalid input: the body, a path parameter or a header"),
    503: _problem("A dependency (the database or Temporal) did not answer; retry, with the same Idempotency-Key"),
}

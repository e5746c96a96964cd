"""What a request must be before any route parses it: at most MAX_BODY bytes (413,
also for a chunked body that declares no length), UTF-8 (422)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter

from api.limits import MAX_BODY
from api.schemas import NewTimeEntry
from escrow.inputs import EVIDENCE_MAX, TEXT_MAX
from escrow.models import Role
from tests.api.support import assert_problem, bearer


@pytest.fixture
def echo(offline_app) -> None:
    router = APIRouter()

    @router.post("/probe/time-entry")
    async def entry(body: NewTimeEntry) -> dict:
        return {"evidence": len(json.dumps(body.evidence))}

    offline_app.include_router(router)


@pytest.fixture
def user() -> dict[str, str]:
    return bearer(f"client-{uuid.uuid4().hex[:8]}", Role.CLIENT)


async def test_a_body_over_the_limit_is_413_before_parsing(offline_api, user):
    body = b'{"card_authenticated": true, "pad": "' + b"x" * MAX_BODY + b'"}'
    headers = {**user, "Content-Type": "application/json", "Idempotency-Key": "big"}
    assert_problem(await offline_api.post("/v1/milestones/m-1/fund", content=body, headers=headers), 413)


async def test_a_chunked_body_over_the_limit_is_413(offline_api, user):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 4096 + 2):
            yield b"x" * 4096

    response = await offline_api.post("/v1/milestones/m-1/fund", content=chunks(), headers=user)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


@pytest.mark.parametrize("body", ['{"card_authenticated": true}'.encode("utf-16"), b'{"memo": "caf\xe9"}'])
async def test_a_body_that_is_not_utf8_is_422(offline_api, user, body):
    headers = {**user, "Content-Type": "application/json"}
    response = await offline_api.post("/v1/milestones/m-1/fund", content=body, headers=headers)
    assert "UTF-8" in assert_problem(response, 422)["detail"]


async def test_the_largest_valid_body_fits(offline_api, echo, user):
    # Evidence of EVIDENCE_MAX characters as JSON (escrow.inputs measures it so), the
    # longest memo in characters of 3 bytes each, sent indented as a client might.
    evidence = {"log": "x" * (EVIDENCE_MAX - len(json.dumps({"log": ""})))}
    body = {
        "started_at": "2026-11-16T09:00:00Z",
        "minutes": 60,
        "kind": "tracked",
        "memo": "€" * TEXT_MAX,
        "evidence": evidence,
    }
    content = json.dumps(body, ensure_ascii=False, indent=2).encode()
    assert len(content) > 64 * 1024
    headers = {**user, "Content-Type": "application/json"}
    response = await offline_api.post("/probe/time-entry", content=content, headers=headers)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"evidence": EVIDENCE_MAX}

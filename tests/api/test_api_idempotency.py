"""`Idempotency-Key` on POST, on probe routes added to the real app so the counting
is exact: a replay answers the first response and runs nothing."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import APIRouter, Request
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from api.deps import ActorDep
from api.errors import Problem
from api.idempotency import LEASE, IdempotentRoute, fingerprint, operation_id
from escrow.db.models import IdempotencyRecord
from escrow.models import Role
from tests.api.support import assert_problem, bearer


class Body(BaseModel):
    n: int


class Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.operation_ids: list[str | None] = []
        self.entered = asyncio.Event()
        self.proceed = asyncio.Event()

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/probe", route_class=IdempotentRoute)

        @router.post("/count", status_code=201)
        async def count(body: Body, request: Request, actor: ActorDep) -> dict:
            self.calls += 1
            self.operation_ids.append(operation_id(request))
            return {"calls": self.calls, "n": body.n}

        @router.post("/refuse")
        async def refuse() -> dict:
            self.calls += 1
            raise Problem(409, "the state refuses it", slug="conflict")

        @router.post("/unavailable")
        async def unavailable(request: Request) -> dict:
            self.calls += 1
            self.operation_ids.append(operation_id(request))
            raise Problem(503, "try again", slug="unavailable")

        @router.post("/crash")
        async def crash() -> dict:
            self.calls += 1
            raise RuntimeError("bug")

        @router.post("/slow")
        async def slow() -> dict:
            self.calls += 1
            self.entered.set()
            await self.proceed.wait()
            return {"calls": self.calls}

        return router


@pytest.fixture
def probe(offline_app) -> Probe:
    probe = Probe()
    offline_app.include_router(probe.router())
    return probe


@pytest.fixture
def user() -> dict[str, str]:
    return bearer(f"client-{uuid.uuid4().hex[:8]}", Role.CLIENT)


def keyed(headers: dict[str, str], key: str = "key-1") -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_same_key_and_body_replays_the_first_response(offline_api, probe, user):
    first = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user))
    again = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() == {"calls": 1, "n": 1}
    assert again.headers["idempotent-replayed"] == "true"
    assert probe.calls == 1


async def test_json_spelling_is_not_a_different_body(offline_api, probe, user):
    headers = {**keyed(user), "Content-Type": "application/json"}
    await offline_api.post("/probe/count", content=b'{"n": 1}', headers=headers)
    again = await offline_api.post("/probe/count", content=b'{ "n":1 }', headers=headers)
    assert again.status_code == 201 and probe.calls == 1


async def test_same_key_with_another_body_or_path_is_409(offline_api, probe, user):
    await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user))
    other_body = await offline_api.post("/probe/count", json={"n": 2}, headers=keyed(user))
    other_path = await offline_api.post("/probe/refuse", headers=keyed(user))
    assert assert_problem(other_body, 409)["type"].endswith("idempotency-key-reused")
    assert_problem(other_path, 409)
    assert probe.calls == 1


async def test_keys_belong_to_their_user(offline_api, probe, user):
    await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user))
    someone_else = keyed(bearer("someone-else", Role.CLIENT), "key-1")
    other = await offline_api.post("/probe/count", json={"n": 1}, headers=someone_else)
    assert other.json()["calls"] == 2 and "idempotent-replayed" not in other.headers


async def test_without_a_key_every_post_runs(offline_api, probe, user):
    for _ in range(2):
        await offline_api.post("/probe/count", json={"n": 1}, headers=user)
    assert probe.calls == 2


async def test_a_final_refusal_is_replayed_too(offline_api, probe, user):
    first = await offline_api.post("/probe/refuse", headers=keyed(user))
    again = await offline_api.post("/probe/refuse", headers=keyed(user))
    assert assert_problem(again, 409) == assert_problem(first, 409)
    assert probe.calls == 1


async def test_a_5xx_frees_the_key_and_the_retry_keeps_its_operation_id(offline_api, probe, user):
    assert_problem(await offline_api.post("/probe/unavailable", headers=keyed(user)), 503)
    assert_problem(await offline_api.post("/probe/unavailable", headers=keyed(user)), 503)
    assert probe.calls == 2
    # The same operation id reaches Temporal, which dedupes an update it already ran.
    assert probe.operation_ids[0] is not None and probe.operation_ids[0] == probe.operation_ids[1]


async def test_a_crash_frees_the_key(offline_app, probe, user):
    transport = ASGITransport(app=offline_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://escrow.test") as http:
        for _ in range(2):
            assert_problem(await http.post("/probe/crash", headers=keyed(user)), 500)
    assert probe.calls == 2


async def test_a_duplicate_while_the_first_runs_is_409(offline_api, probe, user):
    first = asyncio.create_task(offline_api.post("/probe/slow", headers=keyed(user)))
    await probe.entered.wait()
    duplicate = await offline_api.post("/probe/slow", headers=keyed(user))
    probe.proceed.set()
    assert (await first).status_code == 200
    assert assert_problem(duplicate, 409)["type"].endswith("idempotency-key-in-progress")
    assert probe.calls == 1


def claim_left_by_a_dead_request(sessions, user_id: str, key: str, started: datetime, request_hash: str) -> None:
    with sessions.begin() as session:
        session.add(
            IdempotencyRecord(
                user_id=user_id, key=key, method="POST", path="/probe/count",
                body_hash=request_hash, created_at=started,
            )
        )


async def test_a_claim_older_than_the_lease_is_taken_over(offline_api, probe, sessions):
    user_id = f"client-{uuid.uuid4().hex[:8]}"
    request_hash = fingerprint("POST", "/probe/count", b'{"n":1}')
    claim_left_by_a_dead_request(sessions, user_id, "fresh", datetime.now(UTC), request_hash)
    claim_left_by_a_dead_request(sessions, user_id, "stale", datetime.now(UTC) - LEASE * 2, request_hash)
    headers = bearer(user_id, Role.CLIENT)
    assert_problem(await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(headers, "fresh")), 409)
    taken = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(headers, "stale"))
    assert taken.status_code == 201 and probe.calls == 1


async def test_an_unauthenticated_post_leaves_no_claim(offline_api, probe, sessions):
    response = await offline_api.post("/probe/count", json={"n": 1}, headers={"Idempotency-Key": "anon"})
    assert_problem(response, 401)
    with sessions() as session:
        assert session.query(IdempotencyRecord).filter_by(key="anon").count() == 0
    assert probe.calls == 0


async def test_an_overlong_key_is_422(offline_api, probe, user):
    assert_problem(await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user, "k" * 201)), 422)
    assert probe.calls == 0

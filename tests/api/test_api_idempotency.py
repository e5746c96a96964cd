"""`Idempotency-Key` on POST, on probe routes added to the real app so the counting
is exact: a replay answers the first response and runs nothing; a request whose claim
has no answer yet runs again under the same operation id, which Temporal dedupes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import ActorDep
from api.errors import Problem
from api.idempotency import IdempotentRoute, Stored, claim, fingerprint, finish, operation_id, stored_user
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
        async def slow(request: Request) -> dict:
            self.calls += 1
            self.operation_ids.append(operation_id(request))
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


async def test_a_crash_is_answered_and_logged_once_and_the_retry_runs_again(offline_api, probe, user, caplog):
    # The default transport re-raises whatever the app raises: an answer here means no
    # layer re-raised after answering (which made uvicorn drop the connection).
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            assert_problem(await offline_api.post("/probe/crash", headers=keyed(user)), 500)
    assert probe.calls == 2
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 2 and all(r.exc_info for r in logged)  # a bug keeps its traceback


async def test_a_duplicate_while_the_first_runs_reattaches_to_it(offline_api, probe, user):
    first = asyncio.create_task(offline_api.post("/probe/slow", headers=keyed(user)))
    await probe.entered.wait()
    duplicate = asyncio.create_task(offline_api.post("/probe/slow", headers=keyed(user)))
    while probe.calls < 2:
        await asyncio.sleep(0.01)
    probe.proceed.set()
    assert ((await first).status_code, (await duplicate).status_code) == (200, 200)
    # Both carry one operation id: against Temporal they are one update.
    assert probe.operation_ids[0] is not None and len(set(probe.operation_ids)) == 1


def claim_left_by_a_dead_request(sessions, user_id: str, key: str, started: datetime, request_hash: str) -> None:
    with sessions.begin() as session:
        session.add(
            IdempotencyRecord(
                user_id=user_id,
                key=key,
                method="POST",
                path="/probe/count",
                body_hash=request_hash,
                created_at=started,
            )
        )


async def test_a_claim_left_unanswered_is_reattached_at_once(offline_api, probe, sessions):
    """An API that died mid-request, or lost the database before storing the answer,
    leaves a claim with no answer: the retry runs again at once (no 5-minute lease)."""
    user_id = f"client-{uuid.uuid4().hex[:8]}"
    request_hash = fingerprint("POST", "/probe/count", b'{"n":1}')
    claim_left_by_a_dead_request(sessions, user_id, "left", datetime.now(UTC), request_hash)
    headers = bearer(user_id, Role.CLIENT)
    taken = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(headers, "left"))
    assert taken.status_code == 201 and probe.calls == 1
    again = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(headers, "left"))
    assert again.headers["idempotent-replayed"] == "true" and probe.calls == 1


async def test_an_unauthenticated_post_leaves_no_claim(offline_api, probe, sessions):
    response = await offline_api.post("/probe/count", json={"n": 1}, headers={"Idempotency-Key": "anon"})
    assert_problem(response, 401)
    with sessions() as session:
        assert session.query(IdempotencyRecord).filter_by(key="anon").count() == 0
    assert probe.calls == 0


async def test_an_overlong_key_is_422(offline_api, probe, user):
    assert_problem(await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(user, "k" * 201)), 422)
    assert probe.calls == 0


async def test_a_long_query_string_counts_but_is_not_stored(offline_api, probe, user):
    path = "/probe/count?note=" + "x" * 600
    first = await offline_api.post(path, json={"n": 1}, headers=keyed(user))
    again = await offline_api.post(path, json={"n": 1}, headers=keyed(user))
    other = await offline_api.post(path + "y", json={"n": 1}, headers=keyed(user))
    assert (first.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert assert_problem(other, 409)["type"].endswith("idempotency-key-reused")
    assert probe.calls == 1


async def test_a_nul_in_the_path_is_404_before_any_claim(offline_api, user, sessions):
    response = await offline_api.post("/v1/milestones/ab%00cd/fund", json={}, headers=keyed(user, "nul"))
    assert_problem(response, 404)
    with sessions() as session:
        assert session.query(IdempotencyRecord).filter_by(key="nul").count() == 0


@pytest.mark.parametrize("sub", ["u" * 250, "user\x00name"])
async def test_a_subject_the_table_could_not_hold_is_never_a_500(offline_api, probe, sessions, sub):
    # The bearer check refuses such a subject (401) ...
    response = await offline_api.post("/probe/count", json={"n": 1}, headers=keyed(bearer(sub, Role.CLIENT)))
    assert_problem(response, 401)
    # ... and should one pass, the table holds a digest of it instead.
    request_hash = fingerprint("POST", "/probe/count", b'{"n":1}')
    user_id = stored_user(sub)
    assert claim(sessions, user_id, "k", "POST", "/probe/count", request_hash) is None
    finish(sessions, user_id, "k", Stored(201, {"n": 1}))
    assert claim(sessions, user_id, "k", "POST", "/probe/count", request_hash) == Stored(201, {"n": 1})
    assert stored_user(sub + "x") != user_id

"""Helpers for API tests: tokens, parties, and the calls every flow makes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient, Response

from api.auth import issue_token
from escrow.models import Role
from tests.support import eventually

SECRET = "test-secret-that-is-long-enough-for-hs256-keys"
PROBLEM_JSON = "application/problem+json"


def bearer(user_id: str, role: Role | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user_id, Role(role))}"}


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


class NoTemporal:
    """Stands in for the Temporal client where a request must be answered before any
    workflow is reached; touching it fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the request reached Temporal (client.{name})")


@dataclass
class Parties:
    client_id: str
    expert_id: str

    @classmethod
    def fresh(cls) -> Parties:
        suffix = uuid.uuid4().hex[:10]
        return cls(client_id=f"client-{suffix}", expert_id=f"expert-{suffix}")

    @property
    def client(self) -> dict[str, str]:
        return bearer(self.client_id, Role.CLIENT)

    @property
    def expert(self) -> dict[str, str]:
        return bearer(self.expert_id, Role.EXPERT)


async def open_contract(api: AsyncClient, parties: Parties) -> dict[str, Any]:
    response = await api.post(
        "/v1/contracts",
        json={"expert_id": parties.expert_id, "type": "fixed", "currency": "USD"},
        headers=parties.client,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_milestone(
    api: AsyncClient, contract_id: str, headers: dict[str, str], amount: int = 50_000
) -> dict[str, Any]:
    response = await api.post(
        f"/v1/contracts/{contract_id}/milestones",
        json={"title": "Logo", "amount": amount, "due_date": "2026-12-31"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def agreed_milestone(api: AsyncClient, amount: int = 50_000) -> tuple[Parties, dict[str, Any]]:
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    return parties, await add_milestone(api, contract["id"], parties.client, amount)


async def command(
    api: AsyncClient, milestone_id: str, verb: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Response:
    return await api.post(f"/v1/milestones/{milestone_id}/{verb}", json=body, headers=headers)


async def funded_milestone(api: AsyncClient, amount: int = 50_000) -> tuple[Parties, dict[str, Any]]:
    """A fresh contract with one milestone the client has funded into escrow."""
    parties, milestone = await agreed_milestone(api, amount)
    response = await command(api, milestone["id"], "fund", parties.client, {"card_authenticated": True})
    assert response.status_code == 200, response.text
    return parties, response.json()


async def poll(
    api: AsyncClient,
    path: str,
    headers: dict[str, str],
    check: Callable[[dict[str, Any]], bool],
    what: str,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """GET `path` until it answers 200 with a body `check` accepts: for what a workflow
    does after the command's answer (a child's outcome paid by its parent, a week that
    opens by itself). Bounded: fails the test after `seconds`."""

    async def probe() -> dict[str, Any] | None:
        response = await api.get(path, headers=headers)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body = response.json()
        return body if check(body) else None

    return await eventually(probe, what, seconds)


def claim_of(milestone: dict[str, Any], claim_id: str) -> dict[str, Any] | None:
    return next((c for c in milestone["claims"] if c["id"] == claim_id), None)


async def balance_of(api: AsyncClient, user_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(f"/v1/users/{user_id}/balance", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()

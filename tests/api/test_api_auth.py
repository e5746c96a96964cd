"""Bearer tokens: who the caller is, decided before anything else happens."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from api.auth import decode_token
from escrow.models import Role
from tests.api.support import SECRET, assert_problem, bearer

ROOT = Path(__file__).resolve().parents[2]
NEW_CONTRACT = {"expert_id": "e-1", "type": "fixed", "currency": "USD"}


def token(claims: dict, secret: str = SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm=algorithm)}"}


async def test_missing_token_is_401(offline_api):
    body = assert_problem(await offline_api.get("/v1/contracts/c-1"), 401)
    assert body["type"].endswith("unauthenticated")


async def test_missing_token_on_a_post_is_401_with_bearer_challenge(offline_api):
    response = await offline_api.post("/v1/contracts", json=NEW_CONTRACT, headers={"Idempotency-Key": "k-401"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, id="other-scheme"),
        pytest.param(
            token({"sub": "alice", "role": "client"}, secret="another-secret-of-sufficient-length!"), id="wrong-secret"
        ),
        pytest.param(token({"sub": "alice", "role": "admin"}), id="unknown-role"),
        pytest.param(token({"sub": "alice"}), id="no-role"),
        pytest.param(token({"role": "client"}), id="no-sub"),
        pytest.param(token({"sub": "", "role": "client"}), id="empty-sub"),
        pytest.param(
            token({"sub": "alice", "role": "client", "exp": datetime.now(UTC) - timedelta(minutes=5)}), id="expired"
        ),
        pytest.param(token({"sub": "alice", "role": "operator"}, secret="", algorithm="none"), id="alg-none"),
    ],
)
async def test_bad_token_is_401(offline_api, headers):
    assert_problem(await offline_api.get("/v1/milestones/m-1", headers=headers), 401)


async def test_expert_cannot_open_a_contract(offline_api):
    response = await offline_api.post("/v1/contracts", json=NEW_CONTRACT, headers=bearer("bob", Role.EXPERT))
    assert assert_problem(response, 403)["type"].endswith("forbidden")


async def test_a_client_cannot_be_its_own_expert(offline_api):
    body = {**NEW_CONTRACT, "expert_id": "alice"}
    response = await offline_api.post("/v1/contracts", json=body, headers=bearer("alice", Role.CLIENT))
    assert_problem(response, 422)


async def test_a_balance_is_private_to_its_user(offline_api):
    response = await offline_api.get("/v1/users/alice/balance", headers=bearer("mallory", Role.EXPERT))
    assert_problem(response, 403)


def run_token_cli(*args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ESCROW_JWT_SECRET"}
    if secret is not None:
        env["ESCROW_JWT_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "api.token", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_token_cli_prints_a_token_the_api_accepts():
    done = run_token_cli("--sub", "alice", "--role", "client", "--ttl", "600", secret=SECRET)
    assert done.returncode == 0, done.stderr
    actor = decode_token(SECRET, done.stdout.strip())
    assert (actor.user_id, actor.role) == ("alice", Role.CLIENT)


def test_token_cli_refuses_without_a_secret():
    done = run_token_cli("--sub", "alice", "--role", "client", secret=None)
    assert done.returncode == 2
    assert "ESCROW_JWT_SECRET" in done.stderr

"""Every text and id a request carries is checked at the door: one PostgreSQL can't
store (a NUL, an id too long for an account name) must be a 422 or 401 before any
workflow is asked, never a step that fails inside the workflow for ever."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api import token
from escrow.models import Role
from tests.api.support import (
    Parties,
    assert_problem,
    bearer,
    command,
    funded_milestone,
    poll,
)

NUL = "\x00"
CLIENT = bearer("alice", Role.CLIENT)
EXPERT = bearer("bob", Role.EXPERT)
OPERATOR = bearer("carol", Role.OPERATOR)
ENTRY = {"started_at": "2026-11-16T09:00:00Z", "minutes": 60, "kind": "tracked"}
HOURLY = {"expert_id": "bob", "type": "hourly", "currency": "USD", "hourly_rate": 5000}

# (method, path, caller, a valid body, the field that gets a NUL)
TEXT_FIELDS = [
    ("post", "/v1/contracts", CLIENT, {"expert_id": "bob", "type": "fixed", "currency": "USD"}, "expert_id"),
    ("post", "/v1/contracts", CLIENT, {**HOURLY, "payment_method": "tok_visa"}, "payment_method"),
    ("post", "/v1/contracts/c-1/milestones", CLIENT, {"title": "Logo", "amount": 100}, "title"),
    (
        "post",
        "/v1/contracts/c-1/milestones",
        CLIENT,
        {"title": "Logo", "amount": 100, "description": "d"},
        "description",
    ),
    ("post", "/v1/contracts/c-1/payment-method", CLIENT, {"payment_method": "tok_visa"}, "payment_method"),
    ("post", "/v1/milestones/m-1/submit", EXPERT, {"message": "done"}, "message"),
    ("post", "/v1/milestones/m-1/request-revision", CLIENT, {"message": "redo"}, "message"),
    ("post", "/v1/milestones/m-1/refund-requests", CLIENT, {"amount": 100, "message": "m"}, "message"),
    ("post", "/v1/milestones/m-1/disputes", CLIENT, {"amount": 100, "reason": "late"}, "reason"),
    ("post", "/v1/refund-requests/r-1/approve", EXPERT, {"message": "ok"}, "message"),
    ("post", "/v1/refund-requests/r-1/decline", EXPERT, {"message": "no"}, "message"),
    ("post", "/v1/refund-requests/r-1/escalate", CLIENT, {"reason": "r"}, "reason"),
    ("post", "/v1/disputes/d-1/respond", EXPERT, {"message": "m"}, "message"),
    ("post", "/v1/disputes/d-1/evidence", EXPERT, {"text": "t"}, "text"),
    ("post", "/v1/disputes/d-1/verdict", OPERATOR, {"amount_to_client": 0, "note": "n"}, "note"),
    ("post", "/v1/contracts/c-1/time-entries", EXPERT, {**ENTRY, "memo": "m"}, "memo"),
    ("post", "/v1/contracts/c-1/time-entries", EXPERT, {**ENTRY, "evidence": {"app": "x"}}, "evidence"),
    ("patch", "/v1/time-entries/e-1", EXPERT, {"memo": "m"}, "memo"),
    ("post", "/v1/contracts/c-1/weeks/2026-W47/disputes", CLIENT, {"entry_ids": ["e-1"], "reason": "r"}, "entry_ids"),
    ("post", "/v1/contracts/c-1/weeks/2026-W47/disputes", CLIENT, {"entry_ids": ["e-1"], "reason": "r"}, "reason"),
]


def with_nul(value: object) -> object:
    if isinstance(value, str):
        return f"{value[:1]}{NUL}{value[1:]}"
    if isinstance(value, list):
        return [with_nul(value[0]), *value[1:]]
    assert isinstance(value, dict)
    return {key: with_nul(item) for key, item in value.items()}


@pytest.mark.parametrize(
    ("method", "path", "caller", "body", "field"),
    [pytest.param(*case, id=f"{case[1]}:{case[4]}") for case in TEXT_FIELDS],
)
async def test_a_nul_in_any_text_of_any_body_is_refused_before_any_workflow(
    offline_api, method, path, caller, body, field
):
    hostile = {**body, field: with_nul(body[field])}
    response = await offline_api.request(method, path, json=hostile, headers=caller)
    problem = assert_problem(response, 422)
    assert field in [e["loc"][1] for e in problem["errors"]], problem


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/milestones/m%1B1"),
        ("post", "/v1/disputes/d-1/offers/1%0A/accept"),
        ("post", f"/v1/refund-requests/{'r' * 201}/approve"),
        ("delete", "/v1/time-entries/e%201"),
        ("get", "/v1/users/alice%09/balance"),
    ],
)
async def test_a_path_id_no_database_column_holds_is_refused_before_any_workflow(offline_api, method, path):
    assert_problem(await offline_api.request(method, path, headers=CLIENT), 422)


@pytest.mark.parametrize("expert_id", ["x" * 65, "x" * 186, "x" * 200, f"bob{NUL}", "bob smith", ""])
async def test_an_expert_id_no_account_name_could_hold_is_refused(offline_api, expert_id):
    body = {"expert_id": expert_id, "type": "fixed", "currency": "USD"}
    assert_problem(await offline_api.post("/v1/contracts", json=body, headers=CLIENT), 422)


@pytest.mark.parametrize("sub", ["x" * 65, f"alice{NUL}", "alice smith", "alice\n"])
async def test_a_token_whose_subject_is_no_valid_user_id_is_401(offline_api, sub):
    response = await offline_api.get("/v1/users/alice/balance", headers=bearer(sub, Role.CLIENT))
    assert "claim sub" in assert_problem(response, 401)["detail"]


@pytest.mark.rules("M4", "M6")
@pytest.mark.parametrize("body", [{}, {"amount": None}, None], ids=["empty", "null", "no-body"])
async def test_a_release_must_say_how_much(offline_api, body):
    response = await offline_api.post("/v1/milestones/m-1/release", json=body, headers=CLIENT)
    assert_problem(response, 422)


@pytest.mark.rules("M4")
async def test_hostile_commands_change_nothing_and_the_review_window_still_releases(api, env):
    parties, milestone = await funded_milestone(api, 50_000)
    mid = milestone["id"]
    assert (await command(api, mid, "submit", parties.expert, {"message": "done"})).status_code == 200
    for verb, headers, body in (
        ("release", parties.client, {}),
        ("release", parties.client, {"amount": None}),
        ("release", parties.client, None),
        ("request-revision", parties.client, {"message": f"redo{NUL}"}),
        ("refund-requests", parties.client, {"amount": 100, "message": NUL}),
        ("disputes", parties.client, {"amount": 100, "reason": f"late{NUL}"}),
    ):
        assert_problem(await command(api, mid, verb, headers, body), 422)
    long_client = Parties(client_id="x" * 186, expert_id=parties.expert_id)
    assert_problem(await command(api, mid, "release", long_client.client, {"amount": 100}), 401)
    state = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert (state["escrow"], state["released"], state["claims"]) == (50_000, 0, [])

    await env.sleep(timedelta(days=15))
    await poll(
        api,
        f"/v1/milestones/{mid}",
        parties.client,
        lambda m: m["status"] == "completed" and m["released"] == 50_000,
        "the auto-release",
    )


def test_the_token_tool_mints_no_token_the_api_would_refuse(capsys):
    with pytest.raises(SystemExit) as exited:
        token.main(["--sub", "x" * 65, "--role", "client"])
    assert exited.value.code == 2 and "--sub" in capsys.readouterr().err

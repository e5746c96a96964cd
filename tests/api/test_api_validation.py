"""Input the API refuses by itself, as RFC 9457 problems, before any workflow is asked.

Money is integer cents: 25.0, "2500" and true are not amounts."""

from __future__ import annotations

import pytest

from escrow.models import Role
from tests.api.support import assert_problem, bearer

CLIENT = bearer("alice", Role.CLIENT)
MILESTONE = {"title": "Logo", "amount": 2500}


@pytest.mark.rules("M1")
@pytest.mark.parametrize("amount", [24.99, 2500.0, "2500", True, None, 0, -2500, 2**63])
async def test_milestone_amount_must_be_positive_integer_cents(offline_api, amount):
    body = {**MILESTONE, "amount": amount}
    response = await offline_api.post("/v1/contracts/c-1/milestones", json=body, headers=CLIENT)
    problem = assert_problem(response, 422)
    assert ["body", "amount"] in [e["loc"] for e in problem["errors"]]


@pytest.mark.rules("M4", "M6")
@pytest.mark.parametrize("amount", [10.5, "100", False, 0])
async def test_release_amount_must_be_positive_integer_cents(offline_api, amount):
    response = await offline_api.post("/v1/milestones/m-1/release", json={"amount": amount}, headers=CLIENT)
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"expert_id": "bob", "type": "fixed", "currency": "EUR"}, id="currency"),
        pytest.param({"expert_id": "bob", "type": "fixed", "currency": "usd"}, id="currency-case"),
        pytest.param({"expert_id": "bob", "type": "barter", "currency": "USD"}, id="type"),
        pytest.param({"expert_id": "bob", "type": "fixed", "currency": "USD", "policy": "nope"}, id="policy"),
        pytest.param({"expert_id": "bob", "type": "hourly", "currency": "USD", "hourly_rate": 50.5}, id="rate"),
        pytest.param({"expert_id": "bob", "type": "hourly", "currency": "USD"}, id="hourly-without-rate"),
        pytest.param({"expert_id": "bob", "type": "fixed", "currency": "USD", "hourly_rate": 5000}, id="fixed-rate"),
        pytest.param({"expert_id": "", "type": "fixed", "currency": "USD"}, id="expert"),
        pytest.param({"expert_id": "bob", "type": "fixed", "currency": "USD", "escrow": 1}, id="unknown-field"),
    ],
)
async def test_contract_body_is_validated(offline_api, body):
    assert_problem(await offline_api.post("/v1/contracts", json=body, headers=CLIENT), 422)


@pytest.mark.rules("M2")
async def test_fund_needs_an_explicit_card_authentication_flag(offline_api):
    for body in (None, {}, {"card_authenticated": "yes"}):
        response = await offline_api.post("/v1/milestones/m-1/fund", json=body, headers=CLIENT)
        assert_problem(response, 422)


@pytest.mark.rules("M7")
async def test_revision_request_needs_a_message(offline_api):
    response = await offline_api.post("/v1/milestones/m-1/request-revision", json={"message": ""}, headers=CLIENT)
    assert_problem(response, 422)


async def test_malformed_json_is_a_422_problem(offline_api):
    response = await offline_api.post(
        "/v1/contracts/c-1/milestones",
        content=b'{"title": "Logo", "amount": ',
        headers={**CLIENT, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


async def test_unknown_path_and_wrong_method_are_problems(offline_api):
    assert assert_problem(await offline_api.get("/v1/nowhere", headers=CLIENT), 404)["type"] == "about:blank"
    assert_problem(await offline_api.delete("/v1/contracts", headers=CLIENT), 405)


async def test_openapi_documents_every_published_path(offline_api):
    paths = (await offline_api.get("/openapi.json")).json()["paths"]
    published = {
        "/v1/healthz": "get",
        "/v1/contracts": "post",
        "/v1/contracts/{contract_id}": "get",
        "/v1/contracts/{contract_id}/close": "post",
        "/v1/contracts/{contract_id}/milestones": "post",
        "/v1/contracts/{contract_id}/time-entries": "post",
        "/v1/contracts/{contract_id}/weeks/{iso_week}": "get",
        "/v1/contracts/{contract_id}/weeks/{iso_week}/disputes": "post",
        "/v1/milestones/{milestone_id}": "get",
        "/v1/milestones/{milestone_id}/refund-requests": "post",
        "/v1/milestones/{milestone_id}/disputes": "post",
        "/v1/refund-requests/{refund_id}": "get",
        "/v1/disputes/{dispute_id}": "get",
        "/v1/disputes/{dispute_id}/offers/{offer_id}/accept": "post",
        "/v1/users/{user_id}/balance": "get",
        **{
            f"/v1/milestones/{{milestone_id}}/{verb}": "post"
            for verb in (
                "accept",
                "decline",
                "fund",
                "authenticate-funding",
                "submit",
                "void-submission",
                "release",
                "request-revision",
            )
        },
        **{f"/v1/refund-requests/{{refund_id}}/{verb}": "post" for verb in ("approve", "decline", "escalate")},
        **{
            f"/v1/disputes/{{dispute_id}}/{verb}": "post"
            for verb in (
                "accept",
                "respond",
                "offers",
                "recommendation",
                "recommendation/accept",
                "recommendation/reject",
                "pay-fee",
                "evidence",
                "verdict",
            )
        },
    }
    for path, verb in published.items():
        assert verb in paths.get(path, {}), path
    assert {"patch", "delete"} <= paths["/v1/time-entries/{entry_id}"].keys()
    for path, verb in published.items():
        if verb == "post":
            headers = {p["name"] for p in paths[path]["post"].get("parameters", [])}
            assert "Idempotency-Key" in headers, path
    # The new surface names the SPEC rules it serves.
    assert "D5" in paths["/v1/disputes/{dispute_id}/verdict"]["post"]["summary"]
    assert "R4" in paths["/v1/refund-requests/{refund_id}/escalate"]["post"]["summary"]


@pytest.mark.rules("R1", "D1", "D3", "D5")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/milestones/m-1/refund-requests", {"amount": 25.5}, id="refund-float"),
        pytest.param("/v1/milestones/m-1/refund-requests", {"amount": "2500"}, id="refund-string"),
        pytest.param("/v1/milestones/m-1/refund-requests", {"amount": 0}, id="refund-zero"),
        pytest.param("/v1/milestones/m-1/refund-requests", {"amount": 100, "ammount": 1}, id="refund-unknown-field"),
        pytest.param("/v1/milestones/m-1/disputes", {"amount": 100}, id="dispute-no-reason"),
        pytest.param("/v1/milestones/m-1/disputes", {"amount": 100, "reason": "  "}, id="dispute-blank-reason"),
        pytest.param("/v1/milestones/m-1/disputes", {"amount": True, "reason": "x"}, id="dispute-bool"),
        pytest.param("/v1/disputes/d-1/respond", {}, id="respond-no-message"),
        pytest.param("/v1/disputes/d-1/offers", {"amount_to_client": -1}, id="offer-negative"),
        pytest.param("/v1/disputes/d-1/offers", {"amount_to_client": 10.0}, id="offer-float"),
        pytest.param("/v1/disputes/d-1/recommendation", {"amount_to_client": "5"}, id="recommendation-string"),
        pytest.param("/v1/disputes/d-1/evidence", {"text": ""}, id="evidence-empty"),
        pytest.param("/v1/disputes/d-1/verdict", {}, id="verdict-no-split"),
        pytest.param("/v1/contracts/c-1/close", {"remainder": "keep"}, id="close-remainder"),
        pytest.param("/v1/contracts/c-1/payment-method", {}, id="payment-method-missing"),
        pytest.param(
            "/v1/contracts/c-1/time-entries",
            {"started_at": "2026-11-16T09:00:00", "minutes": 30, "kind": "manual"},
            id="time-naive",
        ),
        pytest.param(
            "/v1/contracts/c-1/time-entries",
            {"started_at": "0001-01-01T00:00:00+01:00", "minutes": 30, "kind": "manual"},
            id="time-out-of-range",
        ),
        pytest.param(
            "/v1/contracts/c-1/time-entries",
            {"started_at": "2026-11-16T09:00:00Z", "minutes": 30, "kind": "idle"},
            id="time-kind",
        ),
        pytest.param(
            "/v1/contracts/c-1/time-entries",
            {"started_at": "2026-11-16T09:00:00Z", "minutes": 30.5, "kind": "manual"},
            id="time-minutes",
        ),
        pytest.param(
            "/v1/contracts/c-1/weeks/2026-W99/disputes", {"entry_ids": ["e"], "reason": "x"}, id="week-format"
        ),
        pytest.param("/v1/contracts/c-1/weeks/2026-W47/disputes", {"entry_ids": [], "reason": "x"}, id="no-entries"),
    ],
)
async def test_commands_are_validated_before_any_workflow(offline_api, path, body):
    assert_problem(await offline_api.post(path, json=body, headers=CLIENT), 422)


async def test_a_week_is_named_like_2026_W47(offline_api):
    for week in ("2026-47", "2026-W54", "2026-W1", "week"):
        assert_problem(await offline_api.get(f"/v1/contracts/c-1/weeks/{week}", headers=CLIENT), 422)
    response = await offline_api.patch("/v1/time-entries/e-1", json={}, headers=CLIENT)
    assert_problem(response, 422)

"""Who may call what: every (method, path) the app serves, by six callers, against real
resources (tests/api/world.py), from ONE table.

A route without a row fails the test, so a path cannot be added without deciding who
may call it. The refusals run first and must move nothing; the allowed calls then run
in the table's order, and a state that refuses them (409, 422) is fine: what they
prove is that the caller got past authentication and authorisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import AsyncClient
from sqlalchemy import func, select

from escrow.calendar import BillingWeek
from escrow.db.models import Transfer
from escrow.models import Role
from escrow.payments import SANDBOX_SUCCEEDS
from tests.api.support import bearer
from tests.api.world import World, build_world

pytestmark = pytest.mark.usefixtures("worker")

CALLERS = ("client", "expert", "other_client", "other_expert", "operator", "anonymous")
# Expectations: "2xx"; "ok" = past authentication and authorisation (2xx, 409 or 422:
# the resource's state may refuse); otherwise the exact status of the refusal.
ALLOWED = {"2xx", "ok"}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: str  # one expectation per caller, in CALLERS order
    body: Any = None

    def expected(self) -> dict[str, str]:
        codes = self.expect.split()
        assert len(codes) == len(CALLERS), f"{self.method} {self.path}: {len(codes)} expectations"
        return dict(zip(CALLERS, codes, strict=True))


PUBLIC = "2xx 2xx 2xx 2xx 2xx 2xx"
READ = "2xx 2xx 404 404 2xx 401"  # the parties and operators; strangers learn nothing
CLIENT_VERB = "ok 403 403 403 403 401"
EXPERT_VERB = "403 ok 403 403 403 401"
PARTY_VERB = "ok ok 403 403 403 401"
OPERATOR_VERB = "403 403 403 403 ok 401"
OPERATOR_ONLY = "403 403 403 403 2xx 401"

TABLE = [
    Row("GET", "/openapi.json", PUBLIC),
    Row("GET", "/docs", PUBLIC),
    Row("GET", "/docs/oauth2-redirect", PUBLIC),
    Row("GET", "/redoc", PUBLIC),
    Row("GET", "/v1/healthz", PUBLIC),
    Row("GET", "/metrics", PUBLIC),  # for the scraper on the internal network (api/metrics.py)
    Row("GET", "/v1/contracts/{contract_id}", READ),
    Row("GET", "/v1/milestones/{milestone_id}", READ),
    Row("GET", "/v1/refund-requests/{refund_id}", READ),
    Row("GET", "/v1/disputes/{dispute_id}", READ),
    Row("GET", "/v1/contracts/{contract_id}/weeks/{iso_week}", READ),
    Row("GET", "/v1/contracts/{contract_id}/statement", READ),
    Row("GET", "/v1/users/{user_id}/balance", "2xx 403 403 403 2xx 401"),
    Row("GET", "/v1/users/{user_id}/payout-methods", "2xx 403 403 403 2xx 401"),
    Row(
        "POST",
        "/v1/users/{user_id}/payout-methods",
        "2xx 403 403 403 403 401",
        {"kind": "paypal", "account": "pay@example.com", "country": "US"},
    ),
    # The world's method is on its security hold (P3): its user is told so (409).
    Row("POST", "/v1/users/{user_id}/payouts", "ok 403 403 403 403 401", {"amount": 1_000, "method_id": "{method_id}"}),
    # No payout exists in the world (its money would take a 3-day hold to be paid
    # out): nobody learns of one. tests/test_payouts.py covers who sees a real one.
    Row("GET", "/v1/payouts/{payout_id}", "404 404 404 404 404 401"),
    # A party reads its own contracts' events, an operator all (tests/api/test_api_events.py).
    Row("GET", "/v1/events", "2xx 2xx 2xx 2xx 2xx 401"),
    Row(
        "POST",
        "/v1/webhook-endpoints",
        OPERATOR_ONLY,
        {"url": "http://127.0.0.1:9/matrix", "event_types": ["payout.failed"]},
    ),
    Row("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries", OPERATOR_ONLY),
    Row(
        "POST",
        "/v1/contracts",
        "2xx 403 2xx 403 403 401",
        {"expert_id": "{expert}", "type": "fixed", "currency": "USD"},
    ),
    Row("POST", "/v1/contracts/{contract_id}/milestones", PARTY_VERB, {"title": "Icons", "amount": 1_000}),
    Row("POST", "/v1/contracts/{contract_id}/payment-method", CLIENT_VERB, {"payment_method": SANDBOX_SUCCEEDS}),
    Row(
        "POST",
        "/v1/contracts/{contract_id}/payments",
        "ok 403 404 404 403 401",
        {"amount": 1_000, "kind": "bonus", "memo": "thanks"},
    ),
    # The milestone came from the client: only the expert answers it (M8).
    Row("POST", "/v1/milestones/{milestone_id}/accept", EXPERT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/decline", EXPERT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/fund", CLIENT_VERB, {"card_authenticated": True}),
    Row("POST", "/v1/milestones/{milestone_id}/authenticate-funding", CLIENT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/submit", EXPERT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/void-submission", EXPERT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/request-revision", CLIENT_VERB, {"message": "the colours"}),
    Row("POST", "/v1/milestones/{milestone_id}/release", CLIENT_VERB, {"amount": 1_000}),
    Row("POST", "/v1/milestones/{milestone_id}/apply-remainder", CLIENT_VERB, {"title": "Phase two"}),
    Row("POST", "/v1/milestones/{milestone_id}/refund-requests", CLIENT_VERB, {"amount": 1_000}),
    Row("POST", "/v1/milestones/{milestone_id}/disputes", PARTY_VERB, {"amount": 1_000, "reason": "late"}),
    Row("POST", "/v1/milestones/{milestone_id}/changes", PARTY_VERB, {"due_date": "2027-01-15"}),
    # The client proposed the change: only the expert answers it (M8).
    Row("POST", "/v1/milestones/{milestone_id}/changes/{change_id}/decline", EXPERT_VERB),
    Row("POST", "/v1/milestones/{milestone_id}/changes/{change_id}/accept", EXPERT_VERB),
    Row("POST", "/v1/refund-requests/{refund_id}/decline", EXPERT_VERB),
    Row("POST", "/v1/refund-requests/{refund_id}/approve", EXPERT_VERB),
    Row("POST", "/v1/refund-requests/{refund_id}/escalate", "ok 403 404 404 403 401"),
    Row("POST", "/v1/disputes/{dispute_id}/accept", EXPERT_VERB),
    Row("POST", "/v1/disputes/{dispute_id}/respond", EXPERT_VERB, {"message": "it was delivered"}),
    Row("POST", "/v1/disputes/{dispute_id}/evidence", PARTY_VERB, {"text": "the brief, page 2"}),
    Row("POST", "/v1/disputes/{dispute_id}/recommendation", OPERATOR_VERB, {"amount_to_client": 5_000}),
    Row("POST", "/v1/disputes/{dispute_id}/recommendation/reject", PARTY_VERB),
    Row("POST", "/v1/disputes/{dispute_id}/recommendation/accept", PARTY_VERB),
    Row("POST", "/v1/disputes/{dispute_id}/offers", PARTY_VERB, {"amount_to_client": 3_000}),
    Row("POST", "/v1/disputes/{dispute_id}/offers/{offer_id}/accept", EXPERT_VERB),
    Row("POST", "/v1/disputes/{dispute_id}/pay-fee", PARTY_VERB),
    Row("POST", "/v1/disputes/{dispute_id}/verdict", OPERATOR_VERB, {"amount_to_client": 5_000}),
    Row(
        "POST",
        "/v1/contracts/{contract_id}/time-entries",
        EXPERT_VERB,
        {"started_at": "{monday_9am}", "minutes": 30, "kind": "manual"},
    ),
    Row("PATCH", "/v1/time-entries/{entry_id}", EXPERT_VERB, {"minutes": 45}),
    Row(
        "POST",
        "/v1/contracts/{contract_id}/weeks/{iso_week}/disputes",
        CLIENT_VERB,
        {"entry_ids": ["{entry_id}"], "reason": "idle"},
    ),
    Row(
        "POST",
        "/v1/contracts/{contract_id}/weeks/{iso_week}/invoice-review",
        OPERATOR_VERB,
        {"action": "close", "note": "checked"},
    ),
    Row("DELETE", "/v1/time-entries/{entry_id}", EXPERT_VERB),
    Row("GET", "/v1/contracts/{contract_id}/reviews", READ),
    # Not closed yet: its parties are told so (409); strangers learn nothing (V1).
    Row("POST", "/v1/contracts/{contract_id}/reviews", "ok ok 404 404 403 401", {"rating": 5, "text": "great"}),
    # The client's published review of the expert, on a closed contract (V2).
    Row("POST", "/v1/reviews/{review_id}/reply", "403 ok 404 404 403 401", {"text": "thank you"}),
    Row("POST", "/v1/reviews/{review_id}/edit-request", "ok 403 404 404 403 401"),
    Row("POST", "/v1/reviews/{review_id}/allow-edit", "403 ok 404 404 403 401"),
    Row("PATCH", "/v1/reviews/{review_id}", "ok 403 404 404 403 401", {"rating": 5}),
    # Last: closing ends what the rows above act on.
    Row("POST", "/v1/contracts/{contract_id}/close", PARTY_VERB, {"remainder": "refund"}),
]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    # FastAPI nests included routers; iter_route_contexts flattens them to what is served.
    # The static files of /docs (a mount, no methods) are test_api_docs.py's business.
    return {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        for method in set(route.methods or ()) - {"HEAD"}
    }


def test_every_route_has_a_row(offline_app):
    rows = [(row.method, row.path) for row in TABLE]
    assert len(rows) == len(set(rows)), "a route has two rows"
    assert served_routes(offline_app) == set(rows)


def headers_of(world: World) -> dict[str, dict[str, str]]:
    return {
        "client": world.parties.client,
        "expert": world.parties.expert,
        "other_client": world.strangers.client,
        "other_expert": world.strangers.expert,
        "operator": bearer("operator-matrix", Role.OPERATOR),
        "anonymous": {},
    }


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


def matches(expected: str, status: int) -> bool:
    if expected == "2xx":
        return 200 <= status < 300
    if expected == "ok":
        return status in (200, 201, 409, 422)
    return status == int(expected)


async def snapshot(api: AsyncClient, world: World, sessions: Any) -> dict[str, Any]:
    """Everything a refused call could have moved: the ledger and each resource."""
    operator = bearer("operator-matrix", Role.OPERATOR)
    paths = [
        f"/v1/contracts/{world.contract_id}",
        f"/v1/contracts/{world.hourly_contract_id}/weeks/{world.week}",
        f"/v1/refund-requests/{world.refund_id}",
        f"/v1/disputes/{world.dispute_id}",
        f"/v1/contracts/{world.review_id.rpartition('.')[0]}/reviews",
        f"/v1/users/{world.parties.client_id}/balance",
        f"/v1/users/{world.parties.expert_id}/balance",
    ]
    state: dict[str, Any] = {path: (await api.get(path, headers=operator)).json() for path in paths}
    with sessions() as session:
        state["transfers"] = session.scalar(select(func.count()).select_from(Transfer))
    return state


@pytest.mark.rules("D2", "D3", "D5", "M2", "M3", "M4", "R2", "R4", "H3", "H4")
async def test_the_authorisation_matrix(api, env, sessions):
    world = await build_world(api, env)
    callers = headers_of(world)
    names = {
        **world.path_ids(""),
        "expert": world.parties.expert_id,
        "monday_9am": (BillingWeek.of(world.week).starts_at + timedelta(hours=9)).isoformat(),
    }
    unexpected: list[str] = []

    async def call(row: Row, caller: str) -> None:
        ids = {**names, **world.path_ids(row.path)}
        response = await api.request(
            row.method, row.path.format(**ids), json=fill(row.body, ids), headers=callers[caller]
        )
        expected = row.expected()[caller]
        if not matches(expected, response.status_code):
            unexpected.append(
                f"{row.method} {row.path} by {caller}: {response.status_code}, "
                f"expected {expected}: {response.text[:160]}"
            )

    before = await snapshot(api, world, sessions)
    for row in TABLE:
        for caller, expected in row.expected().items():
            if expected not in ALLOWED:
                await call(row, caller)
    assert await snapshot(api, world, sessions) == before, "a refused call moved something"

    for row in TABLE:
        for caller, expected in row.expected().items():
            if expected in ALLOWED:
                await call(row, caller)
    assert not unexpected, "\n".join(unexpected)

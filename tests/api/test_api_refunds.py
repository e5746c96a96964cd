"""Refund requests through HTTP (R1–R4, D8), against the time-skipping server and a
worker: the client asks, the expert answers, the milestone moves the money."""

from __future__ import annotations

import pytest

from escrow.models import Role
from tests.api.support import (
    assert_problem,
    balance_of,
    bearer,
    claim_of,
    funded_milestone,
    poll,
)

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)


async def ask(api, parties, milestone_id, amount, message="not what we agreed"):
    response = await api.post(
        f"/v1/milestones/{milestone_id}/refund-requests",
        json={"amount": amount, "message": message},
        headers=parties.client,
    )
    assert response.status_code == 201, response.text
    return response.json()


def claim_is(claim_id: str, status: str):
    def check(milestone: dict) -> bool:
        claim = claim_of(milestone, claim_id)
        return claim is not None and claim["status"] == status

    return check


@pytest.mark.rules("R1", "R2", "R3", "M9")
async def test_an_approved_partial_refund_reaches_the_clients_balance(api):
    parties, milestone = await funded_milestone(api, 50_000)
    mid = milestone["id"]
    refund = await ask(api, parties, mid, 20_000)
    assert (refund["status"], refund["amount"], refund["milestone_id"]) == ("pending", 20_000, mid)
    assert (refund["phase"], refund["deadline_action"]) == ("escrow", "approve")  # R2: silence approves
    assert refund["deadline_at"] and refund["currency"] == "USD"
    frozen = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert frozen["frozen"] == 20_000 and claim_of(frozen, refund["id"])["kind"] == "refund"

    approved = await api.post(
        f"/v1/refund-requests/{refund['id']}/approve", json={"message": "fair"}, headers=parties.expert
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "expert")

    read = await api.get(f"/v1/refund-requests/{refund['id']}", headers=parties.client)
    assert read.status_code == 200 and read.json()["status"] == "approved"
    # R3: the refund goes to the client's balance, the rest of the escrow to the expert.
    view = await poll(
        api, f"/v1/milestones/{mid}", parties.client, claim_is(refund["id"], "settled"), "the refund to be paid"
    )
    assert (view["refunded"], view["released"], view["escrow"]) == (20_000, 30_000, 0)
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 20_000
    expert = await balance_of(api, parties.expert_id, parties.expert)
    assert [p["amount"] for p in expert["pending"]] == [30_000]

    # A decided request takes no more answers.
    again = await api.post(f"/v1/refund-requests/{refund['id']}/decline", headers=parties.expert)
    assert "approved" in assert_problem(again, 409)["detail"]


@pytest.mark.rules("R4", "D1", "D8")
async def test_a_declined_refund_is_escalated_into_a_dispute(api):
    parties, milestone = await funded_milestone(api, 40_000)
    mid = milestone["id"]
    refund = await ask(api, parties, mid, 40_000)
    declined = await api.post(
        f"/v1/refund-requests/{refund['id']}/decline", json={"message": "work delivered"}, headers=parties.expert
    )
    assert declined.status_code == 200, declined.text
    assert (declined.json()["status"], declined.json()["decline_message"]) == ("declined", "work delivered")
    await poll(
        api,
        f"/v1/milestones/{mid}",
        parties.client,
        claim_is(refund["id"], "declined"),
        "the decline to reach the milestone",
    )

    # Only the client escalates; a stranger does not learn the request exists.
    assert_problem(await api.post(f"/v1/refund-requests/{refund['id']}/escalate", headers=parties.expert), 403)
    assert_problem(
        await api.post(f"/v1/refund-requests/{refund['id']}/escalate", headers=bearer("mallory", Role.CLIENT)), 404
    )

    escalated = await api.post(
        f"/v1/refund-requests/{refund['id']}/escalate", json={"reason": "the logo is unusable"}, headers=parties.client
    )
    assert escalated.status_code == 201, escalated.text
    dispute = escalated.json()
    assert (dispute["status"], dispute["stage"], dispute["claimant"]) == ("filed", 1, "client")
    assert (dispute["amount"], dispute["reason"], dispute["waiting_on"]) == (40_000, "the logo is unusable", "expert")

    seen = await api.get(f"/v1/disputes/{dispute['id']}", headers=parties.expert)
    assert seen.status_code == 200 and seen.json()["id"] == dispute["id"]
    view = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert claim_of(view, refund["id"])["status"] == "escalated"
    assert claim_of(view, refund["id"])["escalated_to"] == dispute["id"]
    assert claim_of(view, dispute["id"])["kind"] == "dispute" and view["frozen"] == 40_000
    # Escalated once: a second escalation is refused.
    assert_problem(await api.post(f"/v1/refund-requests/{refund['id']}/escalate", headers=parties.client), 409)


@pytest.mark.rules("R1")
async def test_only_the_milestones_client_asks_for_a_refund(api):
    parties, milestone = await funded_milestone(api, 30_000)
    path = f"/v1/milestones/{milestone['id']}/refund-requests"
    assert_problem(await api.post(path, json={"amount": 10_000}, headers=parties.expert), 403)
    other_client = bearer("client-of-another-contract", Role.CLIENT)
    assert_problem(await api.post(path, json={"amount": 10_000}, headers=other_client), 403)
    assert_problem(await api.post(path, json={"amount": 30_001}, headers=parties.client), 409)  # more than the escrow
    for amount in (0, 100.5, "100"):
        assert_problem(await api.post(path, json={"amount": amount}, headers=parties.client), 422)
    assert_problem(
        await api.post("/v1/milestones/no-such-milestone/refund-requests", json={"amount": 1}, headers=parties.client),
        404,
    )
    view = (await api.get(f"/v1/milestones/{milestone['id']}", headers=parties.client)).json()
    assert view["claims"] == [] and view["escrow"] == 30_000


@pytest.mark.rules("R2", "R3")
async def test_refund_answers_are_the_experts(api):
    parties, milestone = await funded_milestone(api, 30_000)
    refund = await ask(api, parties, milestone["id"], 10_000)
    path = f"/v1/refund-requests/{refund['id']}"
    assert_problem(await api.post(f"{path}/approve", headers=parties.client), 403)  # a client can't approve its own
    assert_problem(await api.post(f"{path}/approve", headers=OPERATOR), 403)  # no operator needed before release
    assert_problem(await api.get(path, headers=bearer("mallory", Role.EXPERT)), 404)
    assert (await api.get(path, headers=OPERATOR)).status_code == 200
    assert_problem(await api.get("/v1/refund-requests/no-such-refund", headers=parties.client), 404)


@pytest.mark.rules("R1", "L2")
async def test_a_refund_request_repeated_with_one_key_asks_once(api):
    parties, milestone = await funded_milestone(api, 30_000)
    headers = {**parties.client, "Idempotency-Key": "refund-once"}
    path = f"/v1/milestones/{milestone['id']}/refund-requests"
    first = await api.post(path, json={"amount": 10_000}, headers=headers)
    again = await api.post(path, json={"amount": 10_000}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    view = (await api.get(f"/v1/milestones/{milestone['id']}", headers=parties.client)).json()
    assert len(view["claims"]) == 1

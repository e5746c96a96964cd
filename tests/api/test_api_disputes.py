"""Disputes through HTTP (D1–D7), against the time-skipping server and a worker: the
API authenticates and passes the caller, the dispute workflow decides, the milestone
that owns the escrow moves the money."""

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


async def open_dispute(api, milestone_id, headers, amount, reason="the logo is not what was agreed"):
    response = await api.post(
        f"/v1/milestones/{milestone_id}/disputes", json={"amount": amount, "reason": reason}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def act(api, dispute_id, verb, headers, body=None, status=200):
    response = await api.post(f"/v1/disputes/{dispute_id}/{verb}", json=body, headers=headers)
    if status != 200:
        return assert_problem(response, status)
    assert response.status_code == 200, response.text
    return response.json()


def settled(claim_id: str):
    def check(milestone: dict) -> bool:
        claim = claim_of(milestone, claim_id)
        return claim is not None and claim["status"] == "settled"

    return check


@pytest.mark.rules("D1", "D2", "L4")
async def test_the_respondent_accepts_and_the_claimant_gets_the_amount(api):
    parties, milestone = await funded_milestone(api, 50_000)
    mid = milestone["id"]
    dispute = await open_dispute(api, mid, parties.client, 30_000)
    assert (dispute["status"], dispute["stage"], dispute["claimant"], dispute["waiting_on"]) == (
        "filed",
        1,
        "client",
        "expert",
    )
    assert (dispute["amount"], dispute["currency"], dispute["deadline_action"]) == (30_000, "USD", "client_wins")
    frozen = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert frozen["frozen"] == 30_000  # D1: neither side can move it meanwhile
    assert_problem(
        await api.post(f"/v1/milestones/{mid}/release", json={"amount": 20_001}, headers=parties.client), 409
    )

    assert_problem(
        await api.post(f"/v1/disputes/{dispute['id']}/accept", headers=parties.client), 403
    )  # not the respondent
    accepted = await act(api, dispute["id"], "accept", parties.expert)
    assert accepted["status"] == "resolved" and accepted["outcome"]["resolution"] == "accepted"
    assert (accepted["outcome"]["amount_to_client"], accepted["outcome"]["winner"]) == (30_000, "client")

    view = await poll(
        api, f"/v1/milestones/{mid}", parties.client, settled(dispute["id"]), "the milestone to pay the outcome"
    )
    assert (view["refunded"], view["escrow"], view["frozen"]) == (30_000, 20_000, 0)
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 30_000
    # Resolved: the dispute takes no more commands.
    assert_problem(await api.post(f"/v1/disputes/{dispute['id']}/accept", headers=parties.expert), 409)


@pytest.mark.rules("D2", "D3", "D4", "D5", "D6")
async def test_a_dispute_through_negotiation_and_arbitration_to_a_verdict(api):
    parties, milestone = await funded_milestone(api, 40_000)
    mid = milestone["id"]
    dispute = await open_dispute(api, mid, parties.expert, 40_000, reason="the client will not release finished work")
    did = dispute["id"]
    assert (dispute["claimant"], dispute["respondent"]) == ("expert", "client")

    assert_problem(await api.post(f"/v1/disputes/{did}/respond", json={"message": ""}, headers=parties.client), 422)
    negotiation = await act(api, did, "respond", parties.client, {"message": "the work is incomplete"})
    assert (negotiation["status"], negotiation["stage"]) == ("negotiation", 2)

    # D3: offers split the disputed amount; more than it is refused.
    await act(api, did, "offers", parties.client, {"amount_to_client": 40_001}, status=422)
    await act(api, did, "offers", parties.client, {"amount_to_client": 15.5}, status=422)
    offered = await act(api, did, "offers", parties.client, {"amount_to_client": 30_000})
    [offer] = offered["offers"]
    assert (offer["by"], offer["amount_to_client"]) == ("client", 30_000)
    await act(api, did, f"offers/{offer['id']}/accept", parties.client, status=403)  # its own offer

    # D3: a non-binding recommendation from the operators, not from a party.
    await act(api, did, "recommendation", parties.client, {"amount_to_client": 20_000}, status=403)
    recommended = await act(api, did, "recommendation", OPERATOR, {"amount_to_client": 20_000})
    assert recommended["recommendation"]["amount_to_client"] == 20_000
    await act(api, did, "recommendation/accept", parties.expert)
    rejected = await act(api, did, "recommendation/reject", parties.client)
    assert rejected["recommendation"]["rejected_by"] == ["client"]
    await act(api, did, "evidence", parties.expert, {"text": "the delivered files"})

    await act(api, did, "verdict", OPERATOR, {"amount_to_client": 10_000}, status=409)  # not in stage 4
    # D4: paying the fee refuses to settle; the other side pays too (D5: arbitration).
    fee_stage = await act(api, did, "pay-fee", parties.expert)
    assert (fee_stage["status"], fee_stage["stage"], fee_stage["waiting_on"]) == ("arbitration_fee", 3, "client")
    await act(api, did, "pay-fee", parties.expert, status=409)  # never twice
    arbitration = await act(api, did, "pay-fee", parties.client)
    assert (arbitration["status"], arbitration["stage"], arbitration["waiting_on"]) == ("arbitration", 4, "operator")
    assert len(arbitration["fees"]) == 2 and arbitration["fee_per_party"] > 0
    await act(api, did, "offers", parties.client, {"amount_to_client": 1_000}, status=409)  # settling is over

    await act(api, did, "verdict", parties.client, {"amount_to_client": 40_000}, status=403)
    await act(api, did, "verdict", OPERATOR, {"amount_to_client": 40_001}, status=422)
    decided = await act(api, did, "verdict", OPERATOR, {"amount_to_client": 10_000, "note": "mostly delivered"})
    assert decided["status"] == "resolved"
    outcome = decided["outcome"]
    assert (outcome["resolution"], outcome["winner"]) == ("verdict", "expert")
    assert (outcome["amount_to_client"], outcome["amount_to_expert"]) == (10_000, 30_000)
    view = await poll(api, f"/v1/milestones/{mid}", parties.expert, settled(did), "the milestone to pay the verdict")
    assert (view["refunded"], view["released"], view["escrow"]) == (10_000, 30_000, 0)
    # Verdicts are final.
    await act(api, did, "verdict", OPERATOR, {"amount_to_client": 0}, status=409)


@pytest.mark.rules("D1")
async def test_dispute_refusals(api):
    parties, milestone = await funded_milestone(api, 30_000)
    path = f"/v1/milestones/{milestone['id']}/disputes"
    assert_problem(await api.post(path, json={"amount": 30_001, "reason": "x"}, headers=parties.client), 409)
    assert_problem(await api.post(path, json={"amount": 1_000, "reason": " "}, headers=parties.client), 422)
    assert_problem(await api.post(path, json={"amount": "1000", "reason": "x"}, headers=parties.client), 422)
    assert_problem(
        await api.post(path, json={"amount": 1_000, "reason": "x"}, headers=bearer("mallory", Role.CLIENT)), 403
    )
    # The refused disputes froze nothing: all of the escrow is still free.
    view = (await api.get(f"/v1/milestones/{milestone['id']}", headers=parties.client)).json()
    assert (view["escrow"], view["frozen"], view["claims"]) == (30_000, 0, [])
    dispute = await open_dispute(api, milestone["id"], parties.client, 10_000)
    stranger = bearer("mallory", Role.EXPERT)
    assert_problem(await api.get(f"/v1/disputes/{dispute['id']}", headers=stranger), 404)
    assert (await api.get(f"/v1/disputes/{dispute['id']}", headers=OPERATOR)).status_code == 200
    assert_problem(await api.get("/v1/disputes/no-such-dispute", headers=OPERATOR), 404)
    assert_problem(await api.post("/v1/disputes/no-such-dispute/pay-fee", headers=parties.client), 404)
    await act(api, dispute["id"], "verdict", OPERATOR, {"amount_to_client": 0}, status=409)  # stage 1
    await act(api, dispute["id"], "pay-fee", parties.client, status=409)  # nobody pays before negotiation

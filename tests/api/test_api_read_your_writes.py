"""A command that decides a claim answers once the owner of the money has paid it: the
read right after the answer (no polling) shows the money it moved. The dispute or
refund request decides and ends; the milestone pays afterwards, so without the wait
the read showed the amounts before the outcome in 3 of 4 tries."""

from __future__ import annotations

import pytest

from escrow.models import Role
from tests.api.support import balance_of, bearer, claim_of, funded_milestone

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)


async def post(api, path: str, headers: dict[str, str], body: dict | None = None) -> dict:
    response = await api.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def read(api, milestone_id: str, headers: dict[str, str]) -> dict:
    response = await api.get(f"/v1/milestones/{milestone_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.rules("D1", "D5")
async def test_a_verdict_answers_after_the_milestone_paid_it(api):
    parties, milestone = await funded_milestone(api, 50_000)
    dispute = await post(
        api,
        f"/v1/milestones/{milestone['id']}/disputes",
        parties.client,
        {"amount": 20_000, "reason": "missing screens"},
    )
    await post(api, f"/v1/disputes/{dispute['id']}/respond", parties.expert, {"message": "not in the brief"})
    await post(api, f"/v1/disputes/{dispute['id']}/pay-fee", parties.client)
    await post(api, f"/v1/disputes/{dispute['id']}/pay-fee", parties.expert)

    verdict = await post(
        api, f"/v1/disputes/{dispute['id']}/verdict", OPERATOR, {"amount_to_client": 5_000, "note": "half a screen"}
    )
    assert verdict["status"] == "resolved"
    paid = await read(api, milestone["id"], parties.client)
    assert (paid["escrow"], paid["refunded"], paid["released"]) == (30_000, 5_000, 15_000)
    assert claim_of(paid, dispute["id"])["status"] == "settled"
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 5_000


@pytest.mark.rules("D2")
async def test_accepting_a_claim_answers_after_the_milestone_paid_it(api):
    parties, milestone = await funded_milestone(api, 50_000)
    dispute = await post(
        api, f"/v1/milestones/{milestone['id']}/disputes", parties.client, {"amount": 10_000, "reason": "late"}
    )
    accepted = await post(api, f"/v1/disputes/{dispute['id']}/accept", parties.expert)
    assert accepted["status"] == "resolved"
    paid = await read(api, milestone["id"], parties.expert)
    assert (paid["escrow"], paid["refunded"]) == (40_000, 10_000)


@pytest.mark.rules("R2", "R3")
async def test_an_approved_refund_answers_after_the_milestone_paid_it(api):
    parties, milestone = await funded_milestone(api, 50_000)
    refund = await post(api, f"/v1/milestones/{milestone['id']}/refund-requests", parties.client, {"amount": 50_000})
    approved = await post(api, f"/v1/refund-requests/{refund['id']}/approve", parties.expert, {"message": "fair"})
    assert approved["status"] == "approved"
    paid = await read(api, milestone["id"], parties.client)
    assert (paid["escrow"], paid["refunded"]) == (0, 50_000)
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 50_000


@pytest.mark.rules("R4")
async def test_a_declined_refund_answers_after_the_milestone_recorded_it(api):
    parties, milestone = await funded_milestone(api, 50_000)
    refund = await post(api, f"/v1/milestones/{milestone['id']}/refund-requests", parties.client, {"amount": 20_000})
    declined = await post(api, f"/v1/refund-requests/{refund['id']}/decline", parties.expert, {"message": "no"})
    assert declined["status"] == "declined"
    after = await read(api, milestone["id"], parties.client)
    claim = claim_of(after, refund["id"])
    # R4: declined, the amount stays frozen while the client may escalate.
    assert (claim["status"], after["frozen"]) == ("declined", 20_000) and claim["escalate_until"]

"""A command that opens a refund request or a dispute is one round trip to Temporal: the
owner's update answers the new request or dispute itself, and escalating a refund finds
its milestone in the read model (the `claims` table) rather than asking the request."""

from __future__ import annotations

import pytest

from api import workflow_calls
from escrow.db.views import claim
from escrow.models import Role
from tests.api.support import assert_problem, bearer, funded_milestone

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("R1", "R4", "D1", "D8")
async def test_refund_dispute_and_escalation_answer_without_a_query(api, sessions, monkeypatch):
    parties, milestone = await funded_milestone(api, 50_000)
    mid = milestone["id"]

    async def no_query(self: workflow_calls.Handle) -> None:
        raise AssertionError(f"{self.what} was queried")

    monkeypatch.setattr(workflow_calls.Handle, "state", no_query)

    asked = await api.post(f"/v1/milestones/{mid}/refund-requests", json={"amount": 20_000}, headers=parties.client)
    assert asked.status_code == 201, asked.text
    refund = asked.json()
    assert (refund["status"], refund["amount"], refund["milestone_id"]) == ("pending", 20_000, mid)
    row = claim(sessions, refund["id"])
    assert row is not None
    assert (row.kind, row.status, row.milestone_id, row.owner_workflow_id) == (
        "refund",
        "open",
        mid,
        f"milestone:{mid}",
    )
    assert (row.client_id, row.expert_id, row.amount, row.week) == (parties.client_id, parties.expert_id, 20_000, None)

    declined = await api.post(f"/v1/refund-requests/{refund['id']}/decline", headers=parties.expert)
    assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    assert claim(sessions, refund["id"]).status == "declined"

    stranger = bearer("mallory", Role.CLIENT)
    assert_problem(await api.post(f"/v1/refund-requests/{refund['id']}/escalate", headers=stranger), 404)
    escalated = await api.post(
        f"/v1/refund-requests/{refund['id']}/escalate", json={"reason": "unusable"}, headers=parties.client
    )
    assert escalated.status_code == 201, escalated.text
    dispute = escalated.json()
    assert (dispute["status"], dispute["amount"], dispute["reason"]) == ("filed", 20_000, "unusable")
    assert dispute["owner_workflow_id"] == f"milestone:{mid}"
    assert claim(sessions, refund["id"]).status == "escalated"
    assert claim(sessions, dispute["id"]).kind == "dispute"

    opened = await api.post(
        f"/v1/milestones/{mid}/disputes", json={"amount": 10_000, "reason": "late"}, headers=parties.expert
    )
    assert opened.status_code == 201, opened.text
    assert (opened.json()["claimant"], opened.json()["amount"]) == ("expert", 10_000)
    assert claim(sessions, opened.json()["id"]).status == "open"


async def test_escalating_an_unknown_refund_is_404_without_temporal(offline_api):
    response = await offline_api.post(
        "/v1/refund-requests/no-such-refund/escalate", headers=bearer("alice", Role.CLIENT)
    )
    assert assert_problem(response, 404)["detail"] == "no refund request no-such-refund"

"""The resources the contract tests aim their requests at, made once per test: a
fixed-price contract whose funded milestone has a refund request and a dispute in
negotiation with an offer, an hourly contract with an open week and a time entry, a
closed contract both parties have reviewed, and two strangers who are parties of a
contract of their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment

from escrow.calendar import BillingWeek, iso_week
from escrow.models import Role
from escrow.payments import SANDBOX_SUCCEEDS
from tests.api.support import Parties, add_milestone, bearer, command, open_contract, poll


@dataclass(frozen=True)
class World:
    parties: Parties
    strangers: Parties
    contract_id: str
    milestone_id: str
    refund_id: str
    dispute_id: str
    offer_id: str
    hourly_contract_id: str
    week: str
    entry_id: str
    # The client's review of the expert on a closed contract of theirs, both reviews
    # published (V1).
    review_id: str
    # A change of the milestone the client proposed, for the expert to answer (M8).
    change_id: str = ""
    # The client's payout method, on its security hold (P3).
    method_id: str = ""
    # A webhook endpoint an operator registered (for an event that never comes here).
    endpoint_id: str = ""

    def path_ids(self, path: str) -> dict[str, str]:
        """The real value of every parameter a path template of the API can have."""
        hourly = any(part in path for part in ("{iso_week}", "/time-entries", "/payment-method"))
        return {
            "contract_id": self.hourly_contract_id if hourly else self.contract_id,
            "milestone_id": self.milestone_id,
            "refund_id": self.refund_id,
            "dispute_id": self.dispute_id,
            "offer_id": self.offer_id,
            "entry_id": self.entry_id,
            "iso_week": self.week,
            "user_id": self.parties.client_id,
            "review_id": self.review_id,
            "change_id": self.change_id,
            "method_id": self.method_id,
            "payout_id": "no-such-payout",
            "endpoint_id": self.endpoint_id,
        }


def created(response: Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def build_world(api: AsyncClient, env: WorkflowEnvironment) -> World:
    # A Wednesday, so the hourly contract's week is open for time before now.
    now = await env.get_current_time()
    week = BillingWeek.of(iso_week(now + timedelta(days=7)))
    await env.sleep(week.starts_at + timedelta(days=2) - now)

    parties, strangers = Parties.fresh(), Parties.fresh()
    await open_contract(api, strangers)
    contract = await open_contract(api, parties)
    milestone = await add_milestone(api, contract["id"], parties.client, 50_000)
    mid = milestone["id"]
    created(await command(api, mid, "fund", parties.client, {"card_authenticated": True}))
    refund = created(
        await api.post(
            f"/v1/milestones/{mid}/refund-requests",
            json={"amount": 5_000, "message": "one screen"},
            headers=parties.client,
        )
    )
    dispute = created(
        await api.post(
            f"/v1/milestones/{mid}/disputes",
            json={"amount": 10_000, "reason": "two screens missing"},
            headers=parties.client,
        )
    )
    did = dispute["id"]
    change = created(
        await api.post(f"/v1/milestones/{mid}/changes", json={"title": "Icons, v2"}, headers=parties.client)
    )
    created(await api.post(f"/v1/disputes/{did}/respond", json={"message": "not in the brief"}, headers=parties.expert))
    offered = created(
        await api.post(f"/v1/disputes/{did}/offers", json={"amount_to_client": 4_000}, headers=parties.client)
    )

    hourly = created(
        await api.post(
            "/v1/contracts",
            json={
                "expert_id": parties.expert_id,
                "type": "hourly",
                "currency": "USD",
                "hourly_rate": 6_000,
                "payment_method": SANDBOX_SUCCEEDS,
            },
            headers=parties.client,
        )
    )
    hid = hourly["id"]
    await poll(api, f"/v1/contracts/{hid}/weeks/{week.week}", parties.expert, lambda w: True, "the week to open")
    entry = created(
        await api.post(
            f"/v1/contracts/{hid}/time-entries",
            json={"started_at": (week.starts_at + timedelta(hours=9)).isoformat(), "minutes": 60, "kind": "manual"},
            headers=parties.expert,
        )
    )
    reviewed = await open_contract(api, parties)
    created(await api.post(f"/v1/contracts/{reviewed['id']}/close", headers=parties.client))
    for author in (parties.client, parties.expert):
        review = {"rating": 4, "text": "clear and on time"}
        created(await api.post(f"/v1/contracts/{reviewed['id']}/reviews", json=review, headers=author))
    method = created(
        await api.post(
            f"/v1/users/{parties.client_id}/payout-methods",
            json={"kind": "paypal", "account": "pay@example.com", "country": "US"},
            headers=parties.client,
        )
    )
    endpoint = created(
        await api.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/world", "event_types": ["payout.failed"]},
            headers=bearer("operator-world", Role.OPERATOR),
        )
    )
    return World(
        parties=parties,
        strangers=strangers,
        contract_id=contract["id"],
        milestone_id=mid,
        refund_id=refund["id"],
        dispute_id=did,
        offer_id=offered["offers"][-1]["id"],
        hourly_contract_id=hid,
        week=week.week,
        entry_id=entry["id"],
        review_id=f"{reviewed['id']}.client",
        change_id=change["id"],
        method_id=method["id"],
        endpoint_id=endpoint["id"],
    )

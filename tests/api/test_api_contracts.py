"""Closing contracts through HTTP (C1, C2)."""

from __future__ import annotations

import pytest

from escrow.db.views import milestone_views
from escrow.models import Role
from tests.api.support import (
    Parties,
    add_milestone,
    assert_problem,
    balance_of,
    bearer,
    command,
    funded_milestone,
    open_contract,
    poll,
)
from tests.support import eventually

pytestmark = pytest.mark.usefixtures("worker")


def closed(contract: dict) -> bool:
    return contract["status"] == "closed"


@pytest.mark.rules("C1", "C2", "M6")
async def test_a_client_closes_releasing_the_rest(api):
    parties, milestone = await funded_milestone(api, 40_000)
    await command(api, milestone["id"], "release", parties.client, {"amount": 10_000})
    unfunded = await add_milestone(api, milestone["contract_id"], parties.client, amount=9_000)
    path = f"/v1/contracts/{milestone['contract_id']}"

    # C1: the client must say what happens to the escrow; strangers can't close.
    assert "remainder" in assert_problem(await api.post(f"{path}/close", headers=parties.client), 422)["detail"]
    assert_problem(await api.post(f"{path}/close", json={"remainder": "keep"}, headers=parties.client), 422)
    stranger = bearer("mallory", Role.CLIENT)
    assert_problem(await api.post(f"{path}/close", json={"remainder": "release"}, headers=stranger), 403)

    closing = await api.post(f"{path}/close", json={"remainder": "release"}, headers=parties.client)
    assert closing.status_code == 200, closing.text
    assert closing.json()["status"] in ("closing", "closed")
    view = await poll(api, path, parties.expert, closed, "the contract to close")
    assert (view["zero_pay"], view["escrow_total"], view["released_total"]) == (False, 0, 40_000)
    assert view["closed_at"] is not None
    statuses = {m["id"]: m["status"] for m in view["milestones"]}
    assert statuses == {milestone["id"]: "completed", unfunded["id"]: "cancelled"}
    assert sum(p["amount"] for p in (await balance_of(api, parties.expert_id, parties.expert))["pending"]) == 40_000

    assert_problem(await api.post(f"{path}/close", json={"remainder": "release"}, headers=parties.client), 409)
    assert_problem(await add_milestone_problem(api, milestone["contract_id"], parties.client), 409)


async def add_milestone_problem(api, contract_id, headers):
    return await api.post(
        f"/v1/contracts/{contract_id}/milestones", json={"title": "More", "amount": 5_000}, headers=headers
    )


@pytest.mark.rules("C1", "C2")
async def test_an_expert_who_closes_gives_the_escrow_back_and_the_contract_is_zero_pay(api):
    parties, milestone = await funded_milestone(api, 25_000)
    path = f"/v1/contracts/{milestone['contract_id']}"
    assert_problem(await api.post(f"{path}/close", json={"remainder": "release"}, headers=parties.expert), 403)
    closing = await api.post(f"{path}/close", headers=parties.expert)
    assert closing.status_code == 200, closing.text
    view = await poll(api, path, parties.client, closed, "the contract to close")
    assert view["zero_pay"] is True
    assert view["milestones"][0]["refunded"] == 25_000
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 25_000


@pytest.mark.rules("C1")
async def test_a_contract_without_escrow_closes_without_a_remainder(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    closing = await api.post(
        f"/v1/contracts/{contract['id']}/close", headers={**parties.client, "Idempotency-Key": "close-1"}
    )
    assert closing.status_code == 200, closing.text
    view = await poll(api, f"/v1/contracts/{contract['id']}", parties.client, closed, "the contract to close")
    assert view["zero_pay"] is True
    # With nothing left to report, the contract's workflow has ended: still a 409 to a party.
    again = await api.post(f"/v1/contracts/{contract['id']}/close", headers=parties.expert)
    assert "closed" in assert_problem(again, 409)["detail"]
    assert_problem(await api.post(f"/v1/contracts/{contract['id']}/close", headers=bearer("mallory", Role.CLIENT)), 404)
    assert_problem(await api.post("/v1/contracts/no-such-contract/close", headers=parties.client), 404)


async def test_reading_a_contract_asks_no_milestone_workflow(api, sessions, monkeypatch):
    """Its milestones come from the read model their steps write with the money, however
    many there are and whether or not their workflows have ended."""
    parties, milestone = await funded_milestone(api, 30_000)
    released = await command(api, milestone["id"], "release", parties.client, {"amount": 10_000})
    assert released.status_code == 200, released.text
    second = await add_milestone(api, milestone["contract_id"], parties.client, amount=5_000)
    path = f"/v1/contracts/{milestone['contract_id']}"

    # The new milestone writes its first step on its own, just after it starts.
    async def both_written() -> bool:
        return len(milestone_views(sessions, milestone["contract_id"])) == 2

    await eventually(both_written, "both milestones' first steps")

    async def asked(*_: object) -> None:
        raise AssertionError("a milestone's workflow was queried")

    monkeypatch.setattr("api.workflow_calls.milestone_state", asked)
    view = (await api.get(path, headers=parties.client)).json()
    shown = {m["id"]: (m["status"], m["escrow"], m["released"]) for m in view["milestones"]}
    assert shown == {milestone["id"]: ("partially_released", 20_000, 10_000), second["id"]: ("agreed", 0, 0)}
    assert view["escrow_total"] == 20_000

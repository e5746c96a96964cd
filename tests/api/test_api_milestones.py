"""The fixed-rate milestone slice through HTTP, against the time-skipping server and a
worker: the API authenticates and translates, the workflows decide."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete

from escrow import accounts
from escrow.db import ledger
from escrow.db.models import IdempotencyRecord
from escrow.models import Role
from tests.api.support import (
    Parties,
    add_milestone,
    agreed_milestone,
    assert_problem,
    bearer,
    command,
    open_contract,
)
from tests.support import finished

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)


def utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), f"{value} is not UTC with an offset"
    return moment


@pytest.mark.rules("M1", "M2", "M3", "M4", "M6", "M9", "L5", "C4")
async def test_happy_path_to_a_partial_release_on_hold(api, sessions):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    assert (contract["client_id"], contract["expert_id"], contract["status"]) == (
        parties.client_id,
        parties.expert_id,
        "active",
    )
    assert contract["milestones"] == [] and contract["escrow_total"] == 0

    milestone = await add_milestone(api, contract["id"], parties.client, amount=50_000)
    assert (milestone["status"], milestone["amount"], milestone["currency"]) == ("agreed", 50_000, "USD")
    mid = milestone["id"]

    funded = await command(api, mid, "fund", parties.client, {"card_authenticated": True})
    assert funded.status_code == 200, funded.text
    assert (funded.json()["status"], funded.json()["escrow"]) == ("in_progress", 50_000)

    submitted = (await command(api, mid, "submit", parties.expert, {"message": "done"})).json()
    assert (submitted["status"], submitted["deadline_action"]) == ("submitted", "auto_release")
    assert utc(submitted["deadline_at"]) - utc(submitted["submitted_at"]) == timedelta(days=14)

    released = await command(api, mid, "release", parties.client, {"amount": 20_000})
    assert released.status_code == 200, released.text
    view = released.json()
    assert (view["status"], view["escrow"], view["released"]) == ("partially_released", 30_000, 20_000)
    [hold] = view["holds"]

    balance = await api.get(f"/v1/users/{parties.expert_id}/balance", headers=parties.expert)
    assert balance.status_code == 200, balance.text
    figures = balance.json()
    assert (figures["available"], figures["currency"]) == (0, "USD")
    [pending] = figures["pending"]
    assert pending["amount"] == 20_000
    assert utc(pending["available_at"]) == utc(hold["available_at"])
    assert figures["in_escrow"] == 30_000
    with sessions() as session:
        assert ledger.balance(session, accounts.expert_pending(parties.expert_id)) == 20_000

    read = (await api.get(f"/v1/contracts/{contract['id']}", headers=parties.client)).json()
    assert [m["id"] for m in read["milestones"]] == [mid]
    assert read["escrow_total"] == 30_000
    assert (await api.get(f"/v1/milestones/{mid}", headers=parties.expert)).json() == view


@pytest.mark.rules("M1")
async def test_a_milestone_under_25_dollars_is_422(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    response = await api.post(
        f"/v1/contracts/{contract['id']}/milestones", json={"title": "Logo", "amount": 2_499}, headers=parties.client
    )
    assert "25.00" in assert_problem(response, 422)["detail"]


@pytest.mark.rules("M2", "M4")
async def test_release_before_funding_is_409(api):
    parties, milestone = await agreed_milestone(api)
    response = await command(api, milestone["id"], "release", parties.client, {"amount": 2_500})
    assert assert_problem(response, 409)["type"].endswith("conflict")


@pytest.mark.rules("M4")
async def test_an_expert_cannot_release(api):
    parties, milestone = await agreed_milestone(api)
    await command(api, milestone["id"], "fund", parties.client, {"card_authenticated": True})
    response = await command(api, milestone["id"], "release", parties.expert, {"amount": 50_000})
    assert_problem(response, 403)
    assert (await api.get(f"/v1/milestones/{milestone['id']}", headers=parties.client)).json()["escrow"] == 50_000


@pytest.mark.rules("M4", "L3")
async def test_releasing_more_than_the_escrow_is_409(api):
    parties, milestone = await agreed_milestone(api, amount=5_000)
    funded = await command(api, milestone["id"], "fund", parties.client, {"card_authenticated": True})
    assert funded.status_code == 200 and funded.json()["escrow"] == 5_000, funded.text
    refused = assert_problem(await command(api, milestone["id"], "release", parties.client, {"amount": 5_001}), 409)
    assert "50.00" in refused["detail"]
    view = (await api.get(f"/v1/milestones/{milestone['id']}", headers=parties.client)).json()
    assert (view["escrow"], view["released"]) == (5_000, 0)
    # All of it, exactly, is still releasable.
    released = await command(api, milestone["id"], "release", parties.client, {"amount": 5_000})
    assert released.status_code == 200 and released.json()["released"] == 5_000, released.text


async def test_non_parties_do_not_learn_that_a_contract_exists(api):
    parties, milestone = await agreed_milestone(api)
    stranger = bearer("stranger", Role.CLIENT)
    contract_path = f"/v1/contracts/{milestone['contract_id']}"
    milestone_path = f"/v1/milestones/{milestone['id']}"
    assert_problem(await api.get(contract_path, headers=stranger), 404)
    assert_problem(await api.get(milestone_path, headers=stranger), 404)
    assert (await api.get(contract_path, headers=OPERATOR)).status_code == 200
    assert (await api.get(milestone_path, headers=OPERATOR)).status_code == 200


async def test_unknown_ids_are_404(api):
    headers = bearer("client-x", Role.CLIENT)
    assert_problem(await api.get("/v1/milestones/no-such-milestone", headers=headers), 404)
    assert_problem(await api.get("/v1/contracts/no-such-contract", headers=headers), 404)
    assert_problem(await command(api, "no-such-milestone", "fund", headers, {"card_authenticated": True}), 404)
    milestone = {"title": "x", "amount": 2_500}
    response = await api.post("/v1/contracts/no-such-contract/milestones", json=milestone, headers=headers)
    assert_problem(response, 404)


@pytest.mark.rules("M2", "L2")
async def test_funding_twice_with_one_key_funds_once(api, sessions):
    parties, milestone = await agreed_milestone(api, amount=7_500)
    headers = {**parties.client, "Idempotency-Key": "fund-once"}
    body = {"card_authenticated": True}
    first = await command(api, milestone["id"], "fund", headers, body)
    again = await command(api, milestone["id"], "fund", headers, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["funded"] == 7_500
    with sessions() as session:
        assert ledger.balance(session, accounts.milestone_escrow(milestone["id"])) == 7_500

    other = await command(api, milestone["id"], "fund", headers, {"card_authenticated": False})
    assert_problem(other, 409)


@pytest.mark.rules("M2", "L2")
async def test_a_retry_after_the_answer_was_lost_does_not_fund_twice(api, sessions):
    """The API died after the workflow funded but before it stored the answer: the
    retry's update id (derived from the key) makes Temporal answer the first update."""
    parties, milestone = await agreed_milestone(api, amount=7_500)
    headers = {**parties.client, "Idempotency-Key": "fund-lost"}
    first = await command(api, milestone["id"], "fund", headers, {"card_authenticated": True})
    with sessions.begin() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == "fund-lost"))
    retry = await command(api, milestone["id"], "fund", headers, {"card_authenticated": True})
    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert retry.json()["funded"] == first.json()["funded"] == 7_500


async def test_opening_a_contract_twice_with_one_key_opens_one(api):
    parties = Parties.fresh()
    headers = {**parties.client, "Idempotency-Key": "open-once"}
    body = {"expert_id": parties.expert_id, "type": "fixed", "currency": "USD", "policy": "elance"}
    first = await api.post("/v1/contracts", json=body, headers=headers)
    again = await api.post("/v1/contracts", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and first.json()["policy"] == "elance"


@pytest.mark.rules("M2")
async def test_an_unauthenticated_card_funding_stays_pending_until_authenticated(api):
    parties, milestone = await agreed_milestone(api)
    mid = milestone["id"]
    pending = await command(api, mid, "fund", parties.client, {"card_authenticated": False})
    assert (pending.json()["status"], pending.json()["escrow"]) == ("funding_pending", 0)
    assert_problem(await command(api, mid, "release", parties.client, {"amount": 50_000}), 409)
    funded = await command(api, mid, "authenticate-funding", parties.client)
    assert (funded.json()["status"], funded.json()["escrow"]) == ("in_progress", 50_000)


@pytest.mark.rules("M8")
async def test_an_experts_proposal_is_accepted_or_declined_by_the_client(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    proposal = await add_milestone(api, contract["id"], parties.expert, amount=10_000)
    assert proposal["status"] == "proposed"
    assert_problem(await command(api, proposal["id"], "accept", parties.expert), 403)
    accepted = await command(api, proposal["id"], "accept", parties.client)
    assert accepted.json()["status"] == "agreed"

    other = await add_milestone(api, contract["id"], parties.expert, amount=10_000)
    declined = await command(api, other["id"], "decline", parties.client)
    assert declined.json()["status"] == "declined"


@pytest.mark.rules("M8")
async def test_a_finished_milestone_refuses_commands_with_409(api, client, env):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    proposal = await add_milestone(api, contract["id"], parties.expert, amount=10_000)
    await command(api, proposal["id"], "decline", parties.client)
    finished_view = await finished(env, client.get_workflow_handle(f"milestone:{proposal['id']}"))
    assert finished_view["status"] == "declined"

    assert "declined" in assert_problem(await command(api, proposal["id"], "accept", parties.client), 409)["detail"]
    assert_problem(await command(api, proposal["id"], "accept", bearer("stranger", Role.CLIENT)), 404)
    assert (await api.get(f"/v1/milestones/{proposal['id']}", headers=parties.client)).json()["status"] == "declined"


@pytest.mark.rules("M3", "M7")
async def test_void_a_submission_then_ask_for_revisions(api):
    parties, milestone = await agreed_milestone(api)
    mid = milestone["id"]
    await command(api, mid, "fund", parties.client, {"card_authenticated": True})
    await command(api, mid, "submit", parties.expert)
    voided = (await command(api, mid, "void-submission", parties.expert)).json()
    assert (voided["status"], voided["deadline_at"]) == ("in_progress", None)
    await command(api, mid, "submit", parties.expert)
    revised = await command(api, mid, "request-revision", parties.client, {"message": "bigger logo"})
    assert (revised.json()["status"], revised.json()["revisions"]) == ("in_progress", 1)

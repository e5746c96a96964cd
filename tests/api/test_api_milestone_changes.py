"""M8 milestone changes through HTTP: `POST /v1/milestones/{id}/changes` answers the
change; its accept and decline answer the change they decided; the milestone lists its
changes. Against the time-skipping server and a worker."""

from __future__ import annotations

import pytest

from tests.api.support import Parties, agreed_milestone, assert_problem, command, funded_milestone

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.rules("M8", "M2")
async def test_an_increase_is_proposed_approved_and_funded_into_the_same_escrow(api):
    parties, milestone = await funded_milestone(api, 50_000)
    mid = milestone["id"]
    changes = f"/v1/milestones/{mid}/changes"

    response = await api.post(changes, json={"amount": 80_000, "due_date": "2027-02-01"}, headers=parties.expert)
    assert response.status_code == 201, response.text
    change = response.json()
    assert (change["status"], change["proposed_by"], change["amount"], change["due_date"]) == (
        "proposed",
        "expert",
        80_000,
        "2027-02-01",
    )
    cid = change["id"]
    # The proposer does not answer its own proposal; a stranger not at all.
    assert_problem(await api.post(f"{changes}/{cid}/accept", headers=parties.expert), 403)
    assert_problem(await api.post(f"{changes}/{cid}/accept", headers=Parties.fresh().client), 403)
    assert_problem(await api.post(f"{changes}/nope/accept", headers=parties.client), 404)

    response = await api.post(f"{changes}/{cid}/accept", headers=parties.client)
    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["status"]) == (cid, "accepted")
    assert_problem(await api.post(f"{changes}/{cid}/decline", headers=parties.client), 409)

    read = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert (read["amount"], read["escrow"], read["due_date"]) == (80_000, 50_000, "2027-02-01")
    assert [(c["id"], c["status"]) for c in read["changes"]] == [(cid, "accepted")]

    response = await command(api, mid, "fund", parties.client, {"card_authenticated": True})
    assert response.status_code == 200, response.text
    funded = response.json()
    assert (funded["status"], funded["amount"], funded["escrow"], funded["funded"]) == (
        "in_progress",
        80_000,
        80_000,
        80_000,
    )
    assert_problem(await command(api, mid, "fund", parties.client, {"card_authenticated": True}), 409)
    contract = (await api.get(f"/v1/contracts/{funded['contract_id']}", headers=parties.client)).json()
    assert [(m["amount"], m["escrow"]) for m in contract["milestones"]] == [(80_000, 80_000)]
    assert contract["escrow_total"] == 80_000


@pytest.mark.rules("M8")
async def test_refusals_name_their_reason(api):
    parties, milestone = await funded_milestone(api, 50_000)
    changes = f"/v1/milestones/{milestone['id']}/changes"
    # The state refuses (409): a smaller amount, removing a funded milestone.
    problem = assert_problem(await api.post(changes, json={"amount": 40_000}, headers=parties.client), 409)
    assert "only grow" in problem["detail"]
    problem = assert_problem(await api.post(changes, json={"remove": True}, headers=parties.client), 409)
    assert "not yet funded" in problem["detail"]
    # The body can never be right (422): nothing to change, or remove with an edit.
    assert_problem(await api.post(changes, json={}, headers=parties.client), 422)
    assert_problem(await api.post(changes, json={"remove": True, "title": "x"}, headers=parties.client), 422)
    assert_problem(await api.post(changes, json={"title": "x"}, headers=Parties.fresh().client), 403)


@pytest.mark.rules("M8")
async def test_a_future_milestone_is_removed_by_agreement(api):
    parties, milestone = await agreed_milestone(api, 30_000)
    mid = milestone["id"]
    response = await api.post(f"/v1/milestones/{mid}/changes", json={"remove": True}, headers=parties.client)
    assert response.status_code == 201, response.text
    cid = response.json()["id"]
    response = await api.post(f"/v1/milestones/{mid}/changes/{cid}/accept", headers=parties.expert)
    assert response.status_code == 200, response.text
    read = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert read["status"] == "cancelled"
    assert_problem(await command(api, mid, "fund", parties.client, {"card_authenticated": True}), 409)

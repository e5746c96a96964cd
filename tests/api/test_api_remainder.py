"""M6 through HTTP: the remainder of a partial release applied to a new milestone of the
same contract, answered as the new milestone (201)."""

from __future__ import annotations

import pytest

from tests.api.support import assert_problem, command, funded_milestone, poll

pytestmark = pytest.mark.usefixtures("worker")
PATH = "apply-remainder"


@pytest.mark.rules("M6", "C3")
async def test_apply_the_remainder_to_a_new_milestone(api, sessions):
    parties, milestone = await funded_milestone(api, amount=50_000)
    mid = milestone["id"]
    body = {"title": "Phase two", "due_date": "2027-01-15"}

    # Nothing was partly released yet: 409, and nothing moves.
    assert_problem(await command(api, mid, PATH, parties.client, body), 409)
    assert (await command(api, mid, "submit", parties.expert, {"message": "done"})).status_code == 200
    released = await command(api, mid, "release", parties.client, {"amount": 20_000})
    assert released.json()["status"] == "partially_released", released.text
    # Only the client; a body without a title is refused before any workflow.
    assert_problem(await command(api, mid, PATH, parties.expert, body), 403)
    assert_problem(await command(api, mid, PATH, parties.client, {"due_date": "2027-01-15"}), 422)

    response = await command(api, mid, PATH, parties.client, body)
    assert response.status_code == 201, response.text
    new = response.json()
    assert (new["status"], new["amount"], new["escrow"], new["funded"], new["funded_from"]) == (
        "in_progress",
        30_000,
        30_000,
        30_000,
        mid,
    )
    assert (new["contract_id"], new["title"], new["due_date"]) == (milestone["contract_id"], "Phase two", "2027-01-15")
    # Read your write: the new milestone is there, as answered; the old one completed.
    assert (await api.get(f"/v1/milestones/{new['id']}", headers=parties.expert)).json() == new
    old = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert (old["status"], old["escrow"], old["released"], old["applied"], old["applied_to"]) == (
        "completed",
        0,
        20_000,
        30_000,
        new["id"],
    )
    assert_problem(await command(api, mid, PATH, parties.client, body), 409)

    contract = await poll(
        api,
        f"/v1/contracts/{milestone['contract_id']}",
        parties.client,
        lambda c: {m["id"] for m in c["milestones"]} == {mid, new["id"]},
        "the contract to list the new milestone",
    )
    assert contract["escrow_total"] == 30_000

    # The statement shows one move between the contract's escrows and still reconciles.
    statement = (await api.get(f"/v1/contracts/{milestone['contract_id']}/statement", headers=parties.client)).json()
    moves = [line for line in statement["lines"] if line["kind"] == "escrow_transfer"]
    assert [(m["amount"], m["milestone_id"], m["source"]) for m in moves] == [(30_000, new["id"], mid)]
    assert statement["reconciled"] and statement["totals"]["funded"] == 50_000

    # The new milestone runs as any funded one.
    assert (await command(api, new["id"], "submit", parties.expert, {"message": "v2"})).status_code == 200
    done = await command(api, new["id"], "release", parties.client, {"amount": 30_000})
    assert (done.json()["status"], done.json()["released"]) == ("completed", 30_000), done.text

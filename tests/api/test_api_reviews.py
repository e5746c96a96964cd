"""Reviews through HTTP (V1, V2), against the time-skipping server and a worker: the
contract closes, each side reviews the other double-blind, the reviewed party replies,
the client edits its review once the expert allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrow.models import Role
from tests.api.support import Parties, assert_problem, bearer, open_contract

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)
STRANGER = bearer("mallory", Role.CLIENT)


async def closed_contract(api) -> tuple[Parties, str]:
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    closed = await api.post(f"/v1/contracts/{contract['id']}/close", headers=parties.client)
    assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
    return parties, contract["id"]


async def review(api, contract_id, headers, rating=4, text="clear and on time"):
    return await api.post(
        f"/v1/contracts/{contract_id}/reviews", json={"rating": rating, "text": text}, headers=headers
    )


async def seen(api, contract_id, headers) -> list[dict]:
    response = await api.get(f"/v1/contracts/{contract_id}/reviews", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["reviews"]


@pytest.mark.rules("V1")
async def test_v1_no_reviews_before_the_contract_closes(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    cid = contract["id"]
    detail = assert_problem(await review(api, cid, parties.client), 409)["detail"]
    assert "not closed" in detail
    assert_problem(await review(api, cid, STRANGER), 404)
    assert_problem(await review(api, cid, OPERATOR), 403)
    listed = await api.get(f"/v1/contracts/{cid}/reviews", headers=parties.expert)
    assert listed.status_code == 200 and listed.json() == {
        "contract_id": cid,
        "status": None,
        "closed_at": None,
        "reviews_close_at": None,
        "replies_close_at": None,
        "reviews": [],
    }
    assert_problem(await api.get(f"/v1/contracts/{cid}/reviews", headers=STRANGER), 404)
    # A review of a contract with no reviews yet: a party is told why, a stranger nothing.
    reply = {"text": "thanks"}
    assert_problem(await api.post(f"/v1/reviews/{cid}.client/reply", json=reply, headers=parties.expert), 409)
    assert_problem(await api.post(f"/v1/reviews/{cid}.client/reply", json=reply, headers=STRANGER), 404)


@pytest.mark.rules("V1")
async def test_v1_double_blind_until_both_have_posted(api):
    parties, cid = await closed_contract(api)
    for bad in (0, 6, 4.5, "5", True, None):
        assert_problem(
            await api.post(f"/v1/contracts/{cid}/reviews", json={"rating": bad, "text": "x"}, headers=parties.client),
            422,
        )
    assert_problem(await review(api, cid, parties.client, text="   "), 422)
    assert_problem(await review(api, cid, STRANGER), 404)
    assert_problem(await review(api, cid, OPERATOR), 403)

    posted = await review(api, cid, parties.client, rating=5)
    assert posted.status_code == 201, posted.text
    mine = posted.json()
    assert (mine["id"], mine["side"], mine["subject_id"], mine["published_at"]) == (
        f"{cid}.client",
        "client",
        parties.expert_id,
        None,
    )
    assert [r["id"] for r in await seen(api, cid, parties.client)] == [mine["id"]]
    assert await seen(api, cid, parties.expert) == [] and await seen(api, cid, OPERATOR) == []
    assert_problem(await api.get(f"/v1/contracts/{cid}/reviews", headers=STRANGER), 404)
    assert "once" in assert_problem(await review(api, cid, parties.client), 409)["detail"]
    # Unpublished, the client's review does not exist to the expert it reviews.
    reply = {"text": "thanks"}
    assert_problem(await api.post(f"/v1/reviews/{cid}.client/reply", json=reply, headers=parties.expert), 404)

    theirs = await review(api, cid, parties.expert, rating=3, text="slow to answer")
    assert theirs.status_code == 201 and theirs.json()["published_at"] is not None, theirs.text
    listed = await api.get(f"/v1/contracts/{cid}/reviews", headers=OPERATOR)
    body = listed.json()
    assert body["status"] == "open" and body["reviews_close_at"] and body["replies_close_at"]
    assert sorted((r["side"], r["rating"]) for r in body["reviews"]) == [("client", 5), ("expert", 3)]
    assert len(await seen(api, cid, parties.expert)) == 2


@pytest.mark.rules("V1", "V2")
async def test_v1_a_late_review_is_409_and_v2_the_ended_reviews_take_no_command(api, env):
    parties, cid = await closed_contract(api)
    await review(api, cid, parties.expert)
    await env.sleep(timedelta(days=14, seconds=1))
    assert "V1" in assert_problem(await review(api, cid, parties.client), 409)["detail"]
    # Published when the 14 days ended: the client sees the expert's review.
    assert [r["side"] for r in await seen(api, cid, parties.client)] == ["expert"]

    await env.sleep(timedelta(days=14))
    reply = {"text": "too late"}
    assert_problem(await api.post(f"/v1/reviews/{cid}.expert/reply", json=reply, headers=parties.client), 409)
    assert_problem(await api.post(f"/v1/reviews/{cid}.expert/reply", json=reply, headers=STRANGER), 404)
    assert [r["side"] for r in await seen(api, cid, OPERATOR)] == ["expert"]


@pytest.mark.rules("V2")
async def test_v2_reply_and_the_clients_one_edit(api):
    parties, cid = await closed_contract(api)
    await review(api, cid, parties.client, rating=2, text="missed the deadline")
    await review(api, cid, parties.expert, rating=5)
    rid = f"{cid}.client"

    reply = {"text": "the brief changed twice"}
    assert_problem(await api.post(f"/v1/reviews/{rid}/reply", json=reply, headers=parties.client), 403)
    assert_problem(await api.post(f"/v1/reviews/{rid}/reply", json=reply, headers=STRANGER), 404)
    assert_problem(await api.post(f"/v1/reviews/{rid}/reply", json={"text": ""}, headers=parties.expert), 422)
    replied = await api.post(f"/v1/reviews/{rid}/reply", json=reply, headers=parties.expert)
    assert replied.status_code == 200 and replied.json()["reply"] == reply["text"], replied.text
    assert_problem(await api.post(f"/v1/reviews/{rid}/reply", json=reply, headers=parties.expert), 409)

    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={"rating": 4}, headers=parties.client), 409)
    assert_problem(await api.post(f"/v1/reviews/{rid}/allow-edit", headers=parties.expert), 409)  # nothing asked
    assert_problem(await api.post(f"/v1/reviews/{cid}.expert/edit-request", headers=parties.client), 403)
    asked = await api.post(f"/v1/reviews/{rid}/edit-request", headers=parties.client)
    assert asked.status_code == 200 and asked.json()["edit_allow_by"], asked.text
    assert_problem(await api.post(f"/v1/reviews/{rid}/edit-request", headers=parties.client), 409)
    assert_problem(await api.post(f"/v1/reviews/{rid}/allow-edit", headers=parties.client), 403)
    allowed = await api.post(f"/v1/reviews/{rid}/allow-edit", headers=parties.expert)
    assert allowed.status_code == 200 and allowed.json()["edit_by"], allowed.text

    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={}, headers=parties.client), 422)
    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={"rating": 4.0}, headers=parties.client), 422)
    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={"rating": 4}, headers=parties.expert), 403)
    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={"rating": 4}, headers=STRANGER), 404)
    edited = await api.patch(f"/v1/reviews/{rid}", json={"rating": 4}, headers=parties.client)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["rating"], edited.json()["text"]) == (4, "missed the deadline")
    assert_problem(await api.patch(f"/v1/reviews/{rid}", json={"text": "again"}, headers=parties.client), 409)
    [shown] = [r for r in await seen(api, cid, parties.expert) if r["id"] == rid]
    assert (shown["rating"], shown["reply"], shown["edited_at"] is not None) == (4, reply["text"], True)


@pytest.mark.rules("V1")
async def test_a_malformed_or_unknown_review_id_is_404(api):
    parties, cid = await closed_contract(api)
    for rid in (cid, f"{cid}.", f"{cid}.operator", "no-such-contract.client"):
        assert_problem(await api.post(f"/v1/reviews/{rid}/edit-request", headers=parties.client), 404)
    # Not posted yet: no such review.
    assert_problem(await api.post(f"/v1/reviews/{cid}.client/edit-request", headers=parties.client), 404)
    assert_problem(await api.post(f"/v1/reviews/{'x' * 201}/edit-request", headers=parties.client), 422)

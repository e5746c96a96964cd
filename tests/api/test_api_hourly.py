"""Hourly contracts through HTTP (H1–H7): the work journal, the billing week and its
client review, and a failing card replaced.

The module's time-skipping server is moved forward by each test to a known instant of a
billing week ahead of its clock (escrow.calendar), so the tests don't depend on the
weekday they run on. Weeks start by themselves, so each test polls for its week."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from escrow import ids
from escrow.calendar import BillingWeek, iso_week
from escrow.models import Role
from escrow.payments import SANDBOX_DECLINED, SANDBOX_SUCCEEDS
from tests.api.support import (
    Parties,
    assert_problem,
    balance_of,
    bearer,
    claim_of,
    poll,
)

pytestmark = pytest.mark.usefixtures("worker")
RATE = 6_000  # USD 60.00 an hour: a minute is a dollar
EVIDENCE = {"screenshots": 6, "activity": 0.8}
OPERATOR = bearer("operator-1", Role.OPERATOR)


async def move_to(env, moment: datetime) -> None:
    now = await env.get_current_time()
    assert moment >= now, f"the clock is already past {moment}"
    await env.sleep(moment - now)


async def wednesday_of_a_new_week(env) -> BillingWeek:
    """Move the clock to Wednesday 00:00 of the week after the current one."""
    week = BillingWeek.of(iso_week(await env.get_current_time() + timedelta(days=7)))
    await move_to(env, week.starts_at + timedelta(days=2))
    return week


async def hourly_contract(api, parties: Parties, card: str = SANDBOX_SUCCEEDS, **extra) -> dict:
    body = {
        "expert_id": parties.expert_id,
        "type": "hourly",
        "currency": "USD",
        "hourly_rate": RATE,
        "payment_method": card,
        **extra,
    }
    response = await api.post("/v1/contracts", json=body, headers=parties.client)
    assert response.status_code == 201, response.text
    return response.json()


async def log(api, contract_id: str, headers, started_at: datetime, minutes: int = 60, kind: str = "tracked"):
    body = {"started_at": started_at.isoformat(), "minutes": minutes, "kind": kind, "memo": "wireframes"}
    if kind == "tracked":
        body["evidence"] = EVIDENCE
    return await api.post(f"/v1/contracts/{contract_id}/time-entries", json=body, headers=headers)


async def opened(api, contract_id: str, week: BillingWeek, headers) -> dict:
    """The week's workflow starts by itself (H1): wait for it."""
    return await poll(
        api, f"/v1/contracts/{contract_id}/weeks/{week.week}", headers, lambda w: True, f"week {week.week} to open"
    )


@pytest.mark.rules("H1", "H3")
async def test_the_expert_logs_edits_and_deletes_time_in_the_open_week(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    contract = await hourly_contract(api, parties, weekly_limit_hours=40)
    assert (contract["type"], contract["hourly_rate"], contract["weekly_limit_hours"]) == ("hourly", RATE, 40)
    cid = contract["id"]
    first = await opened(api, cid, week, parties.expert)
    assert (first["status"], first["week"], first["entries"]) == ("open", week.week, [])

    monday = week.starts_at + timedelta(hours=9)
    tracked = await log(api, cid, parties.expert, monday, minutes=120)
    assert tracked.status_code == 201, tracked.text
    entry = tracked.json()
    assert (entry["week"], entry["contract_id"], entry["minutes"], entry["kind"]) == (week.week, cid, 120, "tracked")
    assert entry["has_evidence"] is True
    manual = (await log(api, cid, parties.expert, monday + timedelta(days=1), minutes=30, kind="manual")).json()

    view = (await api.get(f"/v1/contracts/{cid}/weeks/{week.week}", headers=parties.client)).json()
    assert (view["minutes"], view["invoice_amount"], view["status"]) == (150, 15_000, "open")
    assert view["billed_at"] == week.billed_at.isoformat().replace("+00:00", "Z")

    # H3: the expert edits; the invoice follows.
    edited = await api.patch(
        f"/v1/time-entries/{manual['id']}", json={"minutes": 45, "memo": "call"}, headers=parties.expert
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["minutes"], edited.json()["memo"], edited.json()["week"]) == (45, "call", week.week)
    assert_problem(
        await api.patch(f"/v1/time-entries/{manual['id']}", json={"minutes": 50}, headers=parties.client), 403
    )
    assert_problem(await api.patch(f"/v1/time-entries/{manual['id']}", json={}, headers=parties.expert), 422)
    # An entry stays in its week.
    moved = {"started_at": (week.billed_at + timedelta(hours=1)).isoformat()}
    assert_problem(await api.patch(f"/v1/time-entries/{manual['id']}", json=moved, headers=parties.expert), 422)

    deleted = await api.delete(f"/v1/time-entries/{manual['id']}", headers=parties.expert)
    assert deleted.status_code == 200, deleted.text
    assert [e["id"] for e in deleted.json()["entries"]] == [entry["id"]]
    assert deleted.json()["invoice_amount"] == 12_000
    assert_problem(await api.delete(f"/v1/time-entries/{manual['id']}", headers=parties.expert), 404)
    assert_problem(
        await api.patch(f"/v1/time-entries/{manual['id']}", json={"minutes": 5}, headers=parties.expert), 404
    )
    assert_problem(await api.delete("/v1/time-entries/no-such-entry", headers=parties.expert), 404)

    read = (await api.get(f"/v1/contracts/{cid}", headers=parties.client)).json()
    assert [w["week"] for w in read["weeks"]] == [week.week]


@pytest.mark.rules("H1")
async def test_time_entries_that_no_open_week_takes_are_refused(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    cid = (await hourly_contract(api, parties, weekly_limit_hours=2))["id"]
    await opened(api, cid, week, parties.expert)
    now = await env.get_current_time()

    # Ending in the future, inside the open week: the week refuses it.
    assert_problem(await log(api, cid, parties.expert, now - timedelta(minutes=10), minutes=30), 422)
    # Next week's work: no week is open for it yet.
    future = assert_problem(await log(api, cid, parties.expert, week.billed_at + timedelta(hours=1)), 409)
    assert f"no billing week {week.next().week} is open" in future["detail"]
    # Long past: that week never existed for this contract.
    assert_problem(await log(api, cid, parties.expert, week.starts_at - timedelta(days=30)), 409)
    # A naive time is no instant; minutes are whole and positive.
    naive = {
        "started_at": (week.starts_at + timedelta(hours=9)).replace(tzinfo=None).isoformat(),
        "minutes": 30,
        "kind": "manual",
    }
    assert_problem(await api.post(f"/v1/contracts/{cid}/time-entries", json=naive, headers=parties.expert), 422)
    for minutes in (0, 1.5, "30", 7 * 24 * 60 + 1):
        body = {**naive, "started_at": week.starts_at.isoformat(), "minutes": minutes}
        assert_problem(await api.post(f"/v1/contracts/{cid}/time-entries", json=body, headers=parties.expert), 422)
    # Only the expert logs; the weekly limit holds.
    assert_problem(await log(api, cid, parties.client, week.starts_at + timedelta(hours=9)), 403)
    assert_problem(await log(api, cid, parties.expert, week.starts_at + timedelta(hours=9), minutes=121), 409)
    # Strangers and unknown contracts: nothing to see.
    assert_problem(await log(api, cid, bearer("mallory", Role.EXPERT), week.billed_at + timedelta(hours=1)), 404)
    assert_problem(await log(api, "no-such-contract", parties.expert, week.starts_at + timedelta(hours=9)), 404)
    assert (await api.get(f"/v1/contracts/{cid}/weeks/{week.week}", headers=parties.expert)).json()["entries"] == []


async def test_reading_weeks(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    cid = (await hourly_contract(api, parties))["id"]
    await opened(api, cid, week, parties.client)
    assert (await api.get(f"/v1/contracts/{cid}/weeks/{week.week}", headers=OPERATOR)).status_code == 200
    assert_problem(await api.get(f"/v1/contracts/{cid}/weeks/{week.week}", headers=bearer("mallory", Role.CLIENT)), 404)
    assert_problem(await api.get(f"/v1/contracts/{cid}/weeks/{week.next().week}", headers=parties.client), 404)
    for bad in ("2026-47", "2026-W54", "W47", "2026-W1"):
        assert_problem(await api.get(f"/v1/contracts/{cid}/weeks/{bad}", headers=parties.client), 422)
    fixed = {"expert_id": parties.expert_id, "type": "fixed", "currency": "USD", "payment_method": SANDBOX_SUCCEEDS}
    assert_problem(await api.post("/v1/contracts", json=fixed, headers=parties.client), 422)
    for limit in (0, 1.5, "10"):
        body = {
            "expert_id": parties.expert_id,
            "type": "hourly",
            "currency": "USD",
            "hourly_rate": RATE,
            "weekly_limit_hours": limit,
        }
        assert_problem(await api.post("/v1/contracts", json=body, headers=parties.client), 422)


@pytest.mark.rules("H1", "H2", "H3", "H4", "H5", "D8")
async def test_the_client_disputes_tracked_hours_only_in_its_review(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    cid = (await hourly_contract(api, parties))["id"]
    await opened(api, cid, week, parties.expert)
    # API.md's published four-field body: tracked time without its optional evidence.
    published = {
        "started_at": (week.starts_at + timedelta(hours=9)).isoformat(),
        "minutes": 60,
        "kind": "tracked",
        "memo": "wireframes",
    }
    logged = await api.post(f"/v1/contracts/{cid}/time-entries", json=published, headers=parties.expert)
    assert logged.status_code == 201, logged.text
    tracked = logged.json()
    assert (tracked["kind"], tracked["evidence"], tracked["has_evidence"]) == ("tracked", None, False)
    manual = (
        await log(api, cid, parties.expert, week.starts_at + timedelta(hours=11), minutes=30, kind="manual")
    ).json()
    path = f"/v1/contracts/{cid}/weeks/{week.week}/disputes"
    body = {"entry_ids": [tracked["id"]], "reason": "no work shows in the screenshots"}

    # H4: not while the week is open.
    early = assert_problem(await api.post(path, json=body, headers=parties.client), 409)
    assert "(H4)" in early["detail"]

    # H2, H3: billed Monday 00:00; the client review opens at Monday 12:00.
    await move_to(env, week.expert_review_ends_at + timedelta(minutes=1))
    in_review = await poll(
        api,
        f"/v1/contracts/{cid}/weeks/{week.week}",
        parties.client,
        lambda w: w["status"] == "client_review",
        "the client review to open",
    )
    assert (in_review["payment_status"], in_review["escrow"], in_review["charged"]) == ("paid", 9_000, 9_000)
    assert (in_review["tracked_minutes"], in_review["tracked_minutes_without_evidence"]) == (60, 60)
    assert_problem(
        await api.patch(f"/v1/time-entries/{tracked['id']}", json={"minutes": 30}, headers=parties.expert), 409
    )

    assert_problem(await api.post(path, json=body, headers=parties.expert), 403)
    h5 = {"entry_ids": [manual["id"]], "reason": "manual time"}
    assert "(H5)" in assert_problem(await api.post(path, json=h5, headers=parties.client), 409)["detail"]
    assert_problem(await api.post(path, json={**body, "entry_ids": []}, headers=parties.client), 422)
    disputed = await api.post(path, json=body, headers=parties.client)
    assert disputed.status_code == 201, disputed.text
    dispute = disputed.json()
    assert (dispute["status"], dispute["claimant"], dispute["amount"], dispute["contract_id"]) == (
        "filed",
        "client",
        6_000,
        cid,
    )
    assert dispute["owner_workflow_id"] == ids.week(cid, week.week)

    # D8: the same dispute workflow; the expert accepts and the week refunds the hour.
    accepted = await api.post(f"/v1/disputes/{dispute['id']}/accept", headers=parties.expert)
    assert accepted.status_code == 200, accepted.text
    view = await poll(
        api,
        f"/v1/contracts/{cid}/weeks/{week.week}",
        parties.client,
        lambda w: w["refunded"] == 6_000,
        "the week to pay the outcome",
    )
    assert (claim_of(view, dispute["id"])["status"], view["escrow"]) == ("settled", 3_000)
    assert (await balance_of(api, parties.client_id, parties.client))["available"] == 6_000


@pytest.mark.rules("H7")
async def test_a_declined_card_holds_the_contract_until_a_new_card_pays(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    cid = (await hourly_contract(api, parties, card=SANDBOX_DECLINED))["id"]
    await opened(api, cid, week, parties.expert)
    await log(api, cid, parties.expert, week.starts_at + timedelta(hours=9), minutes=60, kind="manual")

    await move_to(env, week.billed_at + timedelta(minutes=1))
    held = await poll(
        api, f"/v1/contracts/{cid}", parties.client, lambda c: c["status"] == "on_hold", "the contract to go on hold"
    )
    assert held["weeks"][0]["payment_status"] == "failing"

    change = f"/v1/contracts/{cid}/payment-method"
    assert_problem(await api.post(change, json={"payment_method": SANDBOX_SUCCEEDS}, headers=parties.expert), 403)
    assert_problem(await api.post(change, json={"payment_method": ""}, headers=parties.client), 422)
    changed = await api.post(change, json={"payment_method": SANDBOX_SUCCEEDS}, headers=parties.client)
    assert changed.status_code == 200, changed.text
    # H7: the new card is tried at once and the contract is active again.
    await poll(
        api, f"/v1/contracts/{cid}", parties.client, lambda c: c["status"] == "active", "the contract to reactivate"
    )
    paid = (await api.get(f"/v1/contracts/{cid}/weeks/{week.week}", headers=parties.client)).json()
    assert (paid["payment_status"], paid["charged"]) == ("paid", 6_000)


@pytest.mark.rules("H7")
async def test_an_operator_orders_a_failing_invoice_charged_again_at_once(api, env):
    week = await wednesday_of_a_new_week(env)
    parties = Parties.fresh()
    cid = (await hourly_contract(api, parties, card=SANDBOX_DECLINED))["id"]
    await opened(api, cid, week, parties.expert)
    await log(api, cid, parties.expert, week.starts_at + timedelta(hours=9), minutes=60, kind="manual")
    review = f"/v1/contracts/{cid}/weeks/{week.week}/invoice-review"
    retry = {"action": "retry_now", "note": "the bank lifted its block"}

    await move_to(env, week.billed_at + timedelta(minutes=1))
    await poll(api, f"/v1/contracts/{cid}", parties.client, lambda c: c["status"] == "on_hold", "the first failure")
    # No review yet (it opens at the third failure), and never the parties' to decide.
    assert "3 failed charges" in assert_problem(await api.post(review, json=retry, headers=OPERATOR), 409)["detail"]
    await move_to(env, week.billed_at + timedelta(days=2, minutes=2))
    path = f"/v1/contracts/{cid}/weeks/{week.week}"
    failing = await poll(api, path, parties.client, lambda w: w["invoice_review"], "the invoice review")
    assert_problem(await api.post(review, json=retry, headers=parties.client), 403)
    assert_problem(await api.post(review, json={**retry, "action": "waive"}, headers=OPERATOR), 422)

    ordered = await api.post(review, json=retry, headers=OPERATOR)
    assert ordered.status_code == 200, ordered.text
    # The retry runs at once (the sandbox card still declines), not a day later.
    again = await poll(api, path, OPERATOR, lambda w: w["failed_charges"] > failing["failed_charges"], "the retry")
    assert again["invoice_review"] and again["next_charge_at"] > failing["next_charge_at"]
    closed = await api.post(review, json={"action": "close", "note": "support follows up"}, headers=OPERATOR)
    assert closed.status_code == 200 and closed.json()["invoice_review"] is False

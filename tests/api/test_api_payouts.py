"""Payout methods and payouts through HTTP (P3, P4, L5), against the time-skipping
server and a worker: the money leaves `available` for the payout's account, then the
world (less a wire's fee) or comes back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from escrow import accounts
from escrow.db import ledger
from escrow.db.models import PayoutMethod
from escrow.models import Role, TransferSpec
from tests.api.support import assert_problem, bearer, poll
from tests.support import credit

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)


def fresh_expert() -> tuple[str, dict[str, str]]:
    user = f"expert-{uuid.uuid4().hex[:10]}"
    return user, bearer(user, Role.EXPERT)


def fund(sessions, user: str, amount: int) -> None:
    """Money the expert has available (as a release after its hold leaves it, L5)."""
    credit(sessions, accounts.expert_available(user), amount)


async def add_method(api, user, headers, kind="paypal", account="me@example.com", country="US") -> dict:
    response = await api.post(
        f"/v1/users/{user}/payout-methods", json={"kind": kind, "account": account, "country": country}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def end_hold(sessions, method_id: str) -> None:
    """As if the method was added more than 3 days ago (P3)."""
    with sessions.begin() as session:
        session.execute(
            update(PayoutMethod)
            .where(PayoutMethod.id == method_id)
            .values(security_hold_until=datetime.now(UTC) - timedelta(seconds=1))
        )


async def balance(api, user, headers) -> dict:
    response = await api.get(f"/v1/users/{user}/balance", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def pay_out(api, user, headers, method_id, amount):
    return await api.post(f"/v1/users/{user}/payouts", json={"amount": amount, "method_id": method_id}, headers=headers)


def settled(payout: dict) -> bool:
    return payout["status"] != "pending"


@pytest.mark.rules("P3", "P4")
async def test_a_new_method_is_masked_and_on_a_3_day_hold(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 10_000)
    method = await add_method(api, user, headers, account="someone@example.com")
    assert "someone@example.com" not in str(method)
    assert method["account_masked"] == "s***@example.com"
    added = datetime.fromisoformat(method["added_at"])
    assert datetime.fromisoformat(method["security_hold_until"]) == added + timedelta(days=3)
    refused = assert_problem(await pay_out(api, user, headers, method["id"], 1_000), 409)
    assert datetime.fromisoformat(method["security_hold_until"]).strftime("%Y-%m-%d %H:%M") in refused["detail"]
    listed = (await api.get(f"/v1/users/{user}/payout-methods", headers=OPERATOR)).json()
    assert [m["id"] for m in listed] == [method["id"]]
    assert "someone@example.com" not in str(listed)
    assert (await api.get(f"/v1/users/{user}/payout-methods", headers=bearer("other", Role.EXPERT))).status_code == 403
    assert (await balance(api, user, headers))["available"] == 10_000


@pytest.mark.rules("P4", "L5")
async def test_a_paypal_payout_is_paid_and_leaves_the_balance(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 10_000)
    method = await add_method(api, user, headers)
    end_hold(sessions, method["id"])
    response = await pay_out(api, user, headers, method["id"], 4_000)
    assert response.status_code == 201, response.text
    payout = response.json()
    assert payout["fee"] == 0 and payout["account_masked"] == "m***@example.com"
    done = await poll(api, f"/v1/payouts/{payout['id']}", headers, settled, "the payout to settle")
    assert done["status"] == "paid"
    after = await balance(api, user, headers)
    assert (after["available"], after["in_payout"]) == (6_000, 0)
    assert (await api.get(f"/v1/payouts/{payout['id']}", headers=OPERATOR)).status_code == 200
    assert (await api.get(f"/v1/payouts/{payout['id']}", headers=bearer("other", Role.EXPERT))).status_code == 404


@pytest.mark.rules("P4", "L5")
async def test_a_failed_payout_returns_the_money(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 10_000)
    method = await add_method(api, user, headers, account="will-fail@example.com")
    end_hold(sessions, method["id"])
    payout = (await pay_out(api, user, headers, method["id"], 10_000)).json()
    done = await poll(api, f"/v1/payouts/{payout['id']}", headers, settled, "the payout to settle")
    assert done["status"] == "failed"
    after = await balance(api, user, headers)
    assert (after["available"], after["in_payout"]) == (10_000, 0)


@pytest.mark.rules("P4")
async def test_a_wire_is_for_more_than_2500_dollars_with_a_50_dollar_fee(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 300_000)
    method = await add_method(api, user, headers, kind="wire", account="DE89 3704 0044 0532 0130 00", country="DE")
    assert method["account_masked"] == "****3000"
    end_hold(sessions, method["id"])
    assert_problem(await pay_out(api, user, headers, method["id"], 250_000), 409)
    response = await pay_out(api, user, headers, method["id"], 250_001)
    assert response.status_code == 201, response.text
    assert response.json()["fee"] == 5_000
    done = await poll(api, f"/v1/payouts/{response.json()['id']}", headers, settled, "the wire to settle")
    assert done["status"] == "paid"
    assert (await balance(api, user, headers))["available"] == 300_000 - 250_001
    with sessions() as session:
        assert ledger.balance(session, accounts.payout(user, done["id"])) == 0


@pytest.mark.rules("L5", "P4")
async def test_two_payouts_racing_for_the_same_money_one_wins(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 10_000)
    method = await add_method(api, user, headers)
    end_hold(sessions, method["id"])
    responses = await asyncio.gather(*(pay_out(api, user, headers, method["id"], 8_000) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    (won,) = [r.json() for r in responses if r.status_code == 201]
    await poll(api, f"/v1/payouts/{won['id']}", headers, settled, "the payout to settle")
    assert (await balance(api, user, headers))["available"] == 2_000


@pytest.mark.rules("L5")
async def test_only_available_money_is_paid_out(api, sessions):
    user, headers = fresh_expert()
    fund(sessions, user, 1_000)
    method = await add_method(api, user, headers)
    end_hold(sessions, method["id"])
    assert_problem(await pay_out(api, user, headers, method["id"], 1_001), 409)
    assert (await balance(api, user, headers))["available"] == 1_000
    assert_problem(await pay_out(api, user, bearer("other", Role.EXPERT), method["id"], 1), 403)


@pytest.mark.rules("P4")
def test_in_payout_counts_only_the_users_own_payout_accounts(sessions):
    user = f"Ex-{uuid.uuid4().hex[:8]}"
    with sessions.begin() as session:
        for owner, amount in ((user, 100), (user.lower(), 7), (f"{user}:x", 5), (user, 20)):
            spec = TransferSpec(
                id=f"test:{uuid.uuid4().hex}",
                debit=accounts.WORLD_CARD,
                credit=accounts.payout(owner, uuid.uuid4().hex),
                amount=amount,
                currency="USD",
                kind="test.fund",
            )
            ledger.post(session, spec, datetime.now(UTC))
        assert ledger.user_balance(session, user)["in_payout"] == 120


@pytest.mark.rules("R3", "P4", "L5")
async def test_a_client_withdraws_its_refunded_balance(api, sessions):
    client = f"client-{uuid.uuid4().hex[:10]}"
    headers = bearer(client, Role.CLIENT)
    credit(sessions, accounts.client_balance(client), 7_500, kind="test.refund")  # as R3 leaves it
    method = await add_method(api, client, headers)
    end_hold(sessions, method["id"])
    # The same user as an expert has no earnings: a payout draws on one balance only.
    as_expert = bearer(client, Role.EXPERT)
    assert_problem(await pay_out(api, client, as_expert, method["id"], 7_500), 409)
    response = await pay_out(api, client, headers, method["id"], 7_500)
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "refunds"
    done = await poll(api, f"/v1/payouts/{response.json()['id']}", headers, settled, "the payout to settle")
    assert done["status"] == "paid"
    after = await balance(api, client, headers)
    assert (after["available"], after["in_payout"]) == (0, 0)

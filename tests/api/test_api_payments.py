"""Manual payments through HTTP (P2, P5): the client pays its expert a bonus or an
expense; the money is held in the expert's pending balance and shows on the
contract's statement with its kind."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from escrow.models import Role
from tests.api.support import Parties, assert_problem, balance_of, bearer, open_contract

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-1", Role.OPERATOR)


@pytest.mark.rules("P2", "P5")
async def test_the_client_pays_a_bonus_held_for_5_days(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    path = f"/v1/contracts/{contract['id']}/payments"
    body = {"amount": 7_500, "kind": "bonus", "memo": "great logo"}

    response = await api.post(path, json=body, headers=parties.client)
    assert response.status_code == 201, response.text
    paid = response.json()
    assert (paid["status"], paid["amount"], paid["kind"], paid["memo"]) == ("held", 7_500, "bonus", "great logo")
    confirmed, available = (datetime.fromisoformat(paid[k]) for k in ("confirmed_at", "available_at"))
    assert available - confirmed == timedelta(days=5)  # P5: Monday → Saturday, …
    assert paid["id"] and paid["expert_id"] == parties.expert_id

    balance = await balance_of(api, parties.expert_id, parties.expert)
    (held,) = balance["pending"]
    assert (held["amount"], held["available_at"]) == (7_500, paid["available_at"])

    statement = (await api.get(f"/v1/contracts/{contract['id']}/statement", headers=parties.client)).json()
    (line,) = [line for line in statement["lines"] if line["kind"] == "manual_payment"]
    assert (line["amount"], line["payment_kind"], line["payment_id"]) == (7_500, "bonus", paid["id"])

    assert_problem(await api.post(path, json=body, headers=parties.expert), 403)
    assert_problem(await api.post(path, json=body, headers=OPERATOR), 403)
    stranger = Parties.fresh()
    assert_problem(await api.post(path, json=body, headers=stranger.client), 404)
    assert_problem(await api.post(path, json={**body, "amount": 0}, headers=parties.client), 422)
    assert_problem(await api.post(path, json={**body, "kind": "tip"}, headers=parties.client), 422)

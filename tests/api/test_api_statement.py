"""The escrow closing statement through HTTP (C3, C4), against the time-skipping server
and a worker: a contract through funding, a partial release, a refund, a dispute with
its arbitration fees, and closing; its statement reconciles with the ledger, which the
test reads itself."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from escrow import accounts
from escrow.db.models import Account, Transfer
from escrow.models import Role
from escrow.money import format_cents
from tests.api.support import (
    Parties,
    add_milestone,
    assert_problem,
    bearer,
    claim_of,
    command,
    open_contract,
    poll,
)

pytestmark = pytest.mark.usefixtures("worker")
OPERATOR = bearer("operator-statement", Role.OPERATOR)


async def ok(response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def settled(claim_id: str):
    def check(milestone: dict) -> bool:
        claim = claim_of(milestone, claim_id)
        return claim is not None and claim["status"] == "settled"

    return check


async def statement_of(api: AsyncClient, contract_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(f"/v1/contracts/{contract_id}/statement", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def ledger_of(sessions: sessionmaker[Session], escrows: list[str], dispute_ids: list[str]) -> dict[str, int]:
    """What the ledger says, summed here from the transfers and accounts tables."""
    with sessions() as session:
        moved = session.scalars(
            select(Transfer).where(or_(Transfer.debit_account.in_(escrows), Transfer.credit_account.in_(escrows)))
        ).all()
        held = session.execute(select(Account.balance).where(Account.name.in_(escrows))).scalars().all()
        fees = session.scalars(
            select(Transfer).where(or_(*(Transfer.id.like(f"dispute:{d}:fee:%") for d in dispute_ids)))
        ).all()
    sums: dict[str, int] = defaultdict(int)
    for t in moved:
        into, out = t.credit_account in escrows, t.debit_account in escrows
        if into and out:
            continue
        if into:
            sums["clawed_back" if t.debit_account.startswith("expert:") else "funded"] += t.amount
        elif t.credit_account.startswith("expert:"):
            sums["released"] += t.amount
        else:
            sums["refunded"] += t.amount
        sums["net"] += t.amount if into else -t.amount
    for t in fees:
        sums[t.kind] += t.amount
    return {
        "funded": sums["funded"],
        "released": sums["released"] - sums["clawed_back"],
        "refunded": sums["refunded"],
        "in_escrow": sum(held),
        "net": sums["net"],
        "fees_paid": sums["arbitration_fee"],
        "fees_refunded": sums["arbitration_fee_refund"],
        "fees_kept": sums["arbitration_fee_kept"],
    }


def reconciles(statement: dict[str, Any], ledger: dict[str, int]) -> None:
    t = statement["totals"]
    assert statement["reconciled"] is True
    for name in ("funded", "released", "refunded", "in_escrow", "fees_paid", "fees_refunded", "fees_kept"):
        assert t[name] == ledger[name], name
    assert t["funded"] - t["released"] - t["refunded"] == t["in_escrow"] == ledger["net"]
    assert sum(line["escrow_change"] for line in statement["lines"]) == t["in_escrow"]
    assert t["fees"] == t["fees_paid"] - t["fees_refunded"]


@pytest.mark.rules("C3", "C4")
async def test_the_closing_statement_reconciles_with_the_ledger(api, env, sessions):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    cid = contract["id"]

    # Milestone A: funded, part released, then a refund the expert approves (R3: the
    # rest of its escrow goes to the expert with it).
    a = (await add_milestone(api, cid, parties.client, 50_000))["id"]
    await ok(await command(api, a, "fund", parties.client, {"card_authenticated": True}))
    await ok(await command(api, a, "submit", parties.expert))
    await ok(await command(api, a, "release", parties.client, {"amount": 20_000}))
    refund = await ok(
        await api.post(
            f"/v1/milestones/{a}/refund-requests",
            json={"amount": 5_000, "message": "one screen"},
            headers=parties.client,
        )
    )
    await ok(await api.post(f"/v1/refund-requests/{refund['id']}/approve", headers=parties.expert))
    await poll(api, f"/v1/milestones/{a}", parties.client, settled(refund["id"]), "the refund to be paid")

    # Milestone B: funded, a dispute taken to arbitration (both pay the fee) and decided.
    b = (await add_milestone(api, cid, parties.client, 30_000))["id"]
    await ok(await command(api, b, "fund", parties.client, {"card_authenticated": True}))
    dispute = await ok(
        await api.post(
            f"/v1/milestones/{b}/disputes", json={"amount": 10_000, "reason": "late"}, headers=parties.client
        )
    )
    did = dispute["id"]
    await ok(await api.post(f"/v1/disputes/{did}/respond", json={"message": "on time"}, headers=parties.expert))
    await ok(await api.post(f"/v1/disputes/{did}/pay-fee", headers=parties.client))
    arbitration = await ok(await api.post(f"/v1/disputes/{did}/pay-fee", headers=parties.expert))
    fee = arbitration["fee_per_party"]
    assert fee > 0
    await ok(await api.post(f"/v1/disputes/{did}/verdict", json={"amount_to_client": 4_000}, headers=OPERATOR))
    await poll(api, f"/v1/milestones/{b}", parties.client, settled(did), "the verdict to be paid")

    # Before closing: a statement, not yet the closing one, and it already reconciles.
    midway = await statement_of(api, cid, parties.client)
    assert midway["final"] is False and midway["totals"]["in_escrow"] == 20_000
    reconciles(midway, ledger_of(sessions, escrows(a, b), [did]))

    # C1: the client closes releasing the rest; after the holds end, every release clears.
    await ok(await api.post(f"/v1/contracts/{cid}/close", json={"remainder": "release"}, headers=parties.client))
    await poll(api, f"/v1/contracts/{cid}", parties.client, lambda c: c["status"] == "closed", "the contract to close")
    await env.sleep(timedelta(days=6))

    def all_cleared(statement: dict[str, Any]) -> bool:
        lines = statement["lines"]
        return len([x for x in lines if x["kind"] == "cleared"]) == len([x for x in lines if x["kind"] == "release"])

    statement = await poll(api, f"/v1/contracts/{cid}/statement", parties.expert, all_cleared, "the holds to clear")
    reconciles(statement, ledger_of(sessions, escrows(a, b), [did]))

    t = statement["totals"]
    # 50,000 + 30,000 in; A: 20,000 released, 5,000 refunded, 25,000 released with it;
    # B: the verdict 4,000 to the client, 6,000 to the expert, 20,000 released on close.
    assert (t["funded"], t["released"], t["refunded"], t["in_escrow"]) == (80_000, 71_000, 9_000, 0)
    assert (t["fees_paid"], t["fees_refunded"], t["fees_kept"], t["fees"]) == (2 * fee, 0, 2 * fee, 2 * fee)
    assert statement["final"] is True and statement["status"] == "closed"
    assert (statement["contract_id"], statement["client_id"], statement["expert_id"]) == (
        cid,
        parties.client_id,
        parties.expert_id,
    )
    assert {m["id"] for m in statement["milestones"]} == {a, b}

    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in statement["lines"]:
        by_kind[line["kind"]].append(line)
    assert sorted((x["milestone_id"], x["amount"]) for x in by_kind["funding"]) == sorted([(a, 50_000), (b, 30_000)])
    assert sorted(x["amount"] for x in by_kind["refund"]) == [4_000, 5_000]
    assert sorted(x["amount"] for x in by_kind["release"]) == [6_000, 20_000, 20_000, 25_000]
    assert sorted(x["party"] for x in by_kind["fee"]) == ["client", "expert"]
    assert {x["dispute_id"] for x in by_kind["fee"] + by_kind["fee_kept"]} == {did}
    [outcome] = by_kind["dispute_outcome"]
    assert (outcome["dispute_id"], outcome["milestone_id"], outcome["resolution"]) == (did, b, "verdict")
    assert (outcome["amount_to_client"], outcome["amount_to_expert"]) == (4_000, 6_000)
    # The dispute's payout names it.
    [verdict_refund] = [x for x in by_kind["refund"] if x["milestone_id"] == b]
    assert verdict_refund["dispute_id"] == did
    assert [line["at"] for line in statement["lines"]] == sorted(line["at"] for line in statement["lines"])

    # C4: every invoice shows the day it clears; a final invoice clears with its release.
    finals = [x for x in by_kind["invoice"] if x["invoice_kind"] == "final"]
    assert sorted(x["amount"] for x in finals) == [6_000, 20_000, 20_000, 25_000]
    releases = {(x["milestone_id"], x["amount"]): x["clears_at"] for x in by_kind["release"]}
    assert all(x["clears_at"] == releases[(x["milestone_id"], x["amount"])] for x in finals)
    assert all(x["clears_at"] is not None for x in by_kind["release"])
    assert [x["invoice_kind"] for x in by_kind["invoice"] if x["invoice_kind"] != "final"] == ["pro_forma"]

    # The operator sees the same statement; strangers learn nothing.
    assert (await statement_of(api, cid, OPERATOR))["totals"] == t
    for stranger in (bearer("mallory", Role.CLIENT), bearer("mallory", Role.EXPERT)):
        assert_problem(await api.get(f"/v1/contracts/{cid}/statement", headers=stranger), 404)
    assert_problem(await api.get(f"/v1/contracts/{cid}/statement"), 401)
    assert_problem(await api.get("/v1/contracts/no-such-contract/statement", headers=OPERATOR), 404)

    # With Accept: text/html, the same statement as a printable page.
    page = await api.get(
        f"/v1/contracts/{cid}/statement",
        headers={**parties.client, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Escrow closing statement" in html and "@media print" in html
    for amount in (80_000, 71_000, 9_000, 2 * fee):
        assert format_cents(amount) in html
    assert "UTC" in html and "Reconciled with the ledger" in html
    assert_problem(
        await api.get(
            f"/v1/contracts/{cid}/statement", headers={**bearer("mallory", Role.CLIENT), "Accept": "text/html"}
        ),
        404,
    )


def escrows(*milestone_ids: str) -> list[str]:
    return [accounts.milestone_escrow(m) for m in milestone_ids]


@pytest.mark.rules("C3")
async def test_a_titles_markup_is_escaped_on_the_page(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    response = await api.post(
        f"/v1/contracts/{contract['id']}/milestones",
        json={"title": "<script>alert('x')</script> & logo", "amount": 3_000},
        headers=parties.client,
    )
    assert response.status_code == 201, response.text
    await ok(await command(api, response.json()["id"], "fund", parties.client, {"card_authenticated": True}))
    page = await api.get(f"/v1/contracts/{contract['id']}/statement", headers={**parties.expert, "Accept": "text/html"})
    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; logo" in page.text
    statement = await statement_of(api, contract["id"], parties.expert)
    assert statement["milestones"][0]["title"] == "<script>alert('x')</script> & logo"
    assert statement["totals"]["in_escrow"] == 3_000 and statement["reconciled"] is True

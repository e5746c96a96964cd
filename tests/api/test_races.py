"""Races through HTTP: many copies of one request, and commands that compete for the
same escrow, fired together on the real workflows. Whatever order they land in, money
moves once per operation, never beyond the escrow, and nobody gets a 500."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from escrow import accounts, ids
from escrow.db.check import check
from escrow.db.models import AuditEvent, Transfer
from tests.api.support import Parties, funded_milestone

pytestmark = pytest.mark.usefixtures("worker")

COPIES = 8


def audit_count(sessions: sessionmaker[Session], milestone_id: str, kind: str) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count()).where(AuditEvent.workflow_id == ids.milestone(milestone_id), AuditEvent.kind == kind)
        )


def out_of_escrow(sessions: sessionmaker[Session], milestone_id: str) -> list[int]:
    """The amounts of every transfer that took money out of the milestone's escrow."""
    with sessions() as session:
        escrow = accounts.milestone_escrow(milestone_id)
        return list(session.scalars(select(Transfer.amount).where(Transfer.debit_account == escrow)))


def ledger_is_clean(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        report = check(session)
    assert report.clean, report.summary()


async def copies(api: AsyncClient, path: str, headers: dict[str, str], body: dict[str, Any]) -> list[Response]:
    """COPIES of one request under one Idempotency-Key, all in flight at once."""
    keyed = {**headers, "Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    return list(await asyncio.gather(*(api.post(path, json=body, headers=keyed) for _ in range(COPIES))))


def one_answer(responses: list[Response], status: int) -> dict[str, Any]:
    """Every copy answers the operation's one answer: a latecomer re-attaches to the
    operation already in flight rather than being told to come back."""
    assert all(r.status_code == status for r in responses), [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies), bodies
    return bodies[0]


@pytest.mark.rules("L2", "M6")
async def test_copies_of_one_release_release_once(api, sessions):
    parties, milestone = await funded_milestone(api, 40_000)
    mid = milestone["id"]
    responses = await copies(api, f"/v1/milestones/{mid}/release", parties.client, {"amount": 15_000})
    answer = one_answer(responses, 200)
    assert (answer["escrow"], answer["released"]) == (25_000, 15_000)
    assert out_of_escrow(sessions, mid) == [15_000]
    assert audit_count(sessions, mid, "milestone.released") == 1
    view = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert (view["escrow"], view["released"], len(view["holds"])) == (25_000, 15_000, 1)
    ledger_is_clean(sessions)


@pytest.mark.rules("L2", "R1")
async def test_copies_of_one_refund_request_ask_once(api, sessions):
    parties, milestone = await funded_milestone(api, 40_000)
    mid = milestone["id"]
    responses = await copies(api, f"/v1/milestones/{mid}/refund-requests", parties.client, {"amount": 10_000})
    answer = one_answer(responses, 201)
    view = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert [c["id"] for c in view["claims"]] == [answer["id"]]
    assert view["frozen"] == 10_000
    assert audit_count(sessions, mid, "milestone.refund_requested") == 1
    ledger_is_clean(sessions)


@pytest.mark.rules("L2", "D1")
async def test_copies_of_one_dispute_open_one_dispute(api, sessions):
    parties, milestone = await funded_milestone(api, 40_000)
    mid = milestone["id"]
    body = {"amount": 12_000, "reason": "the model is not to scale"}
    answer = one_answer(await copies(api, f"/v1/milestones/{mid}/disputes", parties.expert, body), 201)
    view = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    assert [c["id"] for c in view["claims"]] == [answer["id"]]
    assert audit_count(sessions, mid, "milestone.dispute_opened") == 1
    ledger_is_clean(sessions)


async def compete(api: AsyncClient, parties: Parties, mid: str, asked: dict[str, int]) -> dict[str, Response]:
    """A release, a refund request and a dispute on one milestone, all in flight at once,
    sent in the order of `asked`."""
    path = f"/v1/milestones/{mid}"
    requests = {
        "release": (f"{path}/release", {}),
        "refund": (f"{path}/refund-requests", {"message": "half of it is missing"}),
        "dispute": (f"{path}/disputes", {"reason": "the rest is not usable"}),
    }
    sent = [
        api.post(requests[what][0], json={"amount": amount, **requests[what][1]}, headers=parties.client)
        for what, amount in asked.items()
    ]
    return dict(zip(asked, await asyncio.gather(*sent), strict=True))


# Escrow, then what each command asks for, in the order they are sent: every one fits
# alone, together they ask for more than the escrow holds.
ROUNDS = [
    (30_000, {"release": 15_000, "refund": 15_000, "dispute": 15_000}),
    (40_000, {"dispute": 20_000, "release": 20_000, "refund": 20_000}),
    (30_000, {"refund": 10_000, "dispute": 10_000, "release": 25_000}),
    (30_000, {"dispute": 25_000, "refund": 25_000, "release": 10_000}),
]


@pytest.mark.rules("D1", "L3", "M6", "R1")
@pytest.mark.parametrize(("escrow", "asked"), ROUNDS)
async def test_a_release_a_refund_and_a_dispute_never_overdraw_the_escrow(api, sessions, escrow, asked):
    parties, milestone = await funded_milestone(api, escrow)
    mid = milestone["id"]
    assert sum(asked.values()) > escrow and max(asked.values()) <= escrow

    answers = await compete(api, parties, mid, asked)

    codes = {what: r.status_code for what, r in answers.items()}
    assert set(codes.values()) <= {200, 201, 409}, {what: r.text for what, r in answers.items()}
    won = {what for what, code in codes.items() if code < 300}
    assert won, codes  # whichever came first fits
    view = (await api.get(f"/v1/milestones/{mid}", headers=parties.client)).json()
    # What the winners moved or froze is exactly what the milestone shows, within the escrow.
    assert view["released"] == (asked["release"] if "release" in won else 0)
    assert view["frozen"] == sum(asked[what] for what in won - {"release"})
    assert view["released"] + view["frozen"] <= escrow
    assert (view["escrow"], view["funded"], view["refunded"]) == (escrow - view["released"], escrow, 0)
    assert {c["kind"] for c in view["claims"]} == {what for what in won if what != "release"}
    # A loser was refused because it no longer fitted: the free escrow only shrank since.
    free = view["escrow"] - view["frozen"]
    for what in set(asked) - won:
        assert asked[what] > free, (what, codes, view)
    assert sum(out_of_escrow(sessions, mid)) == view["released"]
    ledger_is_clean(sessions)

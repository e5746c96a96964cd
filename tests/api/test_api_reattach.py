"""A command that could not be answered (its workflow busy or away, its answer lost
with the database, its workflow not yet run) is answered by its retry under the same
Idempotency-Key, as soon as the effect exists, and the effect happens once."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.exc import OperationalError
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.steps import StepActivities
from api import idempotency, workflow_calls
from api.main import create_app
from escrow.models.ledger import Step
from tests.api.support import agreed_milestone, assert_problem, funded_milestone
from worker import build_worker


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


class Gate:
    """Holds every step after its commit while closed: the money has moved, the
    workflow has not heard of it (a slow or lost database answer)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()

    def __call__(self, step: Step) -> None:
        self.open.wait(timeout=30)


@pytest.fixture
async def gated(settings, client, sessions, task_queue) -> AsyncIterator[tuple[AsyncClient, Gate]]:
    """The API with a worker whose steps wait at a gate."""
    gate = Gate()
    app = create_app(settings, client=client, sessions=sessions)
    worker = build_worker(client, sessions, task_queue, activities=StepActivities(sessions, after_commit=gate))
    async with worker, AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
        try:
            yield http, gate
        finally:
            gate.open.set()


@pytest.mark.rules("M2")
async def test_a_command_its_workflow_does_not_answer_is_503_then_its_retry_finds_it(gated, monkeypatch):
    api, gate = gated
    parties, milestone = await agreed_milestone(api)
    fund = f"/v1/milestones/{milestone['id']}/fund"
    headers = keyed(parties.client, "fund-held")
    monkeypatch.setattr(workflow_calls, "COMMAND_WAIT", timedelta(seconds=1))

    gate.open.clear()
    started = time.monotonic()
    held = await api.post(fund, json={"card_authenticated": True}, headers=headers)
    assert time.monotonic() - started < 5
    assert "same Idempotency-Key" in assert_problem(held, 503)["detail"]
    assert int(held.headers["retry-after"]) > 0

    gate.open.set()
    retried = await api.post(fund, json={"card_authenticated": True}, headers=headers)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["funded"], retried.json()["escrow"]) == (milestone["amount"], milestone["amount"])


@pytest.mark.rules("M4")
async def test_an_answer_lost_with_the_database_is_still_given_and_found_again(api, monkeypatch):
    parties, milestone = await funded_milestone(api)
    release = f"/v1/milestones/{milestone['id']}/release"
    headers = keyed(parties.client, "release-once")
    store = idempotency.finish

    def database_gone(*args: object) -> None:
        raise OperationalError("UPDATE idempotency_keys", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(idempotency, "finish", database_gone)
    first = await api.post(release, json={"amount": 10_000}, headers=headers)
    assert first.status_code == 200, first.text

    monkeypatch.setattr(idempotency, "finish", store)
    retried = await api.post(release, json={"amount": 10_000}, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json() == first.json()
    assert retried.json()["released"] == 10_000  # once
    replayed = await api.post(release, json={"amount": 10_000}, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"


@pytest.mark.rules("M2")
async def test_a_workflow_that_has_not_run_yet_is_waited_for_not_called_closed(api, monkeypatch):
    """The Temporal test server answers an update to a workflow that exists but has not
    run its first task with NOT_FOUND, as it does for a closed one."""
    parties, milestone = await agreed_milestone(api)
    execute_update = WorkflowHandle.execute_update
    not_yet = {"count": 2}

    async def not_run_yet(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not_yet["count"]:
            not_yet["count"] -= 1
            raise RPCError("workflow execution not found", RPCStatusCode.NOT_FOUND, b"")
        return await execute_update(self, *args, **kwargs)

    monkeypatch.setattr(WorkflowHandle, "execute_update", not_run_yet)
    funded = await api.post(
        f"/v1/milestones/{milestone['id']}/fund", json={"card_authenticated": True}, headers=parties.client
    )
    assert funded.status_code == 200, funded.text
    assert funded.json()["escrow"] == milestone["amount"] and not_yet["count"] == 0

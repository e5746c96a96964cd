"""The events feed and webhook endpoints through HTTP: the published shapes, who sees
what, what an endpoint URL may be, and an event delivered to a receiver on 127.0.0.1
as the deliveries list then shows it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from httpx import ASGITransport, AsyncClient
from standardwebhooks import Webhook

from api.main import create_app
from escrow.models import Role
from tests.api.support import assert_problem, bearer, funded_milestone, poll
from tests.webhook_support import Endpoints, Receiver, delivering, receiving

OPERATOR = bearer("operator-1", Role.OPERATOR)


@pytest.fixture
async def hooked_api(settings, client, sessions, task_queue) -> AsyncIterator[AsyncClient]:
    """The API with a worker whose steps wake webhook delivery."""
    app = create_app(settings, client=client, sessions=sessions)
    async with delivering(client, sessions, task_queue):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
            yield http


@pytest.fixture
def endpoints(sessions) -> Iterator[Endpoints]:
    registered = Endpoints(sessions)
    yield registered
    registered.remove()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


async def everything(api: AsyncClient, headers: dict[str, str]) -> list[dict]:
    """The whole feed as `headers` sees it, page by page."""
    seen, after = [], None
    while True:
        params = {"limit": 500, **({"after": after} if after else {})}
        response = await api.get("/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        if not body["data"]:
            return seen
        seen += body["data"]
        after = body["next_cursor"]


@pytest.mark.usefixtures("worker")
async def test_a_party_reads_its_contracts_events_an_operator_all_a_stranger_none(api):
    parties, milestone = await funded_milestone(api, 30_000)
    mine = await everything(api, parties.client)
    # The milestone's first step and its contract's are two workflows': either may commit first.
    types = [e["type"] for e in mine]
    assert types[0] == "contract.created" and types[-1] == "milestone.funded"
    assert sorted(types[1:-1]) == ["contract.milestone_added", "milestone.created"]
    funded = mine[-1]
    assert set(funded) == {"id", "type", "at", "subject", "data"}
    assert funded["subject"] == {"type": "milestone", "id": milestone["id"], "contract_id": milestone["contract_id"]}
    assert await everything(api, parties.expert) == mine
    stranger = bearer(f"client-{uuid.uuid4().hex}", Role.CLIENT)
    assert await everything(api, stranger) == []
    assert {e["id"] for e in mine} <= {e["id"] for e in await everything(api, OPERATOR)}


@pytest.mark.parametrize("params", [{"after": "nope"}, {"after": "1.2.3"}, {"limit": 0}, {"limit": 501}])
async def test_a_cursor_or_limit_the_feed_did_not_hand_out_is_refused(offline_api, params):
    assert_problem(await offline_api.get("/v1/events", params=params, headers=OPERATOR), 422)


async def test_an_unauthenticated_caller_reads_no_events(offline_api):
    assert_problem(await offline_api.get("/v1/events"), 401)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hooks"},
        {"url": "file:///etc/passwd"},
        {"url": "https://example.com/" + "a" * 2000},
        {"url": "not a url"},
        {"url": "https://example.com/", "event_types": ["no.such_type"]},
        {"url": "https://example.com/", "event_types": []},
        {"url": "https://example.com/", "secret": "whsec_mine"},
    ],
)
async def test_a_webhook_endpoint_refuses_what_it_cannot_deliver_to(offline_api, body):
    assert_problem(await offline_api.post("/v1/webhook-endpoints", json=body, headers=OPERATOR), 422)


async def test_only_operators_manage_webhook_endpoints(offline_api):
    body = {"url": "https://example.com/hooks"}
    for role in (Role.CLIENT, Role.EXPERT):
        headers = bearer("someone", role)
        assert_problem(await offline_api.post("/v1/webhook-endpoints", json=body, headers=headers), 403)
        assert_problem(await offline_api.get("/v1/webhook-endpoints/ep_x/deliveries", headers=headers), 403)
    assert_problem(await offline_api.get("/v1/webhook-endpoints/ep_x/deliveries", headers=OPERATOR), 404)


async def test_a_registered_endpoint_gets_the_events_signed_and_lists_the_deliveries(hooked_api, endpoints, receiver):
    response = await hooked_api.post(
        "/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["milestone.funded"]}, headers=OPERATOR
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()
    endpoints.ids.append(endpoint["id"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    assert endpoint["event_types"] == ["milestone.funded"]

    parties, milestone = await funded_milestone(hooked_api, 30_000)
    [request] = await receiver.got(1)
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "milestone.funded" and payload["subject"]["id"] == milestone["id"]
    [funded] = [e for e in await everything(hooked_api, parties.client) if e["type"] == "milestone.funded"]
    assert payload == funded

    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    listed = await poll(hooked_api, path, OPERATOR, lambda body: bool(body["data"]), "the delivery to be listed")
    assert listed["endpoint"]["status"] == "enabled" and "secret" not in listed["endpoint"]
    [attempt] = listed["data"]
    assert (attempt["event_id"], attempt["webhook_id"], attempt["attempt"], attempt["status_code"]) == (
        funded["id"],
        funded["id"],
        1,
        200,
    )

"""GET /v1/healthz: 200 only when both the database and Temporal answer."""

from __future__ import annotations

from httpx import ASGITransport, AsyncClient

from api.main import create_app
from tests.api.support import assert_problem


class TemporalDown:
    class service_client:  # noqa: N801 - mirrors temporalio.client.Client.service_client
        @staticmethod
        async def check_health(**_: object) -> bool:
            raise ConnectionError("connection refused")


async def test_healthz_is_200_when_database_and_temporal_answer(api):
    response = await api.get("/v1/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_healthz_is_503_naming_what_is_down(settings, sessions):
    app = create_app(settings, client=TemporalDown(), sessions=sessions)  # type: ignore[arg-type]
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
        body = assert_problem(await http.get("/v1/healthz"), 503)
    assert body["checks"] == {"status": "unavailable", "database": "ok", "temporal": "unavailable"}
    assert "temporal" in body["detail"]

"""The database goes away under a served API: the answer is 503 with Retry-After, on a
connection that stays open for the next request, in bounded time, with one log line per
failure; when it is back, the same connection is served again."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from api.main import create_app
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.models import Role
from escrow.settings import Settings
from tests.api.served import Answer, KeepAlive, served
from tests.api.support import NoTemporal, bearer
from tests.api.tcp_proxy import TcpProxy


@pytest.fixture
async def proxy(db_url: str, engine: Engine) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the migrated test database (PostgreSQL only: a SQLite file
    has no connection to lose)."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database outage needs PostgreSQL (TEST_DATABASE_URL)")
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await tcp.start()
    yield tcp
    await tcp.stop()


@pytest.fixture
async def connection(proxy: TcpProxy, db_url: str, settings: Settings) -> AsyncIterator[KeepAlive]:
    """One keep-alive connection to the API served over the proxied database. No
    Temporal: what is asked here must be answered before any workflow."""
    proxied = make_url(db_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(proxied)
    app = create_app(settings, client=NoTemporal(), sessions=make_sessionmaker(engine))  # type: ignore[arg-type]
    async with served(app) as port:
        connection = await KeepAlive.open(port)
        yield connection
        await connection.close()
    engine.dispose()


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer.body
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers.get("connection") != "close"


async def test_a_database_outage_is_503_and_the_connection_survives(proxy, connection, caplog):
    user = f"client-{uuid.uuid4().hex[:8]}"
    token = bearer(user, Role.CLIENT)
    balance = f"/v1/users/{user}/balance"
    assert (await connection.request("GET", balance, token)).status == 200

    await proxy.refuse()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert_unavailable(await connection.request("GET", balance, token))
        keyed = {**token, "Idempotency-Key": "fund-1", "Content-Type": "application/json"}
        assert_unavailable(await connection.request("POST", "/v1/milestones/m-1/fund", keyed, b"{}"))
    # One line per failure, no traceback: an outage is not a bug.
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 2, [r.getMessage() for r in failures]
    assert all(r.exc_info is None for r in failures)

    await proxy.restore()
    assert (await connection.request("GET", balance, token)).status == 200


async def test_a_database_that_does_not_answer_is_503_within_seconds(proxy, connection):
    user = f"client-{uuid.uuid4().hex[:8]}"
    token = bearer(user, Role.CLIENT)
    await proxy.hang()
    started = time.monotonic()
    assert_unavailable(await connection.request("GET", f"/v1/users/{user}/balance", token, timeout=15))
    # escrow.db.engine's connect_timeout (3 s), not the operating system's minutes.
    assert time.monotonic() - started < 8
    await proxy.restore()
    assert (await connection.request("GET", f"/v1/users/{user}/balance", token)).status == 200

"""An httpx client on the ASGI app, with the session's Temporal client, worker and
database handed over through `create_app` (no lifespan, nothing else connects)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.main import create_app
from escrow.settings import Settings
from tests.api.support import SECRET, NoTemporal


@pytest.fixture(scope="session")
def settings(task_queue: str) -> Settings:
    return Settings(jwt_secret=SECRET, task_queue=task_queue, policy_name="cadcrowd")


async def _http(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
        yield http


@pytest.fixture
async def api(
    settings: Settings, client: Client, sessions: sessionmaker[Session], worker: object
) -> AsyncIterator[AsyncClient]:
    """The API against the time-skipping server and a running worker."""
    async for http in _http(create_app(settings, client=client, sessions=sessions)):
        yield http


@pytest.fixture
def offline_app(settings: Settings, sessions: sessionmaker[Session]) -> FastAPI:
    return create_app(settings, client=NoTemporal(), sessions=sessions)  # type: ignore[arg-type]


@pytest.fixture
async def offline_api(offline_app: FastAPI) -> AsyncIterator[AsyncClient]:
    """The API with no Temporal behind it: for answers that must come before a workflow."""
    async for http in _http(offline_app):
        yield http

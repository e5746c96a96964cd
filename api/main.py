"""The FastAPI application: `uvicorn api.main:app`, configured from the environment.

`create_app` takes a Temporal client and a sessionmaker so tests (and anything that
embeds the API) can hand over their own; whatever is not handed over is made at
startup from the settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api import errors, metrics, openapi
from api.limits import RequestLimits
from api.routes import (
    contracts,
    disputes,
    events,
    health,
    hourly,
    milestones,
    payments,
    payouts,
    refunds,
    reviews,
    statements,
    users,
    webhooks,
)
from escrow import logs
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.settings import Settings, get_settings
from escrow.temporal import connect

API_PREFIX = "/v1"


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.jwt_secret:
            raise RuntimeError("ESCROW_JWT_SECRET is not set: the API cannot check bearer tokens")
        engine = None
        if app.state.sessions is None:
            engine = make_engine(settings.database_url)
            app.state.sessions = make_sessionmaker(engine)
        if app.state.client is None:
            app.state.client = await connect(settings)
        try:
            yield
        finally:
            if engine is not None:
                engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        title="Escrow engine",
        version="0.1.0",
        description="Escrow and dispute engine for freelance marketplaces. Money is integer cents.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.client = client
    app.state.sessions = sessions
    app.add_middleware(RequestLimits)
    errors.install(app)  # its last resort wraps everything, RequestLimits included
    for module in (
        health,
        contracts,
        statements,
        milestones,
        refunds,
        disputes,
        hourly,
        reviews,
        users,
        payments,
        payouts,
        events,
        webhooks,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    openapi.install(app)
    metrics.install(app)  # last: its middleware times and counts every answer
    return app


# `uvicorn api.main:app` imports this module: the process logs our way from here on.
logs.configure(get_settings().log_format)
app = create_app()

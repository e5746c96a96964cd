"""GET /v1/healthz: 200 when the database and Temporal both answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ClientDep, SessionsDep
from api.errors import Problem
from api.openapi import PROBLEMS
from api.schemas import Health

router = APIRouter(tags=["health"])
TIMEOUT = timedelta(seconds=3)


def _select_one(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(text("SELECT 1"))


async def _database_answers(sessions: sessionmaker[Session]) -> bool:
    try:
        await asyncio.wait_for(run_in_threadpool(_select_one, sessions), TIMEOUT.total_seconds())
        return True
    except Exception:
        return False


async def _temporal_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health(timeout=TIMEOUT)
    except RPCError as err:
        # A server without the health service (the time-skipping test server) still answered.
        return err.status == RPCStatusCode.UNIMPLEMENTED
    except Exception:
        return False


@router.get("/healthz", response_model=Health, responses={503: PROBLEMS[503]})
async def healthz(client: ClientDep, sessions: SessionsDep) -> Health:
    database, temporal = await asyncio.gather(_database_answers(sessions), _temporal_answers(client))
    health = Health(
        status="ok" if database and temporal else "unavailable",
        database="ok" if database else "unavailable",
        temporal="ok" if temporal else "unavailable",
    )
    if health.status != "ok":
        down = [name for name, up in (("database", database), ("temporal", temporal)) if not up]
        raise Problem(503, f"not answering: {', '.join(down)}", slug="unavailable", checks=health.model_dump())
    return health

"""Shared fixtures: one time-skipping Temporal server and one migrated database per
test session, a worker on it, and a ledger check after every test."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from escrow.db.check import check
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.db.models import Base
from escrow.temporal import data_converter, ensure_search_attributes
from worker import build_worker

SCRIPTS = Path(sysconfig.get_path("scripts"))

# The test server does not advertise every capability of a real server; the SDK core
# warns about it at each worker start. Only errors are worth a line in test output.
Runtime.set_default(
    Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    ),
    error_if_already_set=False,
)
TASK_QUEUE = "escrow-test"


def fresh_database(url: str) -> Engine:
    """Drop whatever an earlier run left and migrate from nothing: the tests prove the
    migrations, not a `create_all` shortcut."""
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(url)
    return engine


def database_urls(tmp: Path) -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{tmp / 'ledger.db'}"}
    if os.environ.get("TEST_DATABASE_URL"):
        urls["postgresql"] = os.environ["TEST_DATABASE_URL"]
    return urls


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when TEST_DATABASE_URL is set (as on CI), else a SQLite file."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'escrow.db'}"


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = fresh_database(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


async def start_test_server() -> WorkflowEnvironment:
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=str(SCRIPTS / "temporal-test-server"),
    )
    await ensure_search_attributes(environment.client)
    return environment


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of its own for each test (it starts in a fraction of a
    second): every `result()` may move the clock by a year, and one test's workflows
    must not wait on, or finish during, another test's clock jumps."""
    environment = await start_test_server()
    yield environment
    await environment.shutdown()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
def task_queue() -> str:
    return TASK_QUEUE


@pytest.fixture
async def worker(client: Client, sessions: sessionmaker[Session], task_queue: str) -> AsyncIterator[Worker]:
    running = build_worker(client, sessions, task_queue)
    async with running:
        yield running


@pytest.fixture(autouse=True)
def ledger_invariants(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that touched the database, the ledger's invariants hold
    (`escrow ledger check`): it balances, nothing is negative, every escrow account
    matches its milestone or week, and funded = released + refunded + escrow."""
    yield
    if "sessions" not in request.fixturenames:
        return
    with request.getfixturevalue("sessions")() as session:
        report = check(session)
    assert report.clean, report.summary()

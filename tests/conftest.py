"""Shared fixtures: a time-skipping Temporal server per test, one migrated database per
test session (per xdist worker: `pytest -n 2` gives each its own PostgreSQL database),
a worker on them, and a ledger check after every test."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
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


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker migrates and wipes a PostgreSQL database of its
    own, `<TEST_DATABASE_URL's name>_<worker id>`, created here when missing; the tests
    derive every other database (the ledger's, the fault suite's) from that one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = os.environ.get("TEST_DATABASE_URL")
    if not worker or not shared:
        return
    url = make_url(shared)
    own = url.set(database=f"{url.database}_{worker}")
    engine = make_engine(shared)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    finally:
        engine.dispose()
    os.environ["TEST_DATABASE_URL"] = own.render_as_string(hide_password=False)


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

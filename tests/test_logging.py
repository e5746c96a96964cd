"""Log lines are JSON objects carrying the ids they are about: the request's id and
contract in the API, the workflow's (and its contract, where the workflow id names
it) in the worker."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from api.main import create_app
from escrow import logs
from escrow.settings import Settings
from tests.api.support import SECRET, NoTemporal


class Lines(logging.Handler):
    """Formats each record as it is emitted, as a stream handler would: the request's
    context is only there while the request runs."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    handler = Lines(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def record(message: str, **extra: object) -> logging.LogRecord:
    line = logging.LogRecord("escrow.test", logging.WARNING, __file__, 1, message, (), None)
    line.__dict__.update(extra)
    return line


def test_a_workflow_line_carries_its_workflow_run_and_contract() -> None:
    details = {"workflow_id": "hourly-week:acme:7:2026-W45", "run_id": "r-1", "workflow_type": "HourlyWeekWorkflow"}
    line = json.loads(logs.JsonFormatter().format(record("a timer's step was refused", temporal_workflow=details)))
    assert line.pop("ts").endswith("+00:00")
    assert line == {
        "level": "WARNING",
        "logger": "escrow.test",
        "message": "a timer's step was refused",
        "workflow_id": "hourly-week:acme:7:2026-W45",
        "run_id": "r-1",
        "contract_id": "acme:7",
    }


def test_a_milestone_line_names_no_contract_it_cannot_know() -> None:
    details = {"workflow_id": "milestone:m-1", "workflow_run_id": "r-2", "activity_type": "post_step"}
    line = json.loads(logs.JsonFormatter().format(record("step", temporal_activity=details)))
    assert (line["workflow_id"], line["run_id"]) == ("milestone:m-1", "r-2")
    assert "contract_id" not in line


def test_any_line_logged_inside_an_activity_carries_its_workflow() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="contract:k-1", workflow_run_id="r-3")
    formatted = env.run(lambda: logs.JsonFormatter().format(record("ledger write")))
    line = json.loads(formatted)
    assert (line["workflow_id"], line["run_id"], line["contract_id"]) == ("contract:k-1", "r-3", "k-1")


def test_a_traceback_stays_inside_its_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError as err:
        failing = record("failed", exc_info=(type(err), err, err.__traceback__))
    formatted = logs.JsonFormatter().format(failing)
    assert "\n" not in formatted
    assert "ValueError: boom" in json.loads(formatted)["exc"]


async def test_the_apis_lines_carry_the_request_id_and_the_contract(
    json_lines: Lines, sessions: sessionmaker[Session]
) -> None:
    app = create_app(Settings(jwt_secret=SECRET), client=NoTemporal(), sessions=sessions)  # type: ignore[arg-type]
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as api:
        response = await api.get("/v1/contracts/k-42", headers={"X-Request-Id": "req-7"})
    assert response.status_code == 401
    access = [json.loads(line) for line in json_lines.lines if '"logger": "api.access"' in line]
    assert len(access) == 1, json_lines.lines
    assert re.fullmatch(r"GET /v1/contracts/k-42 401 \d+\.\dms", access[0]["message"]), access[0]
    assert (access[0]["request_id"], access[0]["contract_id"], access[0]["level"]) == ("req-7", "k-42", "INFO")


def test_the_text_format_puts_the_ids_at_the_end() -> None:
    details = {"workflow_id": "contract:k-1", "run_id": "r-1"}
    line = logs.TextFormatter().format(record("closed", temporal_workflow=details))
    assert line.endswith("WARNING escrow.test: closed [workflow_id=contract:k-1 run_id=r-1 contract_id=k-1]")


def test_configure_leaves_a_process_that_already_logs_alone() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    assert before, "pytest logs through the root logger"
    assert logs.configure("json") is False
    assert root.handlers == before

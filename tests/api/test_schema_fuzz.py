"""schemathesis against the served /openapi.json: every operation, with generated valid
and invalid input, by each role, answers no 500 and nothing the document does not
describe (status, content type, body, headers), and refuses every invalid input.

Half of the valid cases are aimed at real resources (tests/api/world.py) by their
parties or an operator, so the fuzzing reaches the workflows and not only the 404s.

Bounded for CI: a fixed number of examples per operation, derandomized.
`SCHEMATHESIS_EXAMPLES=300 .venv/bin/python -m pytest tests/api/test_schema_fuzz.py`
runs a long version (15 minutes on a busy 2-core machine).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.idempotency import HEADER as IDEMPOTENCY_KEY
from escrow.models import Role
from tests.api.support import bearer
from tests.api.world import World, build_world

pytestmark = pytest.mark.usefixtures("worker")

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
BASE_URL = "http://escrow.test"
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The request reaches the handler only if FastAPI found it valid; a generated invalid
# case must therefore be refused before anything else happens.
REJECTION = [*CONFORMANCE, negative_data_rejection]


def callers(world: World) -> list[dict[str, str]]:
    return [
        world.parties.client,
        world.parties.expert,
        bearer("operator-fuzz", Role.OPERATOR),
        world.strangers.client,
    ]


def as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis' requests-style arguments, for httpx."""
    known = {"method", "url", "headers", "params", "cookies", "json", "data"}
    assert kwargs.keys() <= known, f"unexpected transport arguments {kwargs.keys() - known}"
    assert not kwargs.get("cookies"), "the API documents no cookies"
    out = {"method": kwargs["method"], "url": kwargs["url"], "headers": kwargs["headers"], "params": kwargs["params"]}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif "data" in kwargs:
        out["content"] = kwargs["data"]
    return out


def fuzz(operation: schemathesis.APIOperation, world: World, send: Any) -> None:
    """Runs in a thread: the test's event loop keeps serving the worker and the app."""

    def exercise(mode: GenerationMode, checks: list[Any]) -> None:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(generation_mode=mode), caller=st.sampled_from(callers(world)), real=st.booleans()
        )
        def one(case: schemathesis.Case, caller: dict[str, str], real: bool) -> None:
            if real and mode is GenerationMode.POSITIVE and case.path_parameters:
                ids = world.path_ids(operation.path)
                case.path_parameters = {name: ids[name] for name in case.path_parameters}
            # A generated valid Idempotency-Key ("0", "a") would repeat across examples
            # and answer 409 before the request reaches anything; each gets its own.
            headers = {**(case.headers or {}), **caller}
            if IDEMPOTENCY_KEY in headers and mode is GenerationMode.POSITIVE:
                headers[IDEMPOTENCY_KEY] = uuid.uuid4().hex
            case.headers = headers
            kwargs = case.as_transport_kwargs(base_url=BASE_URL)
            response = send(as_httpx(kwargs))
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

        one()

    exercise(GenerationMode.POSITIVE, CONFORMANCE)
    if operation.body or any(True for _ in operation.iter_parameters()):
        exercise(GenerationMode.NEGATIVE, REJECTION)


# The long run outlasts the suite's 180 s per test.
@pytest.mark.timeout(max(180, EXAMPLES * 10))
async def test_every_operation_keeps_the_published_schema(api, env):
    world = await build_world(api, env)
    document = (await api.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    loop = asyncio.get_running_loop()

    def send(kwargs: dict[str, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(api.request(**kwargs), loop).result(timeout=60)

    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            await asyncio.to_thread(fuzz, operation, world, send)
        except (Exception, BaseExceptionGroup) as err:  # every operation's failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}:\n{err}")
    assert not failures, "\n\n".join(failures)

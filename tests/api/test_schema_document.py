"""The OpenAPI document says what the validators and the error handler do: a client
generated from it knows every refusal it can get and every value it may send."""

from __future__ import annotations

import pytest

from api.errors import PROBLEM_JSON
from api.main import create_app
from api.openapi import PROBLEMS
from escrow.money import CURRENCIES
from escrow.policy import PRESETS

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def document(settings):
    # The document needs no database or Temporal: nothing connects before startup.
    return create_app(settings).openapi()


def operations(document):
    for path, items in document["paths"].items():
        for method, operation in items.items():
            yield f"{method.upper()} {path}", operation


def test_every_refusal_of_an_authenticated_route_is_a_documented_problem(document):
    for name, operation in operations(document):
        if name == "GET /v1/healthz":
            continue
        # A read is refused neither by a state (409) nor for its size (413).
        wanted = {str(s) for s in PROBLEMS} - ({"409", "413"} if name.startswith("GET ") else set())
        refusals = {status for status in operation["responses"] if status >= "400"}
        assert refusals == wanted, name
        for status in wanted:
            content = operation["responses"][status]["content"]
            assert content[PROBLEM_JSON]["schema"] == PROBLEM_REF, name


def test_health_documents_only_its_503(document):
    responses = document["paths"]["/v1/healthz"]["get"]["responses"]
    assert sorted(responses) == ["200", "503"]
    assert responses["503"]["content"][PROBLEM_JSON]["schema"] == PROBLEM_REF


def test_the_problem_schema_is_rfc_9457(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["additionalProperties"] is True  # extension members, e.g. `errors`, `checks`
    # FastAPI's own validation error shape is never sent, so it is not documented.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_enumerated_values_are_published(document):
    new_contract = document["components"]["schemas"]["NewContract"]["properties"]
    assert new_contract["currency"]["enum"] == sorted(CURRENCIES)
    (policy,) = [s for s in new_contract["policy"]["anyOf"] if s.get("type") == "string"]
    assert policy["enum"] == sorted(PRESETS)


def test_path_parameters_carry_their_bounds(document):
    for name, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "path":
                continue
            schema = parameter["schema"]
            if parameter["name"] == "iso_week":
                assert schema["pattern"] == r"^\d{4}-W\d{2}$", name
            else:
                assert schema["minLength"] == 1 and schema["maxLength"] <= 200, (name, parameter)

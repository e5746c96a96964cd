"""Invalid input is one problem type, whoever finds it: the request's validation, the
middleware, or a workflow's rule. A client matches on `type` (and reads `title`) once."""

from __future__ import annotations

import pytest

from api.errors import INVALID, problem_type
from api.main import create_app
from tests.api.support import Parties, assert_problem, open_contract

INVALID_TYPE = problem_type(INVALID)


@pytest.mark.rules("M1")
async def test_a_rules_refusal_and_a_validation_error_are_the_same_problem(api):
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    path = f"/v1/contracts/{contract['id']}/milestones"
    # Well-formed, but under the policy's minimum: the contract's rule refuses it (M1).
    by_rule = assert_problem(await api.post(path, json={"title": "Logo", "amount": 2_499}, headers=parties.client), 422)
    by_validation = assert_problem(
        await api.post(path, json={"title": "Logo", "amount": "2500"}, headers=parties.client), 422
    )
    not_utf8 = assert_problem(
        await api.post(
            path, content=b'{"title": "\xff"}', headers={**parties.client, "Content-Type": "application/json"}
        ),
        422,
    )
    assert "25.00" in by_rule["detail"] and "errors" not in by_rule
    assert [e["loc"] for e in by_validation["errors"]] == [["body", "amount"]]
    for body in (by_rule, by_validation, not_utf8):
        assert (body["type"], body["title"]) == (INVALID_TYPE, "Invalid request"), body


def test_the_document_names_the_one_invalid_input_type(settings):
    document = create_app(settings).openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "422" in operation["responses"]:
                assert INVALID_TYPE in operation["responses"]["422"]["description"], (method, path)

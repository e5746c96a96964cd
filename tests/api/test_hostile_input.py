"""Hostile input: whatever a caller sends that is not a valid request is refused with
a problem (401 or 422) before any workflow is asked.

These run on `offline_api`, whose Temporal client fails the test if it is touched: a
refused request provably moved nothing, because only a workflow moves money.
"""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from escrow.inputs import MAX_CENTS
from escrow.models import Role
from tests.api.support import PROBLEM_JSON, SECRET, assert_problem, bearer

CLIENT = bearer("alice", Role.CLIENT)
OPERATOR = bearer("carol", Role.OPERATOR)
CARD = "4242424242424242"
IDS = {
    "contract_id": "c-1",
    "milestone_id": "m-1",
    "refund_id": "r-1",
    "dispute_id": "d-1",
    "entry_id": "t-1",
    "iso_week": "2026-W47",
    "review_id": "c-1.client",
    "user_id": "alice",
}

# Every money field of every body: (path, a valid body around it, the field, who sends it).
MONEY_FIELDS = [
    (
        "/v1/contracts",
        {"expert_id": "bob", "type": "hourly", "currency": "USD", "payment_method": CARD},
        "hourly_rate",
        CLIENT,
    ),
    ("/v1/contracts/{contract_id}/milestones", {"title": "Logo"}, "amount", CLIENT),
    ("/v1/contracts/{contract_id}/payments", {"kind": "bonus"}, "amount", CLIENT),
    ("/v1/milestones/{milestone_id}/release", {}, "amount", CLIENT),
    # Without a title: a null amount is then no change at all, refused naming `amount`.
    ("/v1/milestones/{milestone_id}/changes", {}, "amount", CLIENT),
    ("/v1/milestones/{milestone_id}/refund-requests", {"message": "one screen"}, "amount", CLIENT),
    ("/v1/users/{user_id}/payouts", {"method_id": "pm-1"}, "amount", CLIENT),
    ("/v1/milestones/{milestone_id}/disputes", {"reason": "two screens missing"}, "amount", CLIENT),
    ("/v1/disputes/{dispute_id}/offers", {}, "amount_to_client", CLIENT),
    ("/v1/disputes/{dispute_id}/recommendation", {}, "amount_to_client", OPERATOR),
    ("/v1/disputes/{dispute_id}/verdict", {"note": "half each"}, "amount_to_client", OPERATOR),
]
# 2**53 is one past what a JavaScript client reads back exactly; 2**63 overflows a
# bigint; 1e400 goes out as `Infinity`, which Python's JSON parser reads as a float.
NOT_MONEY = [-1, 2**63, 2**53, 10**30, 12.5, 100.0, 1e400, "100", "1e2", True, False, None, [100], {"cents": 100}]
ZERO = 0  # nothing to move: refused everywhere but in a split, where the client may get nothing


def request_bodies(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> the JSON schema of its request body, from the OpenAPI document."""
    schemas = document["components"]["schemas"]
    bodies = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                ref = next(s["$ref"] for s in schema.get("anyOf", [schema]) if "$ref" in s)
                bodies[method.upper(), path] = schemas[ref.rsplit("/", 1)[1]]
    return bodies


@pytest.mark.rules("M1", "M4", "M6", "R1", "D1", "D3", "D5", "H1")
@pytest.mark.parametrize(
    ("path", "body", "field", "headers"), MONEY_FIELDS, ids=[f"{p}:{f}" for p, _, f, _ in MONEY_FIELDS]
)
async def test_a_money_field_takes_only_positive_integer_cents(offline_api, path, body, field, headers):
    answered = {}
    for value in NOT_MONEY + ([] if field == "amount_to_client" else [ZERO]):
        response = await offline_api.post(
            path.format(**IDS),
            content=json.dumps({**body, field: value}),
            headers={**headers, "Content-Type": "application/json"},
        )
        refused = response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM_JSON)
        # The refusal names the field (a model check names it in its message), not some other part.
        answered[repr(value)] = "refused" if refused and field in response.text else response.text
    assert answered == dict.fromkeys(answered, "refused")


def test_every_money_field_of_the_schema_is_covered(offline_app):
    """A new amount field must join MONEY_FIELDS: its refusals are proven here."""
    found = {
        (path, name)
        for (_, path), schema in request_bodies(offline_app.openapi()).items()
        for name, prop in schema["properties"].items()
        # Money is bounded by what a JavaScript client reads exactly; nothing else is.
        if any(s.get("maximum") == MAX_CENTS for s in prop.get("anyOf", [prop]))
    }
    assert found == {(path, field) for path, _, field, _ in MONEY_FIELDS}


def _segment(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _token(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


VALID = {"sub": "alice", "role": "client"}


def _quietly_hs512(claims: dict[str, Any]) -> str:
    # PyJWT warns that the test secret is short for HS512; the API refuses the token anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return _token(claims, algorithm="HS512")


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_segment({**VALID, 'role': 'operator'})}.{signature}"


NOW = datetime.now(UTC)
UNSIGNED = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment({'sub': 'carol', 'role': 'operator'})}."
BAD_TOKENS = {
    "alg-none": UNSIGNED,
    "alg-none-with-signature": UNSIGNED + "c2ln",
    "alg-hs512": _quietly_hs512(VALID),
    "wrong-secret": _token(VALID, secret="another-secret-that-is-long-enough-for-hs256"),
    "expired": _token({**VALID, "exp": NOW - timedelta(seconds=5)}),
    "not-yet-valid": _token({**VALID, "nbf": NOW + timedelta(hours=1)}),
    "exp-not-a-number": _token({**VALID, "exp": "tomorrow"}),
    "missing-sub": _token({"role": "client"}),
    "empty-sub": _token({**VALID, "sub": ""}),
    "numeric-sub": _token({**VALID, "sub": 42}),
    "missing-role": _token({"sub": "alice"}),
    "unknown-role": _token({**VALID, "role": "admin"}),
    "role-in-caps": _token({**VALID, "role": "OPERATOR"}),
    "role-list": _token({**VALID, "role": ["client", "operator"]}),
    "payload-tampered": _tampered(_token(VALID)),
    "garbage": "not-a-jwt",
    "two-segments": "abc.def",
    "non-ascii": "ünïcødé.tøkén.sïg",
    "huge": "a" * 100_000,
    "empty-bearer": "",
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_token_is_401_before_anything_else(offline_api, token):
    # An Idempotency-Key takes the idempotency layer's own path to authentication.
    headers = {"Authorization": f"Bearer {token}".encode(), "Idempotency-Key": "k-1"}
    for method, path, body in [
        ("GET", "/v1/milestones/m-1", None),
        ("POST", "/v1/milestones/m-1/release", {"amount": 100}),
        ("GET", "/v1/users/alice/balance", None),
    ]:
        response = await offline_api.request(method, path, json=body, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "Token abc", _token(VALID)],
    ids=["scheme-only", "scheme-and-space", "basic", "other-scheme", "no-scheme"],
)
async def test_an_authorization_header_without_a_bearer_token_is_401(offline_api, authorization):
    response = await offline_api.post("/v1/contracts", json={}, headers={"Authorization": authorization})
    assert_problem(response, 401)


NOT_JSON = {
    "truncated": b'{"amount": ',
    "trailing-garbage": b'{"amount": 100} x',
    "single-quotes": b"{'amount': 100}",
    "not-utf8": b'{"amount": "\xff\xfe"}',
    "utf16": '{"amount": 100}'.encode("utf-16"),
    "nan": b'{"amount": NaN}',
    "a-list": b"[100]",
    "a-string": b'"100"',
    "a-number": b"100",
    "null": b"null",
    "empty": b"",
    "form-encoded": b"amount=100",
    # Deeper than Python's parser recurses, yet within the size a body may have
    # (api/limits.py); like the 5000 digits it fails the parser by other than a syntax error.
    "too-deep": b"[" * 30_000 + b"]" * 30_000,
    "a-number-of-5000-digits": b'{"amount": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("content", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_a_body_that_is_not_a_json_object_is_422(offline_api, content):
    for content_type in ("application/json", "text/plain"):
        response = await offline_api.post(
            "/v1/milestones/m-1/release", content=content, headers={**CLIENT, "Content-Type": content_type}
        )
        assert_problem(response, 422)


# Every body of the API, valid but for one field no model knows.
BODIES = [
    ("POST", "/v1/contracts", {"expert_id": "bob", "type": "fixed", "currency": "USD"}),
    ("POST", "/v1/contracts/{contract_id}/milestones", {"title": "Logo", "amount": 100}),
    ("POST", "/v1/contracts/{contract_id}/close", {"remainder": "refund"}),
    ("POST", "/v1/contracts/{contract_id}/payment-method", {"payment_method": CARD}),
    ("POST", "/v1/contracts/{contract_id}/payments", {"amount": 100, "kind": "bonus", "memo": "thanks"}),
    ("POST", "/v1/milestones/{milestone_id}/fund", {"card_authenticated": True}),
    ("POST", "/v1/milestones/{milestone_id}/submit", {"message": "done"}),
    ("POST", "/v1/milestones/{milestone_id}/release", {"amount": 100}),
    ("POST", "/v1/milestones/{milestone_id}/apply-remainder", {"title": "Phase two", "due_date": "2027-01-15"}),
    ("POST", "/v1/milestones/{milestone_id}/changes", {"amount": 200}),
    ("POST", "/v1/milestones/{milestone_id}/request-revision", {"message": "again"}),
    ("POST", "/v1/milestones/{milestone_id}/refund-requests", {"amount": 100}),
    ("POST", "/v1/milestones/{milestone_id}/disputes", {"amount": 100, "reason": "late"}),
    ("POST", "/v1/refund-requests/{refund_id}/approve", {"message": "ok"}),
    ("POST", "/v1/refund-requests/{refund_id}/decline", {"message": "no"}),
    ("POST", "/v1/refund-requests/{refund_id}/escalate", {"reason": "declined"}),
    ("POST", "/v1/disputes/{dispute_id}/respond", {"message": "no"}),
    ("POST", "/v1/disputes/{dispute_id}/offers", {"amount_to_client": 1}),
    ("POST", "/v1/disputes/{dispute_id}/recommendation", {"amount_to_client": 1}),
    ("POST", "/v1/disputes/{dispute_id}/evidence", {"text": "brief"}),
    ("POST", "/v1/disputes/{dispute_id}/verdict", {"amount_to_client": 1}),
    (
        "POST",
        "/v1/contracts/{contract_id}/time-entries",
        {"started_at": "2026-11-16T09:00:00Z", "minutes": 60, "kind": "manual"},
    ),
    ("PATCH", "/v1/time-entries/{entry_id}", {"minutes": 30}),
    ("POST", "/v1/contracts/{contract_id}/weeks/{iso_week}/disputes", {"entry_ids": ["t-1"], "reason": "idle"}),
    ("POST", "/v1/contracts/{contract_id}/weeks/{iso_week}/invoice-review", {"action": "close", "note": "checked"}),
    ("POST", "/v1/contracts/{contract_id}/reviews", {"rating": 5, "text": "great"}),
    ("POST", "/v1/reviews/{review_id}/reply", {"text": "thanks"}),
    ("PATCH", "/v1/reviews/{review_id}", {"rating": 4}),
    ("POST", "/v1/users/{user_id}/payout-methods", {"kind": "paypal", "account": "a@example.com", "country": "US"}),
    ("POST", "/v1/users/{user_id}/payouts", {"amount": 100, "method_id": "pm-1"}),
    ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/escrow"}),
]


@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=[f"{m} {p}" for m, p, _ in BODIES])
async def test_an_unknown_field_is_422(offline_api, method, path, body):
    for unknown in ({"escrow": 0}, {"ammount": 100}, {"actor": {"user_id": "carol", "role": "operator"}}):
        response = await offline_api.request(method, path.format(**IDS), json={**body, **unknown}, headers=CLIENT)
        problem = assert_problem(response, 422)
        assert [e["type"] for e in problem["errors"]] == ["extra_forbidden"], problem


def test_every_body_is_covered(offline_app):
    """A new body must join BODIES: that it refuses unknown fields is proven here."""
    assert set(request_bodies(offline_app.openapi())) == {(m, p) for m, p, _ in BODIES}

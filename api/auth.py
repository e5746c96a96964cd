"""Bearer tokens: HS256 JWTs with `sub` (the user id) and `role`.

The marketplace mints the tokens; the engine only checks them. `issue_token` exists
for tests and the README walkthrough (`python -m api.token`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from escrow.models import Actor, Role

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


def issue_token(secret: str, sub: str, role: Role, ttl: timedelta | None = timedelta(hours=1)) -> str:
    claims: dict[str, object] = {"sub": sub, "role": Role(role).value}
    now = datetime.now(UTC)
    claims["iat"] = int(now.timestamp())
    if ttl is not None:
        claims["exp"] = int((now + ttl).timestamp())
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Actor:
    try:
        # Pinning the algorithm list refuses `alg: none` and key-confusion tokens.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role"]})
    except jwt.InvalidTokenError as err:
        raise InvalidToken(str(err).splitlines()[0]) from err
    try:
        # The subject becomes account names and stored ids: one the ledger could not
        # hold must stop here, before any command carries it.
        return Actor(user_id=claims["sub"], role=claims["role"])
    except ValidationError as err:
        raise InvalidToken("; ".join(_claim_error(e) for e in err.errors())) from err


def _claim_error(error: ErrorDetails) -> str:
    claim = "sub" if error["loc"][:1] == ("user_id",) else ".".join(str(p) for p in error["loc"])
    return f"claim {claim}: {error['msg']}"


def can_see(actor: Actor, client_id: str, expert_id: str) -> bool:
    return actor.role is Role.OPERATOR or actor.user_id in (client_id, expert_id)

"""GET /v1/users/{id}/balance: that user or an operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import ActorDep, SessionsDep
from api.errors import forbidden
from api.routes import resource_router
from api.schemas import Balance
from escrow.db.ledger import user_balance
from escrow.inputs import UserId
from escrow.models import Role

router = resource_router("users")
UserPath = Annotated[UserId, Path()]


@router.get("/users/{user_id}/balance", response_model=Balance)
def balance(user_id: UserPath, actor: ActorDep, sessions: SessionsDep) -> Balance:
    if actor.role is not Role.OPERATOR and actor.user_id != user_id:
        raise forbidden("a balance is visible to its user and operators only")
    with sessions() as session:
        figures = user_balance(session, user_id)
    # The ledger holds one currency today (escrow.money.CURRENCIES).
    return Balance.model_validate({"user_id": user_id, "currency": "USD", **figures})

"""The sandbox payout provider's memory, in the database (P4, L2).

A real provider keeps its idempotency keys on its side: a worker that dies after the
provider paid, and before Temporal heard of it, sends the payout again and is told
about the first one. The sandbox keeps them in a table for the same reason; an
in-process dict would forget them with the worker and pay twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escrow.db.engine import insert_for
from escrow.db.models import SandboxPayout
from escrow.payouts import PayoutOutcome, PayoutRequest, PayoutResult


class StoredPayouts:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def remember(self, request: PayoutRequest, result: PayoutResult) -> PayoutResult:
        with self._sessions.begin() as session:
            row = {
                "key": request.key,
                "outcome": result.outcome.value,
                "reference": result.reference,
                "message": result.message,
                "amount": request.amount,
                "sent_at": datetime.now(UTC),
            }
            session.execute(
                insert_for(session, SandboxPayout).values(row).on_conflict_do_nothing(index_elements=["key"])
            )
            first = session.scalars(select(SandboxPayout).where(SandboxPayout.key == request.key)).one()
            return PayoutResult(outcome=PayoutOutcome(first.outcome), reference=first.reference, message=first.message)

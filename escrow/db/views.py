"""Reads of the read models the steps write (activities/steps.py): each row is written
in the same transaction as the money it describes, so it is never behind the ledger."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escrow.db.models import Milestone


def milestone_views(sessions: sessionmaker[Session], contract_id: str) -> dict[str, dict[str, Any]]:
    """The latest view of each milestone of the contract that has written a step."""
    with sessions() as session:
        rows = session.execute(select(Milestone.id, Milestone.view).where(Milestone.contract_id == contract_id))
        return {milestone_id: view for milestone_id, view in rows}

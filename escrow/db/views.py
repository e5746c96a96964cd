"""Reads of the read models the steps write (activities/steps.py): each row is written
in the same transaction as the money it describes, so it is never behind the ledger."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escrow.db.models import Claim, Milestone


def milestone_views(sessions: sessionmaker[Session], contract_id: str) -> dict[str, dict[str, Any]]:
    """The latest view of each milestone of the contract that has written a step."""
    with sessions() as session:
        rows = session.execute(select(Milestone.id, Milestone.view).where(Milestone.contract_id == contract_id))
        return {milestone_id: view for milestone_id, view in rows}


class ClaimRecord(BaseModel):
    """A refund request or dispute as the escrow that owns it last wrote it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    owner_workflow_id: str
    milestone_id: str | None
    week: str | None
    contract_id: str
    client_id: str
    expert_id: str
    status: str
    amount: int


def claim(sessions: sessionmaker[Session], claim_id: str) -> ClaimRecord | None:
    """The claim `claim_id` and its owner, None if no escrow has written it: written in
    the step that opens it, so it is there before its id is answered to anyone."""
    with sessions() as session:
        row = session.get(Claim, claim_id)
        return None if row is None else ClaimRecord.model_validate(row)

"""Refund requests (R1–R5, M10): one workflow per request, deciding; the milestone that
owns the money moves it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from escrow.inputs import Cents, Reference, RequiredText, Text
from escrow.models.common import PartyCommand
from escrow.policy import Policy

__all__ = [
    "EscalateRefund",
    "OpenDispute",
    "RefundAnswer",
    "RefundInput",
    "RefundPhase",
    "RefundStatus",
    "RefundView",
    "RequestRefund",
]


class RefundPhase(StrEnum):
    # R1–R3: money still in escrow; the expert's silence approves.
    ESCROW = "escrow"
    # M10: money already released; granted only at the expert's discretion.
    AFTER_RELEASE = "after_release"


class RefundStatus(StrEnum):
    PENDING = "pending"  # waiting on the expert
    AWAITING_OPERATOR = "awaiting_operator"  # M10 days 181–365: the expert said yes
    APPROVED = "approved"
    DECLINED = "declined"


class RefundTerms(BaseModel):
    """What is asked, of which milestone, on what terms: the milestone's request, which
    the request's view carries unchanged."""

    milestone_id: str
    contract_id: str
    client_id: str
    expert_id: str
    amount: int
    currency: str
    message: str | None
    invoice_id: str | None
    phase: RefundPhase
    needs_operator: bool


class RefundInput(RefundTerms):
    refund_id: str
    policy: Policy
    # When the milestone asked: the request's clock and the view it answers start here.
    # None in histories from before it was passed (the child's start is used then).
    requested_at: datetime | None = None


class RefundView(RefundTerms):
    id: str
    status: RefundStatus
    requested_at: datetime
    deadline_at: datetime | None
    deadline_action: str | None
    decided_at: datetime | None = None
    decided_by: str | None = None
    decline_message: str | None = None


class RefundAnswer(PartyCommand):
    message: Text | None = None


class RequestRefund(PartyCommand):
    amount: Cents
    message: Text | None = None


class OpenDispute(PartyCommand):
    amount: Cents
    reason: RequiredText


class EscalateRefund(PartyCommand):
    refund_id: Reference
    reason: Text | None = None

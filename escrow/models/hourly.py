"""Hourly contracts: time entries and one billing week's workflow (H1–H7, P1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, computed_field

from escrow.inputs import Evidence, Instant, Minutes, Reference, RequiredText, Text
from escrow.models.common import PartyCommand
from escrow.models.milestone import Claim, Hold
from escrow.policy import Policy

__all__ = [
    "DeleteTime",
    "DisputeHours",
    "EditTime",
    "EntryKind",
    "HourlyWeekInput",
    "HourlyWeekView",
    "InvoiceReviewAction",
    "LogTime",
    "PaymentStatus",
    "ReviewInvoice",
    "TimeEntry",
    "WeekStatus",
    "WeekSummary",
]


class EntryKind(StrEnum):
    # H5: only tracked time is covered by billing security, the client may dispute it;
    # its activity evidence is optional (API.md) and what the client reviews it by.
    TRACKED = "tracked"
    MANUAL = "manual"


class TimeEntry(BaseModel):
    id: str
    started_at: datetime
    minutes: int
    kind: EntryKind
    memo: str | None = None
    evidence: dict[str, Any] | None = None
    disputed: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence)

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(minutes=self.minutes)


class WeekStatus(StrEnum):
    OPEN = "open"  # H1: the week is running; the expert logs time
    EXPERT_REVIEW = "expert_review"  # H2, H3: billed; the expert may still edit until Monday 12:00
    CLIENT_REVIEW = "client_review"  # H4: the client may dispute until Friday 23:59:59
    HOLD = "hold"  # H6: waiting for the Wednesday it becomes available
    COMPLETED = "completed"


class PaymentStatus(StrEnum):
    NOT_DUE = "not_due"
    PAID = "paid"
    # H7: declined; retried daily, the contract on hold meanwhile.
    FAILING = "failing"


class WeekTerms(BaseModel):
    """Which week of which contract, billed at what rate: set as the week opens."""

    contract_id: str
    client_id: str
    expert_id: str
    week: str
    hourly_rate: int
    currency: str


class HourlyWeekInput(WeekTerms):
    weekly_limit_minutes: int | None = None
    payment_method: str | None = None
    policy: Policy


class HourlyWeekView(WeekTerms):
    id: str
    weekly_limit_minutes: int | None
    status: WeekStatus
    starts_at: datetime
    billed_at: datetime
    expert_review_ends_at: datetime
    client_review_ends_at: datetime
    available_at: datetime
    entries: list[TimeEntry] = Field(default_factory=list)
    # What the client has paid into this week's escrow so far.
    charged: int = 0
    escrow: int = 0
    released: int = 0
    refunded: int = 0
    payment_status: PaymentStatus = PaymentStatus.NOT_DUE
    failed_charges: int = 0
    next_charge_at: datetime | None = None
    # H7: after enough failed charges an operator reviews the invoice.
    invoice_review: bool = False
    # The contract ended: no time may be logged after this instant.
    contract_ended_at: datetime | None = None
    deadline_at: datetime | None = None
    deadline_action: str | None = None
    claims: list[Claim] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> int:
        return sum(e.minutes for e in self.entries)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tracked_minutes(self) -> int:
        """H5: the minutes billing security covers, which the client may dispute."""
        return sum(e.minutes for e in self.entries if e.kind == EntryKind.TRACKED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tracked_minutes_without_evidence(self) -> int:
        """Tracked minutes logged without activity evidence: covered all the same, but
        the client has nothing to review them by."""
        return sum(e.minutes for e in self.entries if e.kind == EntryKind.TRACKED and not e.has_evidence)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def invoice_amount(self) -> int:
        """H2, H3: the bill for every logged minute; it follows the expert's edits."""
        return value_of(self.minutes, self.hourly_rate)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def frozen(self) -> int:
        return sum(c.amount for c in self.claims if c.freezes)

    def entry(self, entry_id: str) -> TimeEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)


def value_of(minutes: int, hourly_rate: int) -> int:
    """Cents for `minutes` at `hourly_rate` cents an hour, half a cent rounding up."""
    return (minutes * hourly_rate + 30) // 60


class LogTime(PartyCommand):
    started_at: Instant
    minutes: Minutes
    kind: EntryKind
    memo: Text | None = None
    evidence: Evidence | None = None


class EditTime(PartyCommand):
    entry_id: Reference
    started_at: Instant | None = None
    minutes: Minutes | None = None
    memo: Text | None = None


class DeleteTime(PartyCommand):
    entry_id: Reference


class DisputeHours(PartyCommand):
    entry_ids: Annotated[list[Reference], Field(min_length=1, max_length=1000)]
    reason: RequiredText


class InvoiceReviewAction(StrEnum):
    """H7: what an operator reviewing a week's failing invoice decides. `retry_now`
    charges the card again at once (the client fixed it with support); `close` ends the
    review, the daily retries going on (a next failure opens it again)."""

    RETRY_NOW = "retry_now"
    CLOSE = "close"


class ReviewInvoice(PartyCommand):
    action: InvoiceReviewAction
    note: RequiredText


class WeekSummary(BaseModel):
    """What a billing week tells its contract (H7: whether its charge is failing)."""

    week: str
    status: WeekStatus
    escrow: int
    released: int
    payment_status: PaymentStatus
    finished: bool = False

"""Request bodies and the responses that are not a workflow's own view.

Bodies forbid unknown fields: a misspelt `ammount` must not silently mean "release
everything". Amounts are StrictInt cents, so 25.0, "2500" and true are refused. What a
text, id or amount may be is defined once, in escrow.inputs, shared with the workflow commands.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from escrow.inputs import (
    Cents,
    CentsToClient,
    Evidence,
    Instant,
    Minutes,
    Reference,
    RequiredText,
    Text,
    Title,
    UserId,
)
from escrow.models import (
    ChangeTerms,
    ContractType,
    ContractView,
    EntryKind,
    InvoiceReviewAction,
    MilestoneView,
    Remainder,
    TimeEntry,
)
from escrow.money import CURRENCIES
from escrow.policy import PRESETS


def _known_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    return code


def _known_policy(name: str) -> str:
    if name not in PRESETS:
        raise ValueError(f"policy must be one of {', '.join(sorted(PRESETS))}")
    return name


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger writes them in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The enums publish in the schema what the validators accept.
Currency = Annotated[str, AfterValidator(_known_currency), Field(json_schema_extra={"enum": sorted(CURRENCIES)})]
PolicyName = Annotated[str, AfterValidator(_known_policy), Field(json_schema_extra={"enum": sorted(PRESETS)})]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewContract(Body):
    expert_id: UserId
    type: ContractType
    currency: Currency
    hourly_rate: Cents | None = Field(None, description="cents per hour; required for an hourly contract (H1)")
    weekly_limit_hours: Annotated[StrictInt, Field(gt=0, le=168)] | None = Field(
        None, description="hourly only: the most hours the expert may log in a billing week"
    )
    payment_method: Reference | None = Field(
        None, description="hourly only: the client's card token, charged every Monday for the week before (H2, H7)"
    )
    policy: PolicyName | None = Field(None, description="policy preset; the deployment's ESCROW_POLICY if absent")

    @model_validator(mode="after")
    def _rate_matches_type(self) -> NewContract:
        # A workflow start has no validator to refuse with, so the shape is checked here.
        if (self.type is ContractType.HOURLY) != (self.hourly_rate is not None):
            raise ValueError("hourly_rate is required for an hourly contract and only for one")
        if self.type is not ContractType.HOURLY and (self.weekly_limit_hours or self.payment_method):
            raise ValueError("weekly_limit_hours and payment_method are for hourly contracts only")
        return self


class NewMilestone(Body):
    title: Title
    amount: Cents
    due_date: date | None = None
    description: Text | None = None


class FundBody(Body):
    card_authenticated: StrictBool


class SubmitBody(Body):
    message: Text | None = None


class ChangeBody(Body, ChangeTerms):
    """M8: the fields to change, or `remove` alone."""


class ReleaseBody(Body):
    amount: Cents = Field(description="what to release: all or part of the escrow, never implied")


class RemainderBody(Body):
    """M6: the new milestone the remainder of a partial release funds."""

    title: Title
    due_date: date | None = None


class RevisionBody(Body):
    message: RequiredText


class CloseBody(Body):
    remainder: Remainder | None = Field(
        None,
        description="what happens to unreleased escrow (C1): `release` to the expert or `refund` by refund "
        "request; required from a client whose milestones still hold escrow. An expert always refunds.",
    )


class PaymentMethodBody(Body):
    payment_method: Reference = Field(description="the client's card token (H7: tried at once if a charge is failing)")


class RefundRequestBody(Body):
    amount: Cents
    message: Text | None = None


class AnswerBody(Body):
    message: Text | None = None


class EscalateBody(Body):
    reason: Text | None = Field(None, description="the dispute's reason; 'Refund request declined' if absent")


class DisputeBody(Body):
    amount: Cents = Field(description="the disputed part of the escrow, frozen while the dispute is open (D1)")
    reason: RequiredText


class RespondBody(Body):
    message: RequiredText


class OfferBody(Body):
    amount_to_client: CentsToClient


class RecommendationBody(Body):
    amount_to_client: CentsToClient


class EvidenceBody(Body):
    text: RequiredText


class VerdictBody(Body):
    amount_to_client: CentsToClient
    note: Text | None = None


class NewTimeEntry(Body):
    started_at: Instant = Field(description="when the work started, with its UTC offset; it picks the billing week")
    minutes: Minutes
    kind: EntryKind = Field(
        description="`tracked` time may carry activity `evidence`; only tracked time can be disputed (H5)"
    )
    memo: Text | None = None
    evidence: Evidence | None = None


class TimeEntryChange(Body):
    started_at: Instant | None = None
    minutes: Minutes | None = None
    memo: Text | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> TimeEntryChange:
        if self.started_at is None and self.minutes is None and self.memo is None:
            raise ValueError("name at least one of started_at, minutes, memo")
        return self


class HoursDisputeBody(Body):
    entry_ids: Annotated[list[Reference], Field(min_length=1, max_length=1000)]
    reason: RequiredText


class InvoiceReviewBody(Body):
    action: InvoiceReviewAction = Field(
        description="`retry_now`: charge the card again at once; `close`: end the review, daily retries go on"
    )
    note: RequiredText = Field(description="why, for the week's audit trail")


class TimeEntryView(TimeEntry):
    """A time entry with where it belongs."""

    contract_id: str
    week: str


class ContractDetail(ContractView):
    """The contract's view with each milestone's full state, from the read model each
    milestone step writes with its money: fresher than the summaries the contract is
    sent after each change, so a client reads its own release at once. `escrow_total`
    sums these."""

    milestones: list[MilestoneView]  # type: ignore[assignment]

    @classmethod
    def of(cls, contract: ContractView, milestones: list[MilestoneView]) -> ContractDetail:
        own = contract.model_dump(exclude={"milestones", *ContractView.model_computed_fields})
        return cls(**own, milestones=milestones)


class PendingFunds(BaseModel):
    amount: int
    available_at: UtcDatetime
    transfer_id: str


class Balance(BaseModel):
    user_id: str
    currency: str
    available: int
    pending: list[PendingFunds]
    in_escrow: int
    # P4: paid out, not yet through the payout gateway.
    in_payout: int = 0


class Health(BaseModel):
    status: str
    database: str
    temporal: str

"""Fixed-rate milestones: input, state, commands."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, StrictBool, computed_field, model_validator

from escrow.inputs import Cents, Reference, RequiredText, Text, Title
from escrow.models.common import Command, PartyCommand, Role
from escrow.policy import Policy

__all__ = [
    "AnswerChange",
    "ApplyRemainder",
    "AwaitClaim",
    "ChangeTerms",
    "ChangeStatus",
    "Claim",
    "ClaimKind",
    "ClaimStatus",
    "CloseMilestone",
    "DeadlineAction",
    "Fund",
    "Hold",
    "Invoice",
    "InvoiceKind",
    "MilestoneInput",
    "MilestoneChange",
    "MilestoneStatus",
    "MilestoneSummary",
    "ProposeChange",
    "MilestoneView",
    "Release",
    "Remainder",
    "RequestRevision",
    "Submit",
]


class MilestoneStatus(StrEnum):
    PROPOSED = "proposed"  # M8: the expert proposed it; the client has not agreed
    AGREED = "agreed"  # M1: waiting for funding
    FUNDING_PENDING = "funding_pending"  # M2: card not yet authenticated
    IN_PROGRESS = "in_progress"  # funded, the expert works
    SUBMITTED = "submitted"  # M3/M4: release requested, review window open
    PARTIALLY_RELEASED = "partially_released"  # M6: the rest waits in escrow
    COMPLETED = "completed"  # nothing left in escrow
    DECLINED = "declined"  # M8: the proposal was declined
    CANCELLED = "cancelled"  # C1: the contract closed before it was funded


class DeadlineAction(StrEnum):
    AUTO_RELEASE = "auto_release"


class MilestoneInput(BaseModel):
    milestone_id: str
    contract_id: str
    client_id: str
    expert_id: str
    title: str
    description: str | None = None
    amount: int
    currency: str
    due_date: date | None = None
    proposed_by: Role
    policy: Policy
    # M6: the milestone whose remainder funds this one. Its money is already here (that
    # milestone moved it), so this one starts in progress with `amount` in escrow.
    funded_from: str | None = None


class Hold(BaseModel):
    """A release sitting in the expert's pending balance until `available_at` (M9, P2)."""

    transfer_id: str
    amount: int
    available_at: datetime
    settled: bool = False


class InvoiceKind(StrEnum):
    PRO_FORMA = "pro_forma"  # M3: made by a release request
    FINAL = "final"  # M9: made on release


class Invoice(BaseModel):
    id: str
    milestone_id: str
    kind: InvoiceKind
    amount: int
    currency: str
    issued_at: datetime
    # C4: the day the money this invoice pays becomes available to the expert.
    clears_at: datetime | None = None


class ClaimKind(StrEnum):
    REFUND = "refund"
    DISPUTE = "dispute"


class ClaimStatus(StrEnum):
    OPEN = "open"
    # R4: declined; the money stays frozen while the client may still escalate.
    DECLINED = "declined"
    ESCALATED = "escalated"
    # R4: declined and the time to escalate ran out.
    CLOSED = "closed"
    SETTLED = "settled"
    # M10: approved, but the expert's balance could not cover it (L3).
    UNPAID = "unpaid"


class Claim(BaseModel):
    """A refund request or dispute on this milestone's money."""

    id: str
    kind: ClaimKind
    amount: int
    status: ClaimStatus = ClaimStatus.OPEN
    # M10: on money already released rather than in escrow.
    after_release: bool = False
    opened_at: datetime
    closed_at: datetime | None = None
    escalate_until: datetime | None = None
    escalated_to: str | None = None
    amount_to_client: int | None = None

    @property
    def freezes(self) -> bool:
        """D1: the claimed escrow can't move while the claim may still decide it."""
        return not self.after_release and self.status in (ClaimStatus.OPEN, ClaimStatus.DECLINED)


class ChangeStatus(StrEnum):
    PROPOSED = "proposed"  # M8: waiting for the other party; proposals do not expire
    ACCEPTED = "accepted"
    DECLINED = "declined"


class MilestoneChange(BaseModel):
    """M8: a change one party proposed to this milestone, for the other to answer."""

    id: str
    status: ChangeStatus = ChangeStatus.PROPOSED
    proposed_by: Role
    proposed_at: datetime
    title: str | None = None
    description: str | None = None
    due_date: date | None = None
    # The new amount: only ever more than the milestone's.
    amount: int | None = None
    # Remove the milestone (cancel it): only while it is not funded.
    remove: bool = False
    decided_at: datetime | None = None


class MilestoneView(BaseModel):
    id: str
    contract_id: str
    client_id: str
    expert_id: str
    title: str
    description: str | None
    due_date: date | None
    currency: str
    policy: str
    proposed_by: Role
    status: MilestoneStatus
    amount: int
    escrow: int = 0
    funded: int = 0
    # What the expert keeps: a refund or dispute of released money lowers it (M10).
    released: int = 0
    # Every refund to the client, before or after release: funded = released +
    # refunded + applied + escrow (L4).
    refunded: int = 0
    # M6: the remainder moved to a new milestone of the contract (`applied_to`); a
    # milestone funded so names where its money came from (`funded_from`).
    applied: int = 0
    applied_to: str | None = None
    funded_from: str | None = None
    submitted_at: datetime | None = None
    # O2, O5: when a party last acted on this milestone, and last did so in a way that
    # returns a dormant contract to active.
    last_activity_at: datetime | None = None
    last_reactivation_at: datetime | None = None
    overdue: bool = False
    revisions: int = 0
    deadline_at: datetime | None = None
    deadline_action: DeadlineAction | None = None
    holds: list[Hold] = Field(default_factory=list)
    invoices: list[Invoice] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    changes: list[MilestoneChange] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def frozen(self) -> int:
        return sum(c.amount for c in self.claims if c.freezes)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def claimed_released(self) -> int:
        """M10: released money an open claim may still take back; no other claim may
        take it meanwhile (one claim at a time on any money)."""
        return sum(
            c.amount for c in self.claims if c.after_release and c.status in (ClaimStatus.OPEN, ClaimStatus.DECLINED)
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paid_at(self) -> datetime | None:
        """M10: when the client last paid an invoice of this milestone (its last release)."""
        return max((i.issued_at for i in self.invoices if i.kind == InvoiceKind.FINAL), default=None)

    def claim(self, claim_id: str) -> Claim | None:
        return next((c for c in self.claims if c.id == claim_id), None)


class Fund(PartyCommand):
    card_authenticated: StrictBool = True


class ChangeTerms(BaseModel):
    """M8: the fields to change, or `remove`; at least one, and `remove` alone. The one
    definition of a change, for the command and the API body alike."""

    title: Title | None = None
    description: Text | None = None
    due_date: date | None = None
    amount: Cents | None = Field(None, description="the new amount: only ever more than the milestone's")
    remove: StrictBool = Field(False, description="remove the milestone: only one not yet funded")

    @model_validator(mode="after")
    def _one_kind_of_change(self) -> ChangeTerms:
        edits = [self.title, self.description, self.due_date, self.amount]
        if self.remove and any(e is not None for e in edits):
            raise ValueError("remove changes nothing else: send it alone")
        if not self.remove and all(e is None for e in edits):
            raise ValueError("a change needs title, description, due_date, amount or remove")
        return self


class ProposeChange(PartyCommand, ChangeTerms):
    pass


class AnswerChange(PartyCommand):
    change_id: Reference


class Release(PartyCommand):
    # Required: a missing amount must not mean "everything", which can't be undone.
    amount: Cents


class RequestRevision(PartyCommand):
    message: RequiredText


class Submit(PartyCommand):
    message: Text | None = None


class AwaitClaim(Command):
    """Wait until a claim's outcome is paid: a read after the command that decided it
    then shows the money it moved."""

    claim_id: Reference


class Remainder(StrEnum):
    RELEASE = "release"
    REFUND = "refund"


class ApplyRemainder(PartyCommand):
    """M6: a new milestone of the same contract, funded from this one's remainder."""

    title: Title
    due_date: date | None = None


class CloseMilestone(PartyCommand):
    """C1, sent by the contract: what to do with the money still in escrow."""

    remainder: Remainder


class MilestoneSummary(BaseModel):
    """What a milestone tells its contract after every change of its money."""

    id: str
    status: MilestoneStatus
    escrow: int
    released: int
    refunded: int
    # Nothing frozen and nothing left to settle in escrow.
    settled: bool
    # The workflow has ended: it will report no more.
    finished: bool = False
    # M6: the remainder this milestone moved to a new milestone, which it started.
    applied: int = 0
    applied_to: str | None = None
    # O1–O5: the milestone's date, its release request, and its last O2 activity and
    # O5 reactivating activity, for the contract's dormancy clock.
    due_date: date | None = None
    submitted_at: datetime | None = None
    last_activity_at: datetime | None = None
    last_reactivation_at: datetime | None = None

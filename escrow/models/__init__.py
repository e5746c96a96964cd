"""Models shared by every layer: workflow inputs, commands, views and ledger steps.

Commands carry the acting user so that the workflow, not the API, decides who may do
what; the API only proves who the caller is.
"""

from escrow.models.common import (  # noqa: F401
    Actor,
    PartyCommand,
    Role,
)
from escrow.models.contract import (  # noqa: F401
    AddMilestone,
    CloseContract,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    SetPaymentMethod,
)
from escrow.models.dispute import (  # noqa: F401
    AcceptOffer,
    DisputeInput,
    DisputeOutcome,
    DisputeStatus,
    DisputeView,
    MakeOffer,
    Recommend,
    Resolution,
    Respond,
    SubmitEvidence,
    Verdict,
)
from escrow.models.hourly import (  # noqa: F401
    DeleteTime,
    DisputeHours,
    EditTime,
    EntryKind,
    HourlyWeekInput,
    HourlyWeekView,
    LogTime,
    PaymentStatus,
    TimeEntry,
    WeekStatus,
    WeekSummary,
)
from escrow.models.ledger import (  # noqa: F401
    AuditEvent,
    Notification,
    Step,
    TransferSpec,
)
from escrow.models.milestone import (  # noqa: F401
    AwaitClaim,
    Claim,
    ClaimKind,
    ClaimStatus,
    CloseMilestone,
    DeadlineAction,
    Fund,
    Hold,
    Invoice,
    InvoiceKind,
    MilestoneInput,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    Release,
    Remainder,
    RequestRevision,
    Submit,
)
from escrow.models.refund import (  # noqa: F401
    EscalateRefund,
    OpenDispute,
    RefundAnswer,
    RefundInput,
    RefundPhase,
    RefundStatus,
    RefundView,
    RequestRefund,
)

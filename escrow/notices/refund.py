"""What a refund request tells its parties (R2, R4, M10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import Notice, money, when


@dataclass(frozen=True)
class RefundAsked(Notice):
    amount: int
    currency: str
    message: str | None
    deadline_at: datetime | None
    silence_approves: bool

    def text(self) -> str:
        said = f": {self.message}" if self.message else ""
        silence = "silence approves it." if self.silence_approves else "silence declines it."
        return f"The client asks for a refund of {money(self.amount, self.currency)}{said}. Answer by {when(self.deadline_at)}; {silence}"


@dataclass(frozen=True)
class OperatorApprovalNeeded(Notice):
    refund_id: str
    amount: int
    currency: str
    deadline_at: datetime | None

    def text(self) -> str:
        return (
            f"Refund request {self.refund_id} of {money(self.amount, self.currency)} on released money needs an "
            f"operator's approval by {when(self.deadline_at)} (M10)."
        )


@dataclass(frozen=True)
class RefundApproved(Notice):
    amount: int
    currency: str
    yours: bool  # told to the client who asked

    def text(self) -> str:
        return f"{'Your refund' if self.yours else 'The refund'} of {money(self.amount, self.currency)} was approved."


@dataclass(frozen=True)
class RefundDeclined(Notice):
    amount: int
    currency: str
    message: str | None

    def text(self) -> str:
        said = f": {self.message}" if self.message else ""
        return f"Your refund request of {money(self.amount, self.currency)} was declined{said}. You may escalate it into a dispute."

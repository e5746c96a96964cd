"""What a refund request tells its parties (R2, R4, M10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import AboutMoney, when


@dataclass(frozen=True)
class RefundAsked(AboutMoney):
    message: str | None
    deadline_at: datetime | None
    silence_approves: bool

    def text(self) -> str:
        said = f": {self.message}" if self.message else ""
        silence = "silence approves it." if self.silence_approves else "silence declines it."
        return f"The client asks for a refund of {self.money}{said}. Answer by {when(self.deadline_at)}; {silence}"


@dataclass(frozen=True)
class OperatorApprovalNeeded(AboutMoney):
    refund_id: str
    deadline_at: datetime | None

    def text(self) -> str:
        return (
            f"Refund request {self.refund_id} of {self.money} on released money needs an "
            f"operator's approval by {when(self.deadline_at)} (M10)."
        )


@dataclass(frozen=True)
class RefundApproved(AboutMoney):
    yours: bool  # told to the client who asked

    def text(self) -> str:
        return f"{'Your refund' if self.yours else 'The refund'} of {self.money} was approved."


@dataclass(frozen=True)
class RefundDeclined(AboutMoney):
    message: str | None

    def text(self) -> str:
        said = f": {self.message}" if self.message else ""
        return f"Your refund request of {self.money} was declined{said}. You may escalate it into a dispute."

"""What a milestone tells its parties (M3, M5, M7, M9, M10, R3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import Notice, money, when


@dataclass(frozen=True)
class Submitted(Notice):
    """M3, M4: to the client, who has the review window to act."""

    title: str
    amount: int
    currency: str
    deadline_at: datetime

    def text(self) -> str:
        return (
            f"'{self.title}' was submitted for review; it releases {money(self.amount, self.currency)} "
            f"automatically on {when(self.deadline_at)} unless you release, ask for revisions, a refund or dispute."
        )


@dataclass(frozen=True)
class RevisionRequested(Notice):
    """M7: to the expert."""

    title: str
    message: str

    def text(self) -> str:
        return f"The client asked for revisions of '{self.title}': {self.message}"


@dataclass(frozen=True)
class ReleasedToYou(Notice):
    """M9: to the expert, with the day the hold ends."""

    title: str
    amount: int
    currency: str
    available_at: datetime

    def text(self) -> str:
        return f"{money(self.amount, self.currency)} for '{self.title}' was released to you; available on {when(self.available_at)}."


@dataclass(frozen=True)
class ReleasedToExpert(Notice):
    """To the client, when money went to the expert and none back to the client."""

    title: str
    amount: int
    currency: str

    def text(self) -> str:
        return f"{money(self.amount, self.currency)} for '{self.title}' was released to the expert."


@dataclass(frozen=True)
class RefundedToYou(Notice):
    title: str
    amount: int
    currency: str

    def text(self) -> str:
        return f"{money(self.amount, self.currency)} of '{self.title}' was refunded to your balance."


@dataclass(frozen=True)
class Overdue(Notice):
    """M5 (Elance): the release request is overdue."""

    title: str
    deadline_at: datetime

    def text(self) -> str:
        return f"The release request for '{self.title}' is overdue; it auto-releases on {when(self.deadline_at)}."


@dataclass(frozen=True)
class Reminder(Notice):
    """M5: the review deadline is near."""

    title: str
    deadline_at: datetime

    def text(self) -> str:
        return f"Reminder: '{self.title}' auto-releases on {when(self.deadline_at)}."


@dataclass(frozen=True)
class RefundUnpaid(Notice):
    """M10, L3: an approved refund of released money the expert's balance can't cover."""

    amount: int
    currency: str
    approver: bool  # told to the expert who approved it

    def text(self) -> str:
        if self.approver:
            return f"The refund of {money(self.amount, self.currency)} you approved could not be paid from your available balance."
        return f"The approved refund of {money(self.amount, self.currency)} could not be paid: the expert's available balance is short."

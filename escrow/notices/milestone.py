"""What a milestone tells its parties (M3, M5, M7, M9, M10, R3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import AboutMoney, Notice, when


@dataclass(frozen=True)
class MilestoneMoney(AboutMoney):
    """Money of the milestone titled `title`."""

    title: str


@dataclass(frozen=True)
class Submitted(MilestoneMoney):
    """M3, M4: to the client, who has the review window to act."""

    deadline_at: datetime

    def text(self) -> str:
        return (
            f"'{self.title}' was submitted for review; it releases {self.money} "
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
class ReleasedToYou(MilestoneMoney):
    """M9: to the expert, with the day the hold ends."""

    available_at: datetime

    def text(self) -> str:
        return f"{self.money} for '{self.title}' was released to you; available on {when(self.available_at)}."


@dataclass(frozen=True)
class ReleasedToExpert(MilestoneMoney):
    """To the client, when money went to the expert and none back to the client."""

    def text(self) -> str:
        return f"{self.money} for '{self.title}' was released to the expert."


@dataclass(frozen=True)
class RefundedToYou(MilestoneMoney):
    def text(self) -> str:
        return f"{self.money} of '{self.title}' was refunded to your balance."


@dataclass(frozen=True)
class ReviewDeadline(Notice):
    """M5: about the review deadline of the milestone titled `title`."""

    title: str
    deadline_at: datetime


@dataclass(frozen=True)
class Overdue(ReviewDeadline):
    """M5 (Elance): the release request is overdue."""

    def text(self) -> str:
        return f"The release request for '{self.title}' is overdue; it auto-releases on {when(self.deadline_at)}."


@dataclass(frozen=True)
class Reminder(ReviewDeadline):
    """M5: the review deadline is near."""

    def text(self) -> str:
        return f"Reminder: '{self.title}' auto-releases on {when(self.deadline_at)}."


@dataclass(frozen=True)
class RefundUnpaid(AboutMoney):
    """M10, L3: an approved refund of released money the expert's balance can't cover."""

    approver: bool  # told to the expert who approved it

    def text(self) -> str:
        if self.approver:
            return f"The refund of {self.money} you approved could not be paid from your available balance."
        return f"The approved refund of {self.money} could not be paid: the expert's available balance is short."


@dataclass(frozen=True)
class ChangeProposed(Notice):
    """M8: to the other party, who approves or declines; the proposal does not expire."""

    title: str
    proposer: str

    def text(self) -> str:
        return f"The {self.proposer} proposed a change to '{self.title}'; approve or decline it."


@dataclass(frozen=True)
class ChangeAnswered(Notice):
    """M8: to the party who proposed the change."""

    title: str
    accepted: bool

    def text(self) -> str:
        return f"Your proposed change to '{self.title}' was {'approved' if self.accepted else 'declined'}."

"""What reviews tell the parties of a closed contract (V1, V2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import Notice, when


@dataclass(frozen=True)
class ReviewsOpen(Notice):
    """V1: the contract closed; each side may review the other."""

    contract_id: str
    reviews_close_at: datetime

    def text(self) -> str:
        return (
            f"Contract {self.contract_id} is closed. You may review the other side until "
            f"{when(self.reviews_close_at)}; reviews stay hidden until both have posted or that time comes."
        )


@dataclass(frozen=True)
class ReviewAwaitsYours(Notice):
    """V1: the other side has posted; told to the side that has not."""

    contract_id: str
    reviews_close_at: datetime

    def text(self) -> str:
        return (
            f"The other side of contract {self.contract_id} has reviewed you. It is published when you post "
            f"your review, or at {when(self.reviews_close_at)}."
        )


@dataclass(frozen=True)
class ReviewPublished(Notice):
    """V1: told to the party reviewed."""

    review_id: str
    rating: int
    reply_by: datetime

    def text(self) -> str:
        return (
            f"A review of you is published ({self.rating}/5, review {self.review_id}). "
            f"You may reply once until {when(self.reply_by)}."
        )


@dataclass(frozen=True)
class EditRequested(Notice):
    """V2: told to the expert the client reviewed."""

    review_id: str
    allow_by: datetime

    def text(self) -> str:
        return (
            f"The client asks to edit its review {self.review_id} of you. You may allow it until {when(self.allow_by)}."
        )


@dataclass(frozen=True)
class EditAllowed(Notice):
    """V2: told to the client."""

    review_id: str
    edit_by: datetime

    def text(self) -> str:
        return f"The expert allows you to edit your review {self.review_id}, once, until {when(self.edit_by)}."


@dataclass(frozen=True)
class ReviewEdited(Notice):
    """V2: told to the expert."""

    review_id: str
    rating: int

    def text(self) -> str:
        return f"The client edited its review {self.review_id} of you ({self.rating}/5)."


@dataclass(frozen=True)
class ReplyPosted(Notice):
    """V2: told to the review's author."""

    review_id: str

    def text(self) -> str:
        return f"The party you reviewed replied to your review {self.review_id}."

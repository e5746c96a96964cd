"""What a dispute tells its parties and the dispute team (D1–D8), and what operators
read of it in the Web UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from escrow.models import Role
from escrow.models.dispute import DisputeStatus, DisputeView
from escrow.notices import AboutMoney, Notice, money, when


def split(amount_to_client: int, amount: int, currency: str) -> str:
    return (
        f"{money(amount_to_client, currency)} to the client, {money(amount - amount_to_client, currency)} to the expert"
    )


@dataclass(frozen=True)
class Filing(AboutMoney):
    """D1: the disputed money, and until when the respondent may answer."""

    deadline_at: datetime | None


@dataclass(frozen=True)
class Filed(Filing):
    """D1: to the respondent, who must answer (D2)."""

    claimant: Role
    reason: str

    def text(self) -> str:
        return (
            f"The {self.claimant} disputes {self.money}: {self.reason}. "
            f"Accept the claim or respond by {when(self.deadline_at)}; without an answer the "
            f"{self.claimant} gets the whole amount."
        )


@dataclass(frozen=True)
class FiledYours(Filing):
    """D1: to the claimant."""

    respondent: Role

    def text(self) -> str:
        return f"Your dispute over {self.money} was filed; the {self.respondent} has until {when(self.deadline_at)} to answer."


@dataclass(frozen=True)
class Responded(Notice):
    respondent: Role
    message: str
    deadline_at: datetime | None
    fee: int
    currency: str

    def text(self) -> str:
        return (
            f"The {self.respondent} answered the dispute: {self.message}. Negotiation is open until "
            f"{when(self.deadline_at)}: make or accept offers; to go to arbitration a party pays the "
            f"fee ({money(self.fee, self.currency)}). If nobody pays by then, the claim lapses."
        )


@dataclass(frozen=True)
class Split(AboutMoney):
    """A split of the disputed `amount`: `amount_to_client`, the rest to the expert."""

    amount_to_client: int

    @property
    def split(self) -> str:
        return split(self.amount_to_client, self.amount, self.currency)


@dataclass(frozen=True)
class OfferMade(Split):
    by: Role

    def text(self) -> str:
        return f"The {self.by} offers a settlement: {self.split}."


@dataclass(frozen=True)
class Recommended(Split):
    def text(self) -> str:
        return f"The mediation team recommends {self.split}; it settles the dispute if both of you accept it."


@dataclass(frozen=True)
class RecommendationAccepted(Notice):
    by: Role

    def text(self) -> str:
        return f"The {self.by} accepted the mediation recommendation; accept it too to settle."


@dataclass(frozen=True)
class RecommendationRejected(Notice):
    by: Role

    def text(self) -> str:
        return f"The {self.by} rejected the mediation recommendation."


@dataclass(frozen=True)
class RecommendationRejectedOperators(Notice):
    by: Role
    dispute_id: str

    def text(self) -> str:
        return f"The {self.by} rejected the recommendation in dispute {self.dispute_id}."


@dataclass(frozen=True)
class FeeDue(AboutMoney):
    """D4: to the side that has not paid, once the other has."""

    payer: Role
    fee: int
    deadline_at: datetime | None

    def text(self) -> str:
        return (
            f"The {self.payer} paid the arbitration fee. Pay yours ({money(self.fee, self.currency)}) by "
            f"{when(self.deadline_at)} or the {self.payer} gets {self.money}. "
            "Until then you may still settle and submit evidence."
        )


@dataclass(frozen=True)
class FeePaid(Notice):
    """D4: to the first payer."""

    other: Role
    deadline_at: datetime | None

    def text(self) -> str:
        return f"Your arbitration fee is paid; the {self.other} has until {when(self.deadline_at)} to pay theirs."


@dataclass(frozen=True)
class ArbitrationStarted(Notice):
    def text(self) -> str:
        return "Both arbitration fees are paid; the dispute team will issue a final, binding verdict."


@dataclass(frozen=True)
class AwaitingVerdict(AboutMoney):
    """D5, to the operators: dispute `dispute_id` over `amount` wants a verdict by `due_at`."""

    dispute_id: str
    due_at: datetime | None


@dataclass(frozen=True)
class VerdictAwaited(AwaitingVerdict):
    def text(self) -> str:
        return f"Dispute {self.dispute_id} ({self.money}) awaits a verdict, due {when(self.due_at)}."


@dataclass(frozen=True)
class VerdictOverdue(AwaitingVerdict):
    def text(self) -> str:
        return f"The verdict on dispute {self.dispute_id} ({self.money}) was due {when(self.due_at)}."


@dataclass(frozen=True)
class EvidenceSubmitted(Notice):
    by: Role

    def text(self) -> str:
        return f"The {self.by} submitted evidence in the dispute."


class Why(StrEnum):
    """How a dispute ended, as `Resolved` words it."""

    UNANSWERED = "unanswered"  # D2: the respondent was silent
    LAPSED = "lapsed"  # D3: nobody paid the fee
    UNPAID = "unpaid"  # D4: the other side did not pay its fee
    ACCEPTED = "accepted"  # D2: the respondent accepted the claim
    OFFER = "offer"  # D3
    RECOMMENDATION = "recommendation"  # D3
    VERDICT = "verdict"  # D5


@dataclass(frozen=True)
class Resolved(Split):
    why: Why
    who: Role | None = None  # who answered, accepted, or failed to
    whose: Role | None = None  # whose offer was accepted

    def reason(self) -> str:
        return {
            Why.UNANSWERED: f"the {self.who} did not answer in time",
            Why.LAPSED: "nobody paid the arbitration fee; the claim lapsed",
            Why.UNPAID: f"the {self.who} did not pay the arbitration fee",
            Why.ACCEPTED: f"the {self.who} accepted the claim",
            Why.OFFER: f"the {self.who} accepted the {self.whose}'s offer",
            Why.RECOMMENDATION: "both parties accepted the mediation recommendation",
            Why.VERDICT: "the dispute team's verdict",
        }[self.why]

    def text(self) -> str:
        return f"The dispute is resolved: {self.reason()}. {self.split}."


@dataclass(frozen=True)
class FeeRefunded(Notice):
    """D6: told after `Resolved` to a payer whose fee comes back (one message with it)."""

    fee: int
    currency: str

    def text(self) -> str:
        return f"Your arbitration fee of {money(self.fee, self.currency)} is refunded to your balance."


def details(v: DisputeView) -> str:
    """What operators see of the case in the Web UI: where it stands, who must act."""
    head = f"**{v.status}** · {money(v.amount, v.currency)} disputed by the {v.claimant}: {v.reason}"
    if v.outcome is not None:
        return (
            f"{head}\n\nResolved ({v.outcome.resolution}): {split(v.outcome.amount_to_client, v.amount, v.currency)}."
        )
    by, amount = when(v.deadline_at), money(v.amount, v.currency)
    if v.status == DisputeStatus.FILED:
        now = f"Waiting on the {v.respondent} to accept or respond by {by}; silence gives {amount} to the {v.claimant}."
    elif v.status == DisputeStatus.NEGOTIATION:
        now = (
            f"Negotiating. Waiting on the {v.claimant} to pay the arbitration fee by {by}; "
            f"otherwise the claim lapses and {amount} goes to the {v.respondent}."
        )
    elif v.status == DisputeStatus.ARBITRATION_FEE:
        payer = v.fees[0].by
        unpaid = Role.EXPERT if payer == Role.CLIENT else Role.CLIENT
        now = (
            f"Waiting on the {unpaid} to pay the arbitration fee ({money(v.fee_per_party, v.currency)}) by {by}; "
            f"otherwise {amount} goes to the {payer}."
        )
    else:
        now = f"Waiting on the operators' verdict, due {by}; they are reminded then. Nobody loses by the delay."
    return f"{head}\n\n{now}"

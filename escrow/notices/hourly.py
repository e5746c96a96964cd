"""What a billing week tells its parties (H2, H6, H7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.notices import AboutMoney, Notice


def when(moment: datetime | None) -> str:
    """A week's instants to the second, with the weekday: `Mon 2026-11-23 12:00:00 UTC`."""
    return f"{moment:%a %Y-%m-%d %H:%M:%S} UTC" if moment else "-"


@dataclass(frozen=True)
class WeekMoney(AboutMoney):
    """Money of the billing week `week`."""

    week: str


@dataclass(frozen=True)
class Charged(WeekMoney):
    """H2, H7: the client's card was charged for the week."""

    def text(self) -> str:
        return f"You were charged {self.money} for week {self.week}."


@dataclass(frozen=True)
class ChargeFailed(WeekMoney):
    """H7, to the client: the charge failed and when it is tried again."""

    message: str
    retry_at: datetime

    def text(self) -> str:
        return (
            f"Charging {self.money} for week {self.week} failed ({self.message}). Your account is "
            f"suspended and the contract on hold until it is paid; we try again on {when(self.retry_at)}."
        )


@dataclass(frozen=True)
class ClientPaymentFailed(Notice):
    """H7, to the expert: the contract is on hold."""

    week: str

    def text(self) -> str:
        return f"The client's payment for week {self.week} failed; the contract is on hold."


@dataclass(frozen=True)
class InvoiceReview(Notice):
    """H7, to the operators: enough charges failed that an operator reviews the invoice."""

    week: str
    contract_id: str
    failures: int

    def text(self) -> str:
        return f"Invoice review: week {self.week} of contract {self.contract_id} failed {self.failures} charges (H7)."


@dataclass(frozen=True)
class FundsAvailable(WeekMoney):
    """H6, P1: the week's held money is the expert's to withdraw."""

    def text(self) -> str:
        return f"{self.money} of week {self.week} is available."

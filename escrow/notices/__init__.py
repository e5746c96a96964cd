"""What people are told, as typed notices: a decision says *that* someone is told and
with which facts; the wording lives here, never in workflow code. One module per entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.money import format_cents

# Notices for the dispute team go to this outbox address, not to a person.
OPERATORS = "operators"


@dataclass(frozen=True)
class Notice:
    """Told to the users in `to`; subclasses hold the facts and word them in `text`."""

    to: tuple[str, ...]

    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class AboutMoney(Notice):
    """A notice about an amount of money; `money` words it."""

    amount: int
    currency: str

    @property
    def money(self) -> str:
        return format_cents(self.amount, self.currency)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "no deadline"


def money(amount: int, currency: str) -> str:
    return format_cents(amount, currency)


def messages(notices: list[Notice]) -> dict[str, str]:
    """One message per user: what several notices tell the same user, in order."""
    out: dict[str, str] = {}
    for notice in notices:
        for user in notice.to:
            out[user] = f"{out[user]} {notice.text()}" if user in out else notice.text()
    return out

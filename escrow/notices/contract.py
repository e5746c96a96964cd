"""What a contract tells its client (H7)."""

from __future__ import annotations

from dataclasses import dataclass

from escrow.notices import Notice


@dataclass(frozen=True)
class ClientSuspended(Notice):
    """H7: a week's charge failed."""

    def text(self) -> str:
        return "Your account is suspended and the contract on hold until the failed payment succeeds."


@dataclass(frozen=True)
class ClientReactivated(Notice):
    """H7: the failed charge was paid."""

    def text(self) -> str:
        return "Your payment succeeded; your account and the contract are active again."

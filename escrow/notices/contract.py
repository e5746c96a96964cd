"""What a contract tells its parties (H7, O1, O3, O4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class ContractDormant(Notice):
    """O1: the client is told its contract went dormant."""

    settles_at: datetime

    def text(self) -> str:
        return (
            "Nobody has acted on this contract for a long time: it is dormant. Release, change the terms or "
            f"close it; otherwise its escrow is settled on {self.settles_at:%Y-%m-%d}."
        )


@dataclass(frozen=True)
class DormantExpertNotice(Notice):
    """O3: the expert is told the escrow is about to be settled."""

    settles_at: datetime

    def text(self) -> str:
        return (
            f"This dormant contract's escrow is settled on {self.settles_at:%Y-%m-%d}: milestones you requested "
            "release of are released to you (30 days after the request), the others refunded to the client."
        )


@dataclass(frozen=True)
class DormantSettled(Notice):
    """O4: the escrow of a dormant contract is being settled."""

    def text(self) -> str:
        return (
            "The dormant contract's escrow is settled: requested releases are paid to the expert, "
            "the rest refunded to the client."
        )

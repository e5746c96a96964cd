"""Ledger account names. One function per kind so that no layer spells them twice.

`world:*` accounts stand for money outside the platform (cards, payout rails) and are
the only ones allowed below zero (L3).
"""

from __future__ import annotations

WORLD_PREFIX = "world:"
WORLD_CARD = "world:card"
WORLD_PAYOUTS = "world:payouts"
PLATFORM_FEES = "platform:fees"
PLATFORM_ARBITRATION = "platform:arbitration"


def client_balance(user_id: str) -> str:
    return f"client:{user_id}:balance"


def milestone_escrow(milestone_id: str) -> str:
    return f"escrow:milestone:{milestone_id}"


def week_escrow(contract_id: str, week: str) -> str:
    return f"escrow:week:{contract_id}:{week}"


def expert_pending(user_id: str) -> str:
    return f"expert:{user_id}:pending"


def expert_available(user_id: str) -> str:
    return f"expert:{user_id}:available"


def payout(user_id: str, payout_id: str) -> str:
    """Money on its way out to a payout method (P4), owned by its PayoutWorkflow; the
    user's `in_payout` is the sum of these."""
    return f"payout:{user_id}:{payout_id}"


def payouts_of(user_id: str) -> str:
    """The prefix of every payout account of the user."""
    return f"payout:{user_id}:"


def may_go_negative(account: str) -> bool:
    return account.startswith(WORLD_PREFIX)

"""Workflow ids: one per thing that waits, the same from every workflow, the API and
the Temporal Web UI. An id is also the prefix of every ledger transfer its workflow
posts, so these are part of the money's identity and never change."""

from __future__ import annotations


def contract(contract_id: str) -> str:
    return f"contract:{contract_id}"


def milestone(milestone_id: str) -> str:
    return f"milestone:{milestone_id}"


def refund(refund_id: str) -> str:
    return f"refund:{refund_id}"


def dispute(dispute_id: str) -> str:
    return f"dispute:{dispute_id}"


def week(contract_id: str, iso_week: str) -> str:
    return f"hourly-week:{contract_id}:{iso_week}"


def reviews(contract_id: str) -> str:
    return f"reviews:{contract_id}"


def payout(payout_id: str) -> str:
    return f"payout:{payout_id}"


def payment(payment_id: str) -> str:
    return f"payment:{payment_id}"

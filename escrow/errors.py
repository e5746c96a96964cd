"""Business refusals, raised as non-retryable ApplicationErrors so that the API can map
each kind to its HTTP status without knowing the rule that refused."""

from __future__ import annotations

from enum import StrEnum

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory


class Refusal(StrEnum):
    INVALID = "Invalid"  # 422: the input can never be right
    FORBIDDEN = "Forbidden"  # 403: this actor may not do this
    CONFLICT = "Conflict"  # 409: the current state refuses it
    NOT_FOUND = "NotFound"  # 404
    INSUFFICIENT_FUNDS = "InsufficientFunds"  # 409: L3


def refuse(kind: Refusal, message: str) -> ApplicationError:
    """BENIGN: a refusal is the engine working, not failing; the SDK logs it at DEBUG
    (not as a WARNING with its traceback) and leaves it out of failure metrics."""
    return ApplicationError(message, type=kind.value, non_retryable=True, category=ApplicationErrorCategory.BENIGN)

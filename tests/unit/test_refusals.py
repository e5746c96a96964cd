"""A refusal is the engine working, not failing: the SDK logs a BENIGN application
error at DEBUG (not as a WARNING with its traceback) and keeps it out of failure
metrics, wherever it is raised (an update's validator, a step's activity)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationErrorCategory

from escrow.errors import Refusal, refuse


@pytest.mark.parametrize("kind", list(Refusal))
def test_every_refusal_is_benign_and_final(kind: Refusal):
    err = refuse(kind, "no")
    assert err.category == ApplicationErrorCategory.BENIGN
    assert err.non_retryable and err.type == kind.value

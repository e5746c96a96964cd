"""`python worker.py` whose first step that moves money takes a few seconds after its
commit: long enough for test_drain.py to send SIGTERM while the activity runs.

    python tests/draining_worker.py     # settings from the environment, as worker.py

Prints "holding" when that activity is under way. Everything else is worker.main():
its signal handling, its drain, its exit.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

import worker
from activities.steps import StepActivities
from escrow.models import Step

HOLD_SECONDS = 3.0
_held = False


def hold_the_first_money_step(step: Step) -> None:
    global _held
    if step.transfers and not _held:
        _held = True
        print("holding " + ", ".join(t.id for t in step.transfers), flush=True)
        time.sleep(HOLD_SECONDS)


class HoldingSteps(StepActivities):
    def __init__(self, sessions: sessionmaker[Session], **kwargs: object) -> None:
        super().__init__(sessions, after_commit=hold_the_first_money_step, **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    worker.StepActivities = HoldingSteps  # type: ignore[misc]
    worker.main()

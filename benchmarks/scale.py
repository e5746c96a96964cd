"""Does a command cost the same with 1k or 50k milestones open? Release latency and
worker RSS against the number of waiting milestones.

Runs the Temporal dev server (SQLite with WAL) in this process and the engine's
worker in a process of its own (benchmarks/memory.py's), whose workflow cache is
`--cache` (default: ESCROW_WORKER_CACHE's default). Opens waiting milestones
(added, funded, submitted) up to each size, showing its progress; at each size reads
the worker's RSS and releases `--releases` milestones picked at random among those
open, one at a time, timing each release. A released milestone stays open (it lives on
for its holds and refund window, M9, M10), so the count of open workflows holds.
Writes JSON and draws both curves to a PNG (matplotlib, the `bench` extra). Not a
test: numbers depend on the machine.

    python benchmarks/scale.py --sizes 1000 10000 50000 [--releases 200] [--cache N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from memory import PER_CONTRACT, TEMPORAL_PORT, open_many, waiting_milestone, worker_process
from milestones import dev_server, open_contracts
from temporalio.client import Client, WorkflowHandle

from escrow.db.migrate import upgrade
from escrow.models import Actor, Release
from escrow.settings import DEFAULT_WORKER_CACHE
from workflows.milestone import MilestoneWorkflow


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def releases(client: Client, waiting: list[tuple[WorkflowHandle, Actor]], count: int) -> list[float]:
    """Release `count` waiting milestones picked at random, one at a time; their seconds."""
    latencies = []
    for handle, buyer in random.sample(waiting, min(count, len(waiting))):
        waiting.remove((handle, buyer))
        started = time.perf_counter()
        await handle.execute_update(MilestoneWorkflow.release, Release(actor=buyer, amount=10_000))
        latencies.append(time.perf_counter() - started)
        if len(latencies) % 50 == 0:
            print(f"\r  released {len(latencies)}/{count}   ", end="", flush=True)
    print()
    return latencies


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sorted(args.sizes)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(database_url)
        async with dev_server(tmp, TEMPORAL_PORT) as env:
            client = env.client
            address = f"127.0.0.1:{TEMPORAL_PORT}"
            async with worker_process(address, "milestone", database_url, args.cache, "engine", False) as worker:
                deals = await open_contracts(client, max(1, sizes[-1] // PER_CONTRACT))
                base = await worker.rss_kb()
                print(f"worker RSS {base / 1024:.0f} MB with {len(deals)} contracts and no milestone open")
                opened: list[WorkflowHandle] = []
                waiting: list[tuple[WorkflowHandle, Actor]] = []

                async def open_one(i: int) -> WorkflowHandle:
                    contract_id, buyer, seller = deals[i % len(deals)]
                    handle = await waiting_milestone(client, contract_id, buyer, seller)
                    waiting.append((handle, buyer))
                    return handle

                for size in sizes:
                    await open_many(opened, size, open_one, f"size {size}")
                    rss = await worker.rss_kb()
                    latencies = await releases(client, waiting, args.releases)
                    row = {
                        "open": size,
                        "rss_kb": rss,
                        "kb_per_open": round((rss - base) / size, 1),
                        "release_p50_ms": round(1000 * statistics.median(latencies), 1),
                        "release_p99_ms": round(1000 * quantile(latencies, 0.99), 1),
                        "releases": len(latencies),
                    }
                    rows.append(row)
                    print(
                        f"  {size} open: RSS {rss / 1024:.0f} MB ({row['kb_per_open']:.0f} KB per open milestone), "
                        f"release p50 {row['release_p50_ms']:.0f} ms, p99 {row['release_p99_ms']:.0f} ms"
                    )
    return {"cache": args.cache, "per_contract": PER_CONTRACT, "base_rss_kb": base, "rows": rows}


def report(result: dict[str, Any]) -> None:
    rows = result["rows"]
    first = rows[0]
    print(f"\ncache {result['cache']} workflows; {result['per_contract']} milestones per contract")
    print(f"{'open':>7} {'RSS MB':>7} {'KB/open':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99 x':>6} {'KB/open x':>10}")
    for row in rows:
        print(
            f"{row['open']:>7} {row['rss_kb'] / 1024:>7.0f} {row['kb_per_open']:>8.0f} {row['release_p50_ms']:>7.0f} "
            f"{row['release_p99_ms']:>7.0f} {row['release_p99_ms'] / first['release_p99_ms']:>6.2f} "
            f"{row['kb_per_open'] / first['kb_per_open']:>10.2f}"
        )


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    opened = [row["open"] for row in rows]
    fig, (latency, memory) = plt.subplots(1, 2, figsize=(10, 4))
    latency.plot(opened, [row["release_p99_ms"] for row in rows], "o-", label="p99")
    latency.plot(opened, [row["release_p50_ms"] for row in rows], "o-", label="p50")
    latency.set(xlabel="open milestones", ylabel="release latency (ms)", title="Release latency", ylim=(0, None))
    latency.legend()
    memory.plot(opened, [row["rss_kb"] / 1024 for row in rows], "o-")
    memory.axvline(result["cache"], color="grey", linestyle=":", label=f"worker cache ({result['cache']})")
    memory.set(xlabel="open milestones", ylabel="worker RSS (MB)", title="Worker memory", ylim=(0, None))
    memory.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--cache", type=int, default=DEFAULT_WORKER_CACHE)
    parser.add_argument("--json", default="var/benchmarks/scale.json")
    parser.add_argument("--png", default="docs/scale.png")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    report(result)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    draw(result, Path(args.png))
    print(f"wrote {args.json} and {args.png}")

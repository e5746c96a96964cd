"""The engine's milestone lifecycle against bare Temporal doing the same commands, in one run.

Each round drives N lifecycles at once, 4 commands each, in one of these modes:

- `engine`: add a milestone to a contract, fund, submit, release (Temporal updates
  straight to the workflows; each writes its ledger step);
- `http`: the same through the HTTP API (in-process ASGI transport, bearer tokens);
- `bare`: benchmarks/bare_lifecycle.py, the same shape with the engine taken out (a parent's
  update starts a child and runs an activity; the child runs one activity at start and
  one per update; no database).

Modes alternate round by round (engine, bare, engine, bare, ...), on one Temporal dev
server (SQLite in WAL mode) and one worker per task queue in this process, so the ratio
engine/bare compares like with like on the same loaded machine. Prints a table (per
round: lifecycles/s, command latency p50/p99) and the ratios, and writes JSON.

    python benchmarks/lifecycle.py --lifecycles 100 --rounds 2 [--http] [--json var/benchmarks/lifecycle.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bare_lifecycle import BareChild, BareParent, bare_step
from httpx import ASGITransport, AsyncClient
from milestones import TASK_QUEUE, dev_server, drive, open_contracts, timed
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from api.auth import issue_token
from api.main import create_app
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.models import Actor
from escrow.settings import Settings
from worker import build_worker

BARE_QUEUE = "bench-bare"
SECRET = "benchmark-secret"
PORT = 7740  # this benchmark's dev server (its UI on PORT + 1000)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def bare_round(client, lifecycles: int, parents: int, latencies: list[float]) -> float:
    ids = [f"bare-parent-{uuid.uuid4().hex[:8]}" for _ in range(parents)]
    for parent in ids:
        await client.start_workflow(BareParent.run, id=parent, task_queue=BARE_QUEUE)

    async def one(parent: str) -> None:
        child = await timed(
            latencies,
            client.get_workflow_handle(parent).execute_update(BareParent.add, f"bare-child-{uuid.uuid4().hex}"),
        )
        handle = client.get_workflow_handle(child)
        for step in ("fund", "submit", "release"):
            await timed(latencies, handle.execute_update(BareChild.step, step))

    started = time.perf_counter()
    await asyncio.gather(*(one(ids[i % parents]) for i in range(lifecycles)))
    elapsed = time.perf_counter() - started
    for parent in ids:
        await client.get_workflow_handle(parent).terminate("benchmark round over")
    return elapsed


async def http_round(client, sessions, lifecycles: int, contracts: int, latencies: list[float]) -> float:
    app = create_app(Settings(jwt_secret=SECRET, task_queue=TASK_QUEUE), client=client, sessions=sessions)
    deals = await open_contracts(client, contracts)

    def bearer(actor: Actor) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(SECRET, actor.user_id, actor.role)}"}

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as http:

        async def post(path: str, who: Actor, body: dict | None = None) -> dict:
            answer = await timed(latencies, http.post(f"/v1{path}", json=body, headers=bearer(who)))
            assert answer.status_code in (200, 201), answer.text
            return answer.json()

        async def one(contract_id: str, buyer: Actor, seller: Actor) -> None:
            added = await post(f"/contracts/{contract_id}/milestones", buyer, {"title": "Bench", "amount": 10_000})
            await post(f"/milestones/{added['id']}/fund", buyer, {"card_authenticated": True})
            await post(f"/milestones/{added['id']}/submit", seller)
            await post(f"/milestones/{added['id']}/release", buyer, {"amount": 10_000})

        started = time.perf_counter()
        await asyncio.gather(*(one(*deals[i % contracts]) for i in range(lifecycles)))
        return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the table
    modes = ["engine", "bare"] + (["http"] if args.http else [])
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        async with dev_server(tmp, PORT) as env:
            client = env.client
            bare = Worker(
                client,
                task_queue=BARE_QUEUE,
                workflows=[BareParent, BareChild],
                activities=[bare_step],
                workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
            )
            async with build_worker(client, sessions, TASK_QUEUE), bare:
                for round_ in range(1, args.rounds + 1):
                    order = modes if round_ % 2 else list(reversed(modes))
                    for mode in order:
                        latencies: list[float] = []
                        if mode == "engine":
                            elapsed = await drive(client, args.lifecycles, args.parents, latencies)
                        elif mode == "bare":
                            elapsed = await bare_round(client, args.lifecycles, args.parents, latencies)
                        else:
                            elapsed = await http_round(client, sessions, args.lifecycles, args.parents, latencies)
                        row = {
                            "round": round_,
                            "mode": mode,
                            "lifecycles": args.lifecycles,
                            "seconds": round(elapsed, 3),
                            "lifecycles_per_s": round(args.lifecycles / elapsed, 2),
                            "p50_ms": round(1000 * percentile(latencies, 0.50), 1),
                            "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
                        }
                        rows.append(row)
                        print(
                            f"round {round_}/{args.rounds} {mode:6} {row['lifecycles_per_s']:7.2f} lifecycles/s  "
                            f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms",
                            flush=True,
                        )

    def median_rate(mode: str) -> float:
        return statistics.median(r["lifecycles_per_s"] for r in rows if r["mode"] == mode)

    ratios = {mode: round(median_rate(mode) / median_rate("bare"), 3) for mode in modes if mode != "bare"}
    print()
    print("| mode | rounds | median lifecycles/s | median p50 ms | median p99 ms | / bare |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        print(
            f"| {mode} | {len(mine)} | {median_rate(mode):.2f} | "
            f"{statistics.median(r['p50_ms'] for r in mine):.1f} | {statistics.median(r['p99_ms'] for r in mine):.1f} | "
            f"{ratios.get(mode, 1.0):.3f} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "ratios_to_bare": ratios}, indent=2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=100, help="lifecycles per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode (at least 2)")
    parser.add_argument("--parents", type=int, default=20, help="contracts (bare: parents) the lifecycles share")
    parser.add_argument("--http", action="store_true", help="also drive the engine through the HTTP API")
    parser.add_argument("--json", type=Path, default=Path("var/benchmarks/lifecycle.json"))
    asyncio.run(main(parser.parse_args()))

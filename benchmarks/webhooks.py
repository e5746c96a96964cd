"""Does a dead webhook endpoint slow the money path? Milestone throughput (add, fund,
submit, release: benchmarks/milestones.py's lifecycle) with one registered endpoint
that never answers, against the same run with no endpoint, alternated.

Each run has a Temporal dev server, a ledger database and a worker of its own, as
`worker.run` builds it: the engine's worker whose steps wake webhook delivery, and
the delivery worker. "dead" is an endpoint for every event type that either accepts
connections and never answers (`--dead hang`: each attempt waits out its timeout) or
refuses them (`--dead refused`); every event is queued for it, and it is tried once
per backoff step (escrow/webhooks.py). Prints a table and writes JSON. Not a test:
numbers depend on the machine.

    python benchmarks/webhooks.py --milestones 100 --rounds 3 [--dead hang|refused] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from milestones import TASK_QUEUE, dev_server, drive
from sqlalchemy import func, select

from activities.steps import StepActivities
from activities.webhooks import Wake
from escrow.db import ledger, webhooks
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.db.models import WebhookDelivery, WebhookMessage
from worker import build_webhook_worker, build_worker

# This benchmark's dev servers (the range reserved for it on a shared machine).
TEMPORAL_PORT = 7510


@contextmanager
def dead_endpoint(kind: str) -> Iterator[str]:
    """A URL on 127.0.0.1 that never answers: a socket that listens and never accepts
    (the connection opens, the request waits), or a port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if kind == "refused":
        sock.close()
    else:
        sock.listen(4096)
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        sock.close()


async def one_run(milestones: int, contracts: int, url: str | None) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(db_url)
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        if url is not None:
            with sessions.begin() as session:
                webhooks.register(session, url, None)
        try:
            async with (
                dev_server(tmp, TEMPORAL_PORT) as env,
                build_worker(
                    env.client,
                    sessions,
                    TASK_QUEUE,
                    activities=StepActivities(sessions, recorded=Wake(env.client, TASK_QUEUE)),
                ),
                build_webhook_worker(env.client, sessions, TASK_QUEUE),
            ):
                elapsed = await drive(env.client, milestones, contracts)
            with sessions() as session:
                attempts = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
                queued = session.scalar(select(func.count()).select_from(WebhookMessage)) or 0
                total, negative = ledger.totals(session)
            assert total == 0 and negative == 0, "the ledger does not balance"
            return {
                "seconds": elapsed,
                "milestones_per_s": milestones / elapsed,
                "queued": queued,
                "delivery_attempts": attempts,
            }
        finally:
            engine.dispose()


async def main(milestones: int, contracts: int, rounds: int, dead: str, out: Path) -> None:
    runs: dict[str, list[dict[str, float | int]]] = {"none": [], "dead": []}
    with dead_endpoint(dead) as url:
        for n in range(rounds):
            # Alternate which goes first, so neither always gets the warmer machine.
            order = ["none", "dead"] if n % 2 == 0 else ["dead", "none"]
            for mode in order:
                result = await one_run(milestones, contracts, url if mode == "dead" else None)
                runs[mode].append(result)
                print(
                    f"round {n + 1} {mode:>4}: {result['milestones_per_s']:6.1f} milestones/s "
                    f"({result['seconds']:.1f}s; {result['queued']} events queued, {result['delivery_attempts']} attempts)",
                    flush=True,
                )
    median = {mode: statistics.median(r["milestones_per_s"] for r in rs) for mode, rs in runs.items()}
    ratio = median["dead"] / median["none"]
    # The machine's load drifts between rounds: the two runs of one round, back to
    # back, are the fairer pair.
    paired = [d["milestones_per_s"] / n["milestones_per_s"] for d, n in zip(runs["dead"], runs["none"], strict=True)]
    print()
    print("| endpoints            | median milestones/s | runs (milestones/s) |")
    print("|----------------------|---------------------|---------------------|")
    for mode, label in (("none", "none"), ("dead", f"one dead ({dead})")):
        each = ", ".join(f"{r['milestones_per_s']:.1f}" for r in runs[mode])
        print(f"| {label:<20} | {median[mode]:>19.1f} | {each:<19} |")
    print(f"\ndead / none = {ratio:.3f} ({(ratio - 1) * 100:+.1f}%): {'within' if ratio >= 0.9 else 'NOT within'} 10%")
    print(f"per round: {', '.join(f'{r:.3f}' for r in paired)}; median {statistics.median(paired):.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "milestones": milestones,
        "contracts": contracts,
        "rounds": rounds,
        "dead": dead,
        "runs": runs,
        "median_milestones_per_s": median,
        "ratio": ratio,
        "paired_ratios": paired,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--milestones", type=int, default=100)
    parser.add_argument("--contracts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dead", choices=["hang", "refused"], default="hang")
    parser.add_argument("--json", type=Path, default=Path("var/benchmarks/webhooks.json"))
    args = parser.parse_args()
    asyncio.run(main(args.milestones, args.contracts, args.rounds, args.dead, args.json))

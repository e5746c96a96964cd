"""The long fault run, one command:

    .venv/bin/python -m tests.faults --kills 50 --outage 20 --api-restarts 5 --seed 1

It needs a PostgreSQL database it may wipe and create (`--database-url`, else
FAULTS_DATABASE_URL, else `escrow_faults` on the local server). It prints what it did
and what it proved, and exits 1 naming the seed when a proof fails; `--runs N` repeats
it with the next seeds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import traceback

from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from tests.faults.run import Plan, run

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/escrow_faults"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="worker SIGKILLs (default 50)")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds of database outage (default 20)")
    parser.add_argument("--api-restarts", type=int, default=5, help="API SIGKILLs mid-request (default 5)")
    parser.add_argument("--parallel", type=int, default=2, help="cases of each lifecycle per round (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    parser.add_argument("--database-url", default=os.environ.get("FAULTS_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--runs", type=int, default=1, help="runs, with seeds SEED, SEED+1, ... (default 1)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs of a passing run")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(1_000_000)
    Runtime.set_default(
        Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
            )
        ),
        error_if_already_set=False,
    )
    for seed in range(first, first + args.runs):
        print(
            f"fault run: seed {seed}, {args.kills} kills, {args.outage:g} s outage, {args.api_restarts} API restarts",
            flush=True,
        )
        plan = Plan(args.database_url, seed, args.kills, args.outage, args.api_restarts, parallel=args.parallel)
        try:
            outcome = asyncio.run(run(plan, keep_logs=args.keep_logs))
        except AssertionError as err:
            traceback.print_exception(err.__cause__ or err, file=sys.stderr)
            print(err, file=sys.stderr)
            sys.exit(1)
        print(outcome.summary(), flush=True)


if __name__ == "__main__":
    main()

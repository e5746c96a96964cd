"""`escrow`: the operators' command line.

    escrow token --sub ID --role client|expert|operator [--ttl S]   mint a bearer token
    escrow ledger show CONTRACT_ID     the contract's accounts and transfers
    escrow ledger check                check the ledger's invariants; exit 1 naming each violation
    escrow statement CONTRACT_ID [--json]   the contract's escrow statement (C3, C4)
    escrow events resend EVENT_ID [--endpoint ID]   deliver an event to webhook endpoints again

Configured like every other entry point, from the environment (`DATABASE_URL`,
`ESCROW_JWT_SECRET`). The commands above read the database only, not Temporal, so they
work while Temporal is down; `events resend` then also wakes delivery on Temporal
(`TEMPORAL_ADDRESS`, `ESCROW_TASK_QUEUE`). It lives outside `escrow/` because minting a
token is the API's business (`api/token.py`) and the domain may not import the API.
"""

from __future__ import annotations

import argparse
import signal
import sys

from sqlalchemy.exc import DBAPIError

from cli import events, ledger, statement, token

# Each module adds its subcommands to the top-level parser with `add(topics)` and sets
# `run(args) -> exit status` on each; a new topic is one more module here and one more
# line in the docstring above.
TOPICS = (token, ledger, statement, events)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="escrow", description="Operate the escrow engine.")
    top.add_argument("--database-url", help="SQLAlchemy URL of the ledger (default: DATABASE_URL)")
    topics = top.add_subparsers(dest="topic", required=True)
    for topic in TOPICS:
        topic.add(topics)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except DBAPIError as err:
        # Unreachable, or not migrated (`alembic upgrade head`): say which, not a traceback.
        print(f"escrow: the database refused: {str(err.orig).strip().splitlines()[0]}", file=sys.stderr)
        return 2


def command() -> None:
    """The `escrow` console command. `escrow statement ... | head` ends quietly once
    head has read enough, as a Unix tool does, instead of a BrokenPipeError traceback."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())

"""`escrow`: the operators' command line.

    escrow ledger check      check the ledger's invariants; exit 1 naming each violation

Configured like every other entry point, from `DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import sys

from escrow.db.check import check
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.settings import Settings


def ledger_check(url: str) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            report = check(session)
    finally:
        engine.dispose()
    print(report.summary())
    return 0 if report.clean else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="escrow", description="Operate the escrow engine.")
    parser.add_argument("--database-url", help="SQLAlchemy URL of the ledger (default: DATABASE_URL)")
    topics = parser.add_subparsers(dest="topic", required=True)
    ledger = topics.add_parser("ledger", help="the double-entry ledger")
    verbs = ledger.add_subparsers(dest="verb", required=True)
    verbs.add_parser("check", help="check every invariant of the ledger; exit 1 on any violation")
    args = parser.parse_args(argv)
    url = args.database_url or Settings().database_url
    sys.exit(ledger_check(url))


if __name__ == "__main__":
    main()

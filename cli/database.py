"""The database a command reads: `--database-url`, else `DATABASE_URL`."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from escrow.db.engine import make_engine, make_sessionmaker
from escrow.settings import Settings


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[sessionmaker[Session]]:
    """Sessions on the command's database; its engine is disposed on the way out, so a
    command leaves no connection behind."""
    engine = make_engine(args.database_url or Settings().database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()

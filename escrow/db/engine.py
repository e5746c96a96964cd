"""Engines for PostgreSQL (psycopg 3) and SQLite from one `DATABASE_URL`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, Insert, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# A database that is down must fail a connection in seconds, so the API can answer
# 503 and a worker's activity retry, rather than hang: libpq's connect_timeout bounds
# the connect, tcp_user_timeout (ms) a query sent to a peer that no longer answers.
POSTGRES_CONNECT = {"connect_timeout": 3, "tcp_user_timeout": 10_000}


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        defaults = {k: v for k, v in POSTGRES_CONNECT.items() if k not in parsed.query}
        return create_engine(url, pool_pre_ping=True, connect_args=defaults)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # pysqlite's own transaction handling defers BEGIN past the first read; emit it
    # ourselves (IMMEDIATE takes the write lock up front) so a ledger transaction is
    # serialised against other writers from its first statement.
    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def insert_for(session: Session, table: type) -> Insert:
    """An INSERT with `on_conflict_do_nothing`, which both dialects spell the same way
    but SQLAlchemy keeps in dialect modules."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)

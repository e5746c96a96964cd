"""The ledger module against pgbench's TPC-B on the same PostgreSQL server, in one run.

Two scratch databases on the server of `--server-url`: one for `pgbench -i -s SCALE`,
one migrated to head and seeded with `--accounts` funded accounts. The run alternates
`--rounds` times between (a) `pgbench -b tpcb-like` with `--clients` clients and (b) the
ledger posting transfers between random pairs of those accounts from `--clients`
threads of this one process, each transfer in its own transaction through
`ledger.post`, as the worker's `post_step` does. Threads, not processes: the worker
posts every step from one process's thread pool, so the GIL is part of the honest
figure. Prints a table (tps, transfers/s, their ratio, and the cores each process used)
and writes it as JSON. Not a test: numbers depend on the machine.

    python benchmarks/ledger.py --clients 4 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from escrow.db import ledger
from escrow.db.engine import POSTGRES_CONNECT, make_engine, make_sessionmaker, normalise_url
from escrow.db.migrate import upgrade
from escrow.models import TransferSpec

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Enough that two random transfers rarely meet on an account: the figure is the
# engine's cost per transfer, not lock waits (TPC-B's hot rows are its branches).
FUNDS = 10**12


@dataclass
class Phase:
    round: int
    what: str
    seconds: float
    per_second: float
    postgres_cores: float
    client_cores: float


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds of every live `postgres` process, by pid, from /proc."""
    seen = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name == "postgres":
            fields = stat[stat.rindex(")") + 2 :].split()
            seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seen


class PostgresMeter:
    """Samples the server's processes while a phase runs: a backend that ends with its
    client (pgbench's) takes its CPU time with it, so its last sample counts."""

    def __init__(self) -> None:
        self._start = _postgres_cpu()
        self._last = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self._last.update(_postgres_cpu())

    def seconds(self) -> float:
        self._stop.set()
        self._thread.join()
        self._last.update(_postgres_cpu())
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


def _admin(server: str, *statements: str) -> None:
    engine = create_engine(normalise_url(server), isolation_level="AUTOCOMMIT", connect_args=POSTGRES_CONNECT)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _recreate(server: str, name: str) -> str:
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return make_url(normalise_url(server)).set(database=name).render_as_string(hide_password=False)


def _drop(server: str, name: str) -> None:
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq_args(url: str) -> list[str]:
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]
    return [*args, parsed.database or ""]


def _seed_ledger(url: str, accounts: int) -> list[str]:
    """`accounts` accounts, each funded from `world:bench` by a transfer, in three
    statements rather than through the ledger: the set-up is not what is measured."""
    upgrade(url)
    names = [f"bench:{i}" for i in range(accounts)]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (name, currency, balance) SELECT 'bench:' || i, 'USD', :funds "
                "FROM generate_series(0, :n - 1) AS i"
            ),
            {"funds": FUNDS, "n": accounts},
        )
        conn.execute(
            text("INSERT INTO accounts (name, currency, balance) VALUES ('world:bench', 'USD', :total)"),
            {"total": -FUNDS * accounts},
        )
        conn.execute(
            text(
                "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, posted_at) "
                "SELECT 'seed:' || i, 'world:bench', 'bench:' || i, :funds, 'USD', 'seed', now() "
                "FROM generate_series(0, :n - 1) AS i"
            ),
            {"funds": FUNDS, "n": accounts},
        )
    # As `pgbench -i` does for its tables: rows fresh from a bulk load cost their first
    # reader a visibility check and a page write each, which is set-up, not posting.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE accounts, transfers")
    engine.dispose()
    return names


def run_pgbench(url: str, clients: int, seconds: int) -> tuple[float, float]:
    """(tps, CPU seconds of pgbench itself); pgbench prints its progress every 5 s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        ["pgbench", "-n", "-b", "tpcb-like", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1))]
        + ["-T", str(seconds), "-P", "5", *_libpq_args(url)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{done.stdout}")
    return float(found.group(1)), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_ledger(url: str, names: list[str], clients: int, seconds: int) -> tuple[float, float]:
    """(transfers/s, CPU seconds of the posting threads) posting from `clients` threads:
    their own CPU, not this process's, which also runs the meter of the server."""
    # The worker's own engine (make_engine): its pool and its ping at each checkout.
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    stop = threading.Event()
    posted = [0] * clients
    cpu = [0.0] * clients
    prefix = uuid.uuid4().hex[:8]

    def poster(index: int) -> None:
        pick = random.Random(index)
        at = datetime.now(UTC)
        started = time.thread_time()
        while not stop.is_set():
            debit, credit = pick.sample(names, 2)
            spec = TransferSpec(
                id=f"{prefix}:{index}:{posted[index]}",
                debit=debit,
                credit=credit,
                amount=1,
                currency="USD",
                kind="bench",
            )
            with sessions.begin() as session:
                ledger.post(session, spec, at)
            posted[index] += 1
        cpu[index] = time.thread_time() - started

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    last, last_count = started, 0
    while (now := time.perf_counter()) - started < seconds:
        time.sleep(min(5.0, seconds - (now - started)))
        now, count = time.perf_counter(), sum(posted)
        print(f"progress: {now - started:.1f} s, {(count - last_count) / (now - last):.1f} transfers/s", flush=True)
        last, last_count = now, count
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return sum(posted) / elapsed, sum(cpu)


def measured(round_: int, what: str, run) -> Phase:  # type: ignore[no-untyped-def]
    meter, started = PostgresMeter(), time.perf_counter()
    rate, client_cpu = run()
    seconds = time.perf_counter() - started
    return Phase(round_, what, seconds, rate, meter.seconds() / seconds, client_cpu / seconds)


def main(server: str, clients: int, seconds: int, rounds: int, scale: int, accounts: int, out: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    pgbench_db, ledger_db = f"bench_pgbench_{suffix}", f"bench_ledger_{suffix}"
    try:
        print(f"pgbench -i -s {scale} and {accounts} ledger accounts ...", flush=True)
        pgbench_url = _recreate(server, pgbench_db)
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), *_libpq_args(pgbench_url)], check=True)
        ledger_url = _recreate(server, ledger_db)
        names = _seed_ledger(ledger_url, accounts)
        phases = []
        for round_ in range(1, rounds + 1):
            print(f"round {round_}/{rounds}: pgbench tpcb-like, {clients} clients, {seconds} s", flush=True)
            phases.append(measured(round_, "pgbench", lambda: run_pgbench(pgbench_url, clients, seconds)))
            print(f"round {round_}/{rounds}: ledger.post, {clients} threads, {seconds} s", flush=True)
            phases.append(measured(round_, "ledger", lambda: run_ledger(ledger_url, names, clients, seconds)))
    finally:
        _drop(server, pgbench_db)
        _drop(server, ledger_db)

    def mean(what: str) -> float:
        rates = [p.per_second for p in phases if p.what == what]
        return sum(rates) / len(rates)

    ratio = mean("ledger") / mean("pgbench")
    print()
    # Cores: CPU seconds per second of the phase; µs: CPU per transaction or transfer.
    print("| round | what | per second | postgres cores | client cores | postgres µs | client µs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for p in phases:
        unit = "tps" if p.what == "pgbench" else "transfers/s"
        server_us, client_us = (1e6 * cores / p.per_second for cores in (p.postgres_cores, p.client_cores))
        print(
            f"| {p.round} | {p.what} | {p.per_second:,.0f} {unit} | {p.postgres_cores:.2f} | {p.client_cores:.2f}"
            f" | {server_us:,.0f} | {client_us:,.0f} |"
        )
    print(f"\nledger / pgbench tpcb, {clients} clients: {ratio:.2f} (means over {rounds} alternated rounds)")
    # Other work on the machine takes cores from both sides: say how busy it was.
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "clients": clients,
                "seconds": seconds,
                "rounds": rounds,
                "scale": scale,
                "accounts": accounts,
                "cores": os.cpu_count(),
                "phases": [asdict(p) for p in phases],
                "pgbench_tps": mean("pgbench"),
                "ledger_transfers_per_second": mean("ledger"),
                "ratio": ratio,
                "load_average": load,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i -s")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("var/benchmarks/ledger.json"))
    args = parser.parse_args()
    main(args.server_url, args.clients, args.seconds, args.rounds, args.scale, args.accounts, args.out)

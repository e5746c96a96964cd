"""The double-entry ledger (L1–L5) against the database itself, on SQLite always and on
PostgreSQL when TEST_DATABASE_URL is set.

Each backend gets its own database, migrated from nothing, apart from the session-wide
one the workflow tests use: a separate SQLite file, and on PostgreSQL a throw-away
database created next to TEST_DATABASE_URL's and dropped afterwards. Account and
transfer names carry a per-test suffix all the same, so the tests never depend on each
other (or on another run sharing the server, if the database cannot be created).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.steps import StepActivities
from escrow import accounts
from escrow.db import ledger
from escrow.db.engine import make_sessionmaker, normalise_url
from escrow.db.migrate import upgrade
from escrow.db.models import Account, AuditEvent, OutboxMessage, Transfer
from escrow.models import AuditEvent as AuditEventSpec
from escrow.models import Notification, Step, TransferSpec
from tests.conftest import database_urls, fresh_database

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
THREADS = 20
# Enough connections that every thread of a concurrency test holds one at once.
POOL = {"pool_size": THREADS + 5, "max_overflow": 5, "pool_pre_ping": True}


# ---------------------------------------------------------------- databases


@dataclass
class LedgerDb:
    dialect: str
    engine: Engine
    sessions: sessionmaker[Session]


def _postgres_scratch(url: str) -> tuple[str, Callable[[], None] | None]:
    """A new, empty database beside `url`'s and how to drop it; or `url` itself and
    None when this role may not create databases (then only unique names isolate us,
    and the shared database is migrated, never dropped)."""
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    name = f"{make_url(url).database}_ledger_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except DBAPIError:
        admin.dispose()
        return url, None

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(normalise_url(url)).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="module", params=sorted(database_urls(Path("."))))
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerDb]:
    url = database_urls(tmp_path_factory.mktemp("ledger"))[request.param]
    drop: Callable[[], None] | None = None
    if request.param == "sqlite":
        engine = fresh_database(url)  # its own file, not the session database
    else:
        url, drop = _postgres_scratch(url)
        if drop is None:
            upgrade(url)
        else:
            fresh_database(url).dispose()
        engine = create_engine(normalise_url(url), **POOL)
    try:
        yield LedgerDb(engine.dialect.name, engine, make_sessionmaker(engine))
    finally:
        engine.dispose()
        if drop is not None:
            drop()


@pytest.fixture(autouse=True)
def ledger_sums_to_zero(request: pytest.FixtureRequest) -> Iterator[None]:
    """L4 on this module's database after every test (conftest checks the session one)."""
    yield
    if "db" in request.fixturenames:
        with request.getfixturevalue("db").sessions() as session:
            assert ledger.totals(session) == (0, 0)


@pytest.fixture
def n() -> Callable[[str], str]:
    """Names unique to this test: n("client") -> "client:1a2b3c4d"."""
    suffix = uuid.uuid4().hex[:8]
    return lambda name: f"{name}:{suffix}"


# ---------------------------------------------------------------- helpers


def transfer(id: str, debit: str, credit: str, amount: int, **kw: object) -> TransferSpec:
    return TransferSpec(
        id=id,
        debit=debit,
        credit=credit,
        amount=amount,
        currency=kw.pop("currency", "USD"),
        kind=kw.pop("kind", "test"),
        **kw,
    )  # type: ignore[arg-type]


def post(db: LedgerDb, *specs: TransferSpec) -> list[bool]:
    """Post in one transaction; all or nothing."""
    with db.sessions.begin() as session:
        return [ledger.post(session, spec, NOW) for spec in specs]


def balances(db: LedgerDb, *names: str) -> list[int]:
    with db.sessions() as session:
        return [ledger.balance(session, name) for name in names]


def transfer_ids(db: LedgerDb, *ids: str) -> set[str]:
    with db.sessions() as session:
        return set(session.scalars(select(Transfer.id).where(Transfer.id.in_(ids))))


def account_exists(db: LedgerDb, name: str) -> bool:
    with db.sessions() as session:
        return session.get(Account, name) is not None


def utc(moment: datetime) -> datetime:
    """SQLite gives DateTime(timezone=True) back naive (it stores no offset); UTC either way."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def funded(db: LedgerDb, n: Callable[[str], str], account: str, amount: int) -> str:
    """Bring `amount` into `account` from a world account; return the world account."""
    world = n("world:card")
    post(db, transfer(n("topup") + account, world, account, amount))
    return world


def run_at_once(db: LedgerDb, work: Callable[[Session], object], threads: int = THREADS) -> list[object]:
    """Run `work` in `threads` transactions that start together: on PostgreSQL all are
    open (connection held, first statement run) before any posts; SQLite's BEGIN
    IMMEDIATE serialises writers, so there they start together and queue on the lock.
    Returns each thread's result or the exception it raised."""
    barrier = threading.Barrier(threads)

    def one(_: int) -> object:
        try:
            if db.dialect == "postgresql":
                with db.sessions.begin() as session:
                    session.execute(select(1))
                    barrier.wait(timeout=30)
                    return work(session)
            barrier.wait(timeout=30)
            with db.sessions.begin() as session:
                return work(session)
        except Exception as err:  # noqa: BLE001 - the caller inspects it
            return err

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


# ---------------------------------------------------------------- L1, L4


@pytest.mark.rules("L1", "L4")
def test_a_transfer_debits_and_credits_the_same_amount(db: LedgerDb, n: Callable[[str], str]) -> None:
    world, client, escrow = n("world:card"), n("client:balance"), n("escrow:milestone")
    assert post(db, transfer(n("t1"), world, client, 10_000), transfer(n("t2"), client, escrow, 4_000)) == [True, True]

    assert balances(db, world, client, escrow) == [-10_000, 6_000, 4_000]
    assert sum(balances(db, world, client, escrow)) == 0
    with db.sessions() as session:
        row = session.get(Transfer, n("t2"))
        assert row is not None
        assert (row.debit_account, row.credit_account, row.amount, row.currency) == (client, escrow, 4_000, "USD")
        assert utc(row.posted_at) == NOW
        assert ledger.totals(session) == (0, 0)


@pytest.mark.rules("L1")
def test_a_transfer_to_the_same_account_is_refused(db: LedgerDb, n: Callable[[str], str]) -> None:
    with pytest.raises(ledger.LedgerError, match="same account"):
        post(db, transfer(n("t"), n("client:balance"), n("client:balance"), 100))
    assert transfer_ids(db, n("t")) == set()


# ---------------------------------------------------------------- L2


@pytest.mark.rules("L2")
def test_the_same_id_posted_twice_posts_once(db: LedgerDb, n: Callable[[str], str]) -> None:
    world, escrow = n("world:card"), n("escrow:milestone")
    fund = transfer(n("milestone:fund"), world, escrow, 5_000)
    assert post(db, fund) == [True]
    assert balances(db, world, escrow) == [-5_000, 5_000]

    # A retried activity: same id, same terms, in a later transaction, and twice in one.
    assert post(db, fund) == [False]
    assert post(db, fund, fund) == [False, False]
    assert balances(db, world, escrow) == [-5_000, 5_000]
    with db.sessions() as session:
        assert session.scalar(select(func.count()).where(Transfer.id == fund.id)) == 1


OTHER_TERMS: dict[str, Callable[[TransferSpec, Callable[[str], str]], TransferSpec]] = {
    "amount": lambda t, n: t.model_copy(update={"amount": t.amount + 1}),
    "debit": lambda t, n: t.model_copy(update={"debit": n("world:other")}),
    "credit": lambda t, n: t.model_copy(update={"credit": n("escrow:other")}),
    # Other accounts too, so the conflict, not the accounts' currency, refuses it.
    "currency": lambda t, n: t.model_copy(
        update={"currency": "EUR", "debit": n("world:eur"), "credit": n("escrow:eur")}
    ),
    "kind": lambda t, n: t.model_copy(update={"kind": "other"}),
    "available_at": lambda t, n: t.model_copy(update={"available_at": NOW + timedelta(days=1)}),
    "settles": lambda t, n: t.model_copy(update={"settles": n("hold")}),
}


@pytest.mark.rules("L2")
@pytest.mark.parametrize("change", sorted(OTHER_TERMS))
def test_the_same_id_with_other_terms_is_a_conflict(db: LedgerDb, n: Callable[[str], str], change: str) -> None:
    world, escrow = n("world:card"), n("escrow:milestone")
    first = transfer(n("milestone:fund"), world, escrow, 5_000)
    post(db, first)
    again = OTHER_TERMS[change](first, n)

    with pytest.raises(ledger.TransferConflict, match=first.id):
        post(db, again)

    assert balances(db, world, escrow) == [-5_000, 5_000]
    # The refused post rolled back the accounts it created on the way.
    for account in {again.debit, again.credit} - {world, escrow}:
        assert not account_exists(db, account)


@pytest.mark.rules("L2", "L5")
def test_a_hold_posted_twice_posts_once(db: LedgerDb, n: Callable[[str], str]) -> None:
    world, pending = n("world:card"), n("expert:pending")
    hold = transfer(n("release"), world, pending, 300, available_at=NOW + timedelta(days=5))
    assert post(db, hold) == [True]
    assert post(db, hold) == [False]
    assert balances(db, world, pending) == [-300, 300]


@pytest.mark.rules("L2")
@pytest.mark.parametrize("accounts_exist", [True, False], ids=["existing-accounts", "new-accounts"])
def test_the_same_id_posted_by_many_at_once_posts_once(
    db: LedgerDb, n: Callable[[str], str], accounts_exist: bool
) -> None:
    # With new accounts the threads also race to create them (and queue behind the
    # first creator); with existing ones they meet only on the transfer's id.
    world, escrow = n("world:card"), n("escrow:milestone")
    if accounts_exist:
        post(db, transfer(n("open"), world, escrow, 1), transfer(n("close"), escrow, world, 1))
    fund = transfer(n("milestone:fund"), world, escrow, 7_500)

    results = run_at_once(db, lambda session: ledger.post(session, fund, NOW))

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert balances(db, world, escrow) == [-7_500, 7_500]


# ---------------------------------------------------------------- L3


@pytest.mark.rules("L3")
def test_an_overdraft_is_refused_and_the_whole_transaction_rolls_back(db: LedgerDb, n: Callable[[str], str]) -> None:
    client, escrow, fees = n("client:balance"), n("escrow:milestone"), n("platform:fees")
    world = funded(db, n, client, 5_000)

    with pytest.raises(ledger.InsufficientFunds) as refused:
        # The first transfer is fine on its own; the second overdraws the escrow.
        post(db, transfer(n("fund"), client, escrow, 3_000), transfer(n("fee"), escrow, fees, 3_001))
    assert refused.value.account == escrow
    assert refused.value.needed == 3_001
    assert escrow in str(refused.value)

    assert balances(db, world, client, escrow, fees) == [-5_000, 5_000, 0, 0]
    assert transfer_ids(db, n("fund"), n("fee")) == set()
    assert not account_exists(db, escrow)


@pytest.mark.rules("L3")
def test_an_overdraft_of_exactly_the_balance_is_allowed_and_one_more_cent_is_not(
    db: LedgerDb, n: Callable[[str], str]
) -> None:
    client, escrow = n("client:balance"), n("escrow:milestone")
    funded(db, n, client, 2_500)
    with pytest.raises(ledger.InsufficientFunds):
        post(db, transfer(n("over"), client, escrow, 2_501))
    assert post(db, transfer(n("all"), client, escrow, 2_500)) == [True]
    assert balances(db, client, escrow) == [0, 2_500]


@pytest.mark.rules("L3")
def test_a_refused_step_writes_nothing_at_all(db: LedgerDb, n: Callable[[str], str]) -> None:
    """Through the activity: the money, the audit event and the notifications of a step
    are one transaction, and the refusal is a non-retryable InsufficientFunds error."""
    escrow, pending = n("escrow:milestone"), n("expert:pending")
    funded(db, n, escrow, 1_000)
    step = Step(
        at=NOW,
        transfers=[transfer(n("release:1"), escrow, pending, 600), transfer(n("release:2"), escrow, pending, 600)],
        audit=[AuditEventSpec(id=n("step"), workflow_id=n("wf"), kind="milestone.released")],
        notifications=[Notification(id=n("note"), user_id=n("user"), kind="milestone.released", message="paid")],
    )
    committed: list[Step] = []

    with pytest.raises(ApplicationError) as refused:
        StepActivities(db.sessions, after_commit=committed.append).post_step(step)
    assert refused.value.type == "InsufficientFunds"
    assert refused.value.non_retryable
    assert escrow in refused.value.message

    assert committed == []
    assert balances(db, escrow, pending) == [1_000, 0]
    assert transfer_ids(db, n("release:1"), n("release:2")) == set()
    with db.sessions() as session:
        assert session.get(AuditEvent, n("step")) is None
        assert session.get(OutboxMessage, n("note")) is None


@pytest.mark.rules("L3", "L4")
def test_a_world_account_may_go_below_zero(db: LedgerDb, n: Callable[[str], str]) -> None:
    card, payouts, client = n("world:card"), n("world:payouts"), n("client:balance")
    post(db, transfer(n("in"), card, client, 900), transfer(n("out"), client, payouts, 400))
    post(db, transfer(n("odd"), payouts, card, 1_000))  # world to world, both may dip
    assert balances(db, card, payouts, client) == [100, -600, 500]
    assert accounts.may_go_negative(card) and not accounts.may_go_negative(client)


@pytest.mark.rules("L3")
def test_concurrent_debits_never_overdraw(db: LedgerDb, n: Callable[[str], str]) -> None:
    client, escrow = n("client:balance"), n("escrow:milestone")
    funded(db, n, client, 100)
    # Both accounts exist beforehand: the threads race on the balances alone.
    post(db, transfer(n("warm"), client, escrow, 1), transfer(n("back"), escrow, client, 1))
    counter = iter(range(THREADS))
    lock = threading.Lock()

    def take_ten(session: Session) -> bool:
        with lock:
            i = next(counter)
        return ledger.post(session, transfer(n(f"take:{i}"), client, escrow, 10), NOW)

    results = run_at_once(db, take_ten)

    assert [r for r in results if not isinstance(r, (bool, ledger.InsufficientFunds))] == []
    assert results.count(True) == 10
    assert sum(isinstance(r, ledger.InsufficientFunds) for r in results) == THREADS - 10
    assert balances(db, client, escrow) == [0, 100]
    with db.sessions() as session:
        taken = session.scalar(
            select(func.count()).where(Transfer.debit_account == client, Transfer.credit_account == escrow)
        )
    assert taken == 10 + 1  # and the warm-up


@pytest.mark.rules("L3")
def test_transfers_both_ways_between_two_accounts_at_once_do_not_deadlock(
    db: LedgerDb, n: Callable[[str], str]
) -> None:
    # Names whose order depends on the collation ("B" < "a" in code points, not in
    # en_US): the balances are locked in one order whatever the database's collation.
    first, second = n("client:a"), n("client:B")
    funded(db, n, first, 1_000)
    funded(db, n, second, 1_000)
    counter = iter(range(THREADS))
    lock = threading.Lock()

    def either_way(session: Session) -> bool:
        with lock:
            i = next(counter)
        debit, credit = (first, second) if i % 2 else (second, first)
        return ledger.post(session, transfer(n(f"swap:{i}"), debit, credit, 10), NOW)

    results = run_at_once(db, either_way)

    assert results == [True] * THREADS
    assert balances(db, first, second) == [1_000, 1_000]


def test_a_transfer_is_one_statement_on_postgresql(db: LedgerDb, n: Callable[[str], str]) -> None:
    """The round trips per transfer are the ledger's own cost (benchmarks/ledger.py):
    on PostgreSQL one call of the `ledger_post` function of migration 0007."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite posts in portable statements")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with db.sessions.begin() as session:
        session.execute(select(1))  # the transaction's BEGIN, out of the count
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert ledger.post(session, transfer(n("t"), n("world:card"), n("client:balance"), 100), NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert "ledger_post(" in statements[0]


@pytest.mark.rules("L2")
def test_the_function_of_migration_0007_knows_every_term_of_a_transfer() -> None:
    """`ledger_post` lists the terms a repeated id must agree on, where the portable
    path takes them from the model: a new field of TransferSpec needs a new function."""
    known = {"id", "debit", "credit", "amount", "currency", "kind", "available_at", "settles"}
    assert set(TransferSpec.model_fields) == known


@pytest.mark.parametrize(
    "change",
    [{"amount": 2**63}, {"kind": "k" * 41}, {"id": "t" * 201}],
    ids=["amount-past-bigint", "kind-too-long", "id-too-long"],
)
def test_a_transfer_postgresql_cannot_store_is_a_data_error(
    db: LedgerDb, n: Callable[[str], str], change: dict[str, object]
) -> None:
    """A DataError, which the step activity refuses rather than retries for ever; not,
    say, a call of a function that does not exist for an amount past bigint."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite stores long strings, and its driver refuses big integers itself")
    spec = transfer(n("t"), n("world:card"), n("client:balance"), 100).model_copy(update=change)
    with pytest.raises(DataError):
        post(db, spec)
    assert not account_exists(db, spec.credit)


# ---------------------------------------------------------------- L5 holds


@pytest.mark.rules("L5")
def test_a_hold_is_pending_until_a_settling_transfer_posts(db: LedgerDb, n: Callable[[str], str]) -> None:
    expert = n("expert")
    pending, available = accounts.expert_pending(expert), accounts.expert_available(expert)
    escrow = n("escrow:milestone")
    funded(db, n, escrow, 8_000)
    clears = NOW + timedelta(days=5)
    release = transfer(n("release:1"), escrow, pending, 8_000, kind="release", available_at=clears)
    post(db, release)

    with db.sessions() as session:
        holds = ledger.unsettled_holds(session, pending)
        assert [(h.id, h.amount, utc(h.available_at)) for h in holds] == [(release.id, 8_000, clears)]
        shown = ledger.user_balance(session, expert)
    assert shown["available"] == 0
    assert [(p["transfer_id"], p["amount"], utc(p["available_at"])) for p in shown["pending"]] == [
        (release.id, 8_000, clears)
    ]
    assert balances(db, pending, available) == [8_000, 0]

    settle = transfer(n("release:1:settle"), pending, available, 8_000, kind="hold_release", settles=release.id)
    assert post(db, settle) == [True]
    assert post(db, settle) == [False]  # the timer's activity retried

    with db.sessions() as session:
        assert ledger.unsettled_holds(session, pending) == []
        shown = ledger.user_balance(session, expert)
    assert shown["available"] == 8_000
    assert shown["pending"] == []
    assert balances(db, pending, available) == [0, 8_000]


@pytest.mark.rules("L5")
def test_holds_are_listed_in_order_and_settle_one_by_one(db: LedgerDb, n: Callable[[str], str]) -> None:
    expert = n("expert")
    pending, available = accounts.expert_pending(expert), accounts.expert_available(expert)
    escrow = n("escrow:milestone")
    funded(db, n, escrow, 300)
    later = transfer(n("r:late"), escrow, pending, 200, available_at=NOW + timedelta(days=9))
    sooner = transfer(n("r:soon"), escrow, pending, 100, available_at=NOW + timedelta(days=2))
    plain = transfer(n("no-hold"), n("world:card"), pending, 1)  # no available_at: not a hold
    post(db, later, sooner, plain)

    with db.sessions() as session:
        assert [h.id for h in ledger.unsettled_holds(session, pending)] == [sooner.id, later.id]
    post(db, transfer(n("s:soon"), pending, available, 100, settles=sooner.id))
    with db.sessions() as session:
        assert [h.id for h in ledger.unsettled_holds(session, pending)] == [later.id]
    assert balances(db, pending, available) == [201, 100]


@pytest.mark.rules("L5", "L2")
def test_a_hold_settles_only_once(db: LedgerDb, n: Callable[[str], str]) -> None:
    expert = n("expert")
    pending, available = accounts.expert_pending(expert), accounts.expert_available(expert)
    escrow = n("escrow:milestone")
    funded(db, n, escrow, 4_000)
    release = transfer(n("release:1"), escrow, pending, 4_000, available_at=NOW + timedelta(days=5))
    post(db, release)
    post(db, transfer(n("settle:a"), pending, available, 4_000, settles=release.id))
    # Put money back into pending so only the unique key, not the balance check, can refuse.
    post(db, transfer(n("topup"), n("world:card"), pending, 4_000))

    with pytest.raises(IntegrityError):
        post(db, transfer(n("settle:b"), pending, available, 4_000, settles=release.id))

    assert transfer_ids(db, n("settle:a"), n("settle:b")) == {n("settle:a")}
    assert balances(db, pending, available) == [4_000, 4_000]


# ---------------------------------------------------------------- refusals


@pytest.mark.rules("L1", "L3")
@pytest.mark.parametrize("amount", [0, -1, -5_000])
def test_an_amount_that_is_not_positive_is_refused(db: LedgerDb, n: Callable[[str], str], amount: int) -> None:
    client, escrow = n("client:balance"), n("escrow:milestone")
    funded(db, n, escrow, 5_000)
    # A negative amount would otherwise run money backwards, from escrow to the client.
    with pytest.raises(ledger.LedgerError, match="positive"):
        post(db, transfer(n("t"), client, escrow, amount))
    assert transfer_ids(db, n("t")) == set()
    assert balances(db, client, escrow) == [0, 5_000]
    assert not account_exists(db, client)


@pytest.mark.rules("L1")
def test_a_transfer_in_another_currency_than_its_accounts_is_refused(db: LedgerDb, n: Callable[[str], str]) -> None:
    client, escrow = n("client:balance"), n("escrow:milestone")
    world = funded(db, n, client, 5_000)
    with pytest.raises(ledger.LedgerError, match="USD, not EUR"):
        post(db, transfer(n("t"), client, escrow, 1_000, currency="EUR"))
    with pytest.raises(ledger.LedgerError, match="USD, not EUR"):
        post(db, transfer(n("t"), n("world:eur"), client, 1_000, currency="EUR"))
    assert transfer_ids(db, n("t")) == set()
    assert balances(db, world, client, escrow) == [-5_000, 5_000, 0]
    assert not account_exists(db, escrow)
    assert not account_exists(db, n("world:eur"))


@pytest.mark.rules("L3")
def test_the_database_refuses_a_negative_balance_even_from_raw_sql(db: LedgerDb, n: Callable[[str], str]) -> None:
    """Defence in depth: code that bypassed ledger.post still cannot overdraw."""
    client = n("client:balance")
    world = funded(db, n, client, 100)

    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        session.execute(text("UPDATE accounts SET balance = balance - 101 WHERE name = :n"), {"n": client})
    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        session.execute(
            text("INSERT INTO accounts (name, currency, balance) VALUES (:n, 'USD', -1)"), {"n": n("expert:pending")}
        )
    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, posted_at)"
                " VALUES (:id, :d, :c, 0, 'USD', 'raw', :at)"
            ),
            {"id": n("raw"), "d": world, "c": client, "at": NOW},
        )
    assert balances(db, world, client) == [-100, 100]
    assert not account_exists(db, n("expert:pending"))

    # world:* accounts are exempt from the constraint (rolled back to keep L4).
    session = db.sessions()
    try:
        session.execute(text("UPDATE accounts SET balance = -999999 WHERE name = :n"), {"n": world})
        assert session.scalar(select(Account.balance).where(Account.name == world)) == -999_999
    finally:
        session.rollback()
        session.close()
    assert balances(db, world) == [-100]

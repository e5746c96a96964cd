"""The double-entry ledger (L1–L5).

A transfer debits one account and credits another by the same amount, so the sum of
all balances stays zero (L4). Its id comes from the business step that made it; the
primary key makes a second post of the same id a no-op (L2) without a read-then-write
race. A debit that would take a non-`world:*` account below zero is refused inside the
same transaction (L3). Holds are transfers with `available_at`, settled once by a
later transfer that names them (L5).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, aliased

from escrow import accounts
from escrow.db.engine import insert_for
from escrow.db.models import Account, HourlyWeek, Milestone, Transfer
from escrow.models import TransferSpec


class LedgerError(Exception):
    pass


class InsufficientFunds(LedgerError):
    def __init__(self, account: str, needed: int) -> None:
        super().__init__(f"account {account} cannot pay {needed}: it would go below zero")
        self.account = account
        self.needed = needed


class TransferConflict(LedgerError):
    """The id was posted before with other accounts or amount: a bug, never a retry."""


def _ensure_accounts(session: Session, names: list[str], currency: str) -> None:
    # In name order, like the balance updates: two posts creating the same accounts
    # from opposite sides must not deadlock.
    names = sorted(set(names))
    session.execute(
        insert_for(session, Account)
        .values([{"name": n, "currency": currency, "balance": 0} for n in names])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    for name, account_currency in session.execute(
        select(Account.name, Account.currency).where(Account.name.in_(names))
    ):
        if account_currency != currency:
            raise LedgerError(f"account {name} holds {account_currency}, not {currency}")


def _terms(spec: TransferSpec) -> dict[str, object]:
    """What a transfer is, by its row's columns: a repeat post of its id must agree on
    all of it (L2)."""
    terms = spec.model_dump(exclude={"id", "debit", "credit"})
    return {"debit_account": spec.debit, "credit_account": spec.credit, **terms}


# One round trip per transfer on PostgreSQL: the function of migration 0007 makes the
# decisions `_post_portable` makes, in the same order, and names the one it made. The
# cast: an amount past bigint must fail as out of range (DataError, never fixed by a
# retry), as it does on the table, not as a call of an unknown function.
_LEDGER_POST = text(
    "SELECT outcome, account, holds FROM ledger_post(:id, :debit, :credit, CAST(:amount AS bigint), :currency,"
    " :kind, :available_at, :settles, :posted_at, :overdraft)"
)


def post(session: Session, spec: TransferSpec, at: datetime) -> bool:
    """Post one transfer in the caller's transaction. True if posted now, False if this
    id was posted before (with the same content). A refusal leaves the transaction
    half-written: the caller rolls it back (a step is all or nothing, L3)."""
    if spec.amount <= 0:
        raise LedgerError(f"transfer {spec.id}: amount must be positive, got {spec.amount}")
    if spec.debit == spec.credit:
        raise LedgerError(f"transfer {spec.id}: debit and credit are the same account")
    if session.get_bind().dialect.name != "postgresql":
        return _post_portable(session, spec, at)
    outcome, account, holds = session.execute(
        _LEDGER_POST,
        {
            "id": spec.id,
            "debit": spec.debit,
            "credit": spec.credit,
            "amount": spec.amount,
            "currency": spec.currency,
            "kind": spec.kind,
            "available_at": spec.available_at,
            "settles": spec.settles,
            "posted_at": at,
            "overdraft": accounts.may_go_negative(spec.debit),
        },
    ).one()
    if outcome == "currency":
        raise LedgerError(f"account {account} holds {holds}, not {spec.currency}")
    if outcome == "conflict":
        raise TransferConflict(f"transfer {spec.id} was posted before with other terms")
    if outcome == "insufficient":
        raise InsufficientFunds(account, spec.amount)
    return outcome == "posted"


def _post_portable(session: Session, spec: TransferSpec, at: datetime) -> bool:
    """`post` in statements both dialects speak, for SQLite."""
    _ensure_accounts(session, [spec.debit, spec.credit], spec.currency)
    terms = _terms(spec)
    inserted = session.execute(
        insert_for(session, Transfer)
        .values(id=spec.id, posted_at=at, **terms)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Transfer.id)
    ).scalar_one_or_none()
    if inserted is None:
        before = session.get(Transfer, spec.id)
        assert before is not None
        if {column: getattr(before, column) for column in terms} != terms:
            raise TransferConflict(f"transfer {spec.id} was posted before with other terms")
        return False
    # Lock rows in name order so two transfers between the same accounts cannot deadlock.
    for name in sorted((spec.debit, spec.credit)):
        delta = -spec.amount if name == spec.debit else spec.amount
        statement = update(Account).where(Account.name == name)
        if delta < 0 and not accounts.may_go_negative(name):
            statement = statement.where(Account.balance >= spec.amount)
        changed = session.execute(
            statement.values(balance=Account.balance + delta).returning(Account.name)
        ).scalar_one_or_none()
        if changed is None:
            raise InsufficientFunds(name, spec.amount)
    return True


def balance(session: Session, account: str) -> int:
    value = session.scalar(select(Account.balance).where(Account.name == account))
    return value or 0


def unsettled_holds(session: Session, account: str) -> list[Transfer]:
    """Transfers into a pending account that no later transfer has settled yet."""
    settlement = aliased(Transfer)
    return list(
        session.scalars(
            select(Transfer)
            .outerjoin(settlement, settlement.settles == Transfer.id)
            .where(
                Transfer.credit_account == account,
                Transfer.available_at.is_not(None),
                settlement.id.is_(None),
            )
            .order_by(Transfer.available_at)
        )
    )


def user_balance(session: Session, user_id: str) -> dict[str, object]:
    """What GET /v1/users/{id}/balance shows: spendable money, holds, money in escrow."""
    available = balance(session, accounts.client_balance(user_id)) + balance(
        session, accounts.expert_available(user_id)
    )
    pending = [
        {"amount": t.amount, "available_at": t.available_at, "transfer_id": t.id}
        for t in unsettled_holds(session, accounts.expert_pending(user_id))
    ]
    in_escrow = sum(
        session.scalar(
            select(func.coalesce(func.sum(model.escrow), 0)).where(
                (model.client_id == user_id) | (model.expert_id == user_id)
            )
        )
        or 0
        for model in (Milestone, HourlyWeek)
    )
    # P4: money on its way out, in the user's payout accounts (`payout:{user}:{id}`; a
    # payout id holds no `:`, so another user's `payout:{user}:x:{id}` is not counted).
    # The prefix by `=`, not LIKE: SQLite's LIKE ignores case.
    prefix = accounts.payouts_of(user_id)
    in_payout = session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(
            func.substr(Account.name, 1, len(prefix)) == prefix,
            ~func.substr(Account.name, len(prefix) + 1).contains(":", autoescape=True),
        )
    )
    return {"available": available, "pending": pending, "in_escrow": int(in_escrow), "in_payout": int(in_payout or 0)}


def totals(session: Session) -> tuple[int, int]:
    """(sum of all balances, number of non-world accounts below zero): L3 and L4."""
    total = session.scalar(select(func.coalesce(func.sum(Account.balance), 0))) or 0
    negative = session.scalar(select(func.count()).where(Account.balance < 0, ~Account.name.like("world:%")))
    return int(total), int(negative or 0)

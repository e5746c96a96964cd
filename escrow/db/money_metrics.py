"""The money as metrics: aggregates of the ledger and the escrow read models, read at
scrape time. Counting from the database (not in the process that moved the money)
makes every API replica report the same totals, and a restart lose none."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.db.models import HourlyWeek, Milestone, Transfer


@dataclass(frozen=True)
class Total:
    """`count` rows worth `amount` cents, for one combination of `labels`."""

    labels: tuple[str, ...]
    count: int
    amount: int


@dataclass(frozen=True)
class MoneyTotals:
    transfers: list[Total]  # labels: kind, currency
    open_escrow: list[Total]  # labels: holder (milestone, hourly_week), status, currency


def money_totals(session: Session) -> MoneyTotals:
    """Every transfer by kind, and the escrow still held by status: three GROUP BY
    queries over tables the ledger already keeps (a full scan of `transfers`; cheap at a
    scrape every 15 s up to millions of transfers)."""
    transfers = session.execute(
        select(Transfer.kind, Transfer.currency, func.count(), func.sum(Transfer.amount))
        .group_by(Transfer.kind, Transfer.currency)
        .order_by(Transfer.kind, Transfer.currency)
    )
    totals = [Total((kind, currency), count, int(amount)) for kind, currency, count, amount in transfers]
    escrow: list[Total] = []
    for holder, table in (("milestone", Milestone), ("hourly_week", HourlyWeek)):
        rows = session.execute(
            select(table.status, table.currency, func.count(), func.sum(table.escrow))
            .where(table.escrow > 0)
            .group_by(table.status, table.currency)
            .order_by(table.status, table.currency)
        )
        escrow += [Total((holder, status, currency), count, int(amount)) for status, currency, count, amount in rows]
    return MoneyTotals(transfers=totals, open_escrow=escrow)

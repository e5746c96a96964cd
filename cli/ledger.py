"""`escrow ledger show CONTRACT_ID` and `escrow ledger check`."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from cli.database import opened
from cli.table import table
from escrow.db.check import check
from escrow.db.models import Account
from escrow.db.statement import statement_rows, stored_contract
from escrow.money import format_cents


def add(topics: argparse._SubParsersAction) -> None:
    ledger = topics.add_parser("ledger", help="the double-entry ledger")
    verbs = ledger.add_subparsers(dest="verb", required=True)
    show_parser = verbs.add_parser("show", help="a contract's accounts and transfers")
    show_parser.add_argument("contract_id")
    show_parser.set_defaults(run=show)
    verbs.add_parser("check", help="check every invariant of the ledger; exit 1 on any violation").set_defaults(
        run=run_check
    )


def run_check(args: argparse.Namespace) -> int:
    with opened(args) as sessions, sessions() as session:
        report = check(session)
    print(report.summary())
    return 0 if report.clean else 1


def show(args: argparse.Namespace) -> int:
    """The transfers the contract's statement is made of (its escrows' money, the holds
    of its releases, its disputes' fees, its manual payments) and every account they
    touch, with the account's balance now: a party's account spans all its contracts."""
    with opened(args) as sessions:
        contract = stored_contract(sessions, args.contract_id)
        if contract is None:
            print(f"escrow: no contract {args.contract_id} in the ledger")
            return 1
        with sessions() as session:
            transfers = sorted(statement_rows(session, contract).transfers, key=lambda t: (t.posted_at, t.id))
            names = sorted({t.debit for t in transfers} | {t.credit for t in transfers})
            balances = dict(session.execute(select(Account.name, Account.balance).where(Account.name.in_(names))).all())
    money = contract.currency
    print(f"contract {contract.id} ({contract.type.value}, {contract.status.value}, {money})")
    print(f"client {contract.client_id}, expert {contract.expert_id}\n")
    print(table(["account", "balance"], [(n, format_cents(balances.get(n, 0), money)) for n in names], right=[1]))
    print()
    rows = [
        (
            t.posted_at.strftime("%Y-%m-%d %H:%M:%S"),
            t.id,
            t.kind,
            t.debit,
            t.credit,
            format_cents(t.amount, money),
            t.available_at.strftime("%Y-%m-%d %H:%M") if t.available_at else "",
        )
        for t in transfers
    ]
    print(table(["posted (UTC)", "transfer", "kind", "debit", "credit", "amount", "available"], rows, right=[5]))
    return 0

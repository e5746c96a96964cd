"""`escrow statement CONTRACT_ID [--json]`: the contract's escrow statement (C3, C4), the
one `GET /v1/contracts/{id}/statement` answers, read from the database."""

from __future__ import annotations

import argparse

from cli.database import opened
from cli.table import table
from escrow.db.statement import contract_statement, stored_contract
from escrow.money import format_cents
from escrow.statement import Statement


def add(topics: argparse._SubParsersAction) -> None:
    parser = topics.add_parser("statement", help="a contract's escrow statement, from the ledger")
    parser.add_argument("contract_id")
    parser.add_argument("--json", action="store_true", help="the API's JSON body instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with opened(args) as sessions:
        contract = stored_contract(sessions, args.contract_id)
        if contract is None:
            print(f"escrow: no contract {args.contract_id} in the ledger")
            return 1
        statement = contract_statement(sessions, contract)
    print(statement.model_dump_json(indent=2) if args.json else text(statement))
    # A statement that does not reconcile is the ledger check's business, but say so.
    return 0 if statement.reconciled else 1


def text(s: Statement) -> str:
    money = s.currency
    head = [
        f"{'closing statement' if s.final else 'statement'} of contract {s.contract_id} ({s.type}, {s.status}, {money})",
        f"client {s.client_id}, expert {s.expert_id}",
        "",
    ]
    rows = [
        (
            line.at.strftime("%Y-%m-%d %H:%M:%S"),
            line.kind.value,
            line.milestone_id or line.week or "",
            format_cents(line.amount, money),
            format_cents(line.escrow_change, money) if line.escrow_change else "",
            line.transfer_id or line.invoice_id or line.dispute_id or line.payment_id or "",
        )
        for line in s.lines
    ]
    t = s.totals
    totals = [
        ("funded", t.funded),
        ("released", t.released),
        ("refunded", t.refunded),
        ("in escrow", t.in_escrow),
        ("fees", t.fees),
    ]
    reconciled = "reconciles with the ledger" if s.reconciled else "DOES NOT reconcile with the ledger"
    return "\n".join(
        [
            *head,
            table(["at (UTC)", "kind", "milestone/week", "amount", "escrow", "reference"], rows, right=[3, 4]),
            "",
            table(["total", "amount"], [(name, format_cents(v, money)) for name, v in totals], right=[1]),
            "",
            f"the statement {reconciled}",
        ]
    )

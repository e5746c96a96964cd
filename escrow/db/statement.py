"""C3, C4: what the escrow statement of one contract is made of, read from the ledger
and the read models in one transaction; escrow/statement.py assembles it.

The contract's escrows are those of the milestones and billing weeks the read models
know of it (a milestone writes its row in the step that funds it, so no escrow money
is missed); its disputes come from the `claims` read model, their fees from the ledger
by the ids the dispute workflow gives them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from escrow import accounts, ids
from escrow.db.models import Account, AuditEvent, Claim, HourlyWeek, Invoice, Milestone, Transfer
from escrow.db.models import Contract as ContractRow
from escrow.models import ClaimKind, ContractView, WeekStatus
from escrow.statement import (
    HOLD_RELEASE,
    ContractFacts,
    DisputeRow,
    EventRow,
    InvoiceRow,
    LedgerRow,
    MilestoneRow,
    Statement,
    StatementRows,
    WeekRow,
    build,
    payment_transfer,
)

FEE_PARTIES = ("client", "expert")
WEEKLY = "weekly"
PAYMENT_MADE = "payment.made"


def stored_contract(sessions: sessionmaker[Session], contract_id: str) -> ContractView | None:
    """The contract as its last step wrote it, None if it has written none."""
    with sessions() as session:
        row = session.get(ContractRow, contract_id)
        return None if row is None else ContractView.model_validate(row.view)


def contract_statement(sessions: sessionmaker[Session], contract: ContractView) -> Statement:
    with sessions() as session:
        _one_snapshot(session)
        return build(statement_rows(session, contract))


def _one_snapshot(session: Session) -> None:
    """Every read of the statement sees the same committed ledger, so its totals
    reconcile even while a step is being posted. SQLite's transactions (BEGIN
    IMMEDIATE, escrow/db/engine.py) already do; PostgreSQL needs REPEATABLE READ."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def statement_rows(session: Session, contract: ContractView) -> StatementRows:
    cid = contract.id
    milestone_rows = session.execute(
        select(Milestone.id, Milestone.status, Milestone.view).where(Milestone.contract_id == cid)
    ).all()
    milestones = [
        MilestoneRow(id=m, title=str(view.get("title", "")), status=status) for m, status, view in milestone_rows
    ]
    known = {m.id for m in milestones}
    # A milestone the contract knows but that never wrote a step has no money yet.
    milestones += [
        MilestoneRow(id=m.id, title="", status=m.status.value) for m in contract.milestones if m.id not in known
    ]
    week_rows = session.execute(
        select(HourlyWeek.week, HourlyWeek.status, HourlyWeek.view)
        .where(HourlyWeek.contract_id == cid)
        .order_by(HourlyWeek.week)
    ).all()
    weeks = [WeekRow(week=week, status=status) for week, status, _ in week_rows]
    disputes = [
        DisputeRow(id=c.id, milestone_id=c.milestone_id, week=c.week, status=c.status, amount=c.amount)
        for c in session.scalars(
            select(Claim).where(Claim.contract_id == cid, Claim.kind == ClaimKind.DISPUTE.value).order_by(Claim.id)
        )
    ]

    escrows = [accounts.milestone_escrow(m.id) for m in milestones] + [accounts.week_escrow(cid, w.week) for w in weeks]
    moved = list(
        session.scalars(
            select(Transfer).where(or_(Transfer.debit_account.in_(escrows), Transfer.credit_account.in_(escrows)))
        )
    )
    payments = _payments(session, cid)
    paid = [payment_transfer(p) for p in payments]
    released = [t.id for t in moved if t.credit_account.startswith("expert:")] + paid
    fee_ids = [
        f"{ids.dispute(d.id)}:fee:{party}{tail}"
        for d in disputes
        for party in FEE_PARTIES
        for tail in ("", ":refund", ":kept")
    ]
    others = list(
        session.scalars(
            select(Transfer).where(
                or_(Transfer.id.in_(fee_ids + paid), (Transfer.settles.in_(released)) & (Transfer.kind == HOLD_RELEASE))
            )
        )
    )
    balances = dict(session.execute(select(Account.name, Account.balance).where(Account.name.in_(escrows))).all())

    workflows = (
        [ids.milestone(m.id) for m in milestones]
        + [ids.week(cid, w.week) for w in weeks]
        + [ids.dispute(d.id) for d in disputes]
        + [ids.payment(p) for p in payments]
    )
    events = [
        EventRow(workflow_id=e.workflow_id, kind=e.kind, at=e.at, data=e.data)
        for e in session.scalars(select(AuditEvent).where(AuditEvent.workflow_id.in_(workflows)))
    ]
    invoices = [
        InvoiceRow(
            id=i.id,
            milestone_id=i.milestone_id,
            kind=i.kind,
            amount=i.amount,
            issued_at=i.issued_at,
            clears_at=i.clears_at,
        )
        for i in session.scalars(select(Invoice).where(Invoice.milestone_id.in_([m.id for m in milestones])))
    ]
    invoices += [
        _week_invoice(cid, week, status, view) for week, status, view in week_rows if status != WeekStatus.OPEN
    ]

    return StatementRows(
        contract=ContractFacts(
            id=cid,
            client_id=contract.client_id,
            expert_id=contract.expert_id,
            type=contract.type.value,
            status=contract.status.value,
            currency=contract.currency,
            created_at=contract.created_at,
            closed_at=contract.closed_at,
            zero_pay=contract.zero_pay,
        ),
        milestones=milestones,
        weeks=weeks,
        disputes=disputes,
        transfers=[_ledger_row(t) for t in [*moved, *others]],
        balances=balances,
        events=events,
        invoices=invoices,
        payments=payments,
    )


def _payments(session: Session, contract_id: str) -> list[str]:
    """The contract's manual payments (P2, P5), by the step that made each, found by
    the contract's index on audit events."""
    made = session.scalars(
        select(AuditEvent).where(AuditEvent.contract_id == contract_id, AuditEvent.kind == PAYMENT_MADE)
    )
    return sorted(str(e.data["payment_id"]) for e in made)


def _ledger_row(t: Transfer) -> LedgerRow:
    return LedgerRow(
        id=t.id,
        debit=t.debit_account,
        credit=t.credit_account,
        amount=t.amount,
        kind=t.kind,
        posted_at=t.posted_at,
        available_at=t.available_at,
        settles=t.settles,
    )


def _week_invoice(contract_id: str, week: str, status: str, view: dict[str, Any]) -> InvoiceRow:
    """A billed week's invoice (H2, H3): issued when the week is billed, for every logged
    minute; it clears when the week's money becomes available to the expert (H6). The
    week has no invoice row of its own: its read model carries both."""
    return InvoiceRow(
        id=f"{ids.week(contract_id, week)}:invoice",
        week=week,
        kind=WEEKLY,
        amount=int(view.get("invoice_amount", 0)),
        issued_at=view["billed_at"],
        clears_at=view.get("available_at"),
    )

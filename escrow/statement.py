"""C3, C4: a contract's escrow closing statement, built from the ledger.

Pure: `build(rows)` turns what the database holds about one contract (escrow/db/
statement.py reads it) into the statement; no database, no clock. Its lines are:

- every transfer into or out of one of the contract's escrow accounts (each
  milestone's `escrow:milestone:{id}`, each billing week's `escrow:week:{c}:{w}`):
  funding, release to the expert, refund to the client, clawback of released money
  (M10), and moves between two escrows of the contract (M6);
- the end of each release's security hold (`cleared`: the expert may withdraw it);
- the arbitration fees of the contract's disputes (`dispute:{id}:fee:{role}`, then
  `...:refund` or `...:kept`, D4, D6) and each dispute's outcome (D2-D5);
- every invoice, with the day it clears (C4);
- the manual payments of the contract (P2, P5: a bonus or an expense, from the
  client's card straight to the expert, under its hold), outside the escrow.

The totals reconcile with the ledger to the cent: `in_escrow` is the sum of the escrow
accounts' balances, and funded - released - refunded = in_escrow, where released counts
money taken back from the expert (a clawback) against what was released.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from escrow import accounts, ids

EXPERT_PREFIX = "expert:"
HOLD_RELEASE = "hold_release"
MANUAL_PREFIX = "manual_"  # a manual payment's transfer kind: `manual_bonus`, `manual_expense`
DISPUTE_RESOLVED = "dispute.resolved"


class LineKind(StrEnum):
    FUNDING = "funding"  # into escrow: the client's card (M2, H2)
    ESCROW_TRANSFER = "escrow_transfer"  # from one of the contract's escrows to another (M6)
    CLAWBACK = "clawback"  # released money taken back from the expert into escrow (M10)
    DISPUTE_OUTCOME = "dispute_outcome"  # the split a dispute decided (D2-D5); money moves in its own lines
    FEE = "fee"  # an arbitration fee a party paid (D4)
    FEE_REFUND = "fee_refund"  # ... given back to it (D6)
    FEE_KEPT = "fee_kept"  # ... kept by the platform (D6)
    RELEASE = "release"  # out of escrow to the expert, under the security hold (M9, H6)
    REFUND = "refund"  # out of escrow back to the client (R, D, C1, H3)
    MANUAL_PAYMENT = "manual_payment"  # a bonus or expense paid to the expert, under its hold (P2, P5)
    INVOICE = "invoice"  # a pro-forma, final or weekly invoice (M3, M9, H2), with its clearing date (C4)
    CLEARED = "cleared"  # a release's hold ended: the expert may withdraw it (L5)


# Within one instant, the order a reader expects: money in, decisions, money out, paper.
ORDER = {kind: n for n, kind in enumerate(LineKind)}

# ----------------------------------------------------------------------- what is read


class ContractFacts(BaseModel):
    id: str
    client_id: str
    expert_id: str
    type: str
    status: str
    currency: str
    created_at: datetime | None = None
    closed_at: datetime | None = None
    zero_pay: bool | None = None


class MilestoneRow(BaseModel):
    id: str
    title: str
    status: str


class WeekRow(BaseModel):
    week: str
    status: str


class DisputeRow(BaseModel):
    """A dispute on one of the contract's escrows, from the `claims` read model."""

    id: str
    milestone_id: str | None = None
    week: str | None = None
    status: str
    amount: int


class LedgerRow(BaseModel):
    """One transfer of the ledger."""

    id: str
    debit: str
    credit: str
    amount: int
    kind: str
    posted_at: datetime
    available_at: datetime | None = None
    settles: str | None = None


class EventRow(BaseModel):
    """One audit event: a step of a milestone, week or dispute workflow."""

    workflow_id: str
    kind: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class InvoiceRow(BaseModel):
    id: str
    milestone_id: str | None = None
    week: str | None = None
    kind: str
    amount: int
    issued_at: datetime
    clears_at: datetime | None = None


class StatementRows(BaseModel):
    """Everything the statement of one contract is made of, as the database holds it."""

    contract: ContractFacts
    milestones: list[MilestoneRow] = Field(default_factory=list)
    weeks: list[WeekRow] = Field(default_factory=list)
    disputes: list[DisputeRow] = Field(default_factory=list)
    # Every transfer on the contract's escrow accounts, the settlements of its releases'
    # holds, and its disputes' fee transfers.
    transfers: list[LedgerRow] = Field(default_factory=list)
    # The ledger balance of each of the contract's escrow accounts (absent: never used).
    balances: dict[str, int] = Field(default_factory=dict)
    # The audit events of the contract's milestones, weeks and disputes.
    events: list[EventRow] = Field(default_factory=list)
    invoices: list[InvoiceRow] = Field(default_factory=list)
    # The ids of the contract's manual payments (P2, P5).
    payments: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------- what is answered


class StatementLine(BaseModel):
    at: datetime
    kind: LineKind
    amount: int = Field(description="integer minor units, never negative")
    escrow_change: int = Field(
        0, description="what the line did to the money in the contract's escrow: + in, - out, 0 for the others"
    )
    milestone_id: str | None = None
    week: str | None = None
    dispute_id: str | None = None
    transfer_id: str | None = Field(None, description="the ledger transfer")
    ledger_kind: str | None = Field(None, description="the transfer's kind in the ledger")
    step: str | None = Field(None, description="the workflow step that wrote it, e.g. `milestone.released`")
    source: str | None = Field(None, description="escrow_transfer: the milestone id or week the money came from")
    party: str | None = Field(None, description="fees: the party that paid it, `client` or `expert`")
    invoice_id: str | None = None
    payment_id: str | None = Field(None, description="manual payments: the payment")
    payment_kind: str | None = Field(None, description="manual payments: `bonus` or `expense`")
    invoice_kind: str | None = Field(None, description="`pro_forma`, `final` or `weekly`")
    clears_at: datetime | None = Field(
        None, description="C4: when the money becomes available to the expert (releases, invoices)"
    )
    resolution: str | None = None
    amount_to_client: int | None = None
    amount_to_expert: int | None = None
    winner: str | None = None


class Totals(BaseModel):
    funded: int = Field(description="paid into the contract's escrows")
    released: int = Field(description="released to the expert, less what was taken back")
    refunded: int = Field(description="returned to the client from escrow")
    in_escrow: int = Field(description="the sum of the contract's escrow account balances in the ledger")
    fees: int = Field(description="arbitration fees the parties paid, less those refunded")
    fees_paid: int
    fees_refunded: int
    fees_kept: int


class MilestoneEntry(BaseModel):
    id: str
    title: str
    status: str


class Statement(BaseModel):
    """C3: every funding, release, refund, fee and dispute outcome of the contract, with
    totals that reconcile with the ledger; C4: every invoice with its clearing date."""

    contract_id: str
    client_id: str
    expert_id: str
    type: str
    status: str
    currency: str
    closed_at: datetime | None = None
    zero_pay: bool | None = None
    final: bool = Field(description="the contract is closed: this is its closing statement")
    milestones: list[MilestoneEntry]
    weeks: list[str]
    lines: list[StatementLine]
    totals: Totals
    reconciled: bool = Field(
        description="funded - released - refunded = in_escrow = the sum of every line's escrow_change"
    )


# ----------------------------------------------------------------------- the assembly


def build(rows: StatementRows) -> Statement:
    c = rows.contract
    owners = escrow_owners(rows)
    workflows = workflow_ids(rows)
    steps = _steps(rows.events)
    disputes = {d.id: d for d in rows.disputes}
    lines: list[StatementLine] = []
    releases: dict[str, StatementLine] = {}

    def step_of(t: LedgerRow) -> str | None:
        return _step(steps, workflow_of(t.id, workflows), t.posted_at)

    payments = {payment_transfer(p): p for p in rows.payments}
    for t in rows.transfers:
        line = _escrow_line(t, owners, disputes) or _payment_line(t, payments)
        if line is None:
            continue
        line.step = step_of(t)
        if line.dispute_id is None and (line.step or "").endswith(".dispute_resolved"):
            line.dispute_id = _only_dispute(rows.disputes, line.milestone_id, line.week)
        lines.append(line)
        if line.kind in (LineKind.RELEASE, LineKind.MANUAL_PAYMENT):
            releases[t.id] = line
    for t in rows.transfers:
        fee = _fee_line(t, disputes)
        if fee is not None:
            lines.append(fee.model_copy(update={"step": step_of(t)}))
        elif t.kind == HOLD_RELEASE and t.settles in releases:
            held = releases[t.settles]
            lines.append(
                StatementLine(
                    at=t.posted_at,
                    kind=LineKind.CLEARED,
                    amount=t.amount,
                    milestone_id=held.milestone_id,
                    week=held.week,
                    dispute_id=held.dispute_id,
                    payment_id=held.payment_id,
                    payment_kind=held.payment_kind,
                    transfer_id=t.id,
                    ledger_kind=t.kind,
                    step=step_of(t),
                    clears_at=held.clears_at,
                )
            )
    lines += _outcomes(rows.events, disputes)
    lines += [
        StatementLine(
            at=i.issued_at,
            kind=LineKind.INVOICE,
            amount=i.amount,
            milestone_id=i.milestone_id,
            week=i.week,
            invoice_id=i.id,
            invoice_kind=i.kind,
            clears_at=i.clears_at,
        )
        for i in rows.invoices
    ]
    lines.sort(key=lambda line: (line.at, ORDER[line.kind], line.transfer_id or line.invoice_id or ""))

    totals = totals_of(lines, [rows.balances.get(a, 0) for a in owners])
    moved = sum(line.escrow_change for line in lines)
    reconciled = totals.funded - totals.released - totals.refunded == totals.in_escrow == moved
    return Statement(
        contract_id=c.id,
        client_id=c.client_id,
        expert_id=c.expert_id,
        type=c.type,
        status=c.status,
        currency=c.currency,
        closed_at=c.closed_at,
        zero_pay=c.zero_pay,
        final=c.status == "closed",
        milestones=[MilestoneEntry(id=m.id, title=m.title, status=m.status) for m in rows.milestones],
        weeks=[w.week for w in rows.weeks],
        lines=lines,
        totals=totals,
        reconciled=reconciled,
    )


def totals_of(lines: list[StatementLine], balances: Iterable[int]) -> Totals:
    def total(kind: LineKind) -> int:
        return sum(line.amount for line in lines if line.kind == kind)

    fees_paid, fees_refunded = total(LineKind.FEE), total(LineKind.FEE_REFUND)
    return Totals(
        funded=total(LineKind.FUNDING),
        released=total(LineKind.RELEASE) - total(LineKind.CLAWBACK),
        refunded=total(LineKind.REFUND),
        in_escrow=sum(balances),
        fees=fees_paid - fees_refunded,
        fees_paid=fees_paid,
        fees_refunded=fees_refunded,
        fees_kept=total(LineKind.FEE_KEPT),
    )


def escrow_owners(rows: StatementRows) -> dict[str, tuple[str | None, str | None]]:
    """Each escrow account of the contract: (milestone id, week) of what owns it."""
    owned: dict[str, tuple[str | None, str | None]] = {
        accounts.milestone_escrow(m.id): (m.id, None) for m in rows.milestones
    }
    owned.update({accounts.week_escrow(rows.contract.id, w.week): (None, w.week) for w in rows.weeks})
    return owned


def workflow_ids(rows: StatementRows) -> set[str]:
    """The workflows whose steps write the statement's transfers (each transfer id
    starts with its workflow's id)."""
    return (
        {ids.milestone(m.id) for m in rows.milestones}
        | {ids.week(rows.contract.id, w.week) for w in rows.weeks}
        | {ids.dispute(d.id) for d in rows.disputes}
        | {ids.payment(p) for p in rows.payments}
    )


def workflow_of(transfer_id: str, workflows: set[str]) -> str | None:
    """The workflow a transfer id starts with (`{workflow_id}:...`), the longest known."""
    found = None
    for n, char in enumerate(transfer_id):
        if char == ":" and transfer_id[:n] in workflows:
            found = transfer_id[:n]
    return found


def _steps(events: list[EventRow]) -> dict[tuple[str, datetime], list[str]]:
    steps: dict[tuple[str, datetime], list[str]] = {}
    for e in events:
        steps.setdefault((e.workflow_id, e.at), []).append(e.kind)
    return steps


def _step(steps: dict[tuple[str, datetime], list[str]], workflow_id: str | None, at: datetime) -> str | None:
    """The audit event of the step that posted a transfer: the one its workflow wrote at
    the same instant (none when two steps share it)."""
    found = steps.get((workflow_id, at), []) if workflow_id else []
    return found[0] if len(found) == 1 else None


def _only_dispute(disputes: list[DisputeRow], milestone_id: str | None, week: str | None) -> str | None:
    """The dispute a payout of a resolved dispute settles, when its escrow had only one."""
    mine = [d.id for d in disputes if (d.milestone_id, d.week) == (milestone_id, week)]
    return mine[0] if len(mine) == 1 else None


def _escrow_line(
    t: LedgerRow, owners: dict[str, tuple[str | None, str | None]], disputes: dict[str, DisputeRow]
) -> StatementLine | None:
    """A transfer into or out of one of the contract's escrows, None for any other."""
    into, out_of = owners.get(t.credit), owners.get(t.debit)
    if into is None and out_of is None:
        return None
    base = {"at": t.posted_at, "amount": t.amount, "transfer_id": t.id, "ledger_kind": t.kind}
    if into is not None and out_of is not None:
        source = out_of[0] or out_of[1]
        return StatementLine(kind=LineKind.ESCROW_TRANSFER, milestone_id=into[0], week=into[1], source=source, **base)
    if into is not None:
        kind = LineKind.CLAWBACK if t.debit.startswith(EXPERT_PREFIX) else LineKind.FUNDING
        return StatementLine(kind=kind, escrow_change=t.amount, milestone_id=into[0], week=into[1], **base)
    assert out_of is not None
    if t.credit.startswith(EXPERT_PREFIX):
        kind, clears_at = LineKind.RELEASE, t.available_at
    else:
        kind, clears_at = LineKind.REFUND, None
    # A milestone's refund that settles a claim names it: `{workflow}:refund:{claim id}`.
    claim = t.id.rpartition(":")[2]
    named = kind == LineKind.REFUND and claim in disputes and t.id.endswith(f":refund:{claim}")
    return StatementLine(
        kind=kind,
        escrow_change=-t.amount,
        milestone_id=out_of[0],
        week=out_of[1],
        dispute_id=claim if named else None,
        clears_at=clears_at,
        **base,
    )


def payment_transfer(payment_id: str) -> str:
    """The transfer a manual payment's opening step posts (escrow.rules.payment)."""
    return f"{ids.payment(payment_id)}:pay"


def _payment_line(t: LedgerRow, payments: dict[str, str]) -> StatementLine | None:
    """A manual payment of the contract (P2, P5): it never touches the escrow."""
    if t.id not in payments:
        return None
    return StatementLine(
        at=t.posted_at,
        kind=LineKind.MANUAL_PAYMENT,
        amount=t.amount,
        transfer_id=t.id,
        ledger_kind=t.kind,
        payment_id=payments[t.id],
        payment_kind=t.kind.removeprefix(MANUAL_PREFIX),
        clears_at=t.available_at,
    )


FEE_KINDS = {"": LineKind.FEE, "refund": LineKind.FEE_REFUND, "kept": LineKind.FEE_KEPT}


def _fee_line(t: LedgerRow, disputes: dict[str, DisputeRow]) -> StatementLine | None:
    """An arbitration fee of one of the contract's disputes: `dispute:{id}:fee:{role}`
    paid, then `...:refund` or `...:kept` (D4, D6)."""
    for d in disputes.values():
        prefix = f"{ids.dispute(d.id)}:fee:"
        if not t.id.startswith(prefix):
            continue
        party, _, tail = t.id[len(prefix) :].partition(":")
        kind = FEE_KINDS.get(tail)
        if kind is None:
            return None
        return StatementLine(
            at=t.posted_at,
            kind=kind,
            amount=t.amount,
            milestone_id=d.milestone_id,
            week=d.week,
            dispute_id=d.id,
            transfer_id=t.id,
            ledger_kind=t.kind,
            party=party,
        )
    return None


def _outcomes(events: list[EventRow], disputes: dict[str, DisputeRow]) -> list[StatementLine]:
    """Each dispute's outcome, as the dispute recorded it when it resolved."""
    by_workflow = {ids.dispute(d.id): d for d in disputes.values()}
    lines = []
    for e in events:
        d = by_workflow.get(e.workflow_id)
        if d is None or e.kind != DISPUTE_RESOLVED:
            continue
        to_client, to_expert = int(e.data.get("amount_to_client", 0)), int(e.data.get("amount_to_expert", 0))
        lines.append(
            StatementLine(
                at=e.at,
                kind=LineKind.DISPUTE_OUTCOME,
                amount=to_client + to_expert,
                milestone_id=d.milestone_id,
                week=d.week,
                dispute_id=d.id,
                step=e.kind,
                resolution=e.data.get("resolution"),
                amount_to_client=to_client,
                amount_to_expert=to_expert,
                winner=e.data.get("winner"),
            )
        )
    return lines

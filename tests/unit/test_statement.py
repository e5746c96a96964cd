"""The escrow statement's pure assembly and page (escrow.statement, escrow.statement_html):
rows in, statement out; no database, no Temporal."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from api.routes.statements import wants_html
from escrow import accounts
from escrow.statement import (
    ContractFacts,
    DisputeRow,
    EventRow,
    InvoiceRow,
    LedgerRow,
    LineKind,
    MilestoneRow,
    StatementRows,
    WeekRow,
    build,
)
from escrow.statement_html import render

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT, EXPERT = "client-1", "expert-1"
CARD = accounts.WORLD_CARD
ARBITRATION = accounts.PLATFORM_ARBITRATION
PENDING = accounts.expert_pending(EXPERT)
AVAILABLE = accounts.expert_available(EXPERT)
CLIENT_BALANCE = accounts.client_balance(CLIENT)
M1, M2, M3 = accounts.milestone_escrow("m1"), accounts.milestone_escrow("m2"), accounts.milestone_escrow("m3")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def transfer(id: str, debit: str, credit: str, amount: int, kind: str, hours: float, **more) -> LedgerRow:
    return LedgerRow(id=id, debit=debit, credit=credit, amount=amount, kind=kind, posted_at=at(hours), **more)


def balances(transfers: list[LedgerRow]) -> dict[str, int]:
    """The ledger's balances after these transfers, as the accounts table would hold them."""
    held: dict[str, int] = defaultdict(int)
    for t in transfers:
        held[t.debit] -= t.amount
        held[t.credit] += t.amount
    return dict(held)


# A fixed-rate contract: m1 funded, part released, a dispute decided by verdict with both
# fees kept (Cad Crowd), its payout, a hold cleared, released money refunded after release
# (M10: a pending hold taken back, part of it held again); m2 funded and untouched; m3
# funded from m1's remainder (M6). Plus a transfer of another contract.
TRANSFERS = [
    transfer("milestone:m1:fund", CARD, M1, 50_000, "fund", 0),
    transfer("milestone:m2:fund", CARD, M2, 20_000, "fund", 1),
    transfer("milestone:m1:release:1", M1, PENDING, 20_000, "release", 2, available_at=at(2 + 120)),
    transfer("dispute:d1:fee:expert", CARD, ARBITRATION, 500, "arbitration_fee", 3),
    transfer("dispute:d1:fee:client", CARD, ARBITRATION, 500, "arbitration_fee", 4),
    transfer("dispute:d1:fee:client:kept", ARBITRATION, accounts.PLATFORM_FEES, 500, "arbitration_fee_kept", 5),
    transfer("dispute:d1:fee:expert:kept", ARBITRATION, accounts.PLATFORM_FEES, 500, "arbitration_fee_kept", 5),
    transfer("milestone:m1:refund:d1", M1, CLIENT_BALANCE, 6_000, "refund", 6),
    transfer("milestone:m1:release:2", M1, PENDING, 4_000, "release", 6, available_at=at(6 + 120)),
    transfer(
        "milestone:m1:release:1:settle",
        PENDING,
        AVAILABLE,
        20_000,
        "hold_release",
        122,
        settles="milestone:m1:release:1",
    ),
    transfer(
        "milestone:m1:release:2:clawback", PENDING, M1, 4_000, "hold_clawback", 123, settles="milestone:m1:release:2"
    ),
    transfer("milestone:m1:release:2:rehold", M1, PENDING, 3_000, "rehold", 123, available_at=at(126)),
    transfer("milestone:m1:refund:r1", M1, CLIENT_BALANCE, 1_000, "refund_after_release", 123),
    transfer("milestone:m1:remainder", M1, M3, 5_000, "remainder", 124),
    transfer("milestone:other:fund", CARD, accounts.milestone_escrow("other"), 9_999, "fund", 1),
]
EVENTS = [
    EventRow(workflow_id="milestone:m1", kind="milestone.released", at=at(2)),
    EventRow(
        workflow_id="dispute:d1",
        kind="dispute.resolved",
        at=at(5),
        data={"resolution": "verdict", "amount_to_client": 6_000, "amount_to_expert": 4_000, "winner": "client"},
    ),
    EventRow(workflow_id="milestone:m1", kind="milestone.dispute_resolved", at=at(6)),
    EventRow(workflow_id="milestone:m1", kind="milestone.refund_approved", at=at(123)),
]
INVOICES = [
    InvoiceRow(id="milestone:m1:invoice:3", milestone_id="m1", kind="pro_forma", amount=50_000, issued_at=at(1.5)),
    InvoiceRow(
        id="milestone:m1:invoice:final:1",
        milestone_id="m1",
        kind="final",
        amount=20_000,
        issued_at=at(2),
        clears_at=at(122),
    ),
]


def rows(transfers: list[LedgerRow] = TRANSFERS, **changes) -> StatementRows:
    mine = {M1, M2, M3}
    fields = {
        "contract": ContractFacts(
            id="c1", client_id=CLIENT, expert_id=EXPERT, type="fixed", status="closed", currency="USD"
        ),
        "milestones": [
            MilestoneRow(id="m1", title="Logo <b>&</b> brand", status="completed"),
            MilestoneRow(id="m2", title="Icons", status="in_progress"),
            MilestoneRow(id="m3", title="Remainder", status="in_progress"),
        ],
        "disputes": [DisputeRow(id="d1", milestone_id="m1", status="settled", amount=10_000)],
        "transfers": transfers,
        "balances": {name: value for name, value in balances(transfers).items() if name in mine},
        "events": EVENTS,
        "invoices": INVOICES,
    }
    return StatementRows(**(fields | changes))


def kinds(statement, kind: LineKind):
    return [line for line in statement.lines if line.kind == kind]


@pytest.mark.rules("C3")
def test_the_totals_reconcile_with_the_ledger_to_the_cent():
    statement = build(rows())
    t = statement.totals
    assert t.funded == 70_000
    # Released 20,000 + 4,000 + 3,000 held again, less the 4,000 hold taken back.
    assert t.released == 23_000
    assert t.refunded == 7_000
    ledger = balances(TRANSFERS)
    assert t.in_escrow == ledger[M1] + ledger[M2] + ledger[M3] == 40_000
    assert t.funded - t.released - t.refunded == t.in_escrow
    assert sum(line.escrow_change for line in statement.lines) == t.in_escrow
    assert (t.fees_paid, t.fees_refunded, t.fees_kept, t.fees) == (1_000, 0, 1_000, 1_000)
    assert statement.reconciled and statement.final


@pytest.mark.rules("C3")
def test_every_movement_is_a_line_in_time_order():
    statement = build(rows())
    assert [line.at for line in statement.lines] == sorted(line.at for line in statement.lines)
    # Another contract's money is not on this statement.
    assert all("other" not in (line.transfer_id or "") for line in statement.lines)

    assert [(line.milestone_id, line.amount) for line in kinds(statement, LineKind.FUNDING)] == [
        ("m1", 50_000),
        ("m2", 20_000),
    ]
    releases = kinds(statement, LineKind.RELEASE)
    assert [(r.amount, r.ledger_kind, r.escrow_change) for r in releases] == [
        (20_000, "release", -20_000),
        (4_000, "release", -4_000),
        (3_000, "rehold", -3_000),
    ]
    assert releases[0].clears_at == at(122) and releases[0].step == "milestone.released"
    # The dispute's payout names the dispute: by its refund's id, and by its step.
    refunds = kinds(statement, LineKind.REFUND)
    assert [(r.amount, r.dispute_id, r.step) for r in refunds] == [
        (6_000, "d1", "milestone.dispute_resolved"),
        (1_000, None, "milestone.refund_approved"),
    ]
    assert releases[1].dispute_id == "d1"
    [clawback] = kinds(statement, LineKind.CLAWBACK)
    assert (clawback.amount, clawback.escrow_change, clawback.ledger_kind) == (4_000, 4_000, "hold_clawback")
    [moved] = kinds(statement, LineKind.ESCROW_TRANSFER)
    assert (moved.milestone_id, moved.source, moved.amount, moved.escrow_change) == ("m3", "m1", 5_000, 0)
    [cleared] = kinds(statement, LineKind.CLEARED)
    assert (cleared.transfer_id, cleared.milestone_id, cleared.escrow_change) == (
        "milestone:m1:release:1:settle",
        "m1",
        0,
    )


@pytest.mark.rules("C3")
def test_fees_and_the_dispute_outcome_are_on_the_statement():
    statement = build(rows())
    fees = kinds(statement, LineKind.FEE)
    assert [(f.party, f.amount, f.dispute_id, f.milestone_id) for f in fees] == [
        ("expert", 500, "d1", "m1"),
        ("client", 500, "d1", "m1"),
    ]
    assert sorted(f.party for f in kinds(statement, LineKind.FEE_KEPT)) == ["client", "expert"]
    [outcome] = kinds(statement, LineKind.DISPUTE_OUTCOME)
    assert (outcome.dispute_id, outcome.resolution, outcome.winner) == ("d1", "verdict", "client")
    assert (outcome.amount, outcome.amount_to_client, outcome.amount_to_expert) == (10_000, 6_000, 4_000)
    assert outcome.escrow_change == 0  # the money moves in the milestone's own lines


@pytest.mark.rules("C4")
def test_every_invoice_line_carries_its_clearing_date():
    statement = build(rows())
    invoices = {line.invoice_kind: line for line in kinds(statement, LineKind.INVOICE)}
    assert invoices["final"].clears_at == at(122)
    assert invoices["pro_forma"].clears_at is None  # escrow issues it without one
    assert all(line.escrow_change == 0 for line in invoices.values())


@pytest.mark.rules("C3", "C4")
def test_an_hourly_week_bills_funds_and_clears():
    week, escrow = "2026-W10", accounts.week_escrow("h1", "2026-W10")
    wf = "hourly-week:h1:2026-W10"
    transfers = [
        transfer(f"{wf}:charge:1", CARD, escrow, 12_000, "hourly_charge", 0),
        transfer(f"{wf}:refund:4", escrow, CLIENT_BALANCE, 2_000, "refund", 1),
        transfer(f"{wf}:release:5", escrow, PENDING, 10_000, "release", 2, available_at=at(50)),
    ]
    statement = build(
        StatementRows(
            contract=ContractFacts(
                id="h1", client_id=CLIENT, expert_id=EXPERT, type="hourly", status="active", currency="USD"
            ),
            weeks=[WeekRow(week=week, status="hold")],
            transfers=transfers,
            balances={escrow: 0},
            events=[EventRow(workflow_id=wf, kind="week.overcharge_returned", at=at(1))],
            invoices=[
                InvoiceRow(
                    id=f"{wf}:invoice", week=week, kind="weekly", amount=10_000, issued_at=at(0), clears_at=at(50)
                )
            ],
        )
    )
    assert (statement.totals.funded, statement.totals.released, statement.totals.refunded) == (12_000, 10_000, 2_000)
    assert statement.totals.in_escrow == 0 and statement.reconciled and not statement.final
    assert {line.week for line in statement.lines} == {week}
    [refund] = kinds(statement, LineKind.REFUND)
    assert refund.step == "week.overcharge_returned" and refund.dispute_id is None
    [invoice] = kinds(statement, LineKind.INVOICE)
    assert invoice.clears_at == at(50)


@pytest.mark.rules("C3")
def test_a_statement_that_misses_a_transfer_does_not_reconcile():
    statement = build(rows(transfers=TRANSFERS, balances={M1: 1}))
    assert not statement.reconciled
    missing = [t for t in TRANSFERS if t.id != "milestone:m1:release:2"]
    assert not build(rows(transfers=missing, balances={M1: 20_000, M2: 20_000, M3: 5_000})).reconciled


def test_an_empty_contract_has_an_empty_statement():
    statement = build(
        StatementRows(
            contract=ContractFacts(
                id="c", client_id=CLIENT, expert_id=EXPERT, type="fixed", status="active", currency="USD"
            )
        )
    )
    assert statement.lines == [] and statement.reconciled
    assert statement.totals.model_dump() == dict.fromkeys(statement.totals.model_dump(), 0)
    assert "Nothing has moved" in render(statement)


@pytest.mark.rules("C3", "C4")
def test_the_page_is_readable_printable_and_escaped():
    page = render(build(rows()), generated_at=T0)
    assert page.startswith("<!DOCTYPE html>")
    assert "@media print" in page
    assert "Escrow closing statement" in page
    # Amounts in format_cents, instants in UTC.
    assert "USD 700.00" in page and "USD 400.00" in page  # funded 70,000 cents; in escrow 40,000 cents
    assert "2026-03-02 09:00 UTC" in page
    assert "2026-03-07 11:00 UTC" in page  # the first release clears 5 days later (C4)
    # A user's text is escaped, never markup.
    assert "Logo <b>&</b> brand" not in page
    assert "Logo &lt;b&gt;&amp;&lt;/b&gt; brand" in page
    assert "Reconciled with the ledger" in page


def test_a_hostile_id_cannot_inject_markup():
    hostile = rows(
        contract=ContractFacts(
            id='c"><script>alert(1)</script>',
            client_id="<img src=x onerror=alert(1)>",
            expert_id=EXPERT,
            type="fixed",
            status="active",
            currency="USD",
        )
    )
    page = render(build(hostile))
    assert "<script>alert" not in page and "<img src=x" not in page


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/html", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/html", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0", False),
        ("text/html;q=oops", False),
    ],
)
def test_html_is_answered_only_to_who_prefers_it(accept, html):
    assert wants_html(accept) is html

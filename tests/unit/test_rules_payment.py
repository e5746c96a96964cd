"""Manual payments (P2, P5) as pure rules: the weekday table, and the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escrow import accounts
from escrow.models import Actor, PartyCommand, Role
from escrow.models.payment import ManualPaymentInput, PaymentKind, PaymentStatus
from escrow.policy import preset
from escrow.rules import Context
from escrow.rules import payment as rules
from escrow.statement import ContractFacts, LedgerRow, LineKind, StatementRows, build

# 2026-11-16 is a Monday.
MONDAY = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
TABLE = [
    ("Monday", "Saturday"),
    ("Tuesday", "Sunday"),
    ("Wednesday", "Monday"),
    ("Thursday", "Tuesday"),
    ("Friday", "Wednesday"),
    ("Saturday", "Thursday"),
    ("Sunday", "Friday"),
]


@pytest.mark.rules("P5")
@pytest.mark.parametrize(("offset", "row"), list(enumerate(TABLE)), ids=[c for c, _ in TABLE])
def test_p5_available_on_the_weekday_of_the_table(offset, row):
    confirmed_on, available_on = row
    confirmed = MONDAY + timedelta(days=offset)
    assert confirmed.strftime("%A") == confirmed_on
    available = rules.available_at(confirmed)
    assert available.strftime("%A") == available_on
    assert available - confirmed == timedelta(days=5)  # P2: the 5-day hold


def _input(kind=PaymentKind.BONUS):
    return ManualPaymentInput(
        payment_id="p1",
        contract_id="c1",
        client_id="cl",
        expert_id="ex",
        currency="USD",
        amount=12_500,
        kind=kind,
        memo="thanks",
        policy=preset("cadcrowd"),
    )


def _ctx(now):
    return Context(now=now, policy=preset("cadcrowd"), workflow_id="payment:p1", step=1)


@pytest.mark.rules("P2", "P5")
def test_p2_the_payment_is_held_then_settled_at_its_instant():
    view = rules.opened(_input(), MONDAY, "payment:p1")
    paid = rules.paid(view, _ctx(MONDAY))
    (t,) = paid.transfers
    assert (t.debit, t.credit, t.amount, t.kind) == (
        accounts.WORLD_CARD,
        accounts.expert_pending("ex"),
        12_500,
        "manual_bonus",
    )
    assert t.available_at == view.available_at == MONDAY + timedelta(days=5)
    assert rules.settle(view, _ctx(view.available_at - timedelta(seconds=1))) is None
    settled = rules.settle(view, _ctx(view.available_at))
    assert settled is not None and settled.view.status == PaymentStatus.AVAILABLE
    (s,) = settled.transfers
    assert (s.debit, s.credit, s.settles) == (accounts.expert_pending("ex"), accounts.expert_available("ex"), t.id)


def test_only_the_client_confirms():
    view = rules.opened(_input(), MONDAY, "payment:p1")
    assert rules.confirm(view, PartyCommand(actor=Actor(user_id="cl", role=Role.CLIENT)), _ctx(MONDAY)) is None
    with pytest.raises(Exception, match="only the contract's client"):
        rules.confirm(view, PartyCommand(actor=Actor(user_id="ex", role=Role.EXPERT)), _ctx(MONDAY))


@pytest.mark.rules("P2", "P5", "C3")
def test_the_statement_shows_a_manual_payment_with_its_kind_and_its_clearing():
    view = rules.opened(_input(PaymentKind.EXPENSE), MONDAY, "payment:p1")
    (t,) = rules.paid(view, _ctx(MONDAY)).transfers
    (s,) = rules.settle(view, _ctx(view.available_at)).transfers
    rows = StatementRows(
        contract=ContractFacts(id="c1", client_id="cl", expert_id="ex", type="fixed", status="active", currency="USD"),
        transfers=[
            LedgerRow(posted_at=MONDAY, **t.model_dump(exclude={"settles"})),
            LedgerRow(posted_at=view.available_at, **s.model_dump(exclude={"available_at"})),
        ],
        payments=["p1"],
    )
    statement = build(rows)
    paid, cleared = statement.lines
    assert (paid.kind, paid.amount, paid.payment_id, paid.payment_kind, paid.escrow_change) == (
        LineKind.MANUAL_PAYMENT,
        12_500,
        "p1",
        "expense",
        0,
    )
    assert paid.clears_at == view.available_at
    assert (cleared.kind, cleared.payment_id, cleared.at) == (LineKind.CLEARED, "p1", view.available_at)
    assert statement.reconciled

"""Payout methods and payouts as pure decisions (escrow.rules.payout): P3, P4, L5."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.errors import Refusal
from escrow.models import PayoutInput, PayoutMethodKind, PayoutSource, PayoutStatus, Role
from escrow.payouts import PayoutOutcome, PayoutRequest, SandboxPayoutGateway
from escrow.policy import preset
from escrow.rules import Context
from escrow.rules import payout as rules

POLICY = preset("cadcrowd")
ADDED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
WIRE, PAYPAL, PAYONEER = PayoutMethodKind.WIRE, PayoutMethodKind.PAYPAL, PayoutMethodKind.PAYONEER


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value


@pytest.mark.rules("P3")
def test_the_security_hold_ends_three_days_after_the_method_is_added_to_the_second():
    until = rules.security_hold_until(ADDED, POLICY)
    assert until == ADDED + timedelta(days=3)
    before = refusal(lambda: rules.check_hold(until, until - timedelta(seconds=1)))
    assert before.type == Refusal.CONFLICT
    assert "2026-11-21 10:00:00" in before.message  # the date it ends
    rules.check_hold(until, until)


@pytest.mark.rules("P3", "L5")
def test_the_payout_itself_checks_the_hold_on_its_own_clock():
    v = _view(1_000, 0, hold_until=ADDED + timedelta(days=3))
    early = replace(CTX, now=ADDED + timedelta(days=3) - timedelta(seconds=1))
    assert refusal(lambda: rules.reserve(v, early)).type == Refusal.CONFLICT
    on_time = replace(CTX, now=ADDED + timedelta(days=3))
    assert rules.reserve(v, on_time).transfers[0].amount == 1_000


@pytest.mark.rules("P4")
def test_a_wire_is_only_above_2500_dollars_and_costs_50():
    at = refusal(lambda: rules.payout_fee(WIRE, 250_000, POLICY))
    assert at.type == Refusal.CONFLICT
    assert rules.payout_fee(WIRE, 250_001, POLICY) == 5_000
    assert rules.payout_fee(PAYPAL, 250_000, POLICY) == 0


@pytest.mark.rules("R3", "L5")
def test_an_expert_withdraws_earnings_a_client_its_refunded_balance():
    assert rules.source(Role.EXPERT) == PayoutSource.EARNINGS
    assert rules.source(Role.CLIENT) == PayoutSource.REFUNDS
    assert refusal(lambda: rules.source(Role.OPERATOR)).type == Refusal.FORBIDDEN
    v = _view(1_000, 0, source=PayoutSource.REFUNDS)
    (reserve,) = rules.reserve(v, CTX).transfers
    assert reserve.debit == accounts.client_balance("ann")
    failed = rules.settle(v, SandboxPayoutGateway().send(_request("fail@example.com")), CTX)
    assert [t.credit for t in failed.transfers] == [accounts.client_balance("ann")]


@pytest.mark.rules("P4")
def test_method_accounts_by_kind():
    assert rules.method_account(PAYPAL, " me@example.com ", "us", POLICY) == ("me@example.com", "US")
    assert refusal(lambda: rules.method_account(PAYPAL, "not-an-email", "US", POLICY)).type == Refusal.INVALID
    # Payoneer only where PayPal is not served, and PayPal not there.
    assert refusal(lambda: rules.method_account(PAYONEER, "me@example.com", "US", POLICY)).type == Refusal.INVALID
    assert rules.method_account(PAYONEER, "me@example.com", "PK", POLICY)[1] == "PK"
    assert refusal(lambda: rules.method_account(PAYPAL, "me@example.com", "PK", POLICY)).type == Refusal.INVALID
    assert rules.method_account(WIRE, "de89 3704 0044 0532 0130 00", "DE", POLICY)[0] == "DE89370400440532013000"
    assert rules.method_account(WIRE, "123456789", "US", POLICY)[0] == "123456789"
    assert refusal(lambda: rules.method_account(WIRE, "me@example.com", "US", POLICY)).type == Refusal.INVALID


def test_an_account_is_never_shown_in_full():
    assert rules.mask(PAYPAL, "someone@example.com") == "s***@example.com"
    assert rules.mask(WIRE, "DE89370400440532013000") == "****3000"
    assert "someone" not in rules.mask(PAYPAL, "someone@example.com")


def _view(amount: int, fee: int, hold_until: datetime = ADDED, source: PayoutSource = PayoutSource.EARNINGS):
    payout = PayoutInput(
        payout_id="p1",
        user_id="ann",
        method_id="m1",
        kind=WIRE if fee else PAYPAL,
        account="x",
        account_masked="****",
        amount=amount,
        fee=fee,
        currency="USD",
        policy=POLICY,
        security_hold_until=hold_until,
        source=source,
    )
    return rules.opened(payout, ADDED)


CTX = Context(now=ADDED, policy=POLICY, workflow_id="payout:p1", step=2)


@pytest.mark.rules("P4", "L5")
def test_a_payout_holds_the_money_then_pays_it_less_the_fee_or_returns_it():
    v = _view(300_000, 5_000)
    (reserve,) = rules.reserve(v, CTX).transfers
    assert (reserve.debit, reserve.credit, reserve.amount) == (
        accounts.expert_available("ann"),
        accounts.payout("ann", "p1"),
        300_000,
    )
    paid = rules.settle(v, SandboxPayoutGateway().send(_request("ann@example.com")), CTX)
    assert paid.view.status == PayoutStatus.PAID
    assert {(t.credit, t.amount) for t in paid.transfers} == {
        (accounts.WORLD_PAYOUTS, 295_000),
        (accounts.PLATFORM_FEES, 5_000),
    }
    failed = rules.settle(v, SandboxPayoutGateway().send(_request("fail@example.com")), CTX)
    assert failed.view.status == PayoutStatus.FAILED
    assert [(t.credit, t.amount) for t in failed.transfers] == [(accounts.expert_available("ann"), 300_000)]


def _request(account: str) -> PayoutRequest:
    return PayoutRequest(key="payout:p1", kind="paypal", account=account, amount=1, currency="USD")


def test_the_sandbox_answers_the_same_key_the_same_way():
    gateway = SandboxPayoutGateway()
    assert gateway.send(_request("a@example.com")).outcome == PayoutOutcome.PAID
    assert gateway.send(_request("a@example.com")) == gateway.send(_request("a@example.com"))
    assert SandboxPayoutGateway().send(_request("FAIL@example.com")).outcome == PayoutOutcome.FAILED

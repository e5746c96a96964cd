"""Payout methods and payouts (P3, P4, L5): pure rules.

A method is checked and masked here (P4) and starts a security hold (P3). A payout
moves money the user has available (L5) into the payout's own account in one step,
is sent through the payout gateway, and then either leaves for the world (less the
wire fee, to the platform) or comes back to the user's available balance.
"""

from __future__ import annotations

import re
from datetime import datetime

from escrow import accounts
from escrow.errors import Refusal, refuse
from escrow.models import PayoutInput, PayoutMethodKind, PayoutSource, PayoutStatus, PayoutView, Role, TransferSpec
from escrow.payouts import PayoutOutcome, PayoutResult
from escrow.policy import Policy
from escrow.rules import Context, Decision, made_from

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# An IBAN (two letters, two digits, up to 30 letters/digits) or a plain account number.
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{6,20}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def method_account(kind: PayoutMethodKind, account: str, country: str, policy: Policy) -> tuple[str, str]:
    """P4: the method's account and country as stored, or a refusal. PayPal and
    Payoneer take an e-mail; Payoneer only where PayPal is not served; a wire takes an
    IBAN or an account number."""
    country = country.strip().upper()
    if not _COUNTRY.match(country):
        raise refuse(Refusal.INVALID, "country must be an ISO 3166 two-letter code")
    if kind in (PayoutMethodKind.PAYPAL, PayoutMethodKind.PAYONEER):
        account = account.strip()
        if not _EMAIL.match(account) or len(account) > 254:
            raise refuse(Refusal.INVALID, f"a {kind} account is an e-mail address")
        unserved = country in policy.paypal_unserved_countries
        if kind == PayoutMethodKind.PAYPAL and unserved:
            raise refuse(Refusal.INVALID, f"PayPal does not serve {country}; use Payoneer or a wire (P4)")
        if kind == PayoutMethodKind.PAYONEER and not unserved:
            raise refuse(Refusal.INVALID, f"Payoneer is offered only where PayPal is not served, not in {country} (P4)")
        return account, country
    account = re.sub(r"[\s-]", "", account).upper()
    if not (_IBAN.match(account) or _ACCOUNT_NUMBER.match(account)):
        raise refuse(Refusal.INVALID, "a wire account is an IBAN or a bank account number")
    return account, country


def mask(kind: PayoutMethodKind, account: str) -> str:
    """The account as the API shows it: never in full."""
    if kind in (PayoutMethodKind.PAYPAL, PayoutMethodKind.PAYONEER) and "@" in account:
        name, domain = account.rsplit("@", 1)
        return f"{name[:1]}***@{domain}"
    return f"****{account[-4:]}" if len(account) > 4 else "****"


def security_hold_until(changed_at: datetime, policy: Policy) -> datetime:
    """P3: payouts through a method added or changed at `changed_at` wait until then."""
    return changed_at + policy.payout_method_hold


def check_hold(hold_until: datetime, now: datetime) -> None:
    """P3: a method added or changed less than 3 days ago pays nothing out yet."""
    if now < hold_until:
        raise refuse(
            Refusal.CONFLICT,
            f"payouts through this method are on a security hold until {hold_until:%Y-%m-%d %H:%M:%S} UTC (P3)",
        )


def source(role: Role) -> PayoutSource:
    """An expert withdraws its earnings, a client its refunded balance (R3)."""
    if role == Role.EXPERT:
        return PayoutSource.EARNINGS
    if role == Role.CLIENT:
        return PayoutSource.REFUNDS
    raise refuse(Refusal.FORBIDDEN, "payouts are asked for by their client or expert")


def balance_account(user_id: str, source: PayoutSource) -> str:
    """The balance a payout draws on, and returns to if it fails."""
    if source == PayoutSource.REFUNDS:
        return accounts.client_balance(user_id)
    return accounts.expert_available(user_id)


def payout_fee(kind: PayoutMethodKind, amount: int, policy: Policy) -> int:
    """P4: the fee of a payout of `amount` through the method, or a refusal. Whether
    the method's hold is over is the payout's to say, on its own clock; whether the
    money is available is the ledger's, in the payout's first step."""
    if amount <= 0:
        raise refuse(Refusal.INVALID, "a payout amount is a positive number of cents")
    if kind == PayoutMethodKind.WIRE:
        if amount <= policy.wire_minimum:
            raise refuse(
                Refusal.CONFLICT,
                f"a wire transfer is for payouts above {policy.wire_minimum // 100:,}.00 USD (P4)",
            )
        return policy.wire_fee
    return 0


def opened(input: PayoutInput, now: datetime) -> PayoutView:
    # The view holds what the input does under the same names, never the full account.
    return made_from(
        input, PayoutView, id=input.payout_id, status=PayoutStatus.PENDING, requested_at=input.requested_at or now
    )


def reserve(v: PayoutView, ctx: Context) -> Decision[PayoutView]:
    """P3, L5: once the method's hold is over, the amount leaves the user's available
    balance for the payout's account. The ledger refuses it if the money is not there,
    so two payouts can't spend it twice."""
    check_hold(v.security_hold_until, ctx.now)
    transfer = TransferSpec(
        id=ctx.id("reserve"),
        debit=balance_account(v.user_id, v.source),
        credit=accounts.payout(v.user_id, v.id),
        amount=v.amount,
        currency=v.currency,
        kind="payout.reserve",
    )
    return Decision(view=v, kind="payout.requested", data=_data(v), transfers=[transfer])


def refused(v: PayoutView, reason: str, now: datetime) -> PayoutView:
    """A payout whose money was never taken: it moved nothing, so no step records it;
    its view says why, for whoever reads it after the 409."""
    return v.model_copy(update={"status": PayoutStatus.REFUSED, "decided_at": now, "failure": reason})


def settle(v: PayoutView, result: PayoutResult, ctx: Context) -> Decision[PayoutView]:
    """P4: paid, the money leaves for the world, the fee to the platform; failed, it
    all comes back to the user's available balance."""
    held = accounts.payout(v.user_id, v.id)
    if result.outcome == PayoutOutcome.PAID:
        status = PayoutStatus.PAID
        transfers = [
            TransferSpec(
                id=ctx.id("paid"),
                debit=held,
                credit=accounts.WORLD_PAYOUTS,
                amount=v.amount - v.fee,
                currency=v.currency,
                kind="payout.paid",
            )
        ]
        if v.fee:
            transfers.append(
                TransferSpec(
                    id=ctx.id("fee"),
                    debit=held,
                    credit=accounts.PLATFORM_FEES,
                    amount=v.fee,
                    currency=v.currency,
                    kind="payout.fee",
                )
            )
    else:
        status = PayoutStatus.FAILED
        transfers = [
            TransferSpec(
                id=ctx.id("returned"),
                debit=held,
                credit=balance_account(v.user_id, v.source),
                amount=v.amount,
                currency=v.currency,
                kind="payout.returned",
            )
        ]
    view = v.model_copy(
        update={
            "status": status,
            "decided_at": ctx.now,
            "reference": result.reference,
            "failure": result.message or None if status == PayoutStatus.FAILED else None,
        }
    )
    return Decision(view=view, kind=f"payout.{status.value}", data=_data(view), transfers=transfers)


def _data(v: PayoutView) -> dict[str, object]:
    return {"payout_id": v.id, "amount": v.amount, "fee": v.fee, "method_id": v.method_id, "source": v.source.value}

"""Money is an integer number of minor units with a currency; never a float."""

from __future__ import annotations

CURRENCIES = frozenset({"USD"})


def format_cents(amount: int, currency: str = "USD") -> str:
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{currency} {whole:,}.{cents:02d}"

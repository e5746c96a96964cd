"""The ledger's invariants, checked against the database as it stands (L1–L5).

Tests run this after every test that touched the database, the fault suite after every
crash, and operators with `escrow ledger check`. Each violation names the account,
milestone, week or transfer it is about, so whoever reads it knows where to look.

What must hold, whatever crashed or raced:
- the sum of all balances is zero (L4), and no account but `world:*` is negative (L3);
- every account's balance is what its transfers add up to;
- every escrow account holds exactly its milestone's or billing week's `escrow`, and
  every milestone and week with escrow has its account;
- per milestone and week, funded = released + refunded + escrow (L4), plus, for a
  milestone, the remainder it applied to a new one (M6);
- a hold is settled at most once, by a transfer that moves exactly the held amount
  out of the account the hold went into (L5).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from escrow import accounts
from escrow.db.models import Account, HourlyWeek, Milestone, Transfer

MILESTONE_ESCROW = accounts.milestone_escrow("")
WEEK_ESCROW = "escrow:week:"


@dataclass
class Report:
    accounts: int = 0
    transfers: int = 0
    milestones: int = 0
    weeks: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        counted = (
            f"{self.accounts} accounts, {self.transfers} transfers, "
            f"{self.milestones} milestones, {self.weeks} billing weeks"
        )
        if self.clean:
            return f"ledger check: clean ({counted})"
        return f"ledger check: {len(self.violations)} violations ({counted})\n" + "\n".join(
            f"  {v}" for v in self.violations
        )


def check(session: Session) -> Report:
    report = Report()
    bad = report.violations

    balances = dict(session.execute(select(Account.name, Account.balance)).all())
    report.accounts = len(balances)
    total = sum(balances.values())
    if total != 0:
        bad.append(f"the ledger does not balance: the accounts sum to {total}, not 0 (L4)")
    for name, value in sorted(balances.items()):
        if value < 0 and not accounts.may_go_negative(name):
            bad.append(f"account {name} is negative: {value} (L3)")

    moved: dict[str, int] = defaultdict(int)
    for debit, credit, amount in session.execute(
        select(Transfer.debit_account, Transfer.credit_account, Transfer.amount)
    ).all():
        moved[debit] -= amount
        moved[credit] += amount
        report.transfers += 1
    for name, value in sorted(balances.items()):
        if moved.get(name, 0) != value:
            bad.append(f"account {name} holds {value} but its transfers add up to {moved.get(name, 0)}")

    escrows = {name: value for name, value in balances.items() if name.startswith("escrow:")}
    owned: set[str] = set()
    for row in session.scalars(select(Milestone)):
        report.milestones += 1
        account = accounts.milestone_escrow(row.id)
        owned.add(account)
        _owner_matches(bad, f"milestone {row.id}", account, row.escrow, escrows, row.view)
    for row in session.scalars(select(HourlyWeek)):
        report.weeks += 1
        account = accounts.week_escrow(row.contract_id, row.week)
        owned.add(account)
        _owner_matches(bad, f"billing week {row.id}", account, row.escrow, escrows, row.view)
    for name, value in sorted(escrows.items()):
        if name not in owned and value != 0 and name.startswith((MILESTONE_ESCROW, WEEK_ESCROW)):
            bad.append(f"account {name} holds {value} but no milestone or billing week owns it")

    hold = aliased(Transfer)
    settlement = aliased(Transfer)
    for hold_id, hold_amount, hold_account, s_id, s_amount, s_debit in session.execute(
        select(
            hold.id, hold.amount, hold.credit_account, settlement.id, settlement.amount, settlement.debit_account
        ).join(settlement, settlement.settles == hold.id)
    ).all():
        if (s_amount, s_debit) != (hold_amount, hold_account):
            bad.append(
                f"transfer {s_id} settles hold {hold_id} with {s_amount} from {s_debit}; "
                f"the hold put {hold_amount} into {hold_account} (L5)"
            )
    twice = session.execute(
        select(Transfer.settles, func.count())
        .where(Transfer.settles.is_not(None))
        .group_by(Transfer.settles)
        .having(func.count() > 1)
    ).all()
    for hold_id, count in twice:
        bad.append(f"hold {hold_id} is settled {count} times (L5)")
    return report


def _owner_matches(bad: list[str], owner: str, account: str, escrow: int, escrows: dict[str, int], view: dict) -> None:
    held = escrows.get(account, 0)
    if held != escrow:
        bad.append(f"account {account} holds {held} but {owner} shows escrow {escrow}")
    funded = view.get("funded", view.get("charged", 0))
    released, refunded = view.get("released", 0), view.get("refunded", 0)
    applied = view.get("applied", 0)  # M6: moved on to a new milestone
    if funded != released + refunded + applied + escrow:
        moved = f" + applied {applied}" if applied else ""
        bad.append(
            f"{owner}: funded {funded} != released {released} + refunded {refunded}{moved} + escrow {escrow} (L4)"
        )

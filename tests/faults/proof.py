"""What must hold after the faults, read straight from the database (not through the
proxy): the operators' `escrow ledger check`, each case's money where it belongs, and
each idempotent command's effect exactly once."""

from __future__ import annotations

import os
import subprocess
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow import accounts
from escrow.db import ledger
from escrow.db.models import AuditEvent, Contract, Milestone, Transfer
from tests.faults.cases import Case
from tests.faults.processes import ROOT, SCRIPTS


def ledger_check(database_url: str) -> str:
    """`escrow ledger check`, the console script, as an operator runs it."""
    done = subprocess.run(
        [str(SCRIPTS / "escrow"), "ledger", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=120,
    )
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise AssertionError(f"escrow ledger check failed (exit {done.returncode}):\n{out}")
    return out


def settled(session: Session, case: Case) -> bool:
    """The case's money has reached its final place: no hold left pending."""
    return not ledger.unsettled_holds(session, accounts.expert_pending(case.expert.user_id)) and (
        ledger.balance(session, accounts.expert_available(case.expert.user_id)) == case.to_expert
    )


def money_problems(session: Session, case: Case) -> list[str]:
    problems = []
    client = ledger.user_balance(session, case.client.user_id)
    expert = ledger.user_balance(session, case.expert.user_id)
    wanted = {
        "client available": (client["available"], case.to_client),
        "expert available": (expert["available"], case.to_expert),
        "expert pending": (sum(p["amount"] for p in expert["pending"]), 0),
        "money in escrow": (client["in_escrow"], 0),
    }
    for what, (got, want) in wanted.items():
        if got != want:
            problems.append(f"{case}: {what} is {got}, expected {want}")
    return problems


def effect_problems(session: Session, case: Case) -> list[str]:
    """Every command the harness sent (retries and replays included) acted once."""
    problems = []
    contracts = session.scalar(select(func.count()).where(Contract.client_id == case.client.user_id))
    milestones = session.scalar(select(func.count()).where(Milestone.client_id == case.client.user_id))
    if (contracts, milestones) != (1, 1):
        problems.append(f"{case}: the client has {contracts} contracts and {milestones} milestones, expected 1 and 1")
    workflows = {wf for wf, _ in case.audits}
    seen = Counter(
        (wf, kind)
        for wf, kind in session.execute(
            select(AuditEvent.workflow_id, AuditEvent.kind).where(AuditEvent.workflow_id.in_(workflows))
        )
    )
    for key, want in case.audits.items():
        if seen[key] != want:
            problems.append(f"{case}: {seen[key]} audit events {key[1]} on {key[0]}, expected {want}")
    prefix = f"milestone:{case.milestone_id}:"
    kinds = Counter(session.scalars(select(Transfer.kind).where(Transfer.id.startswith(prefix))))
    for kind, want in {"fund": 1, "release": case.releases, "hold_release": case.releases}.items():
        if kinds[kind] != want:
            problems.append(f"{case}: {kinds[kind]} {kind} transfers, expected {want}")
    return problems

"""`escrow ledger check`: each invariant, broken on purpose in a ledger of its own,
is reported by name, and the command exits 1; a clean ledger exits 0."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from escrow import accounts
from escrow.db import ledger
from escrow.db.check import check
from escrow.db.engine import make_sessionmaker
from escrow.db.models import Account, Milestone, Transfer
from escrow.models import TransferSpec
from tests.conftest import fresh_database

NOW = datetime(2026, 11, 22, tzinfo=UTC)
MILESTONE = "m1"
ESCROW = accounts.milestone_escrow(MILESTONE)
PENDING = accounts.expert_pending("bob")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def db(url: str) -> Iterator[sessionmaker[Session]]:
    """A milestone funded 500.00 that released 200.00 into a hold: every invariant holds."""
    engine = fresh_database(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        for spec in (
            TransferSpec(
                id="fund", debit=accounts.WORLD_CARD, credit=ESCROW, amount=50_000, currency="USD", kind="fund"
            ),
            TransferSpec(
                id="release",
                debit=ESCROW,
                credit=PENDING,
                amount=20_000,
                currency="USD",
                kind="release",
                available_at=NOW,
            ),
        ):
            ledger.post(session, spec, NOW)
        session.add(
            Milestone(
                id=MILESTONE,
                contract_id="c1",
                client_id="alice",
                expert_id="bob",
                status="partially_released",
                amount=50_000,
                escrow=30_000,
                currency="USD",
                version=3,
                updated_at=NOW,
                view={"funded": 50_000, "released": 20_000, "refunded": 0},
            )
        )
    yield sessions
    engine.dispose()


def violations(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return check(session).violations


def run_cli(url: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "escrow"
    return subprocess.run([str(script), "--database-url", url, "ledger", "check"], capture_output=True, text=True)


@pytest.mark.rules("L4")
def test_a_consistent_ledger_is_clean_and_the_command_exits_0(db, url):
    assert violations(db) == []
    done = run_cli(url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clean" in done.stdout


@pytest.mark.rules("L4")
def test_a_balance_that_its_transfers_do_not_explain_is_named_and_exits_1(db, url):
    # (A negative one the database's own CHECK constraint refuses before we could.)
    with db.begin() as session:
        session.execute(update(Account).where(Account.name == PENDING).values(balance=19_999))
    found = violations(db)
    assert any("does not balance: the accounts sum to -1" in v for v in found), found
    assert any(f"account {PENDING} holds 19999 but its transfers add up to 20000" in v for v in found), found
    done = run_cli(url)
    assert done.returncode == 1 and PENDING in done.stdout


@pytest.mark.rules("L4")
def test_an_escrow_account_that_disagrees_with_its_milestone_is_named(db):
    with db.begin() as session:
        session.execute(update(Milestone).values(escrow=29_999))
    found = violations(db)
    assert any(f"account {ESCROW} holds 30000 but milestone {MILESTONE} shows escrow 29999" in v for v in found)
    assert any("funded 50000 != released 20000 + refunded 0 + escrow 29999" in v for v in found), found


@pytest.mark.rules("L5")
def test_a_hold_settled_by_another_amount_is_named(db):
    with db.begin() as session:
        ledger.post(
            session,
            TransferSpec(
                id="release:settle",
                debit=PENDING,
                credit=accounts.expert_available("bob"),
                amount=10_000,
                currency="USD",
                kind="hold_release",
                settles="release",
            ),
            NOW,
        )
    found = violations(db)
    assert any("settles hold release with 10000" in v for v in found), found


def test_escrow_that_no_milestone_owns_is_named(db):
    orphan = accounts.milestone_escrow("gone")
    with db.begin() as session:
        ledger.post(
            session,
            TransferSpec(id="orphan", debit=accounts.WORLD_CARD, credit=orphan, amount=1, currency="USD", kind="fund"),
            NOW,
        )
        assert session.get(Transfer, "orphan") is not None
    assert violations(db) == [f"account {orphan} holds 1 but no milestone or billing week owns it"]

"""`escrow`, the operators' command line (cli/), run through `main(argv)` against a
ledger of its own that real workflows wrote: it mints tokens the API accepts, shows a
contract's accounts, transfers and statement, and `ledger check` names a planted
inconsistency and exits 1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from temporalio.client import Client

from api.auth import decode_token
from cli import main
from escrow import accounts
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.models import Account
from escrow.models import Release, Role
from tests.conftest import fresh_database
from tests.support import Deal, funded
from worker import build_worker
from workflows.milestone import MilestoneWorkflow

QUEUE = "escrow-cli-test"
SECRET = "a-secret-of-the-cli-test-long-enough-for-hs256"


@pytest.fixture
async def ledger_url(tmp_path: Path, client: Client) -> AsyncIterator[str]:
    """A database of this test alone, with a worker writing into it: what the test
    breaks on purpose breaks nobody else's ledger."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = fresh_database(url)
    try:
        async with build_worker(client, make_sessionmaker(engine), QUEUE):
            yield url
    finally:
        engine.dispose()


@pytest.fixture
async def deal(client: Client, ledger_url: str) -> Deal:
    """A contract whose milestone of 500.00 is funded, 200.00 of it released."""
    deal, milestone = await funded(client, QUEUE, 50_000)
    await milestone.execute_update(MilestoneWorkflow.release, Release(actor=deal.client_actor, amount=20_000))
    return deal


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_token_is_one_the_api_accepts(monkeypatch, capsys):
    monkeypatch.setenv("ESCROW_JWT_SECRET", SECRET)
    status, out = run(capsys, "token", "--sub", "carol", "--role", "operator", "--ttl", "60")
    assert status == 0
    actor = decode_token(SECRET, out.strip())
    assert (actor.user_id, actor.role) == ("carol", Role.OPERATOR)


def test_token_refuses_a_subject_the_api_would_refuse(monkeypatch, capsys):
    monkeypatch.setenv("ESCROW_JWT_SECRET", SECRET)
    with pytest.raises(SystemExit) as exited:
        main(["token", "--sub", "not a user", "--role", "client"])
    assert exited.value.code == 2
    assert "--sub" in capsys.readouterr().err


def test_token_needs_the_secret(monkeypatch, capsys):
    monkeypatch.delenv("ESCROW_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        main(["token", "--sub", "carol", "--role", "operator"])
    assert "ESCROW_JWT_SECRET is not set" in capsys.readouterr().err


async def test_ledger_show_lists_the_contracts_accounts_and_transfers(ledger_url, deal, capsys):
    status, out = run(capsys, "--database-url", ledger_url, "ledger", "show", deal.contract_id)
    assert status == 0, out
    escrow = next(line for line in out.splitlines() if line.startswith(accounts.milestone_escrow("")))
    assert escrow.endswith("USD 300.00"), out
    pending = accounts.expert_pending(deal.expert_actor.user_id)
    assert any(line.startswith(pending) and line.endswith("USD 200.00") for line in out.splitlines()), out
    transfers = [line for line in out.splitlines() if " USD " in line and line[:4].isdigit()]
    assert len(transfers) == 2 and "USD 500.00" in transfers[0] and "USD 200.00" in transfers[1], out


@pytest.mark.rules("C3")
async def test_statement_as_json_is_the_apis_and_reconciles(ledger_url, deal, capsys):
    status, out = run(capsys, "--database-url", ledger_url, "statement", deal.contract_id, "--json")
    assert status == 0, out
    body = json.loads(out)
    assert body["contract_id"] == deal.contract_id and body["reconciled"] is True
    totals = body["totals"]
    assert (totals["funded"], totals["released"], totals["in_escrow"]) == (50_000, 20_000, 30_000)


@pytest.mark.rules("C3")
async def test_statement_as_a_table(ledger_url, deal, capsys):
    status, out = run(capsys, "--database-url", ledger_url, "statement", deal.contract_id)
    assert status == 0, out
    kinds = [line.split()[2] for line in out.splitlines() if line[:4].isdigit()]
    assert kinds[:2] == ["funding", "release"], out
    assert any(line.split()[:2] == ["in", "escrow"] and line.endswith("USD 300.00") for line in out.splitlines())
    assert out.rstrip().endswith("the statement reconciles with the ledger")


async def test_an_unknown_contract_is_said_so(ledger_url, capsys):
    for argv in (["ledger", "show", "c-nowhere"], ["statement", "c-nowhere"]):
        status, out = run(capsys, "--database-url", ledger_url, *argv)
        assert (status, out.strip()) == (1, "escrow: no contract c-nowhere in the ledger")


def test_a_database_without_the_schema_is_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "ledger", "check"]) == 2
    assert "no such table" in capsys.readouterr().err


@pytest.mark.rules("L4")
async def test_ledger_check_is_clean_then_names_a_planted_inconsistency(ledger_url, deal, capsys):
    status, out = run(capsys, "--database-url", ledger_url, "ledger", "check")
    assert (status, out.split("(")[0]) == (0, "ledger check: clean "), out

    pending = accounts.expert_pending(deal.expert_actor.user_id)
    engine = make_engine(ledger_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            session.execute(update(Account).where(Account.name == pending).values(balance=Account.balance + 1))
    finally:
        engine.dispose()

    status, out = run(capsys, "--database-url", ledger_url, "ledger", "check")
    assert status == 1
    assert f"account {pending} holds 20001 but its transfers add up to 20000" in out, out
    assert "the ledger does not balance: the accounts sum to 1, not 0 (L4)" in out, out

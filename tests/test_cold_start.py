"""A cold engine, started the way API.md says other systems start it: Temporal's
time-skipping test server from the CLI, `alembic upgrade head`, `python worker.py`,
`uvicorn api.main:app`, each a process on a free port with its own database. The
first command to a milestone that was just added must wait for its workflow's first
run, not be told the workflow has finished."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token
from escrow.models import Role

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "cold-start-secret-long-enough-for-hs256"
STARTUP = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    pytest.fail(f"{what} not ready after {STARTUP} s:\n{log.read_text()}")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Processes:
    def __init__(self, stack: ExitStack, tmp: Path, env: dict[str, str]) -> None:
        self.stack, self.tmp, self.env = stack, tmp, env

    def start(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self.stack.callback(_stop, proc)
        return proc, log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def cold_api(tmp_path: Path) -> Iterator[str]:
    """The base URL of a freshly started engine; every process stops with the test."""
    temporal = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TEMPORAL_", "ESCROW_"))} | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'escrow.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
        "ESCROW_JWT_SECRET": SECRET,
        "ESCROW_TASK_QUEUE": "cold-start",
        "ESCROW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",  # never one a running stack holds
    }
    with ExitStack() as stack:
        procs = Processes(stack, tmp_path, env)
        server, log = procs.start("temporal", [str(BIN / "temporal-test-server"), str(temporal)])
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True)
        wait_for("temporal-test-server", lambda: listening(temporal), server, log)
        procs.start("worker", [sys.executable, "worker.py"])
        api, api_log = procs.start(
            "api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", "0"]
        )

        def bound() -> str | None:
            found = re.search(rb"Uvicorn running on (http://127\.0\.0\.1:\d+)", api_log.read_bytes())
            return found.group(1).decode() if found else None

        wait_for("uvicorn", lambda: bound() is not None, api, api_log)
        yield f"{bound()}/v1"


def bearer(user: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, role)}"}


@pytest.mark.rules("M2")
def test_the_first_fund_after_a_cold_start_funds(cold_api: str) -> None:
    client, expert = bearer("alice", Role.CLIENT), bearer("bob", Role.EXPERT)
    with httpx.Client(base_url=cold_api, timeout=30) as http:
        contract = http.post(
            "/contracts", headers=client, json={"expert_id": "bob", "type": "fixed", "currency": "USD"}
        )
        assert contract.status_code == 201, contract.text
        milestone = http.post(
            f"/contracts/{contract.json()['id']}/milestones",
            headers=client,
            json={"title": "Wireframes", "amount": 50_000, "due_date": "2026-12-15"},
        )
        assert milestone.status_code == 201, milestone.text
        funded = http.post(
            f"/milestones/{milestone.json()['id']}/fund", headers=client, json={"card_authenticated": True}
        )
        assert funded.status_code == 200, funded.text
        assert funded.json()["escrow"] == 50_000
        assert http.get(f"/milestones/{milestone.json()['id']}", headers=expert).json()["status"] == "in_progress"

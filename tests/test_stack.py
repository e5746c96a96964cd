"""Smoke test of the README's run command: `python stack.py` brings up the dev server,
the worker and the API, answers, and stops cleanly on Ctrl-C; and it owns what it
starts: it refuses to run on a Temporal port or a task queue that someone else holds."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 60.0
SHUTDOWN = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def clean_env(**extra: str) -> dict[str, str]:
    # The stack must not pick up a developer's or CI's own settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ESCROW_JWT_SECRET")
    }
    env.update(extra)
    return env


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "stack.py"), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_stack_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    api, grpc, ui = free_port(), free_port(), free_port()
    log = tmp_path / "stack.log"
    proc = start(
        ["--port", str(api), "--temporal-port", str(grpc), "--ui-port", str(ui), "--state-dir", str(tmp_path / "var")],
        log,
        clean_env(),
    )
    try:
        deadline = time.monotonic() + STARTUP
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{api}/v1/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert health is not None and health.status_code == 200, log.read_text()

        web_ui = httpx.get(f"http://127.0.0.1:{ui}/", timeout=10)
        assert web_ui.status_code == 200, log.read_text()

        # A second stack would join this one's Temporal, or its task queue, with a ledger
        # of its own: both refuse, before serving anything, and leave this one be.
        second_api = free_port()
        same_port = start(
            [
                "--port",
                str(second_api),
                "--temporal-port",
                str(grpc),
                "--ui-port",
                str(free_port()),
                "--state-dir",
                str(tmp_path / "same-port"),
            ],
            tmp_path / "same-port.log",
            clean_env(),
        )
        same_queue = start(
            ["--no-temporal", "--port", str(second_api), "--state-dir", str(tmp_path / "same-queue")],
            tmp_path / "same-queue.log",
            clean_env(TEMPORAL_ADDRESS=f"127.0.0.1:{grpc}"),
        )
        try:
            port_reason = refused(same_port, tmp_path / "same-port.log")
            queue_reason = refused(same_queue, tmp_path / "same-queue.log")
        finally:
            stop(same_port)
            stop(same_queue)
        assert f"port {grpc} (--temporal-port) is already in use" in port_reason
        assert f"task queue 'escrow' in namespace 'default' at 127.0.0.1:{grpc} is already polled by" in queue_reason
        assert not listening(second_api)
        assert httpx.get(f"http://127.0.0.1:{api}/v1/healthz", timeout=5).status_code == 200

        # Its state lives where it was told, not in the repository's var/.
        assert (tmp_path / "var" / "temporal.db").exists()
        assert (tmp_path / "var" / "escrow.db").exists()
        assert "ESCROW_JWT_SECRET is unset" in log.read_text()

        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=SHUTDOWN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"stack did not stop within {SHUTDOWN}s of SIGINT:\n{log.read_text()}")
        assert code == 0, log.read_text()
        # The dev server went with it: nothing holds its ports.
        assert not listening(grpc) and not listening(ui) and not listening(api)
    finally:
        stop(proc)


def refused(proc: subprocess.Popen[bytes], log: Path) -> str:
    """Wait for a stack that must refuse to run; answer its reason."""
    try:
        code = proc.wait(timeout=SHUTDOWN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the stack ran instead of refusing:\n{log.read_text()}")
    text = log.read_text()
    assert code != 0, text
    assert "Ctrl-C stops everything" not in text, "it printed the healthy banner"
    reason = re.search(r"stack refused to run: (.*)", text)
    assert reason, text
    return reason.group(1)


def test_stack_refuses_a_temporal_port_someone_else_listens_on(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        log = tmp_path / "stack.log"
        proc = start(
            [
                "--temporal-port",
                str(taken),
                "--ui-port",
                str(free_port()),
                "--port",
                str(free_port()),
                "--state-dir",
                str(tmp_path / "var"),
            ],
            log,
            clean_env(),
        )
        try:
            assert f"port {taken} (--temporal-port) is already in use" in refused(proc, log)
        finally:
            stop(proc)
    # It refused before starting its dev server.
    assert not (tmp_path / "var" / "temporal.db").exists()


def test_stack_fails_fast_when_temporal_does_not_answer(tmp_path: Path) -> None:
    closed = free_port()
    log = tmp_path / "stack.log"
    proc = start(
        ["--no-temporal", "--startup-timeout", "2", "--port", str(free_port()), "--state-dir", str(tmp_path / "var")],
        log,
        clean_env(TEMPORAL_ADDRESS=f"127.0.0.1:{closed}"),
    )
    try:
        code = proc.wait(timeout=SHUTDOWN)
        assert code != 0
        assert f"127.0.0.1:{closed} did not answer" in log.read_text()
    finally:
        stop(proc)

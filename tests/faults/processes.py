"""The engine as separate operating-system processes, each one killable with SIGKILL:
the Temporal time-skipping server, `python worker.py` and `uvicorn api.main:app`.

Every process listens on a port picked at run time. The API's socket is made here and
handed to uvicorn (`--fd`), so a restarted API listens where the old one did.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(sys.executable).parent
READY_WAIT = 60.0  # seconds a process may take to start on a busy 2-core machine
PR_SET_PDEATHSIG = 1


def _die_with_the_harness() -> None:
    """In the child before exec (Linux): SIGKILL it when the harness dies, however the
    harness dies (a test timeout, Ctrl-C), so no server outlives its run."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A port nobody listens on right now; the Temporal test server takes its port as
    an argument, not a socket."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    """One child process with its output in a log file, started again on demand."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log: Path
    ready: str  # a line of its output that says it is serving
    pass_fds: tuple[int, ...] = ()
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)

    async def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=self.pass_fds,
                start_new_session=True,  # a Ctrl-C of the harness is not theirs
                preexec_fn=_die_with_the_harness,
            )
        await self._until_ready(offset)

    async def _until_ready(self, offset: int) -> None:
        deadline = asyncio.get_running_loop().time() + READY_WAIT
        while self.ready not in self.log.read_bytes()[offset:].decode(errors="replace"):
            if self._proc is None or self._proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited while starting; see {self.log}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{self.name} did not start within {READY_WAIT:.0f} s; see {self.log}")
            await asyncio.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye to Temporal or the database."""
        if self.running:
            assert self._proc is not None
            os.kill(self._proc.pid, signal.SIGKILL)
            await self._proc.wait()

    async def stop(self) -> None:
        if self.running:
            assert self._proc is not None
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


def temporal_server(port: int, logs: Path) -> Process:
    return Process(
        "temporal",
        [str(SCRIPTS / "temporal-test-server"), str(port)],
        {},
        logs / "temporal.log",
        # The test server logs nothing when it is up; `wait_for_port` decides instead.
        ready="",
    )


def worker(env: Mapping[str, str], logs: Path) -> Process:
    return Process(
        "worker",
        [sys.executable, "-m", "tests.faults.worker_process"],
        env,
        logs / "worker.log",
        ready="worker polling task queue",
    )


def api(env: Mapping[str, str], sock: socket.socket, logs: Path) -> Process:
    fd = sock.fileno()
    return Process(
        "api",
        [sys.executable, "-m", "uvicorn", "api.main:app", "--fd", str(fd), "--log-level", "warning"],
        # Quiet at this log level; the run polls /v1/healthz instead.
        env,
        logs / "api.log",
        ready="",
        pass_fds=(fd,),
    )


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def wait_for_port(port: int, seconds: float = READY_WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {seconds:.0f} s") from None
            await asyncio.sleep(0.1)

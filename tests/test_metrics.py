"""The metrics an operator scrapes: the API's requests, refusals and money on its
`/metrics`, and the worker's workflow and activity tasks from the Temporal SDK."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from escrow.db.engine import make_engine, make_sessionmaker
from escrow.db.migrate import upgrade
from escrow.db.models import Account, HourlyWeek, Milestone, Transfer
from escrow.db.money_metrics import MoneyTotals, Total, money_totals
from escrow.settings import Settings
from escrow.temporal import data_converter
from tests.api.support import SECRET, Parties, add_milestone, command, open_contract
from tests.support import open_contract as open_contract_workflow
from worker import build_worker, metrics_runtime

METRICS_PORTS = range(9400, 9450)  # this suite's share of the machine


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The one sample of `name` with these labels (others may have more)."""
    matching = [s for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0].value


@pytest.fixture
async def api(client: Client, sessions: sessionmaker[Session], task_queue: str, worker: object) -> AsyncIterator:
    """A fresh app (so its request counters start at zero) on the session's worker."""
    app = create_app(Settings(jwt_secret=SECRET, task_queue=task_queue), client=client, sessions=sessions)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
        yield http


async def test_the_api_counts_requests_by_route_template_refusals_by_reason_and_the_money(
    api: AsyncClient, sessions: sessionmaker[Session]
) -> None:
    parties = Parties.fresh()
    contract = await open_contract(api, parties)
    milestone = await add_milestone(api, contract["id"], parties.client, amount=50_000)
    funded = await command(api, milestone["id"], "fund", parties.client, {"card_authenticated": True})
    assert funded.status_code == 200, funded.text
    assert (await api.get(f"/v1/milestones/{milestone['id']}")).status_code == 401
    assert (await api.get("/no/such/path")).status_code == 404

    scraped = await api.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.text)

    requests = "escrow_api_requests_total"
    assert value(found, requests, method="POST", route="/v1/contracts", status="201") == 1
    assert value(found, requests, method="POST", route="/v1/contracts/{contract_id}/milestones", status="201") == 1
    assert value(found, requests, method="POST", route="/v1/milestones/{milestone_id}/fund", status="200") == 1
    assert value(found, requests, method="GET", route="/v1/milestones/{milestone_id}", status="401") == 1
    assert value(found, requests, method="GET", route="unmatched", status="404") == 1
    latency = "escrow_api_request_duration_seconds_count"
    assert value(found, latency, method="POST", route="/v1/milestones/{milestone_id}/fund", status="200") == 1
    # A raw path never becomes a label: one series per route, not per contract.
    labels = {v for s in found for v in s.labels.values()}
    assert not {contract["id"], milestone["id"], "/no/such/path"} & labels

    assert value(found, "escrow_api_refusals_total", reason="unauthenticated") == 1
    # A problem without a type of ours (the router's own 404) is counted by status.
    assert value(found, "escrow_api_refusals_total", reason="http-404") == 1

    # The money, from the ledger the session's tests share: at least this test's.
    assert value(found, "escrow_money_metrics_up") == 1
    with sessions() as session:
        kinds = set(session.scalars(select(Transfer.kind).where(Transfer.id.like(f"milestone:{milestone['id']}:%"))))
    assert kinds, "the funding moved no money"
    for kind in kinds:
        assert value(found, "escrow_transfers_total", kind=kind, currency="USD") >= 1
        assert value(found, "escrow_transferred_cents_total", kind=kind, currency="USD") >= 50_000
    held = {"holder": "milestone", "status": "in_progress", "currency": "USD"}
    assert value(found, "escrow_open_escrows", **held) >= 1
    assert value(found, "escrow_open_escrow_cents", **held) >= 50_000


async def test_every_answer_carries_a_request_id(api: AsyncClient) -> None:
    given = await api.get("/v1/milestones/m-1", headers={"X-Request-Id": "trace-42.a"})
    assert given.headers["X-Request-Id"] == "trace-42.a"
    made = await api.get("/v1/milestones/m-1")
    assert len(made.headers["X-Request-Id"]) == 32
    # A header that could forge or flood log lines is replaced, not echoed.
    forged = await api.get("/v1/milestones/m-1", headers={"X-Request-Id": 'x" "level": "ERROR'})
    assert forged.headers["X-Request-Id"] not in ('x" "level": "ERROR', made.headers["X-Request-Id"])


async def test_with_a_metrics_token_only_a_scraper_holding_it_reads_the_money(
    client: Client, sessions: sessionmaker[Session], task_queue: str
) -> None:
    settings = Settings(jwt_secret=SECRET, task_queue=task_queue, metrics_token="scrape-me")
    app = create_app(settings, client=client, sessions=sessions)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://escrow.test") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer scrape-mE"})).status_code == 401
        # A user's token is not the scraper's.
        assert (await http.get("/metrics", headers=Parties.fresh().client)).status_code == 401
        scraped = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200 and "escrow_money_metrics_up" in scraped.text


def test_money_totals_count_transfers_by_kind_and_open_escrow_by_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'money.db'}"
    upgrade(url)
    engine = make_engine(url)
    now = datetime(2026, 11, 2, tzinfo=UTC)

    def transfer(n: int, kind: str, amount: int, currency: str = "USD") -> Transfer:
        return Transfer(
            id=f"t{n}",
            debit_account="a",
            credit_account="b",
            amount=amount,
            currency=currency,
            kind=kind,
            posted_at=now,
        )

    def escrow_row(table: type, n: int, status: str, escrow: int, **columns: object) -> object:
        return table(
            id=f"{table.__tablename__}-{n}",
            client_id="c",
            expert_id="e",
            version=1,
            updated_at=now,
            currency="USD",
            view={},
            contract_id="k",
            status=status,
            escrow=escrow,
            **columns,
        )

    with make_sessionmaker(engine).begin() as session:
        session.add_all([Account(name="a", currency="USD", balance=0), Account(name="b", currency="USD", balance=0)])
        session.flush()
        session.add_all(
            [
                transfer(1, "fund", 500),
                transfer(2, "fund", 300),
                transfer(3, "release", 200),
                transfer(4, "fund", 100, currency="EUR"),
                escrow_row(Milestone, 1, "in_progress", 500, amount=500),
                escrow_row(Milestone, 2, "in_progress", 300, amount=300),
                escrow_row(Milestone, 3, "released", 0, amount=300),  # holds nothing: not open
                escrow_row(HourlyWeek, 1, "open", 1_000, week="2026-W45"),
            ]
        )
    with make_sessionmaker(engine)() as session:
        totals = money_totals(session)
    engine.dispose()

    assert totals == MoneyTotals(
        transfers=[
            Total(("fund", "EUR"), 1, 100),
            Total(("fund", "USD"), 2, 800),
            Total(("release", "USD"), 1, 200),
        ],
        open_escrow=[
            Total(("milestone", "in_progress", "USD"), 2, 800),
            Total(("hourly_week", "open", "USD"), 1, 1_000),
        ],
    )


def free_metrics_port() -> int:
    for port in METRICS_PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {METRICS_PORTS}")


async def test_the_worker_serves_the_sdks_workflow_and_activity_task_metrics(
    env: WorkflowEnvironment, sessions: sessionmaker[Session]
) -> None:
    address = f"127.0.0.1:{free_metrics_port()}"
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=data_converter,
        runtime=metrics_runtime(address),
    )
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, sessions, task_queue):
        deal = await open_contract_workflow(client, task_queue)
        await asyncio.wait_for(deal.add_milestone(), 20)
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read())
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    expected = {
        "temporal_workflow_task_queue_poll_succeed",
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_workflow_task_execution_latency",
        "temporal_activity_execution_latency",
        "temporal_worker_task_slots_used",
    }
    assert expected <= families, sorted(families)

"""The API's telemetry: `GET /metrics` (Prometheus text) with request counts and
latencies by route template, refusals by reason and the money from the ledger; an
`X-Request-Id` on every request and answer; one log line per request.

`/metrics` sits outside /v1. The money totals are the business's own figures, so with
`ESCROW_METRICS_TOKEN` set (docker-compose.yml requires it) a scrape must bring it as
a bearer token (Prometheus' `authorization: {credentials: ...}`); a development stack
without it serves them to anyone who reaches the port.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import DATABASE_DOWN, PROBLEM_JSON, problem_type, unauthenticated
from api.middleware import HttpMiddleware
from escrow.db.money_metrics import money_totals
from escrow.logs import RequestContext, current_request

log = logging.getLogger("api.access")
REQUEST_ID = "X-Request-Id"
# A caller's id is kept if it is a plain token of sensible length, else replaced: it
# goes into every log line of the request.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Polled by machines every few seconds: their lines would drown the rest.
_QUIET_ROUTES = {"/metrics", "/v1/healthz"}
UNMATCHED = "unmatched"  # no route: the raw path is never a label (a scanner makes millions)
_PROBLEM_PREFIX = problem_type("")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

router = APIRouter(include_in_schema=False)
# A `_created` timestamp per series doubles what a scrape carries and nobody graphs it.
disable_created_metrics()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise unauthenticated("/metrics needs the metrics token (ESCROW_METRICS_TOKEN) as a bearer token")
    # The money collector queries the database: off the event loop.
    body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class ApiMetrics:
    """One app's metrics, in a registry of its own so that apps made side by side (the
    tests make many) never register a name twice."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "escrow_api_requests",
            "HTTP requests answered, by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "escrow_api_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "escrow_api_refusals",
            "Requests answered with a problem (RFC 9457), by its type's slug",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = Gauge("escrow_api_requests_in_flight", "HTTP requests being answered", registry=self.registry)
        self.registry.register(MoneyCollector(app))


class MoneyCollector(Collector):
    """The ledger's totals, read at each scrape (escrow.db.money_metrics)."""

    def __init__(self, app: FastAPI) -> None:
        self.state = app.state  # the sessions appear there at startup

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("escrow_money_metrics_up", "1 if the ledger answered this scrape's money queries")
        sessions = self.state.sessions
        try:
            if sessions is None:
                raise LookupError("the app has not started")
            with sessions() as session:
                totals = money_totals(session)
        except (LookupError, *DATABASE_DOWN) as err:
            log.warning("money metrics unavailable: %s", type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        count = CounterMetricFamily("escrow_transfers", "Ledger transfers posted", labels=["kind", "currency"])
        cents = CounterMetricFamily(
            "escrow_transferred_cents", "Money moved by ledger transfers, in cents", labels=["kind", "currency"]
        )
        for total in totals.transfers:
            count.add_metric(total.labels, total.count)
            cents.add_metric(total.labels, total.amount)
        held = GaugeMetricFamily(
            "escrow_open_escrows",
            "Milestones and billing weeks holding escrow, by status",
            labels=["holder", "status", "currency"],
        )
        held_cents = GaugeMetricFamily(
            "escrow_open_escrow_cents",
            "Escrow held, in cents, by holder status",
            labels=["holder", "status", "currency"],
        )
        for total in totals.open_escrow:
            held.add_metric(total.labels, total.count)
            held_cents.add_metric(total.labels, total.amount)
        yield from (count, cents, held, held_cents)


class RequestTelemetry(HttpMiddleware):
    """Outside everything else, so it sees the answer the client gets (413s from the
    request limits and 500s from the last resort included)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: FastAPI) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.routes = routes
        self.templates: dict[int, str] | None = None

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _request_id(scope)
        token = current_request.set(RequestContext(request_id, scope))
        started = time.perf_counter()
        answer = _Answer()

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID] = request_id
                answer.problem = headers.get("content-type", "").startswith(PROBLEM_JSON)
            elif message["type"] == "http.response.body" and answer.problem:
                answer.body += message.get("body", b"")
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, answer, time.perf_counter() - started)
            current_request.reset(token)

    def _record(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        method, route, status = scope["method"], self._template(scope), str(answer.status)
        self.metrics.requests.labels(method, route, status).inc()
        self.metrics.latency.labels(method, route, status).observe(seconds)
        if answer.problem:
            self.metrics.refusals.labels(answer.reason()).inc()
        level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
        log.log(level, "%s %s %s %.1fms", method, scope["path"], status, seconds * 1000)

    def _template(self, scope: Scope) -> str:
        """The matched route's path with its parameters as `{names}`, prefix included."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self.templates is None:
            # FastAPI keeps an included router's routes as they were declared (without
            # the prefix); the route contexts know the path they are served at.
            self.templates = {
                id(context.original_route): context.path_format
                for context in iter_route_contexts(self.routes.routes)
                if context.path_format
            }
        return self.templates.get(id(route)) or getattr(route, "path_format", None) or UNMATCHED


class _Answer:
    def __init__(self) -> None:
        self.status = 500  # nothing sent: the server answers 500 for an app that raised
        self.problem = False
        self.body = b""

    def reason(self) -> str:
        try:
            kind: Any = json.loads(self.body).get("type")
        except (ValueError, AttributeError):
            kind = None
        if isinstance(kind, str) and kind.startswith(_PROBLEM_PREFIX):
            return kind.removeprefix(_PROBLEM_PREFIX)
        return f"http-{self.status}"


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def install(app: FastAPI) -> None:
    """Call last: the middleware must wrap every other one."""
    app.state.metrics = ApiMetrics(app)
    app.include_router(router)
    app.add_middleware(RequestTelemetry, metrics=app.state.metrics, routes=app)

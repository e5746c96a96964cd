"""Webhook endpoints (Standard Webhooks), for operators: register a URL and get its
signing secret; read the recent delivery attempts and what the endpoint answered.
Delivery itself is the worker's (workflows/webhooks.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.deps import ActorDep, SessionsDep
from api.errors import forbidden, not_found
from api.routes import Id, resource_router
from api.schemas import Body
from escrow.db import webhooks
from escrow.events import EVENT_TYPES, URL_MAX, webhook_url_problem
from escrow.models import Actor, Role
from escrow.webhooks import DeliveryAttempt, EndpointView, NewEndpoint

router = resource_router("webhooks")


def _url(url: str) -> str:
    problem = webhook_url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _type(kind: str) -> str:
    if kind not in EVENT_TYPES:
        raise ValueError(f"no event type {kind!r}")
    return kind


WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX), AfterValidator(_url)]
EventType = Annotated[str, StringConstraints(max_length=60), AfterValidator(_type)]


class NewWebhookEndpoint(Body):
    url: WebhookUrl
    event_types: list[EventType] | None = Field(
        default=None, min_length=1, max_length=len(EVENT_TYPES), description="only these types; all if absent"
    )


class Deliveries(BaseModel):
    endpoint: EndpointView
    data: list[DeliveryAttempt] = Field(description="the most recent attempts, newest first")


def _operator(actor: Actor) -> None:
    if actor.role is not Role.OPERATOR:
        raise forbidden("webhook endpoints are managed by operators")


@router.post("/webhook-endpoints", status_code=201, response_model=NewEndpoint, summary="Register a webhook endpoint")
def register_endpoint(body: NewWebhookEndpoint, actor: ActorDep, sessions: SessionsDep) -> NewEndpoint:
    """Events recorded from now on are POSTed to `url` as Standard Webhooks
    (`webhook-id`, `webhook-timestamp`, `webhook-signature` signed with the `secret`
    answered here, and only here), at least once: a failed attempt is retried with
    exponential backoff for 3 days, after which the endpoint is marked `failing`."""
    _operator(actor)
    with sessions.begin() as session:
        return webhooks.register(session, body.url, body.event_types)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=Deliveries,
    summary="A webhook endpoint's recent delivery attempts",
)
def endpoint_deliveries(endpoint_id: Id, actor: ActorDep, sessions: SessionsDep) -> Deliveries:
    _operator(actor)
    with sessions() as session:
        endpoint = webhooks.view(session, endpoint_id)
        if endpoint is None:
            raise not_found(f"no webhook endpoint {endpoint_id}")
        return Deliveries(endpoint=endpoint, data=webhooks.recent_attempts(session, endpoint_id))

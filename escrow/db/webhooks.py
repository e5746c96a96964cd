"""Webhook endpoints and delivery attempts in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.db import events
from escrow.db.engine import insert_for
from escrow.db.models import Event as EventRow
from escrow.db.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from escrow.events import new_secret
from escrow.webhooks import (
    BATCH,
    RETRY_FOR,
    ROUND,
    DeliveryAttempt,
    Dispatched,
    EndpointStatus,
    EndpointView,
    MessageStatus,
    NewEndpoint,
    message_id,
)

RECENT = 100


def _view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=row.id,
        url=row.url,
        event_types=row.event_types,
        status=EndpointStatus(row.status),
        created_at=row.created_at,
        failing_since=row.failing_since,
    )


def register(session: Session, url: str, event_types: list[str] | None) -> NewEndpoint:
    """An endpoint for the events recorded from now on, with a new signing secret."""
    row = WebhookEndpoint(
        id=f"ep_{uuid4().hex}",
        url=url,
        secret=new_secret(),
        event_types=sorted(set(event_types)) if event_types else None,
        since_position=events.head(session),
        status=EndpointStatus.ENABLED.value,
        created_at=datetime.now(UTC),
        failing_since=None,
    )
    session.add(row)
    session.flush()
    return NewEndpoint(**_view(row).model_dump(), secret=row.secret)


def endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def view(session: Session, endpoint_id: str) -> EndpointView | None:
    row = endpoint(session, endpoint_id)
    return _view(row) if row else None


def all_endpoints(session: Session) -> list[EndpointView]:
    return [_view(r) for r in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at))]


def recent_attempts(session: Session, endpoint_id: str) -> list[DeliveryAttempt]:
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(RECENT)
    )
    return [
        DeliveryAttempt(
            event_id=r.event_id,
            webhook_id=r.webhook_id,
            attempt=r.attempt,
            status_code=r.status_code,
            error=r.error,
            at=r.at,
        )
        for r in rows
    ]


def queue(session: Session, after: tuple[int, int] | None, now: datetime) -> Dispatched:
    """Queue the events after `after` for each endpoint that wants them. Answers the
    endpoints to wake: those that owed nothing before. One that still owes something is
    delivering it or waiting out its backoff, and takes the new messages along, so a
    dead endpoint is not woken for every event (see `settled`, which takes the same
    lock). Without endpoints nothing is read: each starts from the feed's end as it
    was when it was registered."""
    endpoints = list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id).with_for_update()))
    if not endpoints:
        return Dispatched(endpoints=[], cursor=after, withheld=False, full=False)
    found = events.page(session, after, BATCH, since_position=min(e.since_position for e in endpoints))
    rows = [
        {
            "id": message_id(ep.id, event.id),
            "endpoint_id": ep.id,
            "event_id": event.id,
            "position": position,
            "status": MessageStatus.PENDING.value,
            "attempts": 0,
            "queued_at": now,
        }
        for event, position in zip(found.events, found.positions, strict=True)
        for ep in endpoints
        if position > ep.since_position and (ep.event_types is None or event.type in ep.event_types)
    ]
    owed = {r["endpoint_id"] for r in rows}
    idle = [endpoint_id for endpoint_id in sorted(owed) if not _owes(session, endpoint_id)]
    if rows:
        session.execute(insert_for(session, WebhookMessage).values(rows).on_conflict_do_nothing(index_elements=["id"]))
    return Dispatched(endpoints=idle, cursor=found.next, withheld=found.withheld, full=len(found.events) == BATCH)


def requeue(session: Session, endpoint_id: str, event_id: str, now: datetime) -> None:
    """Owe the event to the endpoint again (an operator's resend), for 3 more days."""
    position = session.scalar(select(EventRow.position).where(EventRow.id == event_id))
    values = {
        "id": message_id(endpoint_id, event_id),
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "position": position,
        "status": MessageStatus.PENDING.value,
        "attempts": 0,
        "queued_at": now,
    }
    statement = insert_for(session, WebhookMessage).values(values)
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


def due(session: Session, endpoint_id: str) -> list[WebhookMessage]:
    """A round's messages: the least-tried first, then in feed order."""
    return list(
        session.scalars(
            select(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.status == MessageStatus.PENDING.value)
            .order_by(WebhookMessage.attempts, WebhookMessage.position)
            .limit(ROUND)
        )
    )


def _owes(session: Session, endpoint_id: str) -> bool:
    pending = select(WebhookMessage.id).where(
        WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.status == MessageStatus.PENDING.value
    )
    return session.scalar(pending.limit(1)) is not None


def settled(session: Session, endpoint_id: str, failed: bool, now: datetime) -> bool:
    """The end of a round: after a failed one, messages queued more than 3 days ago
    fail and mark the endpoint failing. Answers whether the endpoint still owes
    something. Under the endpoint's row lock, as `queue` decides whom to wake under it:
    whatever `queue` adds either is seen here or finds nothing owed and wakes the
    endpoint."""
    session.execute(select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id).with_for_update())
    if failed:
        _expire(session, endpoint_id, now)
    return _owes(session, endpoint_id)


def attempted(
    session: Session, message: WebhookMessage, at: datetime, status_code: int | None, error: str | None
) -> None:
    """Record an attempt and its message's state; a success makes a failing endpoint
    enabled again."""
    session.add(
        WebhookDelivery(
            endpoint_id=message.endpoint_id,
            event_id=message.event_id,
            webhook_id=message.event_id,
            attempt=message.attempts + 1,
            status_code=status_code,
            error=error,
            at=at,
        )
    )
    status = MessageStatus.PENDING if error else MessageStatus.DELIVERED
    session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message.id)
        .values(attempts=WebhookMessage.attempts + 1, status=status.value)
    )
    if error is None:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == message.endpoint_id, WebhookEndpoint.status != EndpointStatus.ENABLED.value)
            .values(status=EndpointStatus.ENABLED.value, failing_since=None)
        )


def _expire(session: Session, endpoint_id: str, now: datetime) -> None:
    expired = session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.endpoint_id == endpoint_id,
            WebhookMessage.status == MessageStatus.PENDING.value,
            WebhookMessage.queued_at <= now - RETRY_FOR,
        )
        .values(status=MessageStatus.FAILED.value)
    ).rowcount
    if expired:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.status == EndpointStatus.ENABLED.value)
            .values(status=EndpointStatus.FAILING.value, failing_since=now)
        )

"""The events feed in the database: each step's events recorded in its transaction,
and read back in an order a reader can page through without ever skipping one.

Why the order is (txid, position) and not the position alone: on PostgreSQL a
position is taken from a sequence at insert, but transactions commit in any order, so
position 11 may be visible while position 10 is still in flight; a reader that had
handed out 11 would never see 10. So each event also carries the id of the
transaction that wrote it, and the feed only hands out events of transactions older
than the oldest one still running (`pg_snapshot_xmin`): those are all finished, and
every transaction that starts later gets a larger id. Ordered by (txid, position),
nothing can appear behind a cursor. A long transaction holds the feed back while it
runs, never loses an event. SQLite serialises writers (BEGIN IMMEDIATE), so commit
order is position order there and txid is always 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, literal_column, or_, select, tuple_
from sqlalchemy.orm import Session

from escrow.db.engine import insert_for
from escrow.db.models import AuditEvent, Contract
from escrow.db.models import Event as EventRow
from escrow.events import Event, contract_of, cursor, event_type, subject
from escrow.models.ledger import AuditEvent as AuditModel

PG_TXID = "pg_current_xact_id()::text::bigint"
PG_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def record(session: Session, audit: list[AuditModel]) -> None:
    """The step's events, in the step's transaction; a retried step adds none."""
    if not audit:
        return
    txid = literal_column(PG_TXID) if _postgres(session) else 0
    rows = [
        {
            "id": e.id,
            "type": event_type(e.kind, e.actor_id, e.data),
            "contract_id": contract_of(e.workflow_id, e.contract_id),
            "txid": txid,
        }
        for e in audit
    ]
    session.execute(insert_for(session, EventRow).values(rows).on_conflict_do_nothing(index_elements=["id"]))


@dataclass(frozen=True)
class Page:
    events: list[Event]
    positions: list[int]
    # Where the next page starts: the last event's place, or the given one.
    next: tuple[int, int] | None
    # Events past the page's end exist but are not final yet (PostgreSQL: written by
    # a transaction older than one still running); read again shortly.
    withheld: bool

    @property
    def next_cursor(self) -> str | None:
        return cursor(*self.next) if self.next else None


def _after(after: tuple[int, int] | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if after is not None:
        where.append(tuple_(EventRow.txid, EventRow.position) > tuple_(*after))
    return where


def _final(session: Session) -> list[ColumnElement[bool]]:
    return [EventRow.txid < literal_column(PG_HORIZON)] if _postgres(session) else []


def _as_event(row: EventRow, audit: AuditEvent) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        at=audit.at.isoformat(),
        subject=subject(audit.workflow_id, row.contract_id),
        data=audit.data,
    )


def page(
    session: Session,
    after: tuple[int, int] | None,
    limit: int,
    user_id: str | None = None,
    since_position: int | None = None,
) -> Page:
    """Events after the cursor `after`, oldest first: `user_id`'s contracts' only, if
    given; only those recorded after `since_position`, if given."""
    where = _after(after)
    if user_id is not None:
        own = select(Contract.id).where(or_(Contract.client_id == user_id, Contract.expert_id == user_id))
        where.append(EventRow.contract_id.in_(own))
    if since_position is not None:
        where.append(EventRow.position > since_position)
    query: Select[tuple[EventRow, AuditEvent]] = (
        select(EventRow, AuditEvent)
        .join(AuditEvent, AuditEvent.id == EventRow.id)
        .where(*where, *_final(session))
        .order_by(EventRow.txid, EventRow.position)
        .limit(limit)
    )
    rows = session.execute(query).all()
    events = [_as_event(row, audit) for row, audit in rows]
    last = rows[-1][0] if rows else None
    next_place = (last.txid, last.position) if last else after
    withheld = False
    if len(rows) < limit and _postgres(session):
        beyond = _after(next_place)
        withheld = session.scalar(select(EventRow.position).where(*beyond).limit(1)) is not None
    return Page(events, [row.position for row, _ in rows], next_place, withheld)


def head(session: Session) -> int:
    """The last position handed out so far: an endpoint registered now gets what comes after."""
    return session.scalar(select(EventRow.position).order_by(EventRow.position.desc()).limit(1)) or 0


def load(session: Session, event_id: str) -> Event | None:
    found = session.execute(
        select(EventRow, AuditEvent).join(AuditEvent, AuditEvent.id == EventRow.id).where(EventRow.id == event_id)
    ).first()
    return _as_event(*found) if found else None

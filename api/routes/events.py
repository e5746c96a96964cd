"""The events feed: every fact the engine recorded, including what deadlines did on
their own, oldest first, paged by a cursor that never skips an event
(escrow/db/events.py). A party sees its own contracts' events; an operator all."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from api.deps import ActorDep, SessionsDep
from api.errors import invalid
from api.routes import resource_router
from escrow.db import events
from escrow.events import EVENT_TYPES, Event, parse_cursor
from escrow.models import Role

router = resource_router("events")
PAGE_MAX = 500


class EventPage(BaseModel):
    data: list[Event]
    next_cursor: str | None = Field(
        description="pass as `after` for the events that follow; the same cursor again when none did yet"
    )


TYPES_DOC = "\n".join(f"- `{kind}`: {what} ({rule})" for kind, (what, rule) in EVENT_TYPES.items())


@router.get(
    "/events",
    response_model=EventPage,
    summary="The events feed",
    description=f"Oldest first, after the cursor `after`. Event types:\n\n{TYPES_DOC}",
)
def events_feed(
    actor: ActorDep,
    sessions: SessionsDep,
    after: Annotated[str | None, Query(max_length=50, description="a `next_cursor` from an earlier page")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
) -> EventPage:
    place = None
    if after is not None:
        place = parse_cursor(after)
        if place is None:
            raise invalid("`after` is not a cursor this feed handed out")
    user = None if actor.role is Role.OPERATOR else actor.user_id
    with sessions() as session:
        found = events.page(session, place, limit, user_id=user)
    return EventPage(data=found.events, next_cursor=found.next_cursor)

"""The events feed: every step the engine records becomes a typed event in the same
transaction, paged oldest first by a cursor that never skips an event, a party seeing
its own contracts' events and an operator all of them."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from escrow.db import events
from escrow.db.models import AuditEvent
from escrow.db.models import Event as EventRow
from escrow.events import EVENT_TYPES, event_type, parse_cursor, subject, webhook_url_problem
from escrow.models import Release, Submit
from escrow.models.ledger import AuditEvent as AuditModel
from tests.support import funded
from workflows.milestone import MilestoneWorkflow as MW

ROOT = Path(__file__).resolve().parents[1]


def feed(sessions, user_id: str | None, limit: int = 500, after=None) -> events.Page:
    with sessions() as session:
        return events.page(session, after, limit, user_id=user_id)


@pytest.mark.usefixtures("worker")
async def test_every_step_of_a_milestone_is_an_event_of_its_parties_in_order(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 30_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    view = await milestone.execute_update(MW.release, Release(actor=deal.client_actor, amount=30_000))

    mine = feed(sessions, deal.client_actor.user_id).events
    assert [e.type for e in mine if e.subject["type"] == "milestone"] == [
        "milestone.created",
        "milestone.funded",
        "milestone.submitted",
        "milestone.released",
    ]
    assert mine[0].type == "contract.created"
    assert mine[0].subject == {"type": "contract", "id": deal.contract_id, "contract_id": deal.contract_id}
    assert {e.subject["id"] for e in mine if e.subject["type"] == "milestone"} == {view.id}
    assert feed(sessions, deal.expert_actor.user_id).events == mine
    with sessions() as session:
        audit = set(session.scalars(select(AuditEvent.id).where(AuditEvent.contract_id == deal.contract_id)))
    assert {e.id for e in mine} >= audit  # one event per audit event, the contract's own too

    others = feed(sessions, f"stranger-{uuid.uuid4().hex}").events
    assert others == []
    everything = {e.id for e in feed(sessions, None, limit=100_000).events}
    assert {e.id for e in mine} <= everything


@pytest.mark.usefixtures("worker")
async def test_paging_by_cursor_gives_every_event_once(client, task_queue, sessions):
    deal, milestone = await funded(client, task_queue, 30_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    user = deal.client_actor.user_id
    whole = feed(sessions, user)

    seen, after = [], None
    while True:
        page = feed(sessions, user, limit=2, after=after)
        if not page.events:
            break
        seen += page.events
        after = parse_cursor(page.next_cursor)
    assert seen == whole.events
    # An empty page hands the same cursor back, to ask again later.
    assert feed(sessions, user, after=after).next_cursor == page.next_cursor == whole.next_cursor


def test_silence_has_types_of_its_own():
    assert event_type("refund.approved", None, {}) == "refund.approved_by_silence"
    assert event_type("refund.approved", "expert-1", {}) == "refund.approved"
    assert event_type("refund.declined", None, {}) == "refund.declined_by_silence"
    assert event_type("dispute.resolved", None, {"resolution": "default"}) == "dispute.lost_by_silence"
    assert event_type("dispute.resolved", "op-1", {"resolution": "verdict"}) == "dispute.resolved"
    assert event_type("milestone.auto_released", None, {}) == "milestone.auto_released"
    assert subject("hourly-week:c1:2026-W03", "c1") == {"type": "week", "id": "c1:2026-W03", "contract_id": "c1"}
    assert subject("payout:p1", None) == {"type": "payout", "id": "p1", "contract_id": None}


def test_every_kind_the_rules_decide_is_a_documented_type():
    """A new decision kind must be added to escrow.events (README and OpenAPI read it)."""
    kinds = set()
    for path in (ROOT / "escrow" / "rules").glob("*.py"):
        kinds |= set(
            re.findall(
                r'"((?:contract|milestone|refund|dispute|week|review|reviews|payment)\.[a-z_]+)"', path.read_text()
            )
        )
    kinds |= {"refund.approved", "refund.declined", "payout.paid", "payout.failed"}  # f"refund.{status}", ...
    assert kinds - set(EVENT_TYPES) == set()
    readme = (ROOT / "README.md").read_text()
    assert [t for t in EVENT_TYPES if f"`{t}`" not in readme] == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/escrow", True),
        ("http://127.0.0.1:8080/x?y=1", True),
        ("ftp://example.com/", False),
        ("javascript:alert(1)", False),
        ("https:///nohost", False),
        ("https://example.com:99999/", False),
        ("https://exa mple.com/", False),
        ("https://example.com/\x00", False),
        ("https://example.com/" + "a" * 2000, False),
    ],
)
def test_webhook_urls_are_http_or_https_with_a_host(url, allowed):
    assert (webhook_url_problem(url) is None) is allowed


def test_a_cursor_is_only_what_the_feed_hands_out():
    assert parse_cursor("0.17") == (0, 17)
    assert parse_cursor("17") is None and parse_cursor("-1.2") is None and parse_cursor("1.2; drop") is None


def _record(sessions, event_id: str, hold: threading.Event | None = None, written: threading.Event | None = None):
    with sessions.begin() as session:
        audit = AuditModel(id=event_id, workflow_id=f"test:{event_id}", kind="test.event")
        session.add(AuditEvent(**audit.model_dump(), at=datetime.now(UTC)))
        session.flush()
        events.record(session, [audit])
        if written is not None:
            written.set()
        if hold is not None:
            hold.wait(30)


def test_an_event_committed_late_is_never_skipped(sessions, db_url):
    """PostgreSQL: a transaction that took its position first but commits last. Its
    later neighbour is withheld until it commits, then both come, in order."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: positions are in commit order")
    with sessions() as session:
        start = session.execute(
            select(EventRow.txid, EventRow.position).order_by(EventRow.txid.desc(), EventRow.position.desc()).limit(1)
        ).first()
    after = tuple(start) if start else None
    slow, fast = f"slow-{uuid.uuid4().hex}", f"fast-{uuid.uuid4().hex}"
    hold, written = threading.Event(), threading.Event()
    writer = threading.Thread(target=_record, args=(sessions, slow, hold, written))
    writer.start()
    try:
        assert written.wait(30)
        _record(sessions, fast)
        page = feed(sessions, None, after=after)
        assert [e.id for e in page.events if e.id in (slow, fast)] == [] and page.withheld
    finally:
        hold.set()
        writer.join()
    page = feed(sessions, None, after=after)
    assert [e.id for e in page.events if e.id in (slow, fast)] == [slow, fast]
    with sessions.begin() as session:
        for event_id in (slow, fast):
            session.delete(
                session.get(EventRow, session.scalar(select(EventRow.position).where(EventRow.id == event_id)))
            )
            session.flush()
            session.delete(session.get(AuditEvent, event_id))

"""Hourly contracts (H1–H7): the expert's work journal and the billing weeks.

Each billing week of a contract is its own workflow (`hourly-week:{contract}:{week}`),
started by the contract at the week's Monday 00:00 UTC; it owns that week's escrow
and decides every command on its entries. The API picks the week an entry belongs to
(the week its work started, H1) and finds an existing entry's week in the journal's
read model."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api import workflow_calls
from api.deps import ClientDep, SessionsDep, visible
from api.errors import invalid, not_found
from api.routes import CallerDep, Id, resource_router
from api.schemas import HoursDisputeBody, InvoiceReviewBody, NewTimeEntry, TimeEntryChange, TimeEntryView
from escrow.calendar import iso_week as week_of
from escrow.calendar import week_start
from escrow.commands import Week as W
from escrow.db.models import TimeEntry as TimeEntryRow
from escrow.models import DisputeView, HourlyWeekView, LogTime, TimeEntry

router = resource_router("hourly")
Week = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", description="an ISO week, e.g. 2026-W47")]


def valid_week(week: str) -> str:
    try:
        week_start(week)
    except ValueError as err:
        raise invalid(str(err)) from err
    return week


async def _week(client: ClientDep, sessions: SessionsDep, contract_id: str, iso_week: str) -> HourlyWeekView:
    return await workflow_calls.week(client, contract_id, valid_week(iso_week)).state()


VisibleWeek = Annotated[
    HourlyWeekView,
    visible("no billing week {iso_week} of contract {contract_id}", _week, contract_id=Id, iso_week=Week),
]


def entry_view(contract_id: str, week: str, entry: TimeEntry) -> TimeEntryView:
    return TimeEntryView(**entry.model_dump(), contract_id=contract_id, week=week)


def _journal_row(sessions: sessionmaker[Session], entry_id: str) -> tuple[str, str] | None:
    with sessions() as session:
        row = session.get(TimeEntryRow, entry_id)
        return None if row is None or row.deleted else (row.contract_id, row.week)


async def journal_entry(sessions: sessionmaker[Session], entry_id: str) -> tuple[str, str]:
    """(contract id, week) of a live entry; 404 for an unknown or deleted one."""
    found = await run_in_threadpool(_journal_row, sessions, entry_id)
    if found is None:
        raise not_found(f"no time entry {entry_id}")
    return found


@router.post(
    "/contracts/{contract_id}/time-entries",
    status_code=201,
    response_model=TimeEntryView,
    summary="Log time in the work journal (H1)",
)
async def log_time(contract_id: Id, body: NewTimeEntry, caller: CallerDep) -> TimeEntryView:
    """The expert logs work that has already happened: it lands in the billing week in
    which it started (Monday 00:00 to Sunday 23:59:59 UTC), while that week is open or in
    its expert review (until Monday 12:00, H3). `tracked` time may carry its activity
    `evidence` (optional; the entry's `has_evidence` and the week's
    `tracked_minutes_without_evidence` show what lacks it) and is covered by billing
    security, evidence or not; `manual` time is not (H5). A week that has not begun, or
    has closed, takes nothing (409)."""
    week = week_of(body.started_at)
    command = LogTime(actor=caller.actor, **body.model_dump())
    entry = await workflow_calls.log_time(caller.client, contract_id, week, command, caller.operation_id)
    return entry_view(contract_id, week, entry)


@router.patch("/time-entries/{entry_id}", response_model=TimeEntryView, summary="Edit a time entry (H3)")
async def edit_time(entry_id: Id, body: TimeEntryChange, caller: CallerDep, sessions: SessionsDep) -> TimeEntryView:
    """The expert edits an entry until its week's expert review ends (Monday 12:00 UTC);
    the week's invoice follows. An entry stays in its week."""
    contract_id, week = await journal_entry(sessions, entry_id)
    handle = workflow_calls.week(caller.client, contract_id, week)
    entry = await caller.run(handle, W.edit_time, entry_id=entry_id, **body.model_dump(exclude_unset=True))
    return entry_view(contract_id, week, entry)


@router.delete("/time-entries/{entry_id}", response_model=HourlyWeekView, summary="Delete a time entry (H3)")
async def delete_time(entry_id: Id, caller: CallerDep, sessions: SessionsDep) -> HourlyWeekView:
    """The expert deletes an entry until its week's expert review ends; answers the week."""
    contract_id, week = await journal_entry(sessions, entry_id)
    handle = workflow_calls.week(caller.client, contract_id, week)
    return await caller.run(handle, W.delete_time, entry_id=entry_id)


@router.get(
    "/contracts/{contract_id}/weeks/{iso_week}",
    response_model=HourlyWeekView,
    summary="A billing week: hours, invoice, status, deadlines (H1–H7)",
)
async def read_week(week: VisibleWeek) -> HourlyWeekView:
    """Its entries, the invoice they make, what was charged into its escrow, and the
    instants of its cycle: billed Monday 00:00 (H2), expert review until Monday 12:00
    (H3), client review until Friday 23:59:59 (H4), available to the expert on the
    Wednesday after (H6)."""
    return week


@router.post(
    "/contracts/{contract_id}/weeks/{iso_week}/disputes",
    status_code=201,
    response_model=DisputeView,
    summary="Dispute tracked hours of a week (H4, H5, D8)",
)
async def dispute_hours(contract_id: Id, iso_week: Week, body: HoursDisputeBody, caller: CallerDep) -> DisputeView:
    """The client disputes tracked entries during the week's client review (Monday 12:00
    to Friday 23:59:59 UTC, H4); manual time is not covered (H5). Their value in the
    week's escrow is frozen and the dispute runs through the dispute workflow (D8).
    Answers the new dispute."""
    handle = workflow_calls.week(caller.client, contract_id, valid_week(iso_week))
    return await caller.run(handle, W.dispute_hours, entry_ids=body.entry_ids, reason=body.reason)


@router.post(
    "/contracts/{contract_id}/weeks/{iso_week}/invoice-review",
    response_model=HourlyWeekView,
    summary="Decide a failing invoice under review (operator, H7)",
)
async def review_invoice(contract_id: Id, iso_week: Week, body: InvoiceReviewBody, caller: CallerDep) -> HourlyWeekView:
    """Operators only, while the week's invoice is under review (opened after the
    policy's number of failed charges, H7; 409 otherwise): `retry_now` charges again at
    once, `close` ends the review and the daily retries go on. Answers the week."""
    handle = workflow_calls.week(caller.client, contract_id, valid_week(iso_week))
    return await caller.run(handle, W.review_invoice, action=body.action, note=body.note)

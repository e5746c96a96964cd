"""Post one workflow step: its transfers, read models, invoices, audit events and
notifications, in a single database transaction.

Every row has an id the workflow derived from the step, so a retried activity finds its
earlier work already there and adds nothing (L2). A refused transfer rolls the whole
step back (L3).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from escrow import ids
from escrow.db import events, ledger
from escrow.db.engine import insert_for
from escrow.db.models import (
    AuditEvent,
    Claim,
    Contract,
    HourlyWeek,
    Invoice,
    Milestone,
    OutboxMessage,
    ViewRow,
)
from escrow.db.models import TimeEntry as TimeEntryRow
from escrow.errors import Refusal, refuse
from escrow.models import Claim as ClaimModel
from escrow.models import ContractView, HourlyWeekView, MilestoneView, Step

# The database refused the data itself (a NUL, a value too long, text it can't encode)
# or the ledger refused the transfer's terms: the same step fails the same way forever.
NEVER_FIXED_BY_RETRY = (DataError, UnicodeEncodeError, ledger.LedgerError)


def _insert_once(session: Session, table: type, rows: list[dict]) -> None:
    if rows:
        session.execute(insert_for(session, table).values(rows).on_conflict_do_nothing(index_elements=["id"]))


def _upsert_newer(session: Session, table: type, row: dict) -> bool:
    """Write a read model unless a newer step already wrote it; True if written."""
    inserted = session.execute(
        insert_for(session, table).values(row).on_conflict_do_nothing(index_elements=["id"]).returning(table.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return True
    result = session.execute(update(table).where(table.id == row["id"], table.version < row["version"]).values(row))
    return bool(result.rowcount)


def _write_view(
    session: Session,
    table: type[ViewRow],
    view: ContractView | MilestoneView | HourlyWeekView,
    step: Step,
    **columns: object,
) -> bool:
    """The view into its read-model row: the columns every view row has, and the
    table's own `columns`. True if written (no newer step wrote it first)."""
    row = {
        "id": view.id,
        "client_id": view.client_id,
        "expert_id": view.expert_id,
        "currency": view.currency,
        "view": view.model_dump(mode="json"),
        "version": step.version,
        "updated_at": step.at,
        **columns,
    }
    return _upsert_newer(session, table, row)


def _write_week(session: Session, view: HourlyWeekView, step: Step) -> None:
    written = _write_view(
        session,
        HourlyWeek,
        view,
        step,
        contract_id=view.contract_id,
        week=view.week,
        status=view.status.value,
        escrow=view.escrow,
    )
    if not written:
        return
    # H1: the journal follows the week's entries; a deleted entry stays, marked.
    for entry in view.entries:
        values = {
            "id": entry.id,
            "contract_id": view.contract_id,
            "week": view.week,
            "expert_id": view.expert_id,
            "started_at": entry.started_at,
            "minutes": entry.minutes,
            "kind": entry.kind.value,
            "memo": entry.memo,
            "evidence": entry.evidence,
            "deleted": False,
            "updated_at": step.at,
        }
        statement = insert_for(session, TimeEntryRow).values(values)
        session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))
    session.execute(
        update(TimeEntryRow)
        .where(
            TimeEntryRow.contract_id == view.contract_id,
            TimeEntryRow.week == view.week,
            TimeEntryRow.id.not_in([e.id for e in view.entries]),
        )
        .values(deleted=True, updated_at=step.at)
    )


def _write_claims(session: Session, claims: list[ClaimModel], owner: dict, version: int, at: datetime) -> None:
    """Each refund request and dispute on the escrow, with its owner and parties: how
    the API finds a claim's owner without asking Temporal."""
    for claim in claims:
        row = {
            "id": claim.id,
            "kind": claim.kind.value,
            "status": claim.status.value,
            "amount": claim.amount,
            "version": version,
            "updated_at": at,
            **owner,
        }
        _upsert_newer(session, Claim, row)


def write_step(session: Session, step: Step) -> None:
    for transfer in step.transfers:
        ledger.post(session, transfer, step.at)
    if step.contract is not None:
        view = step.contract
        _write_view(session, Contract, view, step, type=view.type.value, status=view.status.value)
    if step.milestone is not None:
        view = step.milestone
        _write_view(
            session,
            Milestone,
            view,
            step,
            contract_id=view.contract_id,
            status=view.status.value,
            amount=view.amount,
            escrow=view.escrow,
        )
        owner = {
            "owner_workflow_id": ids.milestone(view.id),
            "milestone_id": view.id,
            "week": None,
            "contract_id": view.contract_id,
            "client_id": view.client_id,
            "expert_id": view.expert_id,
        }
        _write_claims(session, view.claims, owner, step.version, step.at)
    if step.week is not None:
        _write_week(session, step.week, step)
        week = step.week
        owner = {
            "owner_workflow_id": week.id,
            "milestone_id": None,
            "week": week.week,
            "contract_id": week.contract_id,
            "client_id": week.client_id,
            "expert_id": week.expert_id,
        }
        _write_claims(session, week.claims, owner, step.version, step.at)
    _insert_once(session, Invoice, [i.model_dump() for i in step.invoices])
    _insert_once(session, AuditEvent, [{**e.model_dump(mode="json"), "at": step.at} for e in step.audit])
    events.record(session, step.audit)
    _insert_once(
        session,
        OutboxMessage,
        [{**n.model_dump(), "created_at": step.at, "sent_at": None} for n in step.notifications],
    )


class StepActivities:
    """Holds the database handle; `after_commit` lets a test kill the process at the
    worst moment (after the money moved, before Temporal hears of it). `recorded` is
    told, without being waited for, that a step's events were committed (webhook
    delivery wakes up)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        after_commit: Callable[[Step], None] | None = None,
        recorded: Callable[[], None] | None = None,
    ):
        self._sessions = sessions
        self._after_commit = after_commit
        self._recorded = recorded

    @activity.defn(name="post_step")
    def post_step(self, step: Step) -> None:
        try:
            with self._sessions.begin() as session:
                write_step(session, step)
        except ledger.InsufficientFunds as err:
            raise refuse(Refusal.INSUFFICIENT_FUNDS, str(err)) from err
        except NEVER_FIXED_BY_RETRY as err:
            # Retried, it would hold its workflow's command turn for good: every later
            # command and timer waits behind it. Refused, the update that made the step
            # fails and the workflow goes on. A database that is down (OperationalError)
            # is not in the list: that step waits for it.
            activity.logger.error("the step can never be written: %s", str(err).splitlines()[0])
            raise refuse(Refusal.INVALID, "the change can't be stored; nothing was written") from err
        if self._recorded is not None and step.audit:
            self._recorded()
        if self._after_commit is not None:
            self._after_commit(step)

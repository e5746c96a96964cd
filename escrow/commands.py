"""What a caller may ask of each kind of workflow, typed: its workflow type and ids, the
query that answers its view, and its updates with their argument and result types.

The API reaches Temporal through these definitions only (api/workflow_calls.py), so it
needs no workflow code and may be deployed apart from the workers; a test
(tests/test_command_definitions.py) holds each definition to the update the workflow
registers, so a renamed update or a changed type fails there rather than in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from escrow import ids
from escrow.models import (
    AcceptOffer,
    AddMilestone,
    AwaitClaim,
    CloseContract,
    ContractView,
    DeleteTime,
    DisputeHours,
    DisputeView,
    EditTime,
    EscalateRefund,
    Fund,
    HourlyWeekView,
    LogTime,
    MakeOffer,
    MilestoneView,
    OpenDispute,
    PartyCommand,
    Recommend,
    RefundAnswer,
    RefundView,
    Release,
    RequestRefund,
    RequestRevision,
    Respond,
    SetPaymentMethod,
    Submit,
    SubmitEvidence,
    TimeEntry,
    Verdict,
)

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)


@dataclass(frozen=True)
class Update(Generic[C, R]):
    """One workflow update: its name, the command it takes, what it answers."""

    name: str
    arg: type[C]
    result: type[R]


class Definition(Generic[V]):
    """One kind of workflow as its callers see it. A subclass names the workflow type,
    how its ids are made (escrow.ids), its view and the query answering it; each of its
    `Update` attributes is one update of that workflow."""

    workflow: ClassVar[str]
    workflow_id: ClassVar[Callable[..., str]]
    view: ClassVar[type[BaseModel]]
    state: ClassVar[str] = "state"

    @classmethod
    def updates(cls) -> dict[str, Update[Any, Any]]:
        return {name: value for name, value in vars(cls).items() if isinstance(value, Update)}


class Contract(Definition[ContractView]):
    workflow = "ContractWorkflow"
    workflow_id = staticmethod(ids.contract)
    view = ContractView

    add_milestone = Update("add_milestone", AddMilestone, MilestoneView)
    close = Update("close", CloseContract, ContractView)
    set_payment_method = Update("set_payment_method", SetPaymentMethod, ContractView)


class Milestone(Definition[MilestoneView]):
    workflow = "MilestoneWorkflow"
    workflow_id = staticmethod(ids.milestone)
    view = MilestoneView

    accept = Update("accept", PartyCommand, MilestoneView)
    decline = Update("decline", PartyCommand, MilestoneView)
    fund = Update("fund", Fund, MilestoneView)
    authenticate_funding = Update("authenticate_funding", PartyCommand, MilestoneView)
    submit = Update("submit", Submit, MilestoneView)
    void_submission = Update("void_submission", PartyCommand, MilestoneView)
    request_revision = Update("request_revision", RequestRevision, MilestoneView)
    release = Update("release", Release, MilestoneView)
    # Each opens a claim and answers the new refund request or dispute as it starts.
    request_refund = Update("request_refund", RequestRefund, RefundView)
    open_dispute = Update("open_dispute", OpenDispute, DisputeView)
    escalate_refund = Update("escalate_refund", EscalateRefund, DisputeView)
    await_claim = Update("await_claim", AwaitClaim, MilestoneView)


class Refund(Definition[RefundView]):
    workflow = "RefundRequestWorkflow"
    workflow_id = staticmethod(ids.refund)
    view = RefundView

    approve = Update("approve", RefundAnswer, RefundView)
    decline = Update("decline", RefundAnswer, RefundView)


class Dispute(Definition[DisputeView]):
    workflow = "DisputeWorkflow"
    workflow_id = staticmethod(ids.dispute)
    view = DisputeView

    accept = Update("accept", PartyCommand, DisputeView)
    respond = Update("respond", Respond, DisputeView)
    make_offer = Update("make_offer", MakeOffer, DisputeView)
    accept_offer = Update("accept_offer", AcceptOffer, DisputeView)
    recommend = Update("recommend", Recommend, DisputeView)
    accept_recommendation = Update("accept_recommendation", PartyCommand, DisputeView)
    reject_recommendation = Update("reject_recommendation", PartyCommand, DisputeView)
    pay_fee = Update("pay_fee", PartyCommand, DisputeView)
    submit_evidence = Update("submit_evidence", SubmitEvidence, DisputeView)
    verdict = Update("verdict", Verdict, DisputeView)


class Week(Definition[HourlyWeekView]):
    """One billing week of an hourly contract: `workflow_id(contract_id, iso_week)`."""

    workflow = "HourlyWeekWorkflow"
    workflow_id = staticmethod(ids.week)
    view = HourlyWeekView

    log_time = Update("log_time", LogTime, TimeEntry)
    edit_time = Update("edit_time", EditTime, TimeEntry)
    delete_time = Update("delete_time", DeleteTime, HourlyWeekView)
    dispute_hours = Update("dispute_hours", DisputeHours, DisputeView)
    await_claim = Update("await_claim", AwaitClaim, HourlyWeekView)


DEFINITIONS: tuple[type[Definition[Any]], ...] = (Contract, Milestone, Refund, Dispute, Week)


def owner(workflow_id: str) -> type[Milestone] | type[Week]:
    """The kind of an escrow's owner, by the workflow id a dispute names it by."""
    return Milestone if workflow_id.startswith(ids.milestone("")) else Week

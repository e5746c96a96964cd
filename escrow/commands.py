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
from typing import Any, ClassVar, Generic, TypeVar, get_args

from pydantic import BaseModel

from escrow import ids
from escrow.models import (
    AcceptOffer,
    AddMilestone,
    AnswerChange,
    ApplyRemainder,
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
    MilestoneChange,
    MilestoneView,
    OpenDispute,
    PartyCommand,
    ProposeChange,
    Recommend,
    RefundAnswer,
    RefundView,
    Release,
    RequestRefund,
    RequestRevision,
    Respond,
    ReviewInvoice,
    SetPaymentMethod,
    Submit,
    SubmitEvidence,
    TimeEntry,
    Verdict,
)
from escrow.models.payment import ManualPaymentView
from escrow.models.payout import PayoutView
from escrow.models.review import EditReview, PostReview, ReplyToReview, Review, ReviewCommand, ReviewsView

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)


@dataclass(frozen=True)
class Update(Generic[C, R]):
    """One workflow update: its name, the command it takes, what it answers."""

    name: str
    arg: type[C]
    result: type[R]


@dataclass(frozen=True)
class _Declared:
    """An `update(...)` as its definition's body says it, before the definition names it."""

    arg: type[BaseModel]
    result: type[BaseModel] | None


def update(arg: type[C], result: type[BaseModel] | None = None) -> Update[C, Any]:
    """An update of the definition it is declared in, named by its attribute; it answers
    the definition's view unless `result` says otherwise."""
    # Typed, like dataclasses.field(), as what the attribute is once the class exists.
    return _Declared(arg, result)  # type: ignore[return-value]


class Definition(Generic[V]):
    """One kind of workflow as its callers see it. A subclass names the workflow type
    and how its ids are made (escrow.ids) as class arguments, and its view, which the
    `state` query answers, as its type argument; each of its `update(...)` attributes is
    one update of that workflow."""

    workflow: ClassVar[str]
    workflow_id: ClassVar[Callable[..., str]]
    view: ClassVar[type[BaseModel]]
    state: ClassVar[str] = "state"

    def __init_subclass__(cls, *, workflow: str, workflow_id: Callable[..., str], **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        (cls.view,) = get_args(cls.__orig_bases__[0])  # type: ignore[attr-defined]
        cls.workflow, cls.workflow_id = workflow, staticmethod(workflow_id)
        for name, value in list(vars(cls).items()):
            if isinstance(value, _Declared):
                setattr(cls, name, Update(name, value.arg, value.result or cls.view))

    @classmethod
    def updates(cls) -> dict[str, Update[Any, Any]]:
        return {name: value for name, value in vars(cls).items() if isinstance(value, Update)}


class Contract(Definition[ContractView], workflow="ContractWorkflow", workflow_id=ids.contract):
    add_milestone = update(AddMilestone, MilestoneView)
    close = update(CloseContract)
    set_payment_method = update(SetPaymentMethod)


class Milestone(Definition[MilestoneView], workflow="MilestoneWorkflow", workflow_id=ids.milestone):
    accept = update(PartyCommand)
    decline = update(PartyCommand)
    fund = update(Fund)
    authenticate_funding = update(PartyCommand)
    submit = update(Submit)
    void_submission = update(PartyCommand)
    request_revision = update(RequestRevision)
    release = update(Release)
    # Each opens a claim and answers the new refund request or dispute as it starts.
    request_refund = update(RequestRefund, RefundView)
    open_dispute = update(OpenDispute, DisputeView)
    escalate_refund = update(EscalateRefund, DisputeView)
    await_claim = update(AwaitClaim)
    # M6: answers the new milestone, funded from this one's remainder.
    apply_remainder = update(ApplyRemainder)
    # M8: each answers the change it acted on.
    propose_change = update(ProposeChange, MilestoneChange)
    accept_change = update(AnswerChange, MilestoneChange)
    decline_change = update(AnswerChange, MilestoneChange)


class Refund(Definition[RefundView], workflow="RefundRequestWorkflow", workflow_id=ids.refund):
    approve = update(RefundAnswer)
    decline = update(RefundAnswer)


class Dispute(Definition[DisputeView], workflow="DisputeWorkflow", workflow_id=ids.dispute):
    accept = update(PartyCommand)
    respond = update(Respond)
    make_offer = update(MakeOffer)
    accept_offer = update(AcceptOffer)
    recommend = update(Recommend)
    accept_recommendation = update(PartyCommand)
    reject_recommendation = update(PartyCommand)
    pay_fee = update(PartyCommand)
    submit_evidence = update(SubmitEvidence)
    verdict = update(Verdict)


class Week(Definition[HourlyWeekView], workflow="HourlyWeekWorkflow", workflow_id=ids.week):
    """One billing week of an hourly contract: `workflow_id(contract_id, iso_week)`."""

    log_time = update(LogTime, TimeEntry)
    edit_time = update(EditTime, TimeEntry)
    delete_time = update(DeleteTime)
    dispute_hours = update(DisputeHours, DisputeView)
    await_claim = update(AwaitClaim)
    review_invoice = update(ReviewInvoice)


class Reviews(Definition[ReviewsView], workflow="ReviewWorkflow", workflow_id=ids.reviews):
    """The two reviews of a closed contract (V1, V2): `workflow_id(contract_id)`. Each
    update answers the review it acted on; `state` holds both, published or not."""

    post = update(PostReview, Review)
    reply = update(ReplyToReview, Review)
    request_edit = update(ReviewCommand, Review)
    allow_edit = update(ReviewCommand, Review)
    edit = update(EditReview, Review)


class Payment(Definition[ManualPaymentView], workflow="ManualPaymentWorkflow", workflow_id=ids.payment):
    """A manual payment to a contract's expert (P2, P5): `workflow_id(payment_id)`.
    `confirm` answers it to its client once its opening step is written."""

    confirm = update(PartyCommand)


class Payout(Definition[PayoutView], workflow="PayoutWorkflow", workflow_id=ids.payout):
    """One payout (P4): the API starts it with `reserve` (update-with-start)."""

    reserve = update(PartyCommand)


DEFINITIONS: tuple[type[Definition[Any]], ...] = (Contract, Milestone, Refund, Dispute, Week, Reviews, Payment, Payout)


def owner(workflow_id: str) -> type[Milestone] | type[Week]:
    """The kind of an escrow's owner, by the workflow id a dispute names it by."""
    return Milestone if workflow_id.startswith(ids.milestone("")) else Week

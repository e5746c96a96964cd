"""The contract's pure decisions (escrow.rules.contract): no Temporal, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from escrow.calendar import BillingWeek
from escrow.models import (
    Actor,
    AddMilestone,
    CloseContract,
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    PaymentStatus,
    Remainder,
    Role,
    SetPaymentMethod,
    WeekStatus,
    WeekSummary,
)
from escrow.notices import messages
from escrow.policy import preset
from escrow.rules import Context
from escrow.rules import contract as rules

POLICY = preset("cadcrowd")
# A Wednesday, in ISO week 2026-W47 (Monday 2026-11-16).
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
CLIENT = Actor(user_id="alice", role=Role.CLIENT)
EXPERT = Actor(user_id="bob", role=Role.EXPERT)
STRANGER = Actor(user_id="mallory", role=Role.CLIENT)
OPERATOR = Actor(user_id="op", role=Role.OPERATOR)


def ctx(now: datetime = NOW) -> Context:
    return Context(now=now, policy=POLICY, workflow_id="contract:c1", step=3)


def contract(type: ContractType = ContractType.FIXED, **update: object) -> ContractView:
    view = rules.opened(
        ContractInput(
            contract_id="c1",
            client_id="alice",
            expert_id="bob",
            type=type,
            currency="USD",
            hourly_rate=6_000 if type == ContractType.HOURLY else None,
            weekly_limit_hours=10 if type == ContractType.HOURLY else None,
            policy=POLICY,
        ),
        NOW,
    )
    return view.model_copy(update=update)


def summary(
    id: str = "m1", escrow: int = 0, released: int = 0, settled: bool = False, **more: object
) -> MilestoneSummary:
    return MilestoneSummary(
        id=id, status=MilestoneStatus.IN_PROGRESS, escrow=escrow, released=released, refunded=0, settled=settled, **more
    )


def week(name: str = "2026-W47", status: WeekStatus = WeekStatus.OPEN, **more: object) -> WeekSummary:
    fields = {"escrow": 0, "released": 0, "payment_status": PaymentStatus.NOT_DUE} | more
    return WeekSummary(week=name, status=status, **fields)


def refused(kind: str, call, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as err:
        call(*args)
    assert err.value.type == kind
    return err.value.message


def add(actor: Actor = CLIENT, amount: int = 50_000, title: str = " Logo ") -> AddMilestone:
    return AddMilestone(actor=actor, title=title, amount=amount)


# ---------------------------------------------------------------------- opening


def test_opened_keeps_what_continue_as_new_carries():
    input = ContractInput(
        contract_id="c1",
        client_id="alice",
        expert_id="bob",
        type=ContractType.FIXED,
        currency="USD",
        policy=POLICY,
        milestones=[summary()],
        status=ContractStatus.CLOSING,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    view = rules.opened(input, NOW)
    assert (view.status, view.created_at, view.policy) == (
        ContractStatus.CLOSING,
        datetime(2026, 1, 1, tzinfo=UTC),
        "cadcrowd",
    )
    assert view.milestone_ids == ["m1"]
    assert rules.opened(input.model_copy(update={"created_at": None}), NOW).created_at == NOW
    decision = rules.created(view, ctx())
    assert (decision.kind, decision.actor, decision.transfers, decision.notices) == ("contract.created", None, [], [])


# ---------------------------------------------------------------------- M1, M8


@pytest.mark.rules("M1", "M8")
def test_either_party_adds_a_milestone_to_an_active_fixed_contract():
    v = contract()
    for actor in (CLIENT, EXPERT):
        rules.check_add_milestone(v, add(actor), ctx())
    assert "parties" in refused("Forbidden", rules.check_add_milestone, v, add(STRANGER), ctx())
    assert refused("Forbidden", rules.check_add_milestone, v, add(OPERATOR), ctx())
    closing = contract(status=ContractStatus.CLOSING)
    assert refused("Conflict", rules.check_add_milestone, closing, add(), ctx()) == "contract is closing"
    hourly = contract(ContractType.HOURLY)
    assert "by the week" in refused("Conflict", rules.check_add_milestone, hourly, add(), ctx())
    # The model refuses a blank title; one that gets past it (a raw payload) the rule refuses.
    blank = AddMilestone.model_construct(actor=CLIENT, title="   ", amount=50_000)
    assert refused("Invalid", rules.check_add_milestone, v, blank, ctx()) == "a milestone needs a title"


@pytest.mark.rules("M1")
def test_a_milestone_is_at_least_the_policy_minimum():
    v = contract()
    rules.check_add_milestone(v, add(amount=POLICY.min_milestone), ctx())
    message = refused("Invalid", rules.check_add_milestone, v, add(amount=POLICY.min_milestone - 1), ctx())
    assert message == "a milestone is at least USD 25.00 (M1); got USD 24.99"


@pytest.mark.rules("M1", "M8")
def test_the_added_milestone_is_proposed_by_its_adder_and_listed_unfunded():
    v = contract()
    milestone = rules.new_milestone(v, add(EXPERT), "m9", ctx())
    assert (milestone.milestone_id, milestone.title, milestone.proposed_by) == ("m9", "Logo", Role.EXPERT)
    assert (milestone.client_id, milestone.expert_id, milestone.currency, milestone.amount) == (
        "alice",
        "bob",
        "USD",
        50_000,
    )
    assert milestone.policy == POLICY
    first = MilestoneView(
        id="m9",
        contract_id="c1",
        client_id="alice",
        expert_id="bob",
        title="Logo",
        description=None,
        due_date=None,
        currency="USD",
        policy="cadcrowd",
        proposed_by=Role.EXPERT,
        status=MilestoneStatus.PROPOSED,
        amount=50_000,
    )
    decision = rules.milestone_added(v, add(EXPERT), first, ctx())
    assert (decision.kind, decision.actor, decision.data) == (
        "contract.milestone_added",
        EXPERT,
        {"milestone_id": "m9"},
    )
    [listed] = decision.view.milestones
    assert (listed.id, listed.status, listed.escrow, listed.settled) == ("m9", MilestoneStatus.PROPOSED, 0, False)
    assert v.milestones == []  # the view is new; the old one is untouched until the step is written


def test_a_milestones_report_replaces_its_summary_or_adds_it():
    v = contract(milestones=[summary("m1"), summary("m2")])
    changed = rules.with_milestone(v, summary("m2", escrow=9_000))
    assert [(m.id, m.escrow) for m in changed.milestones] == [("m1", 0), ("m2", 9_000)]
    assert [m.id for m in rules.with_milestone(v, summary("m3")).milestones] == ["m1", "m2", "m3"]


# ---------------------------------------------------------------------- H1


@pytest.mark.rules("H1")
def test_an_hourly_contract_opens_the_current_week_at_once_then_every_monday():
    v = contract(ContractType.HOURLY)
    w47 = BillingWeek.of("2026-W47")
    assert rules.next_week_at(v, NOW) == w47.starts_at  # not open yet: due now
    decision = rules.week_opened(v, ctx())
    assert decision is not None
    assert (decision.kind, decision.data, decision.actor) == ("contract.week_opened", {"week": "2026-W47"}, None)
    [opened] = decision.view.weeks
    assert (opened.week, opened.status, opened.payment_status) == ("2026-W47", WeekStatus.OPEN, PaymentStatus.NOT_DUE)
    assert rules.week_opened(decision.view, ctx()) is None  # once only
    assert rules.next_week_at(decision.view, NOW) == w47.billed_at  # the Monday 00:00 after
    assert rules.week_opened(decision.view, ctx(w47.billed_at)).data == {"week": "2026-W48"}


@pytest.mark.rules("H1", "H7")
def test_weeks_open_while_active_or_on_hold_only():
    assert rules.next_week_at(contract(), NOW) is None
    assert rules.week_opened(contract(), ctx()) is None
    assert rules.next_week_at(contract(ContractType.HOURLY, status=ContractStatus.ON_HOLD), NOW) is not None
    for status in (ContractStatus.CLOSING, ContractStatus.CLOSED):
        assert rules.next_week_at(contract(ContractType.HOURLY, status=status), NOW) is None
        assert rules.week_opened(contract(ContractType.HOURLY, status=status), ctx()) is None


@pytest.mark.rules("H1", "H2")
def test_a_new_week_bills_the_contracts_rate_limit_and_card():
    week_input = rules.new_week(contract(ContractType.HOURLY), "pm_card", ctx())
    assert (week_input.week, week_input.hourly_rate, week_input.weekly_limit_minutes) == ("2026-W47", 6_000, 600)
    assert (week_input.payment_method, week_input.client_id, week_input.policy) == ("pm_card", "alice", POLICY)
    unlimited = contract(ContractType.HOURLY, weekly_limit_hours=None)
    assert rules.new_week(unlimited, None, ctx()).weekly_limit_minutes is None


def test_a_weeks_report_replaces_its_summary():
    v = contract(ContractType.HOURLY, weeks=[week("2026-W46"), week("2026-W47")])
    changed = rules.with_week(v, week("2026-W47", escrow=6_000))
    assert [(w.week, w.escrow) for w in changed.weeks] == [("2026-W46", 0), ("2026-W47", 6_000)]


# ---------------------------------------------------------------------- H7


@pytest.mark.rules("H7")
def test_a_failing_charge_holds_the_contract_and_paying_lifts_it():
    failing = contract(ContractType.HOURLY, weeks=[week(payment_status=PaymentStatus.FAILING)])
    held = rules.hold(failing, ctx())
    assert held is not None
    assert (held.view.status, held.kind, held.data) == (
        ContractStatus.ON_HOLD,
        "contract.on_hold",
        {"client_suspended": True},
    )
    assert messages(held.notices) == {
        "alice": "Your account is suspended and the contract on hold until the failed payment succeeds."
    }
    assert rules.hold(held.view, ctx()) is None  # already on hold

    paid = rules.with_week(held.view, week(payment_status=PaymentStatus.PAID))
    lifted = rules.hold(paid, ctx())
    assert lifted is not None
    assert (lifted.view.status, lifted.kind, lifted.data) == (
        ContractStatus.ACTIVE,
        "contract.reactivated",
        {"client_suspended": False},
    )
    assert messages(lifted.notices) == {
        "alice": "Your payment succeeded; your account and the contract are active again."
    }
    assert rules.hold(lifted.view, ctx()) is None
    # Closing, a failing week no longer holds the contract.
    assert rules.hold(failing.model_copy(update={"status": ContractStatus.CLOSING}), ctx()) is None


@pytest.mark.rules("H2", "H7")
def test_only_the_client_of_a_billed_hourly_contract_sets_its_card():
    v = contract(ContractType.HOURLY)
    cmd = SetPaymentMethod(actor=CLIENT, payment_method="pm_new")
    decision = rules.payment_method_set(v, cmd, ctx())
    assert (decision.kind, decision.actor, decision.view, decision.data) == (
        "contract.payment_method_changed",
        CLIENT,
        v,
        {},
    )
    rules.check_payment_method(v.model_copy(update={"status": ContractStatus.ON_HOLD}), cmd, ctx())
    for actor in (EXPERT, STRANGER):
        message = refused(
            "Forbidden", rules.check_payment_method, v, SetPaymentMethod(actor=actor, payment_method="pm"), ctx()
        )
        assert message == "only the client sets the contract's payment method"
    blank = SetPaymentMethod.model_construct(actor=CLIENT, payment_method="  ")
    assert refused("Invalid", rules.check_payment_method, v, blank, ctx()) == "a payment method is required"
    message = refused("Conflict", rules.payment_method_set, contract(), cmd, ctx())
    assert message == "only an active hourly contract is billed to a card"
    refused("Conflict", rules.check_payment_method, v.model_copy(update={"status": ContractStatus.CLOSING}), cmd, ctx())


# ---------------------------------------------------------------------- C1, C2


@pytest.mark.rules("C1")
def test_closing_asks_the_client_what_happens_to_the_escrow():
    funded = contract(milestones=[summary(escrow=30_000)])
    message = refused("Invalid", rules.check_close, funded, CloseContract(actor=CLIENT), ctx())
    assert message == "say whether the unreleased escrow is released or refunded: remainder"
    assert rules.check_close(contract(), CloseContract(actor=CLIENT), ctx()) == Remainder.RELEASE  # nothing held
    for remainder in Remainder:
        assert rules.check_close(funded, CloseContract(actor=CLIENT, remainder=remainder), ctx()) == remainder
    decision = rules.closing(funded, CloseContract(actor=CLIENT, remainder=Remainder.REFUND), ctx())
    assert (decision.view.status, decision.kind, decision.actor) == (ContractStatus.CLOSING, "contract.closing", CLIENT)
    assert decision.data == {"remainder": "refund"} and decision.transfers == []


@pytest.mark.rules("C1")
def test_an_expert_who_closes_gives_the_escrow_back():
    funded = contract(milestones=[summary(escrow=30_000)])
    assert rules.check_close(funded, CloseContract(actor=EXPERT), ctx()) == Remainder.REFUND
    assert rules.check_close(funded, CloseContract(actor=EXPERT, remainder=Remainder.REFUND), ctx()) == Remainder.REFUND
    message = refused(
        "Forbidden", rules.check_close, funded, CloseContract(actor=EXPERT, remainder=Remainder.RELEASE), ctx()
    )
    assert message == "an expert cannot release escrow to itself"


@pytest.mark.rules("C1")
def test_only_a_party_closes_an_open_contract_once():
    assert "parties" in refused("Forbidden", rules.check_close, contract(), CloseContract(actor=STRANGER), ctx())
    refused("Forbidden", rules.closing, contract(), CloseContract(actor=OPERATOR), ctx())
    rules.check_close(contract(status=ContractStatus.ON_HOLD), CloseContract(actor=CLIENT), ctx())
    for status in (ContractStatus.CLOSING, ContractStatus.CLOSED):
        message = refused("Conflict", rules.check_close, contract(status=status), CloseContract(actor=CLIENT), ctx())
        assert message == f"contract is already {status.value}"


@pytest.mark.rules("C1", "C2")
def test_the_contract_closes_once_all_its_money_moved_and_flags_zero_pay():
    closing = contract(status=ContractStatus.CLOSING, milestones=[summary("m1", settled=True), summary("m2")])
    assert rules.closed(closing, CLIENT, ctx()) is None  # m2 still holds money
    settled = rules.with_milestone(closing, summary("m2", settled=True))
    decision = rules.closed(settled, CLIENT, ctx())
    assert decision is not None
    assert (decision.view.status, decision.view.closed_at, decision.view.zero_pay) == (ContractStatus.CLOSED, NOW, True)
    assert (decision.kind, decision.actor, decision.data) == ("contract.closed", CLIENT, {"zero_pay": True})

    paid = rules.with_milestone(settled, summary("m2", released=40_000, settled=True))
    decision = rules.closed(paid, None, ctx())
    assert decision is not None and decision.view.zero_pay is False and decision.data == {"zero_pay": False}
    assert rules.closed(settled.model_copy(update={"status": ContractStatus.ACTIVE}), CLIENT, ctx()) is None


@pytest.mark.rules("C1", "C2")
def test_an_hourly_contract_closes_once_every_week_completed():
    v = contract(
        ContractType.HOURLY, status=ContractStatus.CLOSING, weeks=[week(status=WeekStatus.HOLD, released=6_000)]
    )
    assert rules.closed(v, EXPERT, ctx()) is None
    done = rules.with_week(v, week(status=WeekStatus.COMPLETED, released=6_000))
    decision = rules.closed(done, EXPERT, ctx())
    assert decision is not None and decision.view.zero_pay is False


def test_the_contract_is_done_once_closed_and_every_child_ended():
    closed = contract(
        status=ContractStatus.CLOSED, milestones=[summary(settled=True)], weeks=[week(status=WeekStatus.COMPLETED)]
    )
    assert not rules.done(closed)
    ended = closed.model_copy(
        update={
            "milestones": [summary(settled=True, finished=True)],
            "weeks": [week(status=WeekStatus.COMPLETED, finished=True)],
        }
    )
    assert rules.done(ended)
    assert not rules.done(ended.model_copy(update={"status": ContractStatus.CLOSING}))
    assert rules.billing(contract(ContractType.HOURLY)) and not rules.billing(contract())


@pytest.mark.rules("C2")
def test_a_closed_contract_goes_on_after_continue_as_new_as_closed_with_its_zero_pay_flag() -> None:
    # A closed contract waits on its milestones' last year (M10), across runs.
    closed_at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    carried = ContractInput(
        contract_id="c1",
        client_id="alice",
        expert_id="bob",
        type=ContractType.FIXED,
        currency="USD",
        policy=POLICY,
        status=ContractStatus.CLOSED,
        closed_at=closed_at,
        zero_pay=True,
        step=7,
    )
    view = rules.opened(carried, NOW)
    assert (view.status, view.closed_at, view.zero_pay) == (ContractStatus.CLOSED, closed_at, True)

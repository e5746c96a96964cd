"""Dormant escrow (O1–O5) as pure decisions of the contract and its milestones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from escrow.models import (
    ContractInput,
    ContractStatus,
    ContractType,
    ContractView,
    MilestoneInput,
    MilestoneStatus,
    MilestoneSummary,
    MilestoneView,
    Remainder,
    Role,
)
from escrow.notices import messages
from escrow.policy import Policy, preset
from escrow.rules import Context, Decision
from escrow.rules import contract as rules
from escrow.rules import milestone as milestones

ELANCE = preset("elance")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def ctx(now: datetime, policy: Policy = ELANCE) -> Context:
    return Context(now=now, policy=policy, workflow_id="contract:c1", step=5)


def summary(**update: object) -> MilestoneSummary:
    fields: dict[str, object] = {
        "id": "m1",
        "status": MilestoneStatus.IN_PROGRESS,
        "escrow": 30_000,
        "released": 0,
        "refunded": 0,
        "settled": False,
    }
    return MilestoneSummary(**(fields | update))


def contract(*milestones_: MilestoneSummary, policy: Policy = ELANCE, **update: object) -> ContractView:
    input = ContractInput(
        contract_id="c1", client_id="alice", expert_id="bob", type=ContractType.FIXED, currency="USD", policy=policy
    )
    view = rules.opened(input, START).model_copy(update={"milestones": list(milestones_)})
    return view.model_copy(update=update)


def dormant(since: datetime = START + 60 * DAY, **update: object) -> ContractView:
    return contract(summary(), status=ContractStatus.DORMANT, dormant_since=since, **update)


def milestone(**update: object) -> MilestoneView:
    input = MilestoneInput(
        milestone_id="m1",
        contract_id="c1",
        client_id="alice",
        expert_id="bob",
        title="Logo",
        amount=30_000,
        currency="USD",
        proposed_by=Role.CLIENT,
        policy=ELANCE,
    )
    fields = {"status": MilestoneStatus.IN_PROGRESS, "escrow": 30_000, "funded": 30_000}
    return milestones.initial_view(input).model_copy(update=fields | update)


def submitted(at: datetime) -> MilestoneView:
    return milestone(status=MilestoneStatus.SUBMITTED, submitted_at=at, deadline_at=at + ELANCE.review_window)


# ---------------------------------------------------------------------- O1


@pytest.mark.rules("O1")
def test_o1_only_elance_has_dormancy():
    assert ELANCE.dormant_after == timedelta(days=60)
    assert preset("cadcrowd").dormant_after is None and preset("freelancer").dormant_after is None
    assert rules.dormant_at(contract(summary(), policy=preset("cadcrowd")), preset("cadcrowd")) is None


@pytest.mark.rules("O1")
def test_o1_dormant_60_days_after_the_last_milestone_date_or_activity():
    due = date(2026, 2, 1)
    v = contract(summary(due_date=due), summary(id="m2", last_activity_at=START + 10 * DAY))
    assert rules.dormant_at(v, ELANCE) == datetime(2026, 2, 1, tzinfo=UTC) + 60 * DAY
    v = contract(summary(due_date=date(2026, 1, 6), last_activity_at=START + 30 * DAY))
    assert rules.dormant_at(v, ELANCE) == START + 90 * DAY


@pytest.mark.rules("O1")
def test_o1_only_a_contract_holding_escrow_goes_dormant():
    assert rules.dormant_at(contract(summary(escrow=0)), ELANCE) is None
    assert rules.dormant_at(contract(), ELANCE) is None


@pytest.mark.rules("O1")
def test_o1_dormant_from_the_dormant_date_and_the_client_is_told():
    v = contract(summary())
    at = START + 60 * DAY
    assert rules.went_dormant(v, ctx(at - timedelta(seconds=1))) is None
    decision = rules.went_dormant(v, ctx(at + DAY))
    assert decision is not None
    assert decision.view.status == ContractStatus.DORMANT and decision.view.dormant_since == at
    assert set(messages(decision.notices)) == {"alice"}
    assert rules.dormancy_deadlines(decision.view, ELANCE) == [
        (at + 7 * DAY, "notify_expert"),
        (at + 14 * DAY, "settle"),
    ]


# ---------------------------------------------------------------------- O2


@pytest.mark.rules("O2")
def test_o2_activity_kinds_are_noted_on_the_milestone():
    v = milestone()
    for kind in ("milestone.funded", "milestone.submitted", "milestone.refund_requested", "milestone.dispute_opened"):
        noted = milestones.noted(Decision(view=v, kind=kind), ctx(START))
        assert noted.view.last_activity_at == START and noted.view.last_reactivation_at is None
    for kind in ("milestone.auto_released", "milestone.reminder", "milestone.hold_released"):
        assert milestones.noted(Decision(view=v, kind=kind), ctx(START)).view.last_activity_at is None
    assert (
        milestones.summary(
            milestones.noted(Decision(view=v, kind="milestone.funded"), ctx(START)).view
        ).last_activity_at
        == START
    )


@pytest.mark.rules("O2")
def test_o2_activity_on_day_59_resets_the_clock():
    v = contract(summary(last_activity_at=START + 59 * DAY))
    assert rules.went_dormant(v, ctx(START + 60 * DAY)) is None
    assert rules.dormant_at(v, ELANCE) == START + 119 * DAY


@pytest.mark.rules("O2")
def test_o2_the_contracts_own_activity_resets_the_clock():
    v = contract(summary())
    from escrow.models import Actor, CloseContract

    decision = rules.closing(
        v,
        CloseContract(actor=Actor(user_id="alice", role=Role.CLIENT), remainder=Remainder.REFUND),
        ctx(START + 59 * DAY),
    )
    assert decision.view.last_activity_at == START + 59 * DAY


# ---------------------------------------------------------------------- O3, O4


@pytest.mark.rules("O3")
def test_o3_the_expert_is_told_7_days_after_the_dormant_date():
    v = dormant()
    since = v.dormant_since
    assert since is not None
    assert rules.expert_warned(v, ctx(since + 7 * DAY - timedelta(seconds=1))) is None
    decision = rules.expert_warned(v, ctx(since + 7 * DAY))
    assert decision is not None and decision.view.dormant_expert_notified
    assert set(messages(decision.notices)) == {"bob"}
    assert rules.expert_warned(decision.view, ctx(since + 8 * DAY)) is None


@pytest.mark.rules("O4")
def test_o4_the_contract_asks_its_milestones_to_settle_14_days_after():
    v = dormant()
    since = v.dormant_since
    assert since is not None
    assert rules.dormant_settling(v, ctx(since + 13 * DAY)) is None
    decision = rules.dormant_settling(v, ctx(since + 14 * DAY))
    assert decision is not None and decision.view.dormant_settled
    assert decision.transfers == []  # the contract moves no money
    assert rules.to_settle(decision.view) == ["m1"]
    assert rules.dormancy_deadlines(decision.view, ELANCE) == [(since + 7 * DAY, "notify_expert")]


@pytest.mark.rules("O4")
def test_o4_a_release_request_30_days_old_is_released_at_once():
    now = START + 100 * DAY
    decision = milestones.settle_dormant(submitted(now - 30 * DAY), ctx(now))
    assert decision is not None and decision.kind == "milestone.released_dormant"
    assert decision.view.released == 30_000 and decision.view.escrow == 0


@pytest.mark.rules("O4")
def test_o4_a_younger_release_request_is_released_when_30_days_old():
    now = START + 100 * DAY
    v = submitted(now - 29 * DAY).model_copy(update={"deadline_at": now + 10 * DAY})
    decision = milestones.settle_dormant(v, ctx(now))
    assert decision is not None and decision.kind == "milestone.dormant_release_scheduled"
    assert decision.view.deadline_at == now + DAY and decision.transfers == []
    # Elance's review window is 30 days: the auto-release already falls then.
    assert milestones.settle_dormant(submitted(now - 29 * DAY), ctx(now)) is None
    released = milestones.auto_release(decision.view, ctx(now + DAY))
    assert released is not None and released.view.released == 30_000


@pytest.mark.rules("O4")
def test_o4_escrow_without_release_request_is_refunded_to_the_client():
    decision = milestones.settle_dormant(milestone(), ctx(START + 100 * DAY))
    assert decision is not None and decision.kind == "milestone.refunded_dormant"
    assert decision.view.refunded == 30_000 and decision.view.released == 0
    assert milestones.settle_dormant(milestone(status=MilestoneStatus.AGREED, escrow=0, funded=0), ctx(START)) is None


# ---------------------------------------------------------------------- O5


@pytest.mark.rules("O5")
def test_o5_a_release_or_terms_change_reactivates():
    since = START + 60 * DAY
    v = dormant(since)
    assert rules.reactivated(v, ctx(since + DAY)) is None
    funded_again = v.model_copy(update={"milestones": [summary(last_activity_at=since + DAY)]})
    assert rules.reactivated(funded_again, ctx(since + DAY)) is None  # activity, not reactivation
    woke = v.model_copy(update={"milestones": [summary(last_reactivation_at=since + DAY)]})
    decision = rules.reactivated(woke, ctx(since + DAY))
    assert decision is not None
    assert decision.view.status == ContractStatus.ACTIVE and decision.view.dormant_since is None
    assert rules.dormant_at(decision.view, ELANCE) == since + 61 * DAY
    for kind in ("milestone.released", "milestone.change_accepted", "milestone.change_proposed"):
        assert milestones.noted(Decision(view=milestone(), kind=kind), ctx(since)).view.last_reactivation_at == since
    assert (
        milestones.noted(Decision(view=milestone(), kind="milestone.submitted"), ctx(since)).view.last_reactivation_at
        is None
    )


@pytest.mark.rules("O5")
def test_o5_a_cancellation_request_or_new_terms_end_dormancy():
    from escrow.models import Actor, AddMilestone, CloseContract

    alice = Actor(user_id="alice", role=Role.CLIENT)
    v = dormant()
    rules.check_close(v, CloseContract(actor=alice, remainder=Remainder.REFUND), ctx(START + 70 * DAY))
    closing = rules.closing(v, CloseContract(actor=alice, remainder=Remainder.REFUND), ctx(START + 70 * DAY))
    assert closing.view.status == ContractStatus.CLOSING
    rules.check_add_milestone(v, AddMilestone(actor=alice, title="More", amount=5_000), ctx(START + 70 * DAY))
    first = milestones.initial_view(
        rules.new_milestone(v, AddMilestone(actor=alice, title="More", amount=5_000), "m2", ctx(START + 70 * DAY))
    )
    added = rules.milestone_added(
        v, AddMilestone(actor=alice, title="More", amount=5_000), first, ctx(START + 70 * DAY)
    )
    assert added.view.status == ContractStatus.ACTIVE and added.view.last_activity_at == START + 70 * DAY

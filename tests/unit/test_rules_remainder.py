"""M6: the remainder of a partial release applied to a new milestone, as pure decisions
(escrow.rules.milestone): no Temporal, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.errors import Refusal
from escrow.models import (
    Actor,
    ApplyRemainder,
    Claim,
    ClaimKind,
    ClaimStatus,
    ContractStatus,
    ContractType,
    ContractView,
    Fund,
    MilestoneInput,
    MilestoneStatus,
    MilestoneView,
    Release,
    Role,
    Submit,
)
from escrow.policy import preset
from escrow.rules import Context
from escrow.rules import contract as contract_rules
from escrow.rules import milestone as rules

CADCROWD = preset("cadcrowd")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT = Actor(user_id="alice", role=Role.CLIENT)
EXPERT = Actor(user_id="bob", role=Role.EXPERT)
STRANGER = Actor(user_id="mallory", role=Role.CLIENT)
APPLY = ApplyRemainder(actor=CLIENT, title="  Second drawings ", due_date=date(2026, 4, 1))


def ctx(step: int = 7) -> Context:
    return Context(now=NOW, policy=CADCROWD, workflow_id="milestone:m1", step=step)


def partially_released(amount: int = 50_000, released: int = 20_000) -> MilestoneView:
    """A funded milestone the client released `released` of."""
    first = rules.initial_view(
        MilestoneInput(
            milestone_id="m1",
            contract_id="c1",
            client_id="alice",
            expert_id="bob",
            title="Drawings",
            amount=amount,
            currency="USD",
            proposed_by=Role.CLIENT,
            policy=CADCROWD,
        )
    )
    v = rules.fund(first, Fund(actor=CLIENT), ctx(1)).view
    v = rules.submit(v, Submit(actor=EXPERT), ctx(2)).view
    return rules.release(v, Release(actor=CLIENT, amount=released), ctx(3)).view


def refused(fn: object, *args: object) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        fn(*args)  # type: ignore[operator]
    return err.value


@pytest.mark.rules("M6")
def test_the_remainder_moves_escrow_to_escrow_in_one_transfer():
    v = partially_released()
    assert (v.status, v.escrow) == (MilestoneStatus.PARTIALLY_RELEASED, 30_000)
    new = rules.remainder_input(v, APPLY, "m2", ctx())
    assert (new.milestone_id, new.contract_id, new.amount, new.funded_from) == ("m2", "c1", 30_000, "m1")
    assert (new.title, new.due_date, new.proposed_by) == ("Second drawings", date(2026, 4, 1), Role.CLIENT)

    d = rules.remainder_applied(v, APPLY, new, ctx())
    [t] = d.transfers
    assert (t.id, t.debit, t.credit, t.amount, t.kind) == (
        "milestone:m1:remainder",
        accounts.milestone_escrow("m1"),
        accounts.milestone_escrow("m2"),
        30_000,
        "remainder",
    )
    assert not any(accounts.client_balance("alice") in (x.debit, x.credit) for x in d.transfers)
    old = d.view
    assert (old.status, old.escrow, old.applied, old.applied_to) == (MilestoneStatus.COMPLETED, 0, 30_000, "m2")
    # L4 with M6: funded = released + refunded + applied + escrow.
    assert old.funded == old.released + old.refunded + old.applied + old.escrow
    assert d.kind == "milestone.remainder_applied" and d.actor == CLIENT
    # The old milestone is settled for its contract and keeps its life after release (M10).
    assert rules.summary(old).settled
    assert any(timer == rules.Timer.SETTLE for _, timer in rules.timers(old, CADCROWD, set()))


@pytest.mark.rules("M6")
def test_the_new_milestone_opens_in_progress_with_the_remainder_and_posts_no_transfer():
    v = partially_released()
    new = rules.remainder_input(v, APPLY, "m2", ctx())
    first = rules.initial_view(new)
    assert (first.id, first.status, first.amount, first.escrow, first.funded) == (
        "m2",
        MilestoneStatus.IN_PROGRESS,
        30_000,
        30_000,
        30_000,
    )
    assert (first.released, first.refunded, first.funded_from) == (0, 0, "m1")
    opening = rules.created(first, Context(now=NOW, policy=CADCROWD, workflow_id="milestone:m2", step=1))
    assert opening.transfers == [] and opening.data == {"funded_from": "m1", "amount": 30_000}
    # It runs as any funded milestone: the expert submits, the client releases.
    submitted = rules.submit(first, Submit(actor=EXPERT), ctx()).view
    released = rules.release(submitted, Release(actor=CLIENT, amount=30_000), ctx()).view
    assert (released.status, released.escrow, released.released) == (MilestoneStatus.COMPLETED, 0, 30_000)


@pytest.mark.rules("M6")
def test_a_milestone_added_by_hand_is_unchanged():
    v = partially_released()
    plain = rules.initial_view(rules.remainder_input(v, APPLY, "m2", ctx()).model_copy(update={"funded_from": None}))
    assert (plain.status, plain.escrow, plain.funded) == (MilestoneStatus.AGREED, 0, 0)
    assert rules.created(plain, ctx()).data == {}


@pytest.mark.rules("M6")
def test_only_the_client_applies_the_remainder_of_a_partial_release_with_nothing_frozen():
    v = partially_released()
    for actor in (EXPERT, STRANGER):
        err = refused(rules.check_apply_remainder, v, ApplyRemainder(actor=actor, title="x"), ctx())
        assert err.type == Refusal.FORBIDDEN

    in_progress = v.model_copy(update={"status": MilestoneStatus.IN_PROGRESS})
    completed = v.model_copy(update={"status": MilestoneStatus.COMPLETED, "escrow": 0})
    for state in (in_progress, completed):
        assert refused(rules.check_apply_remainder, state, APPLY, ctx()).type == Refusal.CONFLICT

    claim = Claim(id="r1", kind=ClaimKind.REFUND, amount=5_000, opened_at=NOW)
    frozen = v.model_copy(update={"claims": [claim]})
    err = refused(rules.remainder_applied, frozen, APPLY, rules.remainder_input(v, APPLY, "m2", ctx()), ctx())
    assert err.type == Refusal.CONFLICT and "frozen" in str(err)
    # A claim that no longer freezes anything lets the remainder go.
    closed = claim.model_copy(update={"status": ClaimStatus.CLOSED})
    assert rules.check_apply_remainder(v.model_copy(update={"claims": [closed]}), APPLY, ctx()) == 30_000


def test_the_new_milestone_needs_a_title():
    with pytest.raises(ValidationError):
        ApplyRemainder(actor=CLIENT, title="   ")


@pytest.mark.rules("M6", "C2")
def test_the_contract_lists_the_new_milestone_from_whichever_reports_first():
    contract = ContractView(
        id="c1",
        client_id="alice",
        expert_id="bob",
        type=ContractType.FIXED,
        hourly_rate=None,
        currency="USD",
        policy="cadcrowd",
        status=ContractStatus.CLOSING,
        created_at=NOW,
        milestones=[rules.summary(partially_released())],
    )
    v = partially_released()
    new = rules.remainder_input(v, APPLY, "m2", ctx())
    old = rules.summary(rules.remainder_applied(v, APPLY, new, ctx()).view)
    assert (old.settled, old.applied, old.applied_to) == (True, 30_000, "m2")
    # The old milestone reports first: the new one is listed as it opens, unsettled, so
    # the contract cannot close while it holds the money.
    [opening] = contract_rules.unlisted(contract, old)
    assert (opening.id, opening.escrow, opening.settled) == ("m2", 30_000, False)
    listed = contract.model_copy(update={"milestones": [*contract.milestones, opening]})
    assert contract_rules.unlisted(listed, old) == []
    assert contract_rules.closed(contract_rules.with_milestone(listed, old), CLIENT, ctx()) is None
    # The new milestone reports first: it lists itself.
    first = rules.summary(rules.initial_view(new))
    assert contract_rules.unlisted(contract, first) == [first]
    # A milestone the contract added is never listed twice.
    assert contract_rules.unlisted(contract, rules.summary(v)) == []

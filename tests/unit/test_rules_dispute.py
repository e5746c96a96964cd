"""The dispute's rules (D1–D8) as pure decisions: no Temporal, no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.errors import Refusal
from escrow.models import Actor, PartyCommand, Role
from escrow.models.dispute import (
    AcceptOffer,
    DisputeDeadlineAction,
    DisputeInput,
    DisputeStatus,
    DisputeView,
    MakeOffer,
    Recommend,
    Resolution,
    Respond,
    SubmitEvidence,
    Verdict,
)
from escrow.notices import OPERATORS, messages, money, when
from escrow.notices import dispute as notices
from escrow.policy import FeePolicy, Policy, preset
from escrow.rules import Context, Decision
from escrow.rules import dispute as rules

WF = "dispute:d1"
FILED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AMOUNT = 30_000  # USD 300.00: the fee is max(USD 5.00, 5%) = USD 15.00
FEE = 1_500
CLIENT = Actor(user_id="client-1", role=Role.CLIENT)
EXPERT = Actor(user_id="expert-1", role=Role.EXPERT)
OPERATOR = Actor(user_id="operator-1", role=Role.OPERATOR)
PARTY = {Role.CLIENT: CLIENT, Role.EXPERT: EXPERT}


def dispute_input(claimant: Role = Role.CLIENT, policy: Policy | None = None, amount: int = AMOUNT) -> DisputeInput:
    return DisputeInput(
        dispute_id="d1",
        owner_workflow_id="milestone:m1",
        contract_id="c1",
        client_id=CLIENT.user_id,
        expert_id=EXPERT.user_id,
        claimant=claimant,
        amount=amount,
        currency="USD",
        reason="the logo is not what was agreed",
        policy=policy or preset("cadcrowd"),
        filed_at=FILED_AT,
    )


class Case:
    """One dispute driven through its decisions, as the workflow core would: each
    decision's view is adopted, the clock moves only when told."""

    def __init__(self, claimant: Role = Role.CLIENT, policy: str = "cadcrowd", amount: int = AMOUNT) -> None:
        self.policy = preset(policy)
        self.view = rules.filed(dispute_input(claimant, self.policy, amount))
        self.now = FILED_AT
        self.step = 1

    def ctx(self) -> Context:
        return Context(now=self.now, policy=self.policy, workflow_id=WF, step=self.step + 1)

    def do(self, decide, cmd) -> Decision[DisputeView]:  # type: ignore[no-untyped-def]
        decision = decide(self.view, cmd, self.ctx())
        self.view, self.step = decision.view, self.step + 1
        return decision

    def at_deadline(self, later: timedelta = timedelta(0)) -> Decision[DisputeView] | None:
        assert self.view.deadline_at is not None
        self.now = self.view.deadline_at + later
        decision = rules.deadline_passed(self.view, self.ctx())
        if decision is not None:
            self.view = decision.view
        return decision

    def negotiating(self) -> Case:
        self.do(rules.respond, Respond(actor=PARTY[self.view.respondent], message="it is exactly the brief"))
        return self

    def fee_paid_by(self, payer: Role) -> Case:
        self.negotiating().do(rules.pay_fee, PartyCommand(actor=PARTY[payer]))
        return self

    def in_arbitration(self) -> Case:
        self.fee_paid_by(Role.CLIENT).do(rules.pay_fee, PartyCommand(actor=EXPERT))
        return self


def refused(kind: Refusal, decide, view, cmd, ctx, match: str | None = None) -> ApplicationError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError, match=match) as err:
        decide(view, cmd, ctx)
    assert err.value.type == kind.value
    assert err.value.non_retryable
    return err.value


def moved(decision: Decision[DisputeView]) -> dict[str, tuple[str, str, int, str]]:
    return {t.id: (t.debit, t.credit, t.amount, t.kind) for t in decision.transfers}


def told(decision: Decision[DisputeView]) -> dict[str, str]:
    return messages(decision.notices)


# ---------------------------------------------------------------------- D1 filing


@pytest.mark.rules("D1")
@pytest.mark.parametrize(("amount", "claimant"), [(0, Role.CLIENT), (-5, Role.EXPERT), (AMOUNT, Role.OPERATOR)])
def test_d1_a_dispute_names_a_positive_amount_and_a_party_claimant(amount, claimant):
    with pytest.raises(ApplicationError, match="positive amount") as err:
        rules.check_input(dispute_input(claimant, amount=amount))
    assert err.value.type == Refusal.INVALID.value
    rules.check_input(dispute_input())


@pytest.mark.rules("D1", "D2", "D6")
@pytest.mark.parametrize(("policy", "fee"), [("cadcrowd", FEE // 2), ("freelancer", FEE)])
def test_d1_filed_opens_stage_1_waiting_on_the_respondent(policy, fee):
    v = rules.filed(dispute_input(Role.EXPERT, preset(policy)))
    assert (v.status, v.stage, v.claimant, v.respondent) == (DisputeStatus.FILED, 1, Role.EXPERT, Role.CLIENT)
    assert v.waiting_on == "client"
    assert v.deadline_at == FILED_AT + preset(policy).dispute_response_window
    assert v.deadline_action == DisputeDeadlineAction.EXPERT_WINS
    assert v.fee_per_party == fee
    assert v.filed_at == FILED_AT and v.outcome is None


@pytest.mark.rules("D1")
def test_d1_filing_tells_both_sides_what_silence_does():
    case = Case()
    d = rules.filing(case.view, case.ctx())
    assert d.kind == "dispute.filed" and d.view == case.view and d.transfers == []
    assert d.actor == CLIENT
    assert d.data == {"amount": AMOUNT, "reason": "the logo is not what was agreed", "claimant": "client"}
    assert told(d) == {
        "expert-1": "The client disputes USD 300.00: the logo is not what was agreed. Accept the claim or respond "
        "by 2025-03-04 12:00 UTC; without an answer the client gets the whole amount.",
        "client-1": "Your dispute over USD 300.00 was filed; the expert has until 2025-03-04 12:00 UTC to answer.",
    }


# ---------------------------------------------------------------------- checks


@pytest.mark.rules("D2")
def test_only_a_party_acting_as_itself_may_act():
    case = Case()
    impostor = Actor(user_id="someone-else", role=Role.EXPERT)
    for actor in (impostor, OPERATOR, Actor(user_id=CLIENT.user_id, role=Role.EXPERT)):
        refused(Refusal.FORBIDDEN, rules.accept, case.view, PartyCommand(actor=actor), case.ctx(), "only the parties")
    refused(
        Refusal.FORBIDDEN,
        rules.accept,
        case.view,
        PartyCommand(actor=CLIENT),
        case.ctx(),
        "only the expert may do this",
    )


@pytest.mark.rules("D3", "D5")
def test_operators_only_recommend_and_decide():
    case = Case().negotiating()
    err = refused(
        Refusal.FORBIDDEN, rules.recommend, case.view, Recommend(actor=CLIENT, amount_to_client=1), case.ctx()
    )
    assert err.message == "only an operator may post a mediation recommendation"
    arb = Case().in_arbitration()
    err = refused(Refusal.FORBIDDEN, rules.verdict, arb.view, Verdict(actor=EXPERT, amount_to_client=1), arb.ctx())
    assert err.message == "only an operator may issue a verdict"


@pytest.mark.rules("D3", "D5")
@pytest.mark.parametrize("amount_to_client", [-1, AMOUNT + 1])
def test_a_split_outside_the_disputed_amount_is_invalid(amount_to_client):
    # A negative part never gets past the command's own validation; the rule holds anyway.
    case = Case().negotiating()
    offer = MakeOffer.model_construct(actor=CLIENT, amount_to_client=amount_to_client)
    err = refused(Refusal.INVALID, rules.make_offer, case.view, offer, case.ctx())
    assert (
        err.message
        == f"the client's part must be between USD 0.00 and USD 300.00; got {money(amount_to_client, 'USD')}"
    )
    recommendation = Recommend.model_construct(actor=OPERATOR, amount_to_client=amount_to_client)
    refused(Refusal.INVALID, rules.recommend, case.view, recommendation, case.ctx())
    arb = Case().in_arbitration()
    verdict = Verdict.model_construct(actor=OPERATOR, amount_to_client=amount_to_client, note=None)
    refused(Refusal.INVALID, rules.verdict, arb.view, verdict, arb.ctx())


@pytest.mark.rules("D7")
def test_d7_a_party_s_command_after_its_deadline_is_refused_before_the_deadline_step():
    case = Case()
    assert case.view.deadline_at is not None
    case.now = case.view.deadline_at
    err = refused(Refusal.CONFLICT, rules.respond, case.view, Respond(actor=EXPERT, message="late"), case.ctx())
    assert err.message == "cannot answer the claim: the deadline passed at 2025-03-04 12:00 UTC"
    case.now -= timedelta(seconds=1)
    rules.respond(case.view, Respond(actor=EXPERT, message="just in time"), case.ctx())


@pytest.mark.rules("D2", "D3")
def test_commands_of_another_stage_are_refused():
    case = Case()
    err = refused(
        Refusal.CONFLICT, rules.make_offer, case.view, MakeOffer(actor=CLIENT, amount_to_client=1), case.ctx()
    )
    assert err.message == "cannot make an offer: the dispute is filed"
    refused(
        Refusal.CONFLICT,
        rules.pay_fee,
        case.view,
        PartyCommand(actor=CLIENT),
        case.ctx(),
        "cannot pay the arbitration fee",
    )
    refused(
        Refusal.CONFLICT,
        rules.verdict,
        case.view,
        Verdict(actor=OPERATOR, amount_to_client=1),
        case.ctx(),
        "cannot issue a verdict",
    )
    case.negotiating()
    refused(
        Refusal.CONFLICT, rules.accept, case.view, PartyCommand(actor=EXPERT), case.ctx(), "the dispute is negotiation"
    )


# ---------------------------------------------------------------------- D2 stage 1


@pytest.mark.rules("D2")
def test_d2_the_respondent_accepting_gives_the_claimant_everything():
    case = Case(claimant=Role.EXPERT)
    d = case.do(rules.accept, PartyCommand(actor=CLIENT))
    assert d.kind == "dispute.resolved" and d.actor == CLIENT and d.transfers == []
    outcome = d.view.outcome
    assert outcome is not None
    assert (outcome.amount_to_client, outcome.amount_to_expert, outcome.resolution, outcome.winner) == (
        0,
        AMOUNT,
        Resolution.ACCEPTED,
        Role.EXPERT,
    )
    assert (d.view.status, d.view.stage, d.view.deadline_at, d.view.waiting_on) == (
        DisputeStatus.RESOLVED,
        None,
        None,
        None,
    )
    text = "The dispute is resolved: the client accepted the claim. USD 0.00 to the client, USD 300.00 to the expert."
    assert told(d) == {"client-1": text, "expert-1": text}


@pytest.mark.rules("D2", "D3")
def test_d2_a_response_opens_negotiation_waiting_on_the_claimant_to_pay():
    case = Case()
    d = case.do(rules.respond, Respond(actor=EXPERT, message="it is exactly the brief"))
    v = d.view
    assert (d.kind, d.data) == ("dispute.responded", {"message": "it is exactly the brief"})
    assert (v.status, v.stage, v.waiting_on) == (DisputeStatus.NEGOTIATION, 2, "client")
    assert v.deadline_at == FILED_AT + case.policy.negotiation_window
    assert v.deadline_action == DisputeDeadlineAction.EXPERT_WINS
    text = (
        f"The expert answered the dispute: it is exactly the brief. Negotiation is open until {when(v.deadline_at)}: "
        "make or accept offers; to go to arbitration a party pays the fee (USD 7.50). If nobody pays by then, the claim lapses."
    )
    assert told(d) == {"client-1": text, "expert-1": text}


# ---------------------------------------------------------------------- D3 offers


@pytest.mark.rules("D3")
def test_d3_a_newer_offer_replaces_the_party_s_older_one():
    case = Case().negotiating()
    first = case.do(rules.make_offer, MakeOffer(actor=CLIENT, amount_to_client=20_000))
    assert first.kind == "dispute.offer_made" and first.data == {"offer_id": "1", "amount_to_client": 20_000}
    assert told(first) == {
        "expert-1": "The client offers a settlement: USD 200.00 to the client, USD 100.00 to the expert."
    }
    case.do(rules.make_offer, MakeOffer(actor=EXPERT, amount_to_client=5_000))
    case.do(rules.make_offer, MakeOffer(actor=CLIENT, amount_to_client=15_000))
    offers = {o.id: (o.by, o.amount_to_client, o.superseded) for o in case.view.offers}
    assert offers == {
        "1": (Role.CLIENT, 20_000, True),
        "2": (Role.EXPERT, 5_000, False),
        "3": (Role.CLIENT, 15_000, False),
    }
    assert case.view.offers[-1].made_at == FILED_AT


@pytest.mark.rules("D3")
def test_d3_accepting_an_offer_settles_the_split_and_refunds_any_fee():
    case = Case().fee_paid_by(Role.CLIENT)
    case.do(rules.make_offer, MakeOffer(actor=EXPERT, amount_to_client=10_000))
    d = case.do(rules.accept_offer, AcceptOffer(actor=CLIENT, offer_id="1"))
    assert d.view.outcome is not None
    assert (d.view.outcome.amount_to_client, d.view.outcome.resolution, d.view.outcome.winner) == (
        10_000,
        Resolution.OFFER,
        Role.EXPERT,
    )
    assert d.view.offers[0].accepted
    assert d.data == {
        "offer_id": "1",
        "resolution": "offer",
        "amount_to_client": 10_000,
        "amount_to_expert": 20_000,
        "winner": "expert",
        "fees_refunded": ["client"],
    }
    assert moved(d) == {
        f"{WF}:fee:client:refund": (
            accounts.PLATFORM_ARBITRATION,
            accounts.client_balance("client-1"),
            FEE // 2,
            "arbitration_fee_refund",
        )
    }
    resolved = "The dispute is resolved: the client accepted the expert's offer. USD 100.00 to the client, USD 200.00 to the expert."
    assert told(d) == {
        "client-1": f"{resolved} Your arbitration fee of USD 7.50 is refunded to your balance.",
        "expert-1": resolved,
    }


@pytest.mark.rules("D3")
def test_d3_an_offer_is_accepted_by_the_other_side_only_while_it_stands():
    case = Case().negotiating()
    case.do(rules.make_offer, MakeOffer(actor=CLIENT, amount_to_client=20_000))
    case.do(rules.make_offer, MakeOffer(actor=CLIENT, amount_to_client=18_000))
    v, ctx = case.view, case.ctx()
    err = refused(Refusal.NOT_FOUND, rules.accept_offer, v, AcceptOffer(actor=EXPERT, offer_id="9"), ctx)
    assert err.message == "no offer '9' in this dispute"
    refused(
        Refusal.FORBIDDEN,
        rules.accept_offer,
        v,
        AcceptOffer(actor=CLIENT, offer_id="2"),
        ctx,
        "cannot accept its own offer",
    )
    err = refused(Refusal.CONFLICT, rules.accept_offer, v, AcceptOffer(actor=EXPERT, offer_id="1"), ctx)
    assert err.message == "offer 1 was replaced by a newer offer of the client"


# ---------------------------------------------------------------------- D3 mediation


@pytest.mark.rules("D3")
def test_d3_a_recommendation_settles_once_both_accept_it():
    case = Case().negotiating()
    d = case.do(rules.recommend, Recommend(actor=OPERATOR, amount_to_client=12_000))
    assert (d.kind, d.actor, d.data) == ("dispute.recommended", OPERATOR, {"amount_to_client": 12_000})
    text = "The mediation team recommends USD 120.00 to the client, USD 180.00 to the expert; it settles the dispute if both of you accept it."
    assert told(d) == {"client-1": text, "expert-1": text}
    assert d.view.recommendation is not None and d.view.recommendation.posted_by == "operator-1"

    d = case.do(rules.accept_recommendation, PartyCommand(actor=EXPERT))
    assert d.kind == "dispute.recommendation_accepted" and d.view.outcome is None
    assert told(d) == {"client-1": "The expert accepted the mediation recommendation; accept it too to settle."}
    refused(
        Refusal.CONFLICT,
        rules.accept_recommendation,
        case.view,
        PartyCommand(actor=EXPERT),
        case.ctx(),
        "the expert already answered",
    )

    d = case.do(rules.accept_recommendation, PartyCommand(actor=CLIENT))
    assert d.kind == "dispute.resolved" and d.view.outcome is not None
    assert (d.view.outcome.amount_to_client, d.view.outcome.resolution) == (12_000, Resolution.RECOMMENDATION)
    assert d.view.recommendation is not None and set(d.view.recommendation.accepted_by) == {Role.CLIENT, Role.EXPERT}
    assert told(d)["client-1"].startswith(
        "The dispute is resolved: both parties accepted the mediation recommendation."
    )


@pytest.mark.rules("D3")
def test_d3_a_rejected_recommendation_tells_the_other_side_and_the_operators():
    case = Case().negotiating()
    refused(
        Refusal.CONFLICT,
        rules.reject_recommendation,
        case.view,
        PartyCommand(actor=CLIENT),
        case.ctx(),
        "has not posted",
    )
    case.do(rules.recommend, Recommend(actor=OPERATOR, amount_to_client=12_000))
    d = case.do(rules.reject_recommendation, PartyCommand(actor=CLIENT))
    assert d.kind == "dispute.recommendation_rejected" and d.data == {}
    assert d.view.recommendation is not None and d.view.recommendation.rejected_by == [Role.CLIENT]
    assert told(d) == {
        "expert-1": "The client rejected the mediation recommendation.",
        OPERATORS: "The client rejected the recommendation in dispute d1.",
    }
    refused(
        Refusal.CONFLICT,
        rules.accept_recommendation,
        case.view,
        PartyCommand(actor=CLIENT),
        case.ctx(),
        "already answered",
    )
    # A new recommendation replaces the old one and every answer to it.
    case.do(rules.recommend, Recommend(actor=OPERATOR, amount_to_client=13_000))
    assert case.view.recommendation is not None and case.view.recommendation.rejected_by == []


# ---------------------------------------------------------------------- D4 fees, evidence


@pytest.mark.rules("D4")
def test_d4_the_first_fee_opens_stage_3_waiting_on_the_other_side():
    case = Case().negotiating()
    case.now += timedelta(days=1)
    d = case.do(rules.pay_fee, PartyCommand(actor=EXPERT))
    v = d.view
    assert (d.kind, d.data, d.actor) == ("dispute.fee_paid", {"fee": FEE // 2}, EXPERT)
    assert moved(d) == {
        f"{WF}:fee:expert": (accounts.WORLD_CARD, accounts.PLATFORM_ARBITRATION, FEE // 2, "arbitration_fee")
    }
    assert (v.status, v.stage, v.waiting_on) == (DisputeStatus.ARBITRATION_FEE, 3, "client")
    assert v.deadline_at == case.now + case.policy.fee_payment_window
    assert v.deadline_action == DisputeDeadlineAction.EXPERT_WINS
    assert [(f.by, f.amount, f.transfer_id, f.paid_at) for f in v.fees] == [
        (Role.EXPERT, FEE // 2, f"{WF}:fee:expert", case.now)
    ]
    by = when(v.deadline_at)
    assert told(d) == {
        "client-1": f"The expert paid the arbitration fee. Pay yours (USD 7.50) by {by} or the expert gets USD 300.00. "
        "Until then you may still settle and submit evidence.",
        "expert-1": f"Your arbitration fee is paid; the client has until {by} to pay theirs.",
    }
    err = refused(Refusal.CONFLICT, rules.pay_fee, v, PartyCommand(actor=EXPERT), case.ctx())
    assert err.message == "the expert already paid the arbitration fee; a fee is never paid twice"


@pytest.mark.rules("D4", "D5")
def test_d4_the_second_fee_takes_the_case_to_the_operators():
    case = Case().fee_paid_by(Role.CLIENT)
    d = case.do(rules.pay_fee, PartyCommand(actor=EXPERT))
    v = d.view
    assert d.kind == "dispute.arbitration_started"
    assert list(moved(d)) == [f"{WF}:fee:expert"]
    assert (v.status, v.stage, v.waiting_on, v.deadline_action) == (
        DisputeStatus.ARBITRATION,
        4,
        "operator",
        "remind_operators",
    )
    assert v.deadline_at == case.now + case.policy.verdict_due
    both = "Both arbitration fees are paid; the dispute team will issue a final, binding verdict."
    assert told(d) == {
        "client-1": both,
        "expert-1": both,
        OPERATORS: f"Dispute d1 (USD 300.00) awaits a verdict, due {when(v.deadline_at)}.",
    }


@pytest.mark.rules("D4", "D6")
def test_d4_a_zero_fee_moves_no_money():
    free = preset("cadcrowd").model_copy(update={"arbitration_fee_min": 0, "arbitration_fee_basis_points": 0})
    case = Case()
    case.policy = free
    case.view = rules.filed(dispute_input(policy=free))
    case.negotiating()
    d = case.do(rules.pay_fee, PartyCommand(actor=CLIENT))
    assert d.transfers == [] and d.view.fees[0].amount == 0


@pytest.mark.rules("D4")
def test_d4_evidence_is_taken_until_arbitration():
    case = Case().fee_paid_by(Role.CLIENT)
    d = case.do(rules.submit_evidence, SubmitEvidence(actor=EXPERT, text="the brief, page 2"))
    assert (d.kind, d.data) == ("dispute.evidence_submitted", {"text": "the brief, page 2"})
    assert [(e.by, e.text) for e in d.view.evidence] == [(Role.EXPERT, "the brief, page 2")]
    assert told(d) == {"client-1": "The expert submitted evidence in the dispute."}
    case.do(rules.pay_fee, PartyCommand(actor=EXPERT))
    err = refused(
        Refusal.CONFLICT, rules.submit_evidence, case.view, SubmitEvidence(actor=CLIENT, text="more"), case.ctx()
    )
    assert err.message == "cannot submit evidence: the dispute is arbitration"


# ---------------------------------------------------------------------- D5 verdict, D6 fees


@pytest.mark.rules("D5", "D6")
def test_d5_a_verdict_under_split_fees_keeps_both_halves():
    case = Case().in_arbitration()
    case.now = case.view.deadline_at + timedelta(days=30)  # type: ignore[operator]  # no cut-off for a verdict
    d = case.do(rules.verdict, Verdict(actor=OPERATOR, amount_to_client=20_000, note="partly delivered"))
    assert d.view.outcome is not None
    assert (d.view.outcome.resolution, d.view.outcome.winner, d.view.outcome.decided_at) == (
        Resolution.VERDICT,
        Role.CLIENT,
        case.now,
    )
    assert d.data["note"] == "partly delivered" and d.data["fees_refunded"] == []
    assert moved(d) == {
        f"{WF}:fee:{role}:kept": (
            accounts.PLATFORM_ARBITRATION,
            accounts.PLATFORM_FEES,
            FEE // 2,
            "arbitration_fee_kept",
        )
        for role in ("client", "expert")
    }
    assert not any(f.refunded for f in d.view.fees)
    text = "The dispute is resolved: the dispute team's verdict. USD 200.00 to the client, USD 100.00 to the expert."
    assert told(d) == {"client-1": text, "expert-1": text}


@pytest.mark.rules("D6")
@pytest.mark.parametrize(
    ("amount_to_client", "refunded"),
    [(AMOUNT, {"client"}), (0, {"expert"}), (AMOUNT // 2, {"client", "expert"})],
)
def test_d6_a_freelancer_verdict_refunds_the_winner_s_fee(amount_to_client, refunded):
    case = Case(policy="freelancer").in_arbitration()
    d = case.do(rules.verdict, Verdict(actor=OPERATOR, amount_to_client=amount_to_client))
    wallet = {"client": accounts.client_balance("client-1"), "expert": accounts.expert_available("expert-1")}
    expected = {}
    for role in ("client", "expert"):
        paid = f"{WF}:fee:{role}"
        if role in refunded:
            expected[f"{paid}:refund"] = (accounts.PLATFORM_ARBITRATION, wallet[role], FEE, "arbitration_fee_refund")
        else:
            expected[f"{paid}:kept"] = (
                accounts.PLATFORM_ARBITRATION,
                accounts.PLATFORM_FEES,
                FEE,
                "arbitration_fee_kept",
            )
    assert moved(d) == expected
    assert d.data["fees_refunded"] == sorted(refunded)
    assert {f.by.value for f in d.view.fees if f.refunded} == refunded
    for role, user in (("client", "client-1"), ("expert", "expert-1")):
        assert told(d)[user].endswith("Your arbitration fee of USD 15.00 is refunded to your balance.") == (
            role in refunded
        )


@pytest.mark.rules("D6")
@pytest.mark.parametrize("fee_policy", list(FeePolicy))
@pytest.mark.parametrize("resolution", [r for r in Resolution if r != Resolution.VERDICT])
def test_d6_a_case_settled_before_a_verdict_refunds_every_fee(fee_policy, resolution):
    for winner in (Role.CLIENT, Role.EXPERT, None):
        assert rules.fees_refunded(resolution, fee_policy, winner) == {Role.CLIENT, Role.EXPERT}


@pytest.mark.rules("D6")
def test_d6_whose_fee_a_verdict_refunds():
    assert rules.fees_refunded(Resolution.VERDICT, FeePolicy.SPLIT, Role.CLIENT) == set()
    assert rules.fees_refunded(Resolution.VERDICT, FeePolicy.SPLIT, None) == set()
    assert rules.fees_refunded(Resolution.VERDICT, FeePolicy.WINNER_REFUNDED, Role.EXPERT) == {Role.EXPERT}
    assert rules.fees_refunded(Resolution.VERDICT, FeePolicy.WINNER_REFUNDED, None) == {Role.CLIENT, Role.EXPERT}


@pytest.mark.rules("D6")
def test_the_winner_gets_more_than_half():
    assert rules.winner_of(15_001, AMOUNT) == Role.CLIENT
    assert rules.winner_of(14_999, AMOUNT) == Role.EXPERT
    assert rules.winner_of(15_000, AMOUNT) is None


@pytest.mark.rules("D6")
@pytest.mark.parametrize(("policy", "each"), [("cadcrowd", FEE // 2), ("freelancer", FEE)])
def test_d6_the_fee_per_party_follows_the_fee_policy(policy, each):
    assert rules.fee_per_party(preset(policy), AMOUNT) == each
    assert rules.fee_per_party(preset(policy), 1_000) == (250 if policy == "cadcrowd" else 500)  # the USD 5.00 floor


# ---------------------------------------------------------------------- D7 deadlines


@pytest.mark.rules("D7")
def test_d7_nothing_is_due_before_the_deadline_or_after_the_outcome():
    case = Case()
    assert case.view.deadline_at is not None
    ctx = Context(now=case.view.deadline_at - timedelta(seconds=1), policy=case.policy, workflow_id=WF, step=2)
    assert rules.deadline_passed(case.view, ctx) is None
    case.do(rules.accept, PartyCommand(actor=EXPERT))
    case.now += timedelta(days=365)
    assert rules.deadline_passed(case.view, case.ctx()) is None


@pytest.mark.rules("D2", "D7")
@pytest.mark.parametrize(("claimant", "to_client"), [(Role.CLIENT, AMOUNT), (Role.EXPERT, 0)])
def test_d2_silence_at_stage_1_gives_the_claimant_everything(claimant, to_client):
    case = Case(claimant=claimant)
    d = case.at_deadline()
    assert d is not None and d.kind == "dispute.resolved" and d.actor is None and d.transfers == []
    assert d.view.outcome is not None
    assert (d.view.outcome.amount_to_client, d.view.outcome.resolution, d.view.outcome.winner) == (
        to_client,
        Resolution.DEFAULT,
        claimant,
    )
    respondent = rules.other(claimant)
    split = notices.split(to_client, AMOUNT, "USD")
    text = f"The dispute is resolved: the {respondent} did not answer in time. {split}."
    assert told(d) == {"client-1": text, "expert-1": text}


@pytest.mark.rules("D3", "D7")
def test_d3_the_claim_lapses_when_nobody_pays_the_fee():
    case = Case().negotiating()
    d = case.at_deadline(timedelta(hours=5))  # a worker that was down decides the same
    assert d is not None and d.view.outcome is not None
    assert (d.view.outcome.amount_to_client, d.view.outcome.winner, d.view.outcome.resolution) == (
        0,
        Role.EXPERT,
        Resolution.DEFAULT,
    )
    assert d.view.outcome.decided_at == case.now
    assert told(d)["client-1"] == (
        "The dispute is resolved: nobody paid the arbitration fee; the claim lapsed. USD 0.00 to the client, USD 300.00 to the expert."
    )


@pytest.mark.rules("D4", "D7")
@pytest.mark.parametrize("policy", ["cadcrowd", "freelancer"])
def test_d4_the_side_that_does_not_pay_the_fee_loses_and_the_payer_is_refunded(policy):
    case = Case(policy=policy).fee_paid_by(Role.EXPERT)
    fee = case.view.fee_per_party
    d = case.at_deadline()
    assert d is not None and d.view.outcome is not None
    assert (d.view.outcome.amount_to_client, d.view.outcome.winner) == (0, Role.EXPERT)
    assert moved(d) == {
        f"{WF}:fee:expert:refund": (
            accounts.PLATFORM_ARBITRATION,
            accounts.expert_available("expert-1"),
            fee,
            "arbitration_fee_refund",
        )
    }
    assert d.data["fees_refunded"] == ["expert"]
    assert told(d)["expert-1"] == (
        "The dispute is resolved: the client did not pay the arbitration fee. USD 0.00 to the client, USD 300.00 to the expert. "
        f"Your arbitration fee of {money(fee, 'USD')} is refunded to your balance."
    )


@pytest.mark.rules("D5", "D7")
def test_d5_a_late_verdict_reminds_the_operators_and_nobody_loses():
    case = Case().in_arbitration()
    due = case.view.deadline_at
    d = case.at_deadline(timedelta(days=20))
    assert d is not None and d.kind == "dispute.verdict_overdue" and d.transfers == []
    assert d.view.outcome is None and d.view.status == DisputeStatus.ARBITRATION
    # Counted from now: a worker down for weeks sends one reminder, not a burst.
    assert d.view.deadline_at == case.now + case.policy.verdict_due
    assert told(d) == {OPERATORS: f"The verdict on dispute d1 (USD 300.00) was due {when(due)}."}


# ---------------------------------------------------------------------- Web UI


def test_details_say_who_must_act_and_what_silence_does():
    case = Case()
    assert notices.details(case.view) == (
        "**filed** · USD 300.00 disputed by the client: the logo is not what was agreed\n\n"
        "Waiting on the expert to accept or respond by 2025-03-04 12:00 UTC; silence gives USD 300.00 to the client."
    )
    case.fee_paid_by(Role.CLIENT)
    assert "Waiting on the expert to pay the arbitration fee (USD 7.50)" in notices.details(case.view)
    case.do(rules.pay_fee, PartyCommand(actor=EXPERT))
    assert "Waiting on the operators' verdict" in notices.details(case.view)
    case.do(rules.verdict, Verdict(actor=OPERATOR, amount_to_client=0))
    assert notices.details(case.view).endswith("Resolved (verdict): USD 0.00 to the client, USD 300.00 to the expert.")

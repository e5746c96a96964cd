"""The two lifecycles the faults hit, driven over HTTP the way a marketplace would,
and what each must leave in the ledger once its security holds have ended.

- release: fund -> submit -> release part -> release the rest -> 5-day hold (M2-M6, M9)
- dispute: fund -> submit -> dispute all of it -> respond -> both pay the fee ->
  verdict -> the client's share refunded, the expert's on hold 5 days (D1-D5, M9)
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from escrow.models import Role
from tests.faults.client import Answer, Api, Who

OPERATOR = Who("operator-faults", Role.OPERATOR)


@dataclass
class Case:
    kind: str
    amount: int
    client: Who
    expert: Who
    contract_id: str = ""
    milestone_id: str = ""
    dispute_id: str = ""
    to_client: int = 0  # what the client gets back
    releases: int = 0  # release transfers into the expert's hold, each settled once by the hold's end
    # Idempotent effects: (workflow id, audit event kind) -> how many the harness caused.
    audits: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def to_expert(self) -> int:
        return self.amount - self.to_client

    def __str__(self) -> str:
        return f"{self.kind} case, milestone {self.milestone_id or '(none yet)'}"


def _expect(answer: Answer, status: int, what: str) -> dict:
    if answer.status != status:
        raise AssertionError(f"{what}: expected {status}, got {answer.status}: {answer.body}")
    return answer.body


def new_case(kind: str, rng: random.Random) -> Case:
    suffix = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
    return Case(
        kind=kind,
        amount=rng.randrange(10_000, 500_000, 100),
        client=Who(f"client-{suffix}", Role.CLIENT),
        expert=Who(f"expert-{suffix}", Role.EXPERT),
    )


async def _funded_and_submitted(api: Api, case: Case) -> None:
    contract = _expect(
        await api.post(
            "/v1/contracts", case.client, {"expert_id": case.expert.user_id, "type": "fixed", "currency": "USD"}
        ),
        201,
        f"{case}: open contract",
    )
    case.contract_id = contract["id"]
    milestone = _expect(
        await api.post(
            f"/v1/contracts/{case.contract_id}/milestones", case.client, {"title": "Faults", "amount": case.amount}
        ),
        201,
        f"{case}: add milestone",
    )
    case.milestone_id = milestone["id"]
    contract_wf, milestone_wf = f"contract:{case.contract_id}", f"milestone:{case.milestone_id}"
    case.audits.update({(contract_wf, "contract.created"): 1, (contract_wf, "contract.milestone_added"): 1})
    case.audits.update({(milestone_wf, "milestone.created"): 1})
    path = f"/v1/milestones/{case.milestone_id}"
    funded = _expect(await api.post(f"{path}/fund", case.client, {"card_authenticated": True}), 200, f"{case}: fund")
    assert funded["escrow"] == case.amount, f"{case}: funded escrow {funded['escrow']} != {case.amount}"
    _expect(await api.post(f"{path}/submit", case.expert), 200, f"{case}: submit")
    case.audits.update({(milestone_wf, "milestone.funded"): 1, (milestone_wf, "milestone.submitted"): 1})


async def release(api: Api, case: Case, rng: random.Random) -> None:
    await _funded_and_submitted(api, case)
    path = f"/v1/milestones/{case.milestone_id}/release"
    first = rng.randrange(100, case.amount, 100)
    for amount in (first, case.amount - first):
        view = _expect(await api.post(path, case.client, {"amount": amount}), 200, f"{case}: release {amount}")
        case.releases += 1
    assert (view["escrow"], view["released"]) == (0, case.amount), f"{case}: after releases {view}"
    case.audits[(f"milestone:{case.milestone_id}", "milestone.released")] += 2


async def dispute(api: Api, case: Case, rng: random.Random) -> None:
    await _funded_and_submitted(api, case)
    opened = _expect(
        await api.post(
            f"/v1/milestones/{case.milestone_id}/disputes",
            case.client,
            {"amount": case.amount, "reason": "the work was not delivered"},
        ),
        201,
        f"{case}: open dispute",
    )
    case.dispute_id = opened["id"]
    path = f"/v1/disputes/{case.dispute_id}"
    _expect(await api.post(f"{path}/respond", case.expert, {"message": "it was"}), 200, f"{case}: respond")
    _expect(await api.post(f"{path}/pay-fee", case.client), 200, f"{case}: client pays the fee")
    paid = _expect(await api.post(f"{path}/pay-fee", case.expert), 200, f"{case}: expert pays the fee")
    assert paid["stage"] == 4, f"{case}: both fees paid but {paid}"
    case.to_client = rng.randrange(0, case.amount + 1, 100)
    resolved = _expect(
        await api.post(f"{path}/verdict", OPERATOR, {"amount_to_client": case.to_client, "note": "faults"}),
        200,
        f"{case}: verdict",
    )
    assert resolved["outcome"]["amount_to_client"] == case.to_client, f"{case}: verdict {resolved}"
    case.releases = 1 if case.to_expert else 0
    milestone_wf, dispute_wf = f"milestone:{case.milestone_id}", f"dispute:{case.dispute_id}"
    case.audits.update({(milestone_wf, "milestone.dispute_opened"): 1, (milestone_wf, "milestone.dispute_resolved"): 1})
    case.audits.update(
        {
            (dispute_wf, "dispute.filed"): 1,
            (dispute_wf, "dispute.responded"): 1,
            (dispute_wf, "dispute.fee_paid"): 1,
            (dispute_wf, "dispute.arbitration_started"): 1,
            (dispute_wf, "dispute.resolved"): 1,
        }
    )


LIFECYCLES = {"release": release, "dispute": dispute}

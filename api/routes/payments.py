"""Manual payments (P2, P5): the client of a contract pays its expert a bonus or an
expense reimbursement outside any milestone. One workflow per payment
(`ManualPaymentWorkflow`, `payment:{id}`) holds the money and ends the hold."""

from __future__ import annotations

from uuid import uuid4

from fastapi import Request
from temporalio.client import Client

from api import workflow_calls
from api.deps import SettingsDep, seen
from api.errors import forbidden
from api.idempotency import operation_id
from api.routes import CallerDep, Id, resource_router
from api.workflow_calls import Handle
from escrow import case_text, commands
from escrow.models import Role
from escrow.models.payment import ManualPaymentInput, ManualPaymentView, PaymentTerms
from escrow.policy import preset

router = resource_router("payments")


def payment(client: Client, payment_id: str) -> Handle[ManualPaymentView]:
    return Handle(client, commands.Payment, commands.Payment.workflow_id(payment_id), f"payment {payment_id}")


@router.post(
    "/contracts/{contract_id}/payments",
    status_code=201,
    response_model=ManualPaymentView,
    summary="Pay the expert a bonus or an expense (P2, P5)",
)
async def pay_expert(
    contract_id: Id, body: PaymentTerms, caller: CallerDep, settings: SettingsDep, request: Request
) -> ManualPaymentView:
    """The client pays the contract's expert `amount` as a `bonus` or an `expense`
    reimbursement. The processor confirms the payment at once; the money goes to the
    expert's pending balance under a hold and is available 5 days after the
    confirmation (`available_at`, P5: Monday → Saturday, …, Sunday → Friday)."""
    contract = seen(
        caller.actor,
        await workflow_calls.contract(caller.client, contract_id).state(),
        f"no contract {contract_id}",
    )
    if caller.actor.role is not Role.CLIENT or caller.actor.user_id != contract.client_id:
        raise forbidden("only the contract's client pays its expert")
    # Under an Idempotency-Key the id is derived from it: a retry finds its payment.
    payment_id = operation_id(request) or uuid4().hex
    handle = payment(caller.client, payment_id)
    start = ManualPaymentInput(
        payment_id=payment_id,
        contract_id=contract.id,
        client_id=contract.client_id,
        expert_id=contract.expert_id,
        currency=contract.currency,
        amount=body.amount,
        kind=body.kind,
        memo=body.memo,
        policy=preset(contract.policy),
    )
    await handle.start(start, settings.task_queue, case_text.payment_summary(start))
    return await caller.run(handle, commands.Payment.confirm)

"""Payout methods and payouts (P3, P4, L5).

A method is a row the API writes itself: it moves no money, so no workflow owns it.
A payout is a `PayoutWorkflow` (`payout:{id}`) that owns its money in flight; its
`reserve` update takes the money out of the user's available balance, or is refused
(409) when it is not there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import uuid4

from fastapi import Path, Request
from pydantic import StringConstraints
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from api.deps import ActorDep, ClientDep, SessionsDep, SettingsDep, seen
from api.errors import Problem, forbidden
from api.idempotency import operation_id
from api.routes import CallerDep, Id, resource_router
from api.schemas import Body
from api.workflow_calls import REFUSALS, Handle
from escrow import case_text, commands
from escrow.db.models import PayoutMethod
from escrow.errors import Refusal
from escrow.inputs import Cents, UserId
from escrow.models import Actor, PayoutInput, PayoutMethodKind, PayoutMethodView, PayoutView, Role
from escrow.policy import Policy
from escrow.rules import payout as rules

router = resource_router("payouts")
UserPath = Annotated[UserId, Path()]

Account = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254, pattern=r"^[!-~ ]+$")]
Country = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]


class NewPayoutMethod(Body):
    kind: PayoutMethodKind
    account: Account
    country: Country


class NewPayout(Body):
    amount: Cents
    method_id: Id


def payout(client: Client, payout_id: str) -> Handle[PayoutView]:
    return Handle(client, commands.Payout, commands.Payout.workflow_id(payout_id), f"payout {payout_id}")


def _own(actor: Actor, user_id: str, what: str) -> None:
    if actor.user_id != user_id:
        raise forbidden(f"{what} are managed by their user only")


def _method_view(row: PayoutMethod) -> PayoutMethodView:
    return PayoutMethodView(
        id=row.id,
        user_id=row.user_id,
        kind=PayoutMethodKind(row.kind),
        account_masked=row.account_masked,
        country=row.country,
        currency=row.currency,
        added_at=row.added_at,
        security_hold_until=row.security_hold_until,
    )


def _refused(err: ApplicationError) -> Problem:
    status, slug = REFUSALS[Refusal(err.type)]
    return Problem(status, err.message, slug=slug)


@router.post(
    "/users/{user_id}/payout-methods",
    status_code=201,
    response_model=PayoutMethodView,
    summary="Add a payout method (P3, P4)",
)
def add_payout_method(
    user_id: UserPath, body: NewPayoutMethod, actor: ActorDep, sessions: SessionsDep, settings: SettingsDep
) -> PayoutMethodView:
    """PayPal (USD; an e-mail), Payoneer (an e-mail; only where PayPal is not served)
    or a wire (an IBAN or account number). The account is never shown in full. Payouts
    through the method wait `security_hold_until`, 3 days from now (P3)."""
    _own(actor, user_id, "payout methods")
    policy = settings.policy
    try:
        account, country = rules.method_account(body.kind, body.account, body.country, policy)
    except ApplicationError as err:
        raise _refused(err) from err
    now = datetime.now(UTC)
    row = PayoutMethod(
        id=uuid4().hex,
        user_id=user_id,
        kind=body.kind.value,
        account=account,
        account_masked=rules.mask(body.kind, account),
        country=country,
        currency="USD",
        added_at=now,
        security_hold_until=rules.security_hold_until(now, policy),
    )
    with sessions.begin() as session:
        session.add(row)
        view = _method_view(row)
    return view


@router.get(
    "/users/{user_id}/payout-methods", response_model=list[PayoutMethodView], summary="A user's payout methods (P4)"
)
def payout_methods(user_id: UserPath, actor: ActorDep, sessions: SessionsDep) -> list[PayoutMethodView]:
    if actor.role is not Role.OPERATOR and actor.user_id != user_id:
        raise forbidden("payout methods are visible to their user and operators only")
    with sessions() as session:
        rows = session.scalars(
            select(PayoutMethod).where(PayoutMethod.user_id == user_id).order_by(PayoutMethod.added_at)
        )
        return [_method_view(r) for r in rows]


def _method(sessions: SessionsDep, user_id: str, method_id: str) -> PayoutMethod | None:
    with sessions() as session:
        row = session.get(PayoutMethod, method_id)
        if row is None or row.user_id != user_id:
            return None
        session.expunge(row)
        return row


@router.post(
    "/users/{user_id}/payouts", status_code=201, response_model=PayoutView, summary="Pay out available money (P4)"
)
async def request_payout(
    user_id: UserPath,
    body: NewPayout,
    caller: CallerDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    request: Request,
) -> PayoutView:
    """Only available money (L5): an expert's earnings, or a client's refunded balance
    (R3), by the caller's role; through a method past its security hold (P3, 409 with
    the date it ends); a wire only above 2,500.00 USD, for a 50.00 fee taken from the
    amount (P4). Answers the payout `pending`; `GET /v1/payouts/{id}` follows it
    to `paid`, or `failed` with the money back in `available`."""
    _own(caller.actor, user_id, "payouts")
    method = await run_in_threadpool(_method, sessions, user_id, body.method_id)
    if method is None:
        raise Problem(404, f"no payout method {body.method_id}", slug="not-found")
    policy: Policy = settings.policy
    kind = PayoutMethodKind(method.kind)
    try:
        fee = rules.payout_fee(kind, body.amount, policy)
        source = rules.source(caller.actor.role)
        # Refused here, no payout starts; the payout checks again on its own clock.
        rules.check_hold(method.security_hold_until, datetime.now(UTC))
    except ApplicationError as err:
        raise _refused(err) from err
    # Under an Idempotency-Key the id is derived from it: a retry finds its payout.
    payout_id = operation_id(request) or uuid4().hex
    handle = payout(caller.client, payout_id)
    start = PayoutInput(
        payout_id=payout_id,
        user_id=user_id,
        method_id=method.id,
        kind=kind,
        account=method.account,
        account_masked=method.account_masked,
        amount=body.amount,
        fee=fee,
        currency=method.currency,
        policy=policy,
        security_hold_until=method.security_hold_until,
        source=source,
    )
    await handle.start(start, settings.task_queue, case_text.payout_summary(start))
    return await caller.run(handle, commands.Payout.reserve)


@router.get("/payouts/{payout_id}", response_model=PayoutView, summary="A payout (P4)")
async def read_payout(payout_id: Id, actor: ActorDep, client: ClientDep) -> PayoutView:
    """Its user and operators see it; anyone else learns nothing (404)."""
    return seen(actor, await payout(client, payout_id).state(), f"no payout {payout_id}")

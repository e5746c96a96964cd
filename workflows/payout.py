"""PayoutWorkflow: one payout, owning its money in flight (P3, P4, L5).

The API starts it with its `reserve` update (update-with-start): that step moves the
amount from the user's available balance into the payout's account, or the ledger
refuses it (409, no overdraft: two payouts can't spend the same money). The run then
sends the payout through the gateway and, in one more step, pays it out or returns
it. The rules are escrow.rules.payout; this module wires them to Temporal.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from escrow import case_text
    from escrow.case_text import Case
    from escrow.errors import Refusal, refuse
    from escrow.models import PartyCommand, PayoutInput, PayoutView, Role
    from escrow.money import format_cents
    from escrow.payouts import PayoutRequest, PayoutResult
    from escrow.rules import payout as rules
    from workflows.core import Entity

# The gateway may be away for a while; the payout's key keeps the retries one payout.
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
# A payout the API never reserved (its start lost its update) ends after this.
RESERVE_WAIT = timedelta(minutes=10)


@workflow.defn
class PayoutWorkflow(Entity[PayoutView]):
    @workflow.init
    def __init__(self, input: PayoutInput) -> None:
        super().__init__(rules.opened(input, workflow.now()), input.policy)
        self._input = input
        self._reserved = False
        self._refused = False

    @workflow.run
    async def run(self, input: PayoutInput) -> PayoutView:
        self._turns.open()  # no opening step: the `reserve` update writes the first
        try:
            await workflow.wait_condition(
                lambda: self._reserved or self._refused,
                timeout=RESERVE_WAIT,
                timeout_summary="end unreserved if the API's reserve never comes",
            )
        except TimeoutError:
            self._refuse("never asked for")
        if self._reserved:
            result = await workflow.execute_activity(
                "send_payout",
                PayoutRequest(
                    key=workflow.info().workflow_id,
                    kind=input.kind.value,
                    account=input.account,
                    amount=self.view.amount - self.view.fee,
                    currency=self.view.currency,
                ),
                result_type=PayoutResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SEND_RETRY,
                summary="payout.send",
            )
            async with self._turns.lock:
                await self.write(rules.settle(self.view, result, self.context()))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view

    @workflow.query
    def state(self) -> PayoutView:
        return self._view

    def _check(self, cmd: PartyCommand) -> None:
        if cmd.actor.role == Role.OPERATOR or cmd.actor.user_id != self.view.user_id:
            raise refuse(Refusal.FORBIDDEN, "only the payout's user asks for it")
        if self._reserved or self._refused:
            raise refuse(Refusal.CONFLICT, f"payout {self.view.id} was already asked for")

    @workflow.update
    async def reserve(self, cmd: PartyCommand) -> PayoutView:
        """L5: take the amount out of the user's available balance, or refuse (409)."""
        async with self._turns.command():
            self._check(cmd)
            try:
                await self.write(rules.reserve(self.view, self.context()))
            except ActivityError as err:
                if isinstance(err.cause, ApplicationError) and err.cause.type == Refusal.INSUFFICIENT_FUNDS:
                    self._refuse(
                        f"only available money is paid out; {format_cents(self.view.amount, self.view.currency)}"
                        " is more than is available (L5)"
                    )
                    raise refuse(Refusal.INSUFFICIENT_FUNDS, self.view.failure or "") from err
                self._refuse(str(err.cause or err))
                raise
            except ApplicationError as err:
                self._refuse(err.message)
                raise
            self._reserved = True
            return self.view

    def _refuse(self, reason: str) -> None:
        self._refused = True
        self._view = rules.refused(self.view, reason, workflow.now())
        self.publish()

    @reserve.validator
    def _validate_reserve(self, cmd: PartyCommand) -> None:
        self._check(cmd)

    def case(self) -> Case:
        return case_text.payout(self.view)

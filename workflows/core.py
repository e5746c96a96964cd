"""The workflow core: the mechanics every workflow shares, written once, so that a
workflow module holds only its rules.

An `Entity` owns its view, counts its steps, writes each decision as one step through
`post_step` and only then adopts the decision's view (the workflow never shows money
the ledger has not moved), publishes search attributes and Web UI details, serialises
commands (`Turns`) and keeps its deadlines: the workflow lists (instant, action) pairs
and one loop sleeps until the earliest and fires what is due (as samples-python's
`updatable_timer`: a change wakes the loop and the list is read again).

`command(decide)` registers an update whose validator and handler run the same pure
decision of `escrow.rules`; `checked(check)` registers a hand-written handler under the
same turn-taking, validated by `check`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from escrow import ids
    from escrow import search_attributes as sa
    from escrow.case_text import Case
    from escrow.models import DisputeInput, DisputeOutcome, DisputeView, Step
    from escrow.models.ledger import AuditEvent, Notification
    from escrow.notices import messages
    from escrow.policy import Policy
    from escrow.rules import Context, Decision, dispute
    from workflows import steps

V = TypeVar("V", bound=BaseModel)
C = TypeVar("C")
R = TypeVar("R")

Action = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Deadline:
    """At `at`, `action` runs (under the workflow's turn); `None` only wakes the workflow
    to see whether it has finished."""

    at: datetime
    action: Action | None


class Entity(Generic[V]):
    """Base of every workflow class. A subclass sets the view in `__init__` through
    `super().__init__` and answers the hooks below."""

    def __init__(self, view: V, policy: Policy, step: int = 0) -> None:
        self._view = view
        self._policy = policy
        self._step = step
        self._turns = steps.Turns()
        self._changed = False
        # Children whose outcome this workflow acts on; kept so they aren't collected.
        self._watchers: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ hooks

    def search_attributes(self) -> list[SearchAttributeUpdate]:
        return []

    def case(self) -> Case | None:
        """The case in words, for operators (escrow.case_text)."""
        return None

    def details(self) -> str:
        case = self.case()
        return case.details() if case else ""

    def deadlines(self) -> list[Deadline]:
        return []

    def read_model(self, view: V) -> dict[str, Any]:
        """The `Step` fields that carry this view into the read model, if any."""
        return {}

    async def written(self) -> None:
        """After each step is adopted (a milestone tells its contract)."""

    async def ended(self) -> None:
        """After the last command has answered, as the run returns."""

    # ------------------------------------------------------------------ life

    async def live(self, opening: Decision[V] | None, finished: Callable[[], bool]) -> None:
        """The body of every `run`: write the opening step, keep the deadlines until
        `finished`, and let every command in flight answer before the run returns (an
        update still running when it does would be lost to its caller)."""
        await self.write(opening)
        await self.keep_deadlines(finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.ended()

    # ------------------------------------------------------------------ steps

    @property
    def view(self) -> V:
        return self._view

    def context(self) -> Context:
        return Context(
            now=workflow.now(), policy=self._policy, workflow_id=workflow.info().workflow_id, step=self._step + 1
        )

    def decide(self, rule: Callable[[V, Context], Decision[V] | None]) -> Action:
        """A deadline's action from a pure decision of the view."""

        async def act() -> None:
            await self.write(rule(self._view, self.context()))

        return act

    async def write(self, decision: Decision[V] | None) -> None:
        """Write the decision as one step (money, read model, audit, outbox), then adopt
        its view. None writes nothing."""
        if decision is None:
            return
        ctx = self.context()
        wf_id, n, at = ctx.workflow_id, ctx.step, ctx.now
        await steps.post(
            Step(
                at=at,
                version=n,
                transfers=decision.transfers,
                invoices=decision.invoices,
                audit=[
                    AuditEvent(
                        id=f"{wf_id}:{n}",
                        workflow_id=wf_id,
                        contract_id=getattr(decision.view, "contract_id", None),
                        kind=decision.kind,
                        actor_id=decision.actor.user_id if decision.actor else None,
                        data=decision.data,
                    )
                ],
                notifications=[
                    Notification(id=f"{wf_id}:{n}:{user}", user_id=user, kind=decision.kind, message=text)
                    for user, text in messages(decision.notices).items()
                ],
                **self.read_model(decision.view),
            ),
            decision.kind,
        )
        self._step = n
        self._view = decision.view
        self._changed = True
        self.publish()
        await self.written()

    def publish(self) -> None:
        """Search attributes and current details, for operators in the Web UI."""
        attributes = self.search_attributes()
        case = self.case()
        if attributes:
            waiting = [] if case is None else [sa.WAITING_ON.value_set(case.waiting_on.value)]
            workflow.upsert_search_attributes([*attributes, *waiting])
        workflow.set_current_details(self.details())

    def watch(self, handle: Awaitable[R], on_done: Callable[[R], Awaitable[None]]) -> None:
        """When a child decides, act on its outcome in turn with every other command."""
        self._watchers.append(steps.watch(handle, self._turns.lock, on_done))

    async def start_dispute(
        self, filing: DisputeInput, summary: str, resolved: Callable[[V, str, DisputeOutcome, Context], Decision[V]]
    ) -> DisputeView:
        """Run the dispute as its own workflow; the escrow's owner pays its outcome, in
        turn, through `resolved`. Answers the dispute as it is filed."""
        handle = await workflow.start_child_workflow(
            "DisputeWorkflow",
            filing,
            id=ids.dispute(filing.dispute_id),
            result_type=DisputeOutcome,
            static_summary=summary,
        )
        self.watch(handle, lambda outcome: self.write(resolved(self._view, filing.dispute_id, outcome, self.context())))
        return dispute.filed(filing)

    # ------------------------------------------------------------------ deadlines

    async def keep_deadlines(self, finished: Callable[[], bool]) -> None:
        """Fire due deadlines, earliest first, until `finished`; sleep until the next
        one or a change (a command's step, or `finished` turning true). A deadline whose step the
        database refuses leaves the workflow stuck, taking commands, until the next
        change: never failed, never retried in a loop."""
        self._turns.open()
        stuck = False
        while True:
            self._changed = False
            async with self._turns.lock:
                stuck = await steps.fire(self._fire_due)
            if self._changed:
                continue  # one action can make another due (a claim closing frees money)
            if finished():
                return
            now = workflow.now()
            upcoming = None if stuck else min((d.at for d in self.deadlines() if d.at > now), default=None)
            try:
                await workflow.wait_condition(
                    lambda: self._changed or finished(),
                    timeout=None if upcoming is None else upcoming - now,
                    timeout_summary=None if upcoming is None else self._timer_summary(upcoming),
                )
            except TimeoutError:
                pass

    def _timer_summary(self, at: datetime) -> str:
        case = self.case()
        return case.timer(at) if case else f"the next deadline, {at:%Y-%m-%d %H:%M} UTC"

    async def _fire_due(self) -> None:
        """The earliest due action that changes something; the loop then reads the
        deadlines again, as that change may have moved them."""
        now = workflow.now()
        for deadline in sorted((d for d in self.deadlines() if d.at <= now), key=lambda d: d.at):
            if deadline.action is not None:
                await deadline.action()
                if self._changed:
                    return


class Reporting(Entity[V]):
    """An entity whose contract follows its money (a milestone, a billing week): after
    each step, and once more as it ends, it signals `REPORT` to its contract with its
    `summary`, whenever that changed since it last did."""

    REPORT: str

    def __init__(self, view: V, policy: Policy, step: int = 0) -> None:
        super().__init__(view, policy, step)
        self._reported: BaseModel | None = None

    def summary(self, finished: bool) -> BaseModel:
        raise NotImplementedError

    async def written(self) -> None:
        await self._report(finished=False)

    async def ended(self) -> None:
        await self._report(finished=True)

    async def _report(self, finished: bool) -> None:
        summary = self.summary(finished)
        if summary == self._reported:
            return
        self._reported = summary
        await steps.tell(ids.contract(self.view.contract_id), self.REPORT, summary)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- commands


def _hints(fn: Callable[..., Any]) -> list[Any]:
    hints = get_type_hints(fn)
    return [hints[name] for name in inspect.signature(fn).parameters]


def command(
    decide: Callable[[V, C, Context], Decision[V]],
    *,
    answer: Callable[[V, C], Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Callable[..., Any]:
    """An update `name` (default: the decision's name) taking the decision's command and
    answering the view it leaves, or what `answer(view, command)` picks from it (the
    review or the change it acted on). Its validator runs `decide` and throws the
    decision away, so a refusal writes nothing; the handler runs it again in its turn,
    as the state may have moved since, and writes what it decides."""
    view_type, command_type, _ = _hints(decide)
    result_type = get_type_hints(answer)["return"] if answer is not None else view_type

    async def handler(self: Entity[V], cmd: C) -> Any:
        async with self._turns.command():
            await self.write(decide(self._view, cmd, self.context()))
            return self._view if answer is None else answer(self._view, cmd)

    def validator(self: Entity[V], cmd: C) -> None:
        decide(self._view, cmd, self.context())

    handler.__name__ = handler.__qualname__ = name or decide.__name__
    handler.__annotations__ = {"cmd": command_type, "return": result_type}
    # Temporal requires the validator's parameters to be the handler's, annotations too.
    validator.__annotations__ = {"cmd": command_type, "return": None}
    handler.__doc__ = decide.__doc__
    update = workflow.update(name=handler.__name__, description=description)(handler)
    update.validator(validator)
    return update


def checked(check: Callable[[V, C, Context], object]) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Any]]:
    """An update written by hand (it starts a child, charges a card, writes several
    steps), validated by `check` and run in its turn after `check` passes again."""

    def register(fn: Callable[..., Awaitable[R]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Entity[V], cmd: C) -> R:
            async with self._turns.command():
                check(self._view, cmd, self.context())
                return await fn(self, cmd)

        @functools.wraps(fn)  # the same parameters as the handler, as Temporal requires
        def validator(self: Entity[V], cmd: C) -> None:
            check(self._view, cmd, self.context())

        update = workflow.update(handler)
        update.validator(validator)
        return update

    return register

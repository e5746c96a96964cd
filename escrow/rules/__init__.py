"""The rules of SPEC.md as pure decisions: a function of (view, command, context) that
refuses the command or answers a `Decision`, what one step of the workflow writes.

No Temporal, no database, no clock of their own: the workflow core (workflows/core.py)
passes the context in, writes the decision as one step and only then adopts its view,
so the same function validates an update (the decision is thrown away) and handles it.
Each entity has its module here, named for it: `milestone`, `refund`, `dispute`,
`hourly`, `contract`; `paying` is the one way money leaves an escrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from escrow.models import Actor, HourlyWeekView, Invoice, MilestoneView, TransferSpec
from escrow.notices import Notice
from escrow.policy import Policy

V = TypeVar("V", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Context:
    """What a decision may know besides the view and the command."""

    now: datetime
    policy: Policy
    workflow_id: str
    # The number the decision's step will be written as: ids built from it are unique
    # to that step and the same on every retry of it.
    step: int

    def id(self, *parts: object) -> str:
        """An id of something this step writes: `{workflow_id}:{part}:...`."""
        return ":".join((self.workflow_id, *(str(p) for p in parts)))


@dataclass
class Decision(Generic[V]):
    """One step: the new view, and everything written with it in one transaction."""

    view: V
    kind: str  # the audit event, `milestone.released`
    actor: Actor | None = None
    data: dict[str, Any] = field(default_factory=dict)
    transfers: list[TransferSpec] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def parties(owner: MilestoneView | HourlyWeekView) -> dict[str, str]:
    """What a refund request or dispute over `owner`'s escrow takes over from it: the
    contract, its parties, the currency."""
    return {
        "contract_id": owner.contract_id,
        "client_id": owner.client_id,
        "expert_id": owner.expert_id,
        "currency": owner.currency,
    }


def made_from(source: BaseModel, model: type[M], **fields: Any) -> M:
    """A `model` holding what `source` holds under the same names, and `fields`: a view
    as its input starts it, the summary of a view."""
    same = {name: getattr(source, name) for name in model.model_fields if name in type(source).model_fields}
    return model(**(same | fields))

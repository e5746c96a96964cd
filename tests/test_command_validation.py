"""Commands sent the way the Temporal Web UI and CLI send them, as raw JSON to an
update: refused like the same request over HTTP, as a rejected update of type
`Invalid` (422 at the API) that writes nothing, and the workflow takes the next
command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError

from escrow import accounts
from escrow.models import MilestoneStatus, MilestoneView, Release, Submit
from escrow.temporal import data_converter
from tests.support import Deal, balance, eventually, funded, refusal
from workflows.milestone import MilestoneWorkflow as MW

NUL = "\x00"


def client_actor(deal: Deal, user_id: str | None = None) -> dict[str, str]:
    return {"user_id": deal.client_actor.user_id if user_id is None else user_id, "role": "client"}


async def accepted_updates(handle: WorkflowHandle) -> int:
    """A rejected update leaves no event in the history: it wrote nothing."""
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)


@pytest.mark.rules("M4", "M6")
async def test_amounts_the_api_refuses_are_refused_from_the_temporal_ui(client, task_queue, worker, sessions):
    deal, milestone = await funded(client, task_queue, 50_000)
    escrow = accounts.milestone_escrow((await deal.state(milestone)).id)
    before = await accepted_updates(milestone)
    for raw in (
        {"actor": client_actor(deal), "amount": "5000"},
        {"actor": client_actor(deal), "amount": 5000.0},
        {"actor": client_actor(deal), "amount": True},
        {"actor": client_actor(deal), "amount": None},
        {"actor": client_actor(deal)},
        {"actor": client_actor(deal), "ammount": 5000},
    ):
        err = await refusal(milestone.execute_update("release", raw))
        assert (err.type, err.non_retryable) == ("Invalid", True), raw
        assert "amount" in err.message and "validation error" not in err.message, err.message
    assert await accepted_updates(milestone) == before
    assert balance(sessions, escrow) == 50_000

    view = await milestone.execute_update(
        "release", {"actor": client_actor(deal), "amount": 5000}, result_type=MilestoneView
    )
    assert view.released == 5000 and balance(sessions, escrow) == 45_000


@pytest.mark.rules("M4")
async def test_texts_and_ids_the_database_cant_hold_are_refused_and_the_review_window_still_ends(
    client, task_queue, worker, env
):
    deal, milestone = await funded(client, task_queue, 50_000)
    await milestone.execute_update(MW.submit, Submit(actor=deal.expert_actor))
    for handle, update, raw in (
        (deal.contract, "add_milestone", {"actor": client_actor(deal), "title": f"Logo{NUL}", "amount": 100}),
        (
            deal.contract,
            "add_milestone",
            {"actor": client_actor(deal), "title": "Logo", "amount": 100, "description": NUL},
        ),
        (milestone, "request_revision", {"actor": client_actor(deal), "message": f"redo{NUL}"}),
        (milestone, "open_dispute", {"actor": client_actor(deal), "amount": 100, "reason": f"late{NUL}"}),
        (milestone, "request_refund", {"actor": client_actor(deal), "amount": 100, "message": NUL}),
        (milestone, "release", {"actor": client_actor(deal, f"{deal.client_actor.user_id}{NUL}"), "amount": 100}),
        (milestone, "release", {"actor": client_actor(deal, "x" * 186), "amount": 100}),
    ):
        err = await refusal(handle.execute_update(update, raw))
        assert err.type == "Invalid", (update, raw, err)

    # M4: nothing holds the milestone's command turn, so silence releases it all.
    await env.sleep(timedelta(days=15))

    async def released() -> bool:
        view = await deal.state(milestone)
        return (view.status, view.released) == (MilestoneStatus.COMPLETED, 50_000)

    await eventually(released, "the auto-release")


def test_only_commands_are_refused_other_payloads_fail_as_before():
    converter = data_converter.payload_converter
    command = converter.to_payloads([{"actor": {"user_id": "alice", "role": "client"}, "amount": "1"}])
    with pytest.raises(ApplicationError) as refused:
        converter.from_payloads(command, [Release])
    assert (refused.value.type, refused.value.message) == ("Invalid", "amount: Input should be a valid integer")
    # A workflow's input or view that no longer decodes is a bug to fix and replay: it
    # must fail the workflow task, never be refused or fail the workflow.
    with pytest.raises(Exception) as failed:
        converter.from_payloads(converter.to_payloads([{"id": "m"}]), [MilestoneView])
    assert not isinstance(failed.value, ApplicationError)

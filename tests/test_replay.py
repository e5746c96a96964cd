"""Replay safety: every recorded history (tests/histories, re-recorded by
`python -m tests.histories.record`) replays against today's workflow code, and a
command order changed without `workflow.patched` fails that replay.

A workflow running when a new version deploys resumes by replaying its history
against the new code; a milestone can live a year after its payment (M10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from escrow.temporal import data_converter
from tests.histories.changed import PatchedTimerFirstMilestone, StepFirstContract, TimerFirstMilestone
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def history(path: Path) -> WorkflowHistory:
    path_name, workflow_type, _ = path.name.split(".")
    return WorkflowHistory.from_json(f"{path_name}:{workflow_type}", path.read_text())


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows), data_converter=data_converter, workflow_runner=WORKFLOW_RUNNER)


def test_every_workflow_type_has_a_recorded_history():
    recorded = {path.name.split(".")[1] for path in HISTORIES}
    assert recorded == {wf.__name__ for wf in WORKFLOWS}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path):
    await replayer(*WORKFLOWS).replay_workflow(history(path))


# ---------------------------------------------------------------------- changes that bite


MILESTONE_HISTORIES = [p for p in HISTORIES if ".MilestoneWorkflow." in p.name]


@pytest.mark.parametrize("path", MILESTONE_HISTORIES, ids=lambda p: p.stem)
async def test_a_timer_before_the_first_command_without_a_patch_fails_the_replay(path: Path):
    with pytest.raises(NondeterminismError):
        await replayer(TimerFirstMilestone).replay_workflow(history(path))


@pytest.mark.parametrize("path", MILESTONE_HISTORIES, ids=lambda p: p.stem)
async def test_the_same_change_behind_a_patch_replays(path: Path):
    await replayer(PatchedTimerFirstMilestone).replay_workflow(history(path))


CONTRACT_HISTORIES = [p for p in HISTORIES if ".ContractWorkflow." in p.name and not p.name.startswith("hourly")]


@pytest.mark.parametrize("path", CONTRACT_HISTORIES, ids=lambda p: p.stem)
async def test_two_commands_swapped_without_a_patch_fail_the_replay(path: Path):
    # The history started the milestone where the new code writes the step.
    with pytest.raises(NondeterminismError, match="StartChildWorkflowExecutionInitiated"):
        await replayer(StepFirstContract).replay_workflow(history(path))
